from __future__ import annotations

from typing import Any

import pytest

from adapters.base import (
    Adapter,
    InvalidRequest,
    ListQuery,
    Page,
    PageNumbers,
    PagesContradict,
    PaginationLoop,
    walk,
)
from gateway.canonical.model import Invoice


def invoice(i: int) -> Invoice:
    return Invoice.model_validate({"id": str(i), "currency": "USD"})


class Scripted(Adapter):
    """An adapter whose pages are a script: token → (ids, next token)."""

    provider = "scripted"

    def __init__(self, pages: dict[str | None, tuple[list[int], str | None]]) -> None:
        self.pages = pages
        self.asked: list[str | None] = []

    async def list_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        self.asked.append(page)
        ids, following = self.pages[page]
        return Page([invoice(i) for i in ids], following)


async def collect(adapter: Adapter) -> list[str | None]:
    return [inv.id async for page in walk(adapter, ListQuery(), 2) for inv in page.invoices]


async def test_walk_follows_tokens_to_the_end() -> None:
    adapter = Scripted({None: ([1, 2], "2"), "2": ([3, 4], "3"), "3": ([5], None)})
    assert await collect(adapter) == ["1", "2", "3", "4", "5"]
    assert adapter.asked == [None, "2", "3"]


async def test_a_token_pointing_back_is_a_loop() -> None:
    adapter = Scripted({None: ([1, 2], "2"), "2": ([3, 4], "2")})
    with pytest.raises(PaginationLoop, match="scripted pointed back to page 2"):
        await collect(adapter)


async def test_the_same_page_twice_is_a_loop() -> None:
    adapter = Scripted({None: ([1, 2], "2"), "2": ([1, 2], "3"), "3": ([], None)})
    with pytest.raises(PaginationLoop, match="scripted returned the same page twice"):
        await collect(adapter)


@pytest.mark.parametrize(
    ("first", "current", "kwargs", "expected"),
    [
        (1, 1, {"count": 10, "page_size": 10, "total_pages": 3}, "2"),
        (1, 3, {"count": 10, "page_size": 10, "total_pages": 3}, None),
        (0, 0, {"count": 10, "page_size": 10, "total": 20}, "1"),
        (0, 1, {"count": 10, "page_size": 10, "total": 20}, None),
        (1, 1, {"count": 7, "page_size": 10}, None),
        (1, 1, {"count": 0, "page_size": 10, "total_pages": 1}, None),  # an empty listing
        (1, 1, {"count": 0, "page_size": 10, "total": 0}, None),
        (1, 3, {"count": 4, "page_size": 10, "total": 24}, None),  # the last, short page
        (0, 2, {"count": 4, "page_size": 10, "total_pages": 3}, None),
        (1, 2, {"count": 10, "page_size": 10}, "3"),
    ],
)
def test_page_numbers_know_where_the_end_is(
    first: int, current: int, kwargs: Any, expected: str | None
) -> None:
    assert PageNumbers(first).next_token(current, **kwargs) == expected


@pytest.mark.parametrize(
    ("first", "current", "kwargs", "says"),
    [
        (1, 2, {"count": 0, "page_size": 7, "total": 56}, "page 2 ends its listing at 7 "),
        (1, 2, {"count": 6, "page_size": 7, "total": 56}, "page 2 ends its listing at 13 "),
        (0, 0, {"count": 0, "page_size": 10, "total_pages": 5}, "where it says it has 5 pages"),
        (1, 1, {"count": 14, "page_size": 7, "total": 56}, "with 14 invoices, asked for 7"),
    ],
)
def test_a_page_that_contradicts_the_providers_own_paging_is_its_error(
    first: int, current: int, kwargs: Any, says: str
) -> None:
    """An empty or short page that the provider's own total puts before the end, or one
    larger than asked: stopping there would drop invoices, going on would skip or repeat
    some, and a cursor into it would be refused as the caller's."""
    with pytest.raises(PagesContradict, match=says):
        PageNumbers(first).next_token(current, **kwargs)


def test_page_tokens_are_checked() -> None:
    assert PageNumbers(0).number(None) == 0
    assert PageNumbers(1).number("4") == 4
    with pytest.raises(InvalidRequest):
        PageNumbers(1).number("zero")
    with pytest.raises(InvalidRequest):
        PageNumbers(1).number("0")
