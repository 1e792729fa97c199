from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from adapters.base import Adapter, Capabilities, ListQuery, Page, PageNumbers, PaginationLoop
from gateway.canonical.model import Invoice
from gateway.config import Connection
from gateway.listing import Cursors, InvalidCursor, list_invoices, matching_pages
from tests.unit.test_representable import caps

CAPS = caps(
    set(),
    operations=frozenset({"list"}),
    filters=frozenset({"customer_id"}),
    max_page_size=10,
)


class Paged(Adapter):
    """A provider with ``count`` invoices in numbered pages; it filters by customer only."""

    provider = "paged"

    def __init__(self, count: int, caps: Capabilities = CAPS) -> None:
        self.invoices = [
            Invoice.model_validate(
                {
                    "id": str(i),
                    "currency": "USD",
                    "status": "paid" if i % 3 == 0 else "open",
                    "customer": {"id": str(i % 2)},
                    "number": f"INV-{i:04d}",
                }
            )
            for i in range(1, count + 1)
        ]
        self.caps = caps
        self.calls: list[tuple[str | None, int, str | None]] = []
        self.connection = Connection.model_validate(
            {"name": "paged", "provider": "crm_v1", "base_url": "http://x", "auth": {"token": "t"}}
        )

    @property
    def capabilities(self) -> Capabilities:
        return self.caps

    async def list_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        assert page_size <= self.caps.max_page_size
        assert query.status is None, "status is not a provider filter here"
        self.calls.append((page, page_size, query.customer_id))
        rows = [
            i for i in self.invoices if query.customer_id in (None, i.customer and i.customer.id)
        ]
        pages = PageNumbers(1)
        number = pages.number(page)
        chunk = rows[(number - 1) * page_size : number * page_size]
        following = pages.next_token(number, count=len(chunk), page_size=page_size, total=len(rows))
        return Page(chunk, following)


CURSORS = Cursors(b"secret")


async def walk_all(
    adapter: Adapter, limit: int, query: ListQuery | None = None
) -> list[list[str | None]]:
    pages, cursor = [], None
    while True:
        listing = await list_invoices(adapter, query or ListQuery(), limit, cursor, CURSORS)
        assert len(listing.invoices) <= limit
        pages.append([i.id for i in listing.invoices])
        if not listing.has_more:
            assert listing.next_cursor is None
            return pages
        cursor = listing.next_cursor


@pytest.mark.parametrize("limit", [1, 3, 7, 10, 25, 100])
async def test_every_invoice_once_whatever_the_limit(limit: int) -> None:
    adapter = Paged(23)
    pages = await walk_all(adapter, limit)
    flat = [i for page in pages for i in page]
    assert flat == [str(i) for i in range(1, 24)]
    assert all(len(page) == limit for page in pages[:-1])


async def test_one_provider_page_per_call_when_nothing_is_filtered_here() -> None:
    adapter = Paged(23)
    await walk_all(adapter, 7)
    assert [(page, size) for page, size, _ in adapter.calls] == [
        (None, 7),
        ("2", 7),
        ("3", 7),
        ("4", 7),
    ]


async def test_provider_filters_go_upstream_and_the_rest_apply_here() -> None:
    adapter = Paged(23)
    query = ListQuery(customer_id="1", status="paid")
    flat = [i for page in await walk_all(adapter, 2, query) for i in page]
    assert flat == ["3", "9", "15", "21"]
    assert {customer for _, _, customer in adapter.calls} == {"1"}
    assert {size for _, size, _ in adapter.calls} == {10}


async def test_a_tampered_cursor_is_refused() -> None:
    adapter = Paged(23)
    listing = await list_invoices(adapter, ListQuery(), 5, None, CURSORS)
    assert listing.next_cursor is not None
    body, _, signature = listing.next_cursor.partition(".")
    forged = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + signature
    with pytest.raises(InvalidCursor, match="altered"):
        await list_invoices(adapter, ListQuery(), 5, forged, CURSORS)
    with pytest.raises(InvalidCursor, match="altered"):
        await list_invoices(adapter, ListQuery(), 5, listing.next_cursor, Cursors(b"other"))
    with pytest.raises(InvalidCursor):
        await list_invoices(adapter, ListQuery(), 5, "not-a-cursor", CURSORS)


async def test_a_cursor_only_continues_the_listing_it_came_from() -> None:
    adapter = Paged(23)
    listing = await list_invoices(adapter, ListQuery(), 5, None, CURSORS)
    with pytest.raises(InvalidCursor, match="other filters"):
        await list_invoices(adapter, ListQuery(status="open"), 5, listing.next_cursor, CURSORS)


async def test_a_scarce_filter_answers_within_its_page_budget(monkeypatch: Any) -> None:
    monkeypatch.setattr("gateway.listing.MAX_PAGES_PER_CALL", 2)
    adapter = Paged(95, replace(CAPS, filters=frozenset()))
    query = ListQuery(number="INV-0093")
    pages = await walk_all(adapter, 5, query)
    assert [i for page in pages for i in page] == ["93"]
    assert pages[0] == [] and len(pages) == 5


class Scripted(Paged):
    """Pages as a script: page number → the invoice numbers on it (the last page: no next)."""

    def __init__(self, script: dict[int, list[int]]) -> None:
        super().__init__(max(n for page in script.values() for n in page))
        self.script = script

    async def list_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        number = PageNumbers(1).number(page)
        rows = [self.invoices[n - 1] for n in self.script[number]]
        following = str(number + 1) if number + 1 in self.script else None
        return Page(rows, following)


async def _walked(adapter: Adapter) -> list[str | None]:
    return [i.id async for page in matching_pages(adapter, ListQuery()) for i in page.invoices]


async def test_a_whole_walk_hands_out_an_invoice_listed_twice_once() -> None:
    """Pages that overlap (a listing newest first, an invoice added during the walk) and an id
    given twice on one page: each invoice once, in the order first met."""
    adapter = Scripted({1: [1, 2, 3], 2: [3, 4, 4, 5], 3: [5, 6]})
    assert await _walked(adapter) == ["1", "2", "3", "4", "5", "6"]


async def test_a_whole_walk_passes_over_a_page_of_nothing_new() -> None:
    """A listing newest first, with as many invoices added during the walk as a page holds:
    the next page is the last one again, and the walk goes on past it."""
    adapter = Scripted({1: [3, 2], 2: [3, 2], 3: [1]})
    assert await _walked(adapter) == ["3", "2", "1"]


async def test_a_whole_walk_stops_at_pages_that_keep_repeating() -> None:
    """Pages 2 to 4 repeating page 1 (a provider whose pages never end, or lost its place):
    walked on, it would never end, or end having skipped those pages' own invoices; the
    provider's error, named, not a walk that looks whole."""
    adapter = Scripted({1: [1, 2, 3], 2: [1, 2, 3], 3: [1, 2, 3], 4: [3, 1, 2], 5: [4]})
    with pytest.raises(PaginationLoop, match="paged listed, up to page 4, 3 pages in a row"):
        await _walked(adapter)


async def test_a_list_call_that_meets_the_same_page_twice_says_so() -> None:
    adapter = Scripted({1: [1, 2], 2: [1, 2], 3: [3]})
    with pytest.raises(PaginationLoop, match="paged returned the same page twice"):
        await list_invoices(adapter, ListQuery(), 25, None, CURSORS)
