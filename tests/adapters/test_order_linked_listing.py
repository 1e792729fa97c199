"""order_linked listings: the provider's page numbers and totals, pages stable while invoices
are added, and the status and customer filters (what the provider narrows, what the adapter does).

Real HTTP against the emulator (seed 0, 23 invoices, oldest first).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.base import InvalidRequest, ListQuery, walk
from gateway.canonical.model import Invoice
from tests.adapters.order_linked_env import SEEDED, Env, start
from tests.contract.profiles.order_linked import sample


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


# -- pagination ---------------------------------------------------------------------------------


async def test_pages_follow_the_providers_numbers_and_total(env: Env) -> None:
    start = len(await env.log())
    pages = [page async for page in walk(env.adapter, ListQuery(), 7)]
    assert [len(page.invoices) for page in pages] == [7, 7, 7, 2]
    assert [page.next_page for page in pages] == ["2", "3", "4", None]
    ids = [invoice.id for page in pages for invoice in page.invoices]
    assert ids == [f"INV-{n:05d}" for n in range(1, SEEDED + 1)]  # oldest first
    assert [(r["query"]["page"], r["query"]["per_page"]) for r in (await env.log())[start:]] == [
        ("1", "7"),
        ("2", "7"),
        ("3", "7"),
        ("4", "7"),
    ]


async def test_a_page_larger_than_the_providers_is_served_at_its_maximum(env: Env) -> None:
    start = len(await env.log())
    page = await env.adapter.list_page(ListQuery(), None, 500)
    assert len(page.invoices) == SEEDED and page.next_page is None
    assert (await env.log())[start]["query"]["per_page"] == "100"


async def test_an_exact_multiple_stops_on_the_total_without_an_empty_page(env: Env) -> None:
    start = len(await env.log())
    pages = [page async for page in walk(env.adapter, ListQuery(customer_id="ACC-1004"), 3)]
    assert [len(page.invoices) for page in pages] == [3]
    assert len(await env.log()) - start == 1


async def test_a_bad_page_token_is_refused_before_any_call(env: Env) -> None:
    start = len(await env.log())
    for token in ("abc", "0"):
        with pytest.raises(InvalidRequest):
            await env.adapter.list_page(ListQuery(), token, 10)
    assert len(await env.log()) == start


async def test_invoices_created_during_a_walk_land_after_it(env: Env) -> None:
    seen: list[str | None] = []
    async for page in walk(env.adapter, ListQuery(), 10):
        seen += [invoice.id for invoice in page.invoices]
        if len(seen) == 10:
            await env.adapter.create(sample(0))
    assert len(seen) == len(set(seen)) == SEEDED + 1
    assert seen[-1] == f"INV-{SEEDED + 1:05d}"


# -- filters --------------------------------------------------------------------------------------


async def everything(env: Env) -> list[Invoice]:
    return [i async for page in walk(env.adapter, ListQuery(), 100) for i in page.invoices]


@pytest.mark.parametrize(
    ("status", "params"),
    [
        ("open", {"status": "ACTIVE"}),
        ("paid", {"status": "ACTIVE", "payment_status": "PAID"}),
        ("void", {"status": "INACTIVE"}),
    ],
)
async def test_the_status_filter_asks_the_provider_and_narrows_open_itself(
    env: Env, status: str, params: dict[str, str]
) -> None:
    want = [i.id for i in await everything(env) if i.status == status]
    start = len(await env.log())
    got: list[str | None] = []
    pages = 0
    async for page in walk(env.adapter, ListQuery(status=status), 4):
        pages += 1
        assert all(invoice.status == status for invoice in page.invoices)
        got += [invoice.id for invoice in page.invoices]
    assert got == want and want
    queries = [r["query"] for r in (await env.log())[start:]]
    assert len(queries) == pages
    assert all({k: q[k] for k in q if k not in ("page", "per_page")} == params for q in queries)


async def test_open_pages_may_come_back_short_but_the_walk_goes_on(env: Env) -> None:
    # ACTIVE invoices 1–4 include INV-00001, PAID: the first open page has 3, and a next one.
    page = await env.adapter.list_page(ListQuery(status="open"), None, 4)
    assert [i.id for i in page.invoices] == ["INV-00002", "INV-00003", "INV-00004"]
    assert page.next_page == "2"


async def test_no_provider_value_means_draft_so_nothing_is_asked(env: Env) -> None:
    start = len(await env.log())
    page = await env.adapter.list_page(ListQuery(status="draft"), None, 10)
    assert page.invoices == [] and page.next_page is None
    assert len(await env.log()) == start


async def test_the_customer_filter_is_the_account(env: Env) -> None:
    want = [
        i.id
        for i in await everything(env)
        if i.customer and i.customer.id == "ACC-1007" and i.status == "void"
    ]
    start = len(await env.log())
    query = ListQuery(customer_id="ACC-1007", status="void")
    got = [i.id async for page in walk(env.adapter, query, 100) for i in page.invoices]
    assert got == want == ["INV-00009"]
    sent = (await env.log())[start]["query"]
    assert (sent["account_id"], sent["status"]) == ("ACC-1007", "INACTIVE")
