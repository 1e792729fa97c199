"""``Adapter.later_pages``: where the first page of a listing tells every later page (numbered
pages and a total: order_linked, draft_publish), they are read at once (``summary_pages``) and
give the same invoices, once each, as following each page's next one. A merge across
connections reads an unsorted connection's whole listing this way (gateway/fanout.py)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from adapters.base import Adapter, ListQuery, SummaryPage
from adapters.registry import build_adapter
from emulators.registry import create_app
from gateway.sandbox import sandbox_connection

SEEDED = 250  # pages of 100: three, the last one short


async def adapter_for(
    aiohttp_server: Any, provider: str, session: aiohttp.ClientSession
) -> Adapter:
    server = await aiohttp_server(create_app(provider, seed_invoices=SEEDED))
    return build_adapter(
        sandbox_connection(provider, str(server.make_url("")).rstrip("/")), session
    )


async def one_by_one(adapter: Adapter, query: ListQuery) -> list[SummaryPage]:
    pages = [await adapter.summary_page(query, None, 100)]
    while pages[-1].next_page is not None:
        pages.append(await adapter.summary_page(query, pages[-1].next_page, 100))
    return pages


@pytest.mark.parametrize("provider", ["order_linked", "draft_publish"])
async def test_the_first_page_tells_the_later_ones_which_read_as_followed_do(
    aiohttp_server: Any, provider: str
) -> None:
    async with aiohttp.ClientSession() as session:
        adapter = await adapter_for(aiohttp_server, provider, session)
        followed = await one_by_one(adapter, ListQuery())
        first = followed[0]
        later = adapter.later_pages(first, 100)
        assert later == ["2", "3"]
        at_once = await adapter.summary_pages(ListQuery(), later, 100)
        # A listing of one page tells no later page.
        alone = await adapter.summary_page(ListQuery(customer_id="no-such-customer"), None, 100)
        assert (alone.next_page, adapter.later_pages(alone, 100)) == (None, [])
    ids = [row.id for page in [first, *at_once] for row in page.rows]
    assert ids == [row.id for page in followed for row in page.rows]
    assert len(set(ids)) == SEEDED
    assert at_once[-1].next_page is None


async def test_a_draft_publish_walk_of_several_listings_tells_nothing(aiohttp_server: Any) -> None:
    """A status the provider lists under several of its values is a walk of several listings:
    its pages are followed one by one."""
    async with aiohttp.ClientSession() as session:
        adapter = await adapter_for(aiohttp_server, "draft_publish", session)
        values: dict[str, int] = {}
        for meaning in adapter.mapping.status_read.values():
            values[meaning.status] = values.get(meaning.status, 0) + 1
        several = [status for status, count in values.items() if count > 1]
        assert several, "the mapping lists every status under one value"
        first = await adapter.summary_page(ListQuery(status=several[0]), None, 100)
        assert first.total is None
        assert adapter.later_pages(first, 100) is None
