"""bill_crm lists and actions: its numbered pages, the filters it applies itself, the status
endpoint behind void / reactivate / mark paid, and the CRM's own 404s and 409s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from adapters.base import BadIdentifier, Conflict, InvalidRequest, ListQuery, NotFound, walk
from tests.adapters.bill_crm_env import (
    BY_STATUS,
    INVOICES,
    SEED_INVOICES,
    SUMMARY_TWO_RATES,
    Env,
    start,
)
from tests.contract.compare import differences
from tests.contract.profiles.bill_crm import sample


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


# -- pages ----------------------------------------------------------------------------------------


async def test_pages_are_numbered_from_one_in_ascending_id_order(env: Env) -> None:
    tokens: list[str | None] = []
    ids: list[str | None] = []
    async for page in walk(env.adapter, ListQuery(), 7):
        ids += [invoice.id for invoice in page.invoices]
        tokens.append(page.next_page)
    assert tokens == ["2", "3", "4", None]  # 23 invoices: 7 + 7 + 7 + 2
    assert ids == [str(n) for n in range(1, SEED_INVOICES + 1)]
    queries = [r["query"] for r in await env.log() if r["path"] == INVOICES]
    assert queries == [{"page": str(n), "limit": "7", "order": "asc"} for n in (1, 2, 3, 4)]


async def test_the_last_full_page_ends_the_walk_by_the_providers_total(env: Env) -> None:
    page = await env.adapter.list_page(ListQuery(), "3", 10)
    assert [i.id for i in page.invoices] == ["21", "22", "23"] and page.next_page is None
    exact = await env.adapter.list_page(ListQuery(), None, SEED_INVOICES)
    assert len(exact.invoices) == SEED_INVOICES
    assert exact.next_page is None, "meta.total says there is nothing after a full last page"


async def test_an_invoice_created_during_a_walk_neither_shifts_nor_repeats_rows(env: Env) -> None:
    first = await env.adapter.list_page(ListQuery(), None, 10)
    await env.adapter.create(sample(0))
    ids = [i.id for i in first.invoices]
    token = first.next_page
    while token is not None:
        page = await env.adapter.list_page(ListQuery(), token, 10)
        ids += [i.id for i in page.invoices]
        token = page.next_page
    assert ids == [str(n) for n in range(1, SEED_INVOICES + 2)]


async def test_a_page_size_above_the_crms_limit_asks_for_its_largest_page(env: Env) -> None:
    page = await env.adapter.list_page(ListQuery(), None, 500)
    assert len(page.invoices) == SEED_INVOICES
    assert (await env.log())[-1]["query"]["limit"] == "100"


@pytest.mark.parametrize("token", ["zero", "0", "-1"])
async def test_a_bad_page_token_is_refused_before_asking(env: Env, token: str) -> None:
    start_at = len(await env.log())
    with pytest.raises(InvalidRequest):
        await env.adapter.list_page(ListQuery(), token, 10)
    assert len(await env.log()) == start_at


# -- filters the CRM applies ----------------------------------------------------------------------


async def test_open_means_due_overdue_and_part_paid(env: Env) -> None:
    found = []
    async for page in walk(env.adapter, ListQuery(status="open"), 100):
        found += page.invoices
    assert {i.provider_status["status"]["id"] for i in found if i.provider_status} == {2, 3, 4}
    assert (await env.log())[-1]["query"]["status"] == "2,3,4"
    expected = [i for i in env.store.invoices.values() if i.status_id in (2, 3, 4)]
    assert sorted(int(i.id or 0) for i in found) == sorted(i.id for i in expected)


async def test_a_customer_id_that_is_no_client_id_matches_nothing_without_asking(
    env: Env,
) -> None:
    start_at = len(await env.log())
    page = await env.adapter.list_page(ListQuery(customer_id="acme"), None, 10)
    assert (page.invoices, page.next_page) == ([], None)
    assert len(await env.log()) == start_at


# -- actions --------------------------------------------------------------------------------------


async def test_publishing_twice_is_refused_before_anything_is_sent(env: Env) -> None:
    issued = await env.adapter.act(BY_STATUS[1], "issue")
    assert (issued.status, issued.provider_status) == (
        "open",
        {"status": {"id": 2, "title": "Due", "color": "#2196F3"}},
    )
    start_at = len(await env.log())
    with pytest.raises(Conflict) as info:
        await env.adapter.act(BY_STATUS[1], "issue")
    assert info.value.message == (
        f"bill_crm invoice {BY_STATUS[1]} is 2 Due: issue (publish) publishes only a draft "
        "(409 if already published)"
    )
    assert await env.writes_since(start_at) == []


async def test_emailing_a_draft_is_refused_before_anything_is_sent(env: Env) -> None:
    start_at = len(await env.log())
    with pytest.raises(Conflict) as info:
        await env.adapter.act(BY_STATUS[1], "send")
    assert "is 1 Draft: send (email) emails only a published invoice" in info.value.message
    assert await env.writes_since(start_at) == []
    sent = await env.adapter.act(BY_STATUS[2], "send")
    assert sent.status == "open"


@pytest.mark.parametrize(
    ("action", "status_id", "said"),
    [
        ("mark_paid", 5, "is already 5 Paid: nothing to mark paid"),
        ("void", 20, "is already 20 Cancelled: nothing to void"),
        (
            "reactivate",
            5,
            "reactivate sets 2 Due from 20 Cancelled only; from 5 Paid use mark_unpaid",
        ),
        (
            "mark_unpaid",
            1,
            "mark_unpaid sets 2 Due from 3 Overdue or 4 Part Paid or 5 Paid only; "
            "from 1 Draft use issue",
        ),
        ("mark_unpaid", 20, "from 20 Cancelled use reactivate"),
        ("unpublish", 1, "is already 1 Draft: nothing to unpublish"),
    ],
)
async def test_a_status_action_with_nothing_to_do_or_another_name_is_refused_unsent(
    env: Env, action: str, status_id: int, said: str
) -> None:
    # The CRM's status endpoint sets any status from any other: each action names one target
    # status, and the refusal names the action that does what was asked.
    start_at = len(await env.log())
    with pytest.raises(Conflict) as info:
        await env.adapter.act(BY_STATUS[status_id], action)
    assert said in info.value.message
    assert await env.writes_since(start_at) == []
    assert env.store.invoices[int(BY_STATUS[status_id])].status_id == status_id


async def test_void_and_reactivate_write_the_mapped_status_ids(env: Env) -> None:
    voided = await env.adapter.act(BY_STATUS[2], "void")
    assert (voided.status, env.store.invoices[int(BY_STATUS[2])].status_id) == ("void", 20)
    reactivated = await env.adapter.act(BY_STATUS[2], "reactivate")
    assert (reactivated.status, env.store.invoices[int(BY_STATUS[2])].status_id) == ("open", 2)


async def test_mark_paid_reads_paid_in_full_from_the_status_and_lists_the_crms_figures(
    env: Env,
) -> None:
    paid = await env.adapter.act(BY_STATUS[2], "mark_paid")
    record = env.store.invoices[int(BY_STATUS[2])]
    assert (record.status_id, record.paid_amount) == (5, 0)  # the API records no payment
    assert paid.totals is not None
    total = paid.totals.total
    assert (paid.status, paid.payment_status) == ("paid", "paid")
    assert (paid.totals.paid, paid.totals.due, paid.totals.paid_source) == (total, 0, "status")
    assert paid.totals_check is not None and not paid.totals_check.consistent
    assert [(d.field, d.provider, d.computed) for d in paid.totals_check.differences] == [
        ("paid", "0.00", str(total)),
        ("due", str(total), "0.00"),
    ]
    # What the CRM recorded itself (a seeded Paid invoice) reads as the CRM says.
    seeded = await env.adapter.get(BY_STATUS[5])
    assert seeded.totals is not None and seeded.totals.paid_source == "provider"
    assert seeded.totals.due == 0 and seeded.totals_check is not None
    assert seeded.totals_check.consistent


async def test_duplicate_is_a_draft_copy_of_everything_written(env: Env) -> None:
    source = await env.adapter.get(SUMMARY_TWO_RATES)
    copy = await env.adapter.act(SUMMARY_TWO_RATES, "duplicate")
    assert copy.id not in (None, source.id) and copy.status == "draft"
    assert differences(source, copy, env.adapter.capabilities) == []
    assert copy.provider_fields == source.provider_fields
    assert copy.totals is not None and source.totals is not None
    assert (copy.totals.total, copy.totals.paid) == (source.totals.total, Decimal(0))


async def test_an_unknown_or_malformed_id_is_not_found(env: Env) -> None:
    with pytest.raises(NotFound):
        await env.adapter.act("999", "issue")
    start_at = len(await env.log())
    # An id that could change the path is refused as such (400) before anything else.
    for bad, refused in (
        ("abc", NotFound),
        ("١", NotFound),
        ("1/clone", BadIdentifier),
        ("../1", BadIdentifier),
    ):
        with pytest.raises(refused):
            await env.adapter.get(bad)
        with pytest.raises(refused):
            await env.adapter.delete(bad)
    assert len(await env.log()) == start_at, "an id that is no bill_crm id never reaches a path"
