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


async def test_publish_twice_is_the_crms_conflict(env: Env) -> None:
    issued = await env.adapter.act(BY_STATUS[1], "issue")
    assert (issued.status, issued.provider_status) == (
        "open",
        {"status": {"id": 2, "title": "Due", "color": "#2196F3"}},
    )
    with pytest.raises(Conflict) as info:
        await env.adapter.act(BY_STATUS[1], "issue")
    assert info.value.message == f"bill_crm: Invoice {BY_STATUS[1]} has already been published."


async def test_emailing_a_draft_is_the_crms_conflict(env: Env) -> None:
    with pytest.raises(Conflict) as info:
        await env.adapter.act(BY_STATUS[1], "send")
    assert "is a draft; publish it before emailing it" in info.value.message
    sent = await env.adapter.act(BY_STATUS[2], "send")
    assert sent.status == "open"


@pytest.mark.parametrize(
    ("action", "status_id"), [("void", 5), ("reactivate", 2), ("mark_paid", 1)]
)
async def test_status_actions_follow_the_canonical_lifecycle(
    env: Env, action: str, status_id: int
) -> None:
    # The CRM's status endpoint would set any status; a paid invoice is final, only a void one
    # is reactivated, and a draft is issued before it is paid.
    start_at = len(await env.log())
    with pytest.raises(Conflict) as info:
        await env.adapter.act(BY_STATUS[status_id], action)
    assert "needs it to be" in info.value.message
    assert await env.writes_since(start_at) == []
    assert env.store.invoices[int(BY_STATUS[status_id])].status_id == status_id


async def test_void_and_reactivate_write_the_mapped_status_ids(env: Env) -> None:
    voided = await env.adapter.act(BY_STATUS[2], "void")
    assert (voided.status, env.store.invoices[int(BY_STATUS[2])].status_id) == ("void", 20)
    reactivated = await env.adapter.act(BY_STATUS[2], "reactivate")
    assert (reactivated.status, env.store.invoices[int(BY_STATUS[2])].status_id) == ("open", 2)


async def test_mark_paid_records_no_payment_and_says_so(env: Env) -> None:
    paid = await env.adapter.act(BY_STATUS[2], "mark_paid")
    assert (paid.status, paid.payment_status) == ("paid", "paid")
    assert paid.totals is not None and paid.totals.paid == 0  # no payments resource in the API
    assert paid.totals_check is not None
    assert [d.field for d in paid.totals_check.differences] == ["payment_status"]


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
