"""crm_v1 lists: zero-based page numbers, the provider's filters, summaries read in full (as
many at a time as the connection's limits allow), and what happens at the edges of a walk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest

from adapters.base import InvalidRequest, ListQuery, UpstreamError, walk
from gateway.upstream import UpstreamResponse
from tests.adapters.crm_v1_env import INVOICES, SEED_INVOICES, Env, start


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


async def list_requests(env: Env, start: int = 0) -> list[dict[str, str]]:
    return [r["query"] for r in (await env.log())[start:] if r["path"] == INVOICES]


async def test_pages_are_numbered_from_zero_and_end_where_the_provider_says(env: Env) -> None:
    tokens: list[str | None] = []
    ids: list[str | None] = []
    async for page in walk(env.adapter, ListQuery(), 10):
        tokens.append(page.next_page)
        ids += [invoice.id for invoice in page.invoices]
    assert tokens == ["1", "2", "3", "4", "5", None]  # 56 invoices: pages 0 to 5
    assert ids == [str(n) for n in range(1, SEED_INVOICES + 1)]  # oldest id first
    sent = await list_requests(env)
    assert [q["pageIndex"] for q in sent] == ["0", "1", "2", "3", "4", "5"]
    assert all(
        (q["pageSize"], q["sortBy"], q["sortOrder"]) == ("10", "inv_id", "asc") for q in sent
    )


async def test_a_full_last_page_ends_the_walk_without_an_empty_read(env: Env) -> None:
    pages = [page async for page in walk(env.adapter, ListQuery(), 8)]  # 56 = 7 × 8
    assert [len(page.invoices) for page in pages] == [8] * 7
    assert pages[-1].next_page is None
    assert len(await list_requests(env)) == 7


async def test_the_page_size_is_capped_at_the_providers_maximum(env: Env) -> None:
    page = await env.adapter.list_page(ListQuery(), None, 500)
    assert len(page.invoices) == SEED_INVOICES and page.next_page is None
    [query] = await list_requests(env)
    assert query["pageSize"] == "100"


async def test_a_page_past_the_end_is_empty_and_last(env: Env) -> None:
    page = await env.adapter.list_page(ListQuery(), "9", 10)
    assert (page.invoices, page.next_page) == ([], None)


@pytest.mark.parametrize("token", ["abc", "-1", "1.5"])
async def test_a_page_token_that_is_not_a_page_number_is_refused(env: Env, token: str) -> None:
    with pytest.raises(InvalidRequest):
        await env.adapter.list_page(ListQuery(), token, 10)
    assert await list_requests(env) == []


async def test_every_filter_reaches_the_provider_under_its_own_name(env: Env) -> None:
    query = ListQuery(
        status="void",
        customer_id="3",
        issued_from=date(2026, 2, 1),
        issued_to=date(2026, 5, 31),
        number="inv-00",
    )
    page = await env.adapter.list_page(query, None, 100)
    [sent] = await list_requests(env)
    assert {k: sent[k] for k in ("inv_status", "cstid", "search")} == {
        "inv_status": "2",
        "cstid": "3",
        "search": "inv-00",
    }
    assert (sent["inv_datetime_from"], sent["inv_datetime_to"]) == ("2026-02-01", "2026-05-31")
    expected = {
        str(i.inv_id)
        for i in env.store.invoices.values()
        if i.inv_status == 2
        and i.customer_id == 3
        and "2026-02-01" <= i.transaction_date <= "2026-05-31"
    }
    assert {invoice.id for invoice in page.invoices} == expected


async def test_filters_nothing_in_crm_v1_can_match_are_answered_without_asking(env: Env) -> None:
    for query in (ListQuery(status="draft"), ListQuery(customer_id="northwind")):
        page = await env.adapter.list_page(query, None, 10)
        assert (page.invoices, page.next_page) == ([], None)
    assert await list_requests(env) == []


async def test_the_unknown_status_is_filtered_after_reading(env: Env) -> None:
    env.store.invoices[30].inv_status = 7
    found = [
        invoice.id
        async for page in walk(env.adapter, ListQuery(status="unknown"), 20)
        for invoice in page.invoices
    ]
    assert found == ["30"]
    sent = await list_requests(env)
    assert len(sent) == 3 and all("inv_status" not in q for q in sent)


@pytest.mark.parametrize(
    ("limits", "at_once"),
    [
        ({}, 20),  # 100 connections, no rate limit: the whole page at once (up to 50)
        ({"max_connections": 6}, 3),  # half the pool
        ({"rate_limit": {"per_second": 1000, "burst": 4}}, 4),  # what the bucket lets out
        ({"max_connections": 1}, 1),
    ],
)
async def test_summaries_are_read_in_full_within_the_connections_limits(
    env: Env, limits: dict[str, Any], at_once: int
) -> None:
    await env.faults(latency_ms=40, methods=["GET"], path_regex=r"^/v1/invoices/\d+$")
    adapter = env.adapter_with(**limits)
    in_flight = peak = 0
    request = adapter.client.request

    async def counting(method: str, path: str, **options: Any) -> UpstreamResponse:
        nonlocal in_flight, peak
        if path == INVOICES:
            return await request(method, path, **options)
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await request(method, path, **options)
        finally:
            in_flight -= 1

    adapter.client.request = counting  # type: ignore[method-assign]
    page = await adapter.list_page(ListQuery(), None, 20)
    assert peak == at_once
    assert [invoice.id for invoice in page.invoices] == [str(n) for n in range(1, 21)]
    assert all(invoice.remote_data and "items" in invoice.remote_data for invoice in page.invoices)


async def test_an_invoice_deleted_between_the_list_and_its_read_is_left_out(env: Env) -> None:
    request = env.adapter.client.request

    async def deleting_after_the_list(method: str, path: str, **options: Any) -> UpstreamResponse:
        response = await request(method, path, **options)
        if path == INVOICES:
            status, _ = await env.raw("DELETE", f"{INVOICES}/8")
            assert status == 200
        return response

    env.adapter.client.request = deleting_after_the_list  # type: ignore[method-assign]
    page = await env.adapter.list_page(ListQuery(), None, 10)
    assert [invoice.id for invoice in page.invoices] == [
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "9",
        "10",
    ]
    assert page.next_page == "1"  # the page was full when listed: there is more to read


async def test_a_failed_read_fails_the_whole_page(env: Env) -> None:
    # Never a half-filled page: one invoice that cannot be read is the page's error.
    await env.faults(error_rate=1, error_status=500, methods=["GET"], path_regex=r"/v1/invoices/3$")
    once = env.adapter.connection.retries.model_copy(update={"max_attempts": 1})
    with pytest.raises(UpstreamError) as info:
        await env.adapter_with(retries=once).list_page(ListQuery(), None, 10)
    assert info.value.status == 500
    assert "crm_v1 (connection crm_v1) failed with 500" in info.value.message
