"""item_envelope listing: numbered pages (``page``/``limit``, at most 100), the filters it applies
itself (``client_id``, ``date_from``, ``date_to``) and the ones it leaves to the gateway."""

# The imported `pair` fixture is what the tests' `pair` parameters receive.
# ruff: noqa: F811

from __future__ import annotations

from datetime import date
from typing import Any

import aiohttp
import pytest

from adapters.base import InvalidRequest, ListQuery, walk
from adapters.registry import build_adapter
from emulators.registry import create_app
from gateway.sandbox import sandbox_connection
from tests.contract.conftest import Pair, pair  # noqa: F401  (the emulator + adapter fixture)

ON_EMULATOR = pytest.mark.parametrize("pair", ["item_envelope"], indirect=True)


async def queries_since(pair: Pair, start: int) -> list[dict[str, Any]]:
    return [r["query"] for r in (await pair.wire_log())[start:]]


@ON_EMULATOR
async def test_pages_are_numbered_from_one_and_end_where_the_provider_says(pair: Pair) -> None:
    start = len(await pair.wire_log())
    first = await pair.adapter.list_page(ListQuery(), None, 10)
    assert first.next_page == "2"
    second = await pair.adapter.list_page(ListQuery(), first.next_page, 10)
    third = await pair.adapter.list_page(ListQuery(), second.next_page, 10)
    assert (second.next_page, third.next_page) == ("3", None)
    assert [len(p.invoices) for p in (first, second, third)] == [10, 10, 3]
    ids = [invoice.id for p in (first, second, third) for invoice in p.invoices]
    assert ids == [str(n) for n in range(101, 124)]
    assert await queries_since(pair, start) == [
        {"page": "1", "limit": "10"},
        {"page": "2", "limit": "10"},
        {"page": "3", "limit": "10"},
    ]


@ON_EMULATOR
async def test_a_full_last_page_is_not_followed_by_an_empty_one(pair: Pair) -> None:
    start = len(await pair.wire_log())
    pages = [page async for page in walk(pair.adapter, ListQuery(), 23)]
    assert [(len(p.invoices), p.next_page) for p in pages] == [(23, None)]
    assert len(await pair.wire_log()) - start == 1


@ON_EMULATOR
async def test_a_page_past_the_end_is_empty_and_final(pair: Pair) -> None:
    page = await pair.adapter.list_page(ListQuery(), "9", 10)
    assert (page.invoices, page.next_page) == ([], None)


@ON_EMULATOR
@pytest.mark.parametrize("token", ["0", "two", "-1"])
async def test_a_bad_page_token_is_refused_before_asking(pair: Pair, token: str) -> None:
    before = len(await pair.wire_log())
    with pytest.raises(InvalidRequest):
        await pair.adapter.list_page(ListQuery(), token, 10)
    assert len(await pair.wire_log()) == before


@ON_EMULATOR
async def test_declared_filters_are_sent_as_the_provider_names_them(pair: Pair) -> None:
    start = len(await pair.wire_log())
    query = ListQuery(customer_id="18", issued_from=date(2025, 1, 8), issued_to=date(2025, 2, 6))
    page = await pair.adapter.list_page(query, None, 100)
    assert await queries_since(pair, start) == [
        {
            "page": "1",
            "limit": "100",
            "client_id": "18",
            "date_from": "2025-01-08",
            "date_to": "2025-02-06",
        }
    ]
    # Seeded invoices of client 18 in that range: 102, 103 and 117 (see the seed listing).
    assert [invoice.id for invoice in page.invoices] == ["102", "103", "117"]
    assert all(
        invoice.customer is not None and invoice.customer.id == "18" for invoice in page.invoices
    )


@ON_EMULATOR
async def test_status_is_asked_as_draft_and_number_is_left_to_the_gateway(pair: Pair) -> None:
    assert pair.adapter.capabilities.filters == {
        "status",
        "customer_id",
        "issued_from",
        "issued_to",
    }
    everything = (await pair.adapter.list_page(ListQuery(), None, 100)).invoices
    for status, draft in (("draft", "1"), ("open", "0"), ("paid", "0")):
        start = len(await pair.wire_log())
        page = await pair.adapter.list_page(ListQuery(status=status, number="X"), None, 100)
        sent = {"page": "1", "limit": "100", "draft": draft}
        assert await queries_since(pair, start) == [sent]
        wanted = [invoice.id for invoice in everything if invoice.status == status]
        assert wanted and [invoice.id for invoice in page.invoices] == wanted
    start = len(await pair.wire_log())
    page = await pair.adapter.list_page(ListQuery(status="void"), None, 100)
    assert (page.invoices, page.next_page) == ([], None)
    assert await queries_since(pair, start) == []  # nothing reads as void: nothing asked


@ON_EMULATOR
async def test_a_sort_is_sent_as_sort_and_direction(pair: Pair) -> None:
    start = len(await pair.wire_log())
    page = await pair.adapter.list_page(ListQuery(sort="-total"), None, 100)
    assert await queries_since(pair, start) == [
        {"page": "1", "limit": "100", "sort": "summary_total", "direction": "desc"}
    ]
    totals = [invoice.totals.total for invoice in page.invoices if invoice.totals]
    assert len(totals) == 23 and totals == sorted(totals, reverse=True)


@ON_EMULATOR
@pytest.mark.parametrize("customer_id", ["ACME", "0", "15.0"])
async def test_a_customer_id_no_client_can_have_matches_nothing(
    pair: Pair, customer_id: str
) -> None:
    before = len(await pair.wire_log())
    page = await pair.adapter.list_page(ListQuery(customer_id=customer_id), None, 10)
    assert (page.invoices, page.next_page) == ([], None)
    assert len(await pair.wire_log()) == before


async def test_more_than_a_hundred_per_page_is_asked_for_as_a_hundred(aiohttp_server: Any) -> None:
    # With 123 seeded invoices (ids 1–123), a page size above the provider's cap must not read
    # the capped first page as the last one.
    server = await aiohttp_server(create_app("item_envelope", seed_invoices=123))
    async with aiohttp.ClientSession() as session:
        base_url = str(server.make_url("")).rstrip("/")
        adapter = build_adapter(sandbox_connection("item_envelope", base_url), session)
        pages = [page async for page in walk(adapter, ListQuery(), 250)]
    assert [(len(p.invoices), p.next_page) for p in pages] == [(100, "2"), (23, None)]
    ids = [invoice.id for page in pages for invoice in page.invoices]
    assert ids == [str(n) for n in range(1, 124)]
