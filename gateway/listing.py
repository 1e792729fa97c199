"""The list contract over any provider: exact ``limit``, opaque cursors, gateway-side filters.

A cursor holds where the walk stands in the provider's own pagination (its page token, the
position within that page, the page size the walk uses) and is bound to the connection, the
filters, sort and search it was made for, and what it walks (the list, its ``view=summary``,
or the trash). It is signed, so a tampered or foreign cursor is
refused, not followed. Sorting and searching are the provider's own, always asked upstream.
Filters the provider cannot apply are applied here, over its pages, reading at most
``MAX_PAGES_PER_CALL`` provider pages for one call; a call that runs out of that budget answers
with fewer invoices and a cursor to go on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any, TypeVar

from adapters.base import Adapter, ListQuery, PaginationLoop
from gateway.canonical.model import Invoice
from gateway.canonical.summary import InvoiceSummary

MAX_PAGES_PER_CALL = 20
Row = TypeVar("Row", bound=Invoice | InvoiceSummary)
# One provider page: its rows and the token of the next page (None: the last).
ReadRows = Callable[[ListQuery, str | None, int], Awaitable[tuple[Sequence[Row], str | None]]]


class InvalidCursor(ValueError):
    """A cursor that was not made by this gateway for this listing."""


@dataclass(frozen=True)
class Listing:
    invoices: list[Invoice]
    has_more: bool
    next_cursor: str | None


@dataclass(frozen=True)
class SummaryListing:
    """A page of ``?view=summary``: summaries where the provider lists summaries, else
    invoices (``Adapter.summary_page``)."""

    rows: list[Invoice | InvoiceSummary]
    has_more: bool
    next_cursor: str | None


@dataclass(frozen=True)
class Position:
    page: str | None  # the provider's token for the page (None: the first page)
    offset: int  # how many invoices of that page were already handed out
    size: int  # the provider page size this walk uses


class Cursors:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def make(self, scope: str, position: Position) -> str:
        payload = json.dumps(
            {"s": scope, "p": position.page, "o": position.offset, "z": position.size},
            separators=(",", ":"),
        ).encode()
        body = base64.urlsafe_b64encode(payload).rstrip(b"=")
        return (body + b"." + self._sign(body)).decode()

    def read(self, scope: str, cursor: str) -> Position:
        body, _, signature = cursor.encode().partition(b".")
        if not signature or not hmac.compare_digest(signature, self._sign(body)):
            raise InvalidCursor(
                "cursor is not valid (altered, made by another gateway, or made before the "
                "gateway restarted without a server.cursor_secret): list again from the start"
            )
        try:
            data = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
            made_for, page, offset, size = data["s"], data["p"], data["o"], data["z"]
        except (ValueError, KeyError, TypeError):
            raise InvalidCursor("cursor is not valid (made by another version)") from None
        if made_for != scope:
            raise InvalidCursor(
                "cursor belongs to another connection or other filters, sort or view"
            )
        return position_of(page, offset, size)

    def _sign(self, body: bytes) -> bytes:
        digest = hmac.new(self._secret, body, hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest)


async def list_invoices(
    adapter: Adapter,
    query: ListQuery,
    limit: int,
    cursor: str | None,
    cursors: Cursors,
    *,
    trash: bool = False,
) -> Listing:
    """A page of the connection's invoices (``trash``: of those in its trash, whose cursors
    are bound to the trash and never follow on in the list, nor the list's in the trash)."""
    read_page = adapter.trash_page if trash else adapter.list_page

    async def read(
        upstream: ListQuery, token: str | None, size: int
    ) -> tuple[list[Invoice], str | None]:
        page = await read_page(upstream, token, size)
        return page.invoices, page.next_page

    name = adapter.connection.name + (" trash" if trash else "")
    return Listing(*await _rows(adapter, read, name, query, limit, cursor, cursors))


async def list_summaries(
    adapter: Adapter, query: ListQuery, limit: int, cursor: str | None, cursors: Cursors
) -> SummaryListing:
    """A page of the connection's invoices as its provider lists them (``?view=summary``): one
    provider call per provider page. Its cursors are bound to the view: a summary walk's
    cursor never follows on in the full list, nor the full list's here."""

    async def read(
        upstream: ListQuery, token: str | None, size: int
    ) -> tuple[Sequence[Invoice | InvoiceSummary], str | None]:
        page = await adapter.summary_page(upstream, token, size)
        return page.rows, page.next_page

    name = adapter.connection.name + " summary"
    return SummaryListing(*await _rows(adapter, read, name, query, limit, cursor, cursors))


async def _rows(
    adapter: Adapter,
    read_page: ReadRows[Row],
    name: str,
    query: ListQuery,
    limit: int,
    cursor: str | None,
    cursors: Cursors,
) -> tuple[list[Row], bool, str | None]:
    """The list walk (``limit`` rows from ``cursor``) over ``read_page``; cursors bound to
    ``name`` (the connection, and the trash or the view) and the query."""
    caps = adapter.capabilities
    local = query.given() - caps.filters
    upstream = upstream_query(query, local)
    scope = scope_of(name, query)
    if cursor is None:
        # Page by the limit where nothing is filtered here: each call then reads one page.
        size = caps.max_page_size if local else min(limit, caps.max_page_size)
        position = Position(page=None, offset=0, size=size)
    else:
        position = within(cursors.read(scope, cursor), adapter)
    found: list[Row] = []
    seen: set[str | None] = set()
    before: list[str | None] | None = None  # the ids of the page read just before
    for _ in range(MAX_PAGES_PER_CALL):
        seen.add(position.page)
        rows, next_page = await read_page(upstream, position.page, position.size)
        ids = [row.id for row in rows]
        if rows and ids == before:
            raise PaginationLoop(
                f"{adapter.provider} returned the same page twice", provider=adapter.provider
            )
        before = ids
        for index in range(position.offset, len(rows)):
            row = rows[index]
            if not matches(row, query, local):
                continue
            if len(found) == limit:
                here = Position(position.page, index, position.size)
                return found, True, cursors.make(scope, here)
            found.append(row)
        if next_page is None:
            return found, False, None
        check_not_seen(adapter, next_page, seen)
        position = Position(next_page, 0, position.size)
        if len(found) == limit:
            return found, True, cursors.make(scope, position)
    return found, True, cursors.make(scope, position)


def position_of(page: Any, offset: Any, size: Any) -> Position:
    """A walk's position as a cursor holds it, its types checked."""
    if not (isinstance(page, str | None) and type(offset) is int and type(size) is int):
        raise InvalidCursor("cursor is not valid (made by another version)")
    return Position(page=page, offset=offset, size=size)


def within(position: Position, adapter: Adapter) -> Position:
    """``position`` if the connection's pages can hold it: a cursor is signed, but possibly by
    another instance or an older version, so it is never followed blind."""
    size = position.size
    # An offset of a whole page: after the last row of a full page (``fanout``'s end of a walk).
    if not (1 <= size <= adapter.capabilities.max_page_size and 0 <= position.offset <= size):
        raise InvalidCursor(
            f"cursor holds a position out of range for connection {adapter.connection.name!r}"
        )
    return position


def check_not_seen(adapter: Adapter, next_page: str, seen: set[str | None]) -> None:
    """``PaginationLoop`` when the provider points back to a page this walk has read."""
    if next_page in seen:
        raise PaginationLoop(
            f"{adapter.provider} pointed back to page {next_page}", provider=adapter.provider
        )


def upstream_query(query: ListQuery, local: frozenset[str]) -> ListQuery:
    """What the provider is asked: everything but the filters applied here. Sort, search and
    provider-only filters always go upstream (the list view refuses those it lacks)."""
    return replace(query, **dict.fromkeys(local))


def scope_of(connection: str, query: ListQuery) -> str:
    """What a cursor is bound to: the connection and every filter, sort and search given."""
    given = {f.name: getattr(query, f.name) for f in fields(query)}
    filters = {name: str(value) for name, value in sorted(given.items()) if value is not None}
    return hashlib.sha256(json.dumps([connection, filters]).encode()).hexdigest()[:16]


def matches(invoice: Invoice | InvoiceSummary, query: ListQuery, names: frozenset[str]) -> bool:
    for name in names:
        if name == "status" and invoice.status != query.status:
            return False
        if name == "customer_id" and (
            invoice.customer is None or invoice.customer.id != query.customer_id
        ):
            return False
        if name == "issued_from" and not _on_or_after(invoice.issue_date, query.issued_from):
            return False
        if name == "issued_to" and not _on_or_after(query.issued_to, invoice.issue_date):
            return False
        if name == "number" and (
            invoice.number is None or (query.number or "").lower() not in invoice.number.lower()
        ):
            return False
        if name == "document_type" and invoice.document_type != query.document_type:
            return False
    return True


def _on_or_after(later: date | None, earlier: date | None) -> bool:
    return later is not None and earlier is not None and later >= earlier


@dataclass(frozen=True)
class MatchingPage:
    """One provider page of a walk, with only the invoices that match every filter."""

    token: str | None  # the provider's token for this page (None: the first page)
    invoices: list[Invoice]
    next_token: str | None  # None: this was the last page
    total: int | None = None  # how many the walk will find, where the provider says so


async def matching_pages(
    adapter: Adapter, query: ListQuery, *, start: str | None = None, page_size: int | None = None
) -> AsyncGenerator[MatchingPage, None]:
    """Every page of the provider's listing from ``start``, filtered as the list API filters
    (what the provider cannot apply is applied here), one page in memory at a time; for walks
    that read everything (export, migration), where a page of few or no matches is no reason
    to stop. A page the provider points back to ends the walk with ``PaginationLoop``."""
    caps = adapter.capabilities
    local = query.given() - caps.filters
    upstream = upstream_query(query, local)
    size = page_size or caps.max_page_size
    token = start
    seen: set[str | None] = set()
    listed = Listed(adapter)
    while True:
        seen.add(token)
        page = await adapter.list_page(upstream, token, size)
        fresh = listed.fresh(page.invoices, token)
        invoices = [invoice for invoice in fresh if matches(invoice, query, local)]
        yield MatchingPage(token, invoices, page.next_page, None if local else page.total)
        if page.next_page is None:
            return
        check_not_seen(adapter, page.next_page, seen)
        token = page.next_page


class Listed:
    """The invoices a whole walk has met, by id: one the provider lists again (a page that
    overlaps the one before, as a listing newest first does when invoices are added during
    the walk) is handed out once, and a page of nothing new is passed over. ``REPEATS_IN_A_ROW``
    such pages in a row are the provider repeating itself, not a listing shifted by new
    invoices: the walk would never end, or end having skipped what those pages should have
    held (``PaginationLoop``). Holds the ids alone (about 100 bytes an invoice)."""

    REPEATS_IN_A_ROW = 3

    def __init__(self, adapter: Adapter) -> None:
        self._adapter = adapter
        self._ids: set[str] = set()
        self._repeats = 0  # pages of nothing new in a row

    def fresh(self, invoices: Sequence[Invoice], token: str | None) -> list[Invoice]:
        """The page's invoices not met before (an id given twice on the page kept once)."""
        kept = []
        for invoice in invoices:
            if invoice.id is not None:
                if invoice.id in self._ids:
                    continue
                self._ids.add(invoice.id)
            kept.append(invoice)
        self._repeats = self._repeats + 1 if invoices and not kept else 0
        if self._repeats >= self.REPEATS_IN_A_ROW:
            provider = self._adapter.provider
            raise PaginationLoop(
                f"{provider} listed, up to page {token or 'one'}, {self._repeats} pages in a "
                "row of invoices it had listed before: its pages repeat, and walking on would "
                "skip invoices or never end",
                provider=provider,
            )
        return kept
