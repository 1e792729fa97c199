"""How a merge across connections reads the whole listing of a provider with no issue-date sort
(order_linked, draft_publish; gateway/fanout.py), against the emulators:

- ``Adapter.later_pages``: where the first page tells every later page (numbered pages and a
  total), they are read at once (``at_once``) and give the same invoices, once each, as
  following each page's next one;
- ``Adapter.listed_page``: the page ``list_page`` lists, each row translated only when asked,
  its issue date read ahead as the translation reads it; not offered for a query the adapter
  narrows after translating."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from adapters.base import Adapter, ListedPage, ListQuery, SummaryPage
from adapters.registry import build_adapter
from emulators.registry import create_app
from gateway.sandbox import sandbox_connection
from gateway.upstream_answers import UnusableAnswer

SEEDED = 250  # pages of 100: three, the last one short


async def adapter_for(
    aiohttp_server: Any, provider: str, session: aiohttp.ClientSession
) -> Adapter:
    server = await aiohttp_server(create_app(provider, seed_invoices=SEEDED))
    return build_adapter(
        sandbox_connection(provider, str(server.make_url("")).rstrip("/")), session
    )


@pytest.fixture(params=["order_linked", "draft_publish"])
async def whole(request: pytest.FixtureRequest, aiohttp_server: Any) -> AsyncIterator[Adapter]:
    """The adapter of a provider with no issue-date sort, on its emulator with 250 invoices."""
    async with aiohttp.ClientSession() as session:
        yield await adapter_for(aiohttp_server, request.param, session)


async def one_by_one(adapter: Adapter, query: ListQuery) -> list[SummaryPage]:
    pages = [await adapter.summary_page(query, None, 100)]
    while pages[-1].next_page is not None:
        pages.append(await adapter.summary_page(query, pages[-1].next_page, 100))
    return pages


async def test_the_first_page_tells_the_later_ones_which_read_as_followed_do(
    whole: Adapter,
) -> None:
    followed = await one_by_one(whole, ListQuery())
    first = followed[0]
    later = whole.later_pages(first, 100)
    assert later == ["2", "3"]
    at_once = await whole.at_once(
        [functools.partial(whole.summary_page, ListQuery(), token, 100) for token in later]
    )
    # A listing of one page tells no later page.
    alone = await whole.summary_page(ListQuery(customer_id="no-such-customer"), None, 100)
    assert (alone.next_page, whole.later_pages(alone, 100)) == (None, [])
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


async def test_a_listed_page_is_the_list_page_translated_when_asked(whole: Adapter) -> None:
    listed: list[ListedPage] = []
    token: str | None = None
    while True:
        page = await whole.listed_page(ListQuery(), token, 100)
        assert page is not None
        listed.append(page)
        if (token := page.next_page) is None:
            break
    full = [await whole.list_page(ListQuery(), None, 100)]
    while full[-1].next_page is not None:
        full.append(await whole.list_page(ListQuery(), full[-1].next_page, 100))
    assert [(p.next_page, p.total) for p in listed] == [(p.next_page, p.total) for p in full]
    invoices = [invoice for page in full for invoice in page.invoices]
    rows = [row for page in listed for row in page.rows]
    assert len(rows) == SEEDED
    assert [row.issue_date for row in rows] == [invoice.issue_date for invoice in invoices]
    assert [row.invoice() for row in rows] == invoices
    # Narrowed after translating: the listing must translate every row, so it is not offered.
    narrowed = [ListQuery(status="open")]
    if whole.provider == "draft_publish":
        narrowed.append(ListQuery(number="INV"))
    for query in narrowed:
        assert await whole.listed_page(query, None, 100) is None


@pytest.mark.parametrize(
    "row", [{"id": "7", "issue_date": "someday"}, {"id": "7", "issue_date": "2026-13-40"}, [1]]
)
async def test_a_row_whose_issue_date_cannot_be_read_is_an_unusable_answer(
    whole: Adapter, row: Any
) -> None:
    with pytest.raises(UnusableAnswer, match=whole.provider):
        whole._issue_date(row)  # type: ignore[attr-defined]
