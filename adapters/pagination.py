"""Walking a provider's pages: numbered pages, and a walk that stops at a loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from gateway.errors import InvalidRequest, UpstreamError

if TYPE_CHECKING:
    from adapters.base import Adapter, ListQuery, Page


class PageNumbers:
    """Numbered pages: ``first`` is the first page's number (0 for zero-based providers).

    The token handed out is the next page's number as text; the end is reached when the provider
    says so (total pages or total records), or when a page comes back short or empty.
    """

    def __init__(self, first: int = 1) -> None:
        self.first = first

    def number(self, token: str | None) -> int:
        if token is None:
            return self.first
        try:
            value = int(token)
        except ValueError:
            raise InvalidRequest(f"page token {token!r} is not a page number") from None
        if value < self.first:
            raise InvalidRequest(f"page token {token!r} is before the first page")
        return value

    def next_token(
        self,
        current: int,
        *,
        count: int,
        page_size: int,
        total_pages: int | None = None,
        total: int | None = None,
    ) -> str | None:
        """The next page's token, or None after the last. ``PagesContradict`` where the page
        contradicts the provider's own paging: more rows than asked for (a walk's position in
        the page would run past it), or a short or empty page before the end that its stated
        total or page count puts further on (walking on, or stopping, would skip invoices)."""
        position = current - self.first + 1  # pages read so far, this one included
        if count > page_size:
            raise PagesContradict(
                f"the provider answered page {current} with {count} invoices, asked for {page_size}"
            )
        if count < page_size:  # short or empty: the last page, unless it says more
            listed = (position - 1) * page_size + count
            if total is not None and listed < total:
                raise PagesContradict(
                    f"the provider's page {current} ends its listing at {listed} invoices, "
                    f"where it says it lists {total}"
                )
            if total_pages is not None and position < total_pages:
                raise PagesContradict(
                    f"the provider's page {current} ends its listing, where it says it has "
                    f"{total_pages} pages"
                )
            return None
        if total_pages is not None and position >= total_pages:
            return None
        if total is not None and position * page_size >= total:
            return None
        return str(current + 1)

    def after_first(
        self, following: str | None, total: int | None, page_size: int
    ) -> list[str] | None:
        """The tokens of the pages after the first, from the first page's ``following`` token
        and the ``total`` of records the provider said it lists, in pages of ``page_size``;
        empty when there is no next page. ``None`` for a total it did not give, or a token that
        is not this numbering's (a walk of several listings)."""
        if following is None:
            return []
        if total is None or following != str(self.first + 1):
            return None
        pages = -(-total // page_size)
        return [str(number) for number in range(self.first + 1, self.first + pages)]


class PaginationLoop(UpstreamError):
    """The provider handed back a page already seen: walking on would never end."""

    retryable = False


class PagesContradict(UpstreamError):
    """A page that contradicts the provider's own paging (its size, its stated total): a walk
    could not go on without skipping or repeating invoices. Asking again may find the paging
    settled (a listing that changed between two of the provider's own counts)."""


async def walk(
    adapter: Adapter, query: ListQuery, page_size: int, *, max_pages: int = 100_000
) -> AsyncIterator[Page]:
    """Every page of a listing, in order, stopping at a repeated token or a repeated page."""
    seen_tokens: set[str | None] = set()
    previous_ids: tuple[str | None, ...] | None = None
    token: str | None = None
    for _ in range(max_pages):
        seen_tokens.add(token)
        page = await adapter.list_page(query, token, page_size)
        ids = tuple(invoice.id for invoice in page.invoices)
        if ids and ids == previous_ids:
            raise PaginationLoop(
                f"{adapter.provider} returned the same page twice", provider=adapter.provider
            )
        previous_ids = ids
        yield page
        if page.next_page is None:
            return
        if page.next_page in seen_tokens:
            raise PaginationLoop(
                f"{adapter.provider} pointed back to page {page.next_page}",
                provider=adapter.provider,
            )
        token = page.next_page
    raise PaginationLoop(f"{adapter.provider} has more than {max_pages} pages")
