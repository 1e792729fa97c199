"""One list over several connections: their invoices merged by issue date behind one cursor.

Each connection is walked as its own list walks it (``gateway.listing``): its provider is asked
for pages sorted by issue date, and the filters it cannot apply are applied here over its
pages. The walks are merged k-way: the next invoice handed out is always the first head of all
the walks in issue-date order (ascending, or descending for ``-issue_date``), ties broken by
connection name, then by the connection's own order. A walk whose read invoices run out is read
on before anything else is handed out, so no invoice goes ahead of one that sorts before it.
The connections are read concurrently: the first page of each together, then the next pages of
those that ran dry, together.

A connection whose provider cannot sort by issue date (draft_publish, order_linked) joins by
its whole listing: its pages come in an order a merge cannot rely on, so every call reads all of
them (at most ``MAX_PAGES_PER_CALL`` pages of the provider's largest size, with the filters the
provider applies) and sorts them here by issue date, then by id; its position is the date and
id of the last one it handed out, so an invoice made or deleted meanwhile shifts nothing (a
count of those handed out would hand one out again, or skip one, for each). A listing larger
than that is refused (``NotMergeable``, naming the connection), never merged in part. A sorted
walk whose provider answers out of issue-date order anyway fails the call, naming the
connection.

The cursor holds each connection's own position (its provider's page token, the offset within
that page, the page size; for a whole listing, the last one it handed out). A walk that has
handed out all it has while others read on keeps a position after its last (oldest first, a
sorted walk's is after the last row of its provider's last page), so that an invoice made
meanwhile that sorts after it comes in; the cursor ends once every walk has. It is a
``gateway.listing`` cursor, signed the same way and bound to the set of connections, the
filters and the sort. Walking it to the end visits every invoice of every connection exactly
once while nothing is written.
Written meanwhile: on a whole listing, an invoice made is in the walk only if it sorts after
where it stands, one deleted is left out, and neither moves any other; on a sorted walk, whose
position is the provider's page and offset, one made or deleted before it shifts the rest by
one, as the provider's own pages do (docs/facade.md, "Cursor").

Walks read the rows as each provider lists them (``summary_page``: the full invoices, except on
crm_v1 whose rows are summaries, one provider call a page); only the rows the merge hands out
are then read in full, each connection's reads concurrent within its own limits
(``adapters.read_limits``). A row deleted between its listing and its read is left out. The
summary view (``list_summaries_across``) hands the rows out as listed, with no read.

One connection's failure fails the whole call with that connection named
(``ConnectionFailed``): there is no partial answer.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from adapters.base import Adapter, ListedPage, ListedRow, ListQuery, SummaryPage
from gateway.canonical.model import Invoice
from gateway.canonical.summary import InvoiceSummary
from gateway.errors import AdapterError, UpstreamError
from gateway.listing import (
    MAX_PAGES_PER_CALL,
    Cursors,
    InvalidCursor,
    Listing,
    Position,
    SummaryListing,
    check_not_seen,
    matches,
    position_of,
    scope_of,
    upstream_query,
    within,
)

SORT = "issue_date"  # the only order several connections can be merged in
ASCENDING = "issue_date"  # oldest first: the default
DESCENDING = "-issue_date"  # newest first
# A row as a walk holds it: an invoice, a summary (read in full once handed out), or a row of a
# whole listing (translated once handed out).
Row = Invoice | InvoiceSummary | ListedRow
PageT = TypeVar("PageT", SummaryPage, ListedPage)


class NotMergeable(ValueError):
    """A connection whose invoices cannot be merged: its provider has no issue-date sort and
    its listing is larger than one call reads whole."""

    def __init__(self, connection: str, provider: str, reason: str) -> None:
        self.connection = connection
        self.provider = provider
        self.reason = f"connection {connection!r} cannot be merged: {reason}"
        super().__init__(self.reason)


class ConnectionFailed(Exception):
    """Reading one connection failed; the call fails with it."""

    def __init__(self, connection: str, error: AdapterError) -> None:
        super().__init__(f"{connection}: {error.message}")
        self.connection = connection
        self.error = error


@dataclass
class _Entry:
    row: Row  # as listed: made an invoice once handed out (``_in_full``)
    key: int  # the issue date as a number that grows in the merge's order
    at: Position  # where the walk stands when this invoice is the next one
    after: Position | None = None  # a whole listing's: where it stands once this is handed out


@dataclass
class _Walk:
    """One connection's walk within one call: what it has read and not yet handed out."""

    name: str
    adapter: Adapter
    upstream: ListQuery  # what the provider is asked
    local: frozenset[str]  # the filters applied here
    frontier: Position | None  # where reading goes on (None: the provider has no more)
    buffer: deque[_Entry] = field(default_factory=deque)
    pages: int = 0  # provider pages read in this call
    seen: set[str | None] = field(default_factory=set)
    last_key: int | None = None
    # A whole listing's position once it has nothing left to hand out: after the last invoice
    # handed out (where the call started, until one is).
    handed: Position | None = None
    # A sorted walk's, oldest first, once its provider has no more: after the last row of its
    # last page (``resume_at``).
    end: Position | None = None

    def position(self) -> Position | None:
        """Where the next call starts: at the first invoice not handed out."""
        return self.buffer[0].at if self.buffer else self.frontier

    def resume_at(self) -> Position | None:
        """Where a walk with nothing left stands while other walks of the merge read on, so
        that an invoice made since that sorts after its last comes in (dropped, its walk
        ended, as the next page's boundary fell): a whole listing after the last invoice it
        handed out; a sorted walk, oldest first, after the last row of its provider's last
        page, which a new invoice of a later date joins (or the page after it). Newest first,
        a sorted walk ends: an invoice made since sorts first, and would shift its rows by
        one, handing the last out again."""
        return self.handed if self.whole else self.end

    def take(self) -> Row:
        """The next invoice of the merge from this walk."""
        entry = self.buffer.popleft()
        if entry.after is not None:
            self.handed = entry.after
        return entry.row

    @property
    def whole(self) -> bool:
        return _whole(self.adapter)

    def starving(self) -> bool:
        return not self.buffer and self.frontier is not None


async def list_across(
    adapters: Sequence[Adapter],
    query: ListQuery,
    limit: int,
    cursor: str | None,
    cursors: Cursors,
) -> Listing:
    """A page of the connections' invoices merged by issue date (``query.sort``: ``issue_date``
    or ``-issue_date``); ``InvalidCursor`` for a cursor not made for these connections and
    filters, ``NotMergeable`` for a whole listing too large, or ``ConnectionFailed`` naming the
    connection that failed."""
    found, following = await _merged(adapters, query, limit, cursor, cursors, "across")
    return Listing(await _in_full(found), following is not None, following)


async def list_summaries_across(
    adapters: Sequence[Adapter],
    query: ListQuery,
    limit: int,
    cursor: str | None,
    cursors: Cursors,
) -> SummaryListing:
    """``list_across`` with the rows as each provider lists them (``?view=summary``): a
    summary row stays a summary, not read in full, so each connection costs one provider call
    a page; a row that is a whole invoice is that invoice. The cursors are bound to the view,
    as a connection's own are (``gateway.listing``)."""
    found, following = await _merged(adapters, query, limit, cursor, cursors, "across summary")
    rows = [_as_listed(walk, row) for walk, row in found]
    return SummaryListing(rows, following is not None, following)


async def _merged(
    adapters: Sequence[Adapter],
    query: ListQuery,
    limit: int,
    cursor: str | None,
    cursors: Cursors,
    view: str,
) -> tuple[list[tuple[_Walk, Row]], str | None]:
    """The next ``limit`` rows of the merge, each with its walk, and the cursor that follows
    them (None at the end); ``view`` names the listing its cursors are bound to."""
    if query.sort not in (ASCENDING, DESCENDING):
        raise ValueError(f"a merged list is sorted by {ASCENDING} or {DESCENDING}")
    ordered = sorted(adapters, key=lambda adapter: adapter.connection.name)
    names = [adapter.connection.name for adapter in ordered]
    scope = scope_of(json.dumps([view, *names]), query)
    walks = [_walk(adapter, query, limit) for adapter in ordered]
    if cursor is not None:
        for walk, position in zip(walks, _read(cursors, scope, cursor, ordered), strict=True):
            walk.frontier = position
    for walk in walks:
        walk.handed = walk.frontier
    descending = query.sort == DESCENDING
    found: list[tuple[_Walk, Row]] = []
    while len(found) < limit:
        starving = [walk for walk in walks if walk.starving()]
        if starving:
            if any(walk.pages >= MAX_PAGES_PER_CALL for walk in starving):
                break  # read on in the next call: what it holds may sort first
            await _fill_all(starving, query, descending)
            continue
        heads = [walk for walk in walks if walk.buffer]
        if not heads:
            break
        # min keeps the first of equal keys: the walks are in connection-name order.
        best = min(heads, key=lambda walk: walk.buffer[0].key)
        found.append((best, best.take()))
    positions = [walk.position() for walk in walks]
    if all(position is None for position in positions):
        return found, None
    kept = [
        walk.resume_at() if at is None else at for walk, at in zip(walks, positions, strict=True)
    ]
    return found, _make(cursors, scope, kept)


async def _in_full(found: list[tuple[_Walk, Row]]) -> list[Invoice]:
    """The merged rows as invoices, in order: summaries read in full (``Adapter.read_each``:
    each connection's reads concurrent within its limits), a whole listing's rows translated; a
    row deleted since it was listed is left out."""
    wanted: dict[str, tuple[_Walk, list[str]]] = {}
    for walk, row in found:
        if isinstance(row, InvoiceSummary):
            wanted.setdefault(walk.name, (walk, []))[1].append(row.id)
    read: dict[str, dict[str, Invoice]] = {}

    async def read_walk(walk: _Walk, ids: list[str]) -> None:
        try:
            read[walk.name] = await walk.adapter.read_each(ids)
        except AdapterError as error:
            raise ConnectionFailed(walk.name, error) from error

    if wanted:
        await _all_or_first_failure([read_walk(walk, ids) for walk, ids in wanted.values()])
    invoices = [_invoice_of(walk, row, read) for walk, row in found]
    return [invoice for invoice in invoices if invoice is not None]


def _invoice_of(walk: _Walk, row: Row, read: dict[str, dict[str, Invoice]]) -> Invoice | None:
    if isinstance(row, InvoiceSummary):
        return read[walk.name].get(row.id)
    return row if isinstance(row, Invoice) else _translated(walk, row)


def _as_listed(walk: _Walk, row: Row) -> Invoice | InvoiceSummary:
    """A row as its provider listed it: an invoice or a summary as it is, a whole listing's row
    translated."""
    return row if isinstance(row, Invoice | InvoiceSummary) else _translated(walk, row)


def _translated(walk: _Walk, row: ListedRow) -> Invoice:
    try:
        return row.invoice()
    except AdapterError as error:
        raise ConnectionFailed(walk.name, error) from error


def _walk(adapter: Adapter, query: ListQuery, limit: int) -> _Walk:
    caps = adapter.capabilities
    local = query.given() - caps.filters
    upstream = upstream_query(query, local)
    if _whole(adapter):
        # Read whole, in the fewest calls, unsorted upstream (the provider has no sort).
        upstream, size = replace(upstream, sort=None), caps.max_page_size
    else:
        # As the connection's own list pages: by the limit where nothing is filtered here, so
        # each connection reads what listing it alone would read, one page, all of them at
        # once, and any one of them can give the whole page (however the dates fall) without
        # reading on.
        size = caps.max_page_size if local else min(limit, caps.max_page_size)
    return _Walk(
        name=adapter.connection.name,
        adapter=adapter,
        upstream=upstream,
        local=local,
        frontier=Position(page=None, offset=0, size=size),
    )


def _whole(adapter: Adapter) -> bool:
    """Whether the connection is merged by its whole listing: its provider cannot sort by issue
    date."""
    return SORT not in adapter.capabilities.sorts


async def _fill_all(walks: list[_Walk], query: ListQuery, descending: bool) -> None:
    await _all_or_first_failure([_fill(walk, query, descending) for walk in walks])


async def _all_or_first_failure(steps: list[Coroutine[Any, Any, None]]) -> None:
    """Run ``steps`` concurrently; a failure is the first connection's (by name) that failed
    (``ConnectionFailed`` or ``NotMergeable``)."""
    if len(steps) == 1:
        await steps[0]
        return
    try:
        async with asyncio.TaskGroup() as group:
            for step in steps:
                group.create_task(step)
    except ExceptionGroup as group:
        failed = [e for e in group.exceptions if isinstance(e, ConnectionFailed | NotMergeable)]
        if len(failed) != len(group.exceptions):
            raise
        raise min(failed, key=lambda error: error.connection) from None


async def _fill(walk: _Walk, query: ListQuery, descending: bool) -> None:
    """Read the walk's pages until it holds an invoice, its provider has no more, or it has
    read its pages for this call."""
    try:
        if walk.whole:
            await _read_whole(walk, query, descending)
        while walk.starving() and walk.pages < MAX_PAGES_PER_CALL:
            assert walk.frontier is not None
            await _read_page(walk, walk.frontier, query, descending)
    except AdapterError as error:
        raise ConnectionFailed(walk.name, error) from error


async def _read_page(walk: _Walk, at: Position, query: ListQuery, descending: bool) -> None:
    adapter = walk.adapter
    walk.seen.add(at.page)
    walk.pages += 1
    page = await adapter.summary_page(walk.upstream, at.page, at.size)
    for index in range(at.offset, len(page.rows)):
        invoice = page.rows[index]
        if not matches(invoice, query, walk.local):
            continue
        key = _key(invoice, descending)
        if walk.last_key is not None and key < walk.last_key:
            raise _out_of_order(adapter, invoice)
        walk.last_key = key
        walk.buffer.append(_Entry(invoice, key, Position(at.page, index, at.size)))
    if page.next_page is None:
        walk.frontier = None
        walk.end = None if descending else Position(at.page, len(page.rows), at.size)
        return
    check_not_seen(adapter, page.next_page, walk.seen)
    walk.frontier = Position(page.next_page, 0, at.size)


async def _read_whole(walk: _Walk, query: ListQuery, descending: bool) -> None:
    """Every page of a connection whose provider cannot sort by issue date, its rows sorted here
    (stable: the provider's order within a day), those already handed out (the position's
    count) skipped; ``NotMergeable`` when the listing has more pages than one call reads. With
    no filter to apply here, the rows are those of ``Adapter.listed_page`` where the adapter
    offers it: only the ones handed out are translated. The pages after the first are read at
    once where the first tells them (numbered pages and a total: ``Adapter.later_pages``), else
    one after the other."""
    assert walk.frontier is not None
    after = _after(walk.frontier, walk.adapter)
    pages, seen = walk.pages, set(walk.seen)
    read: dict[str, Row] = {}  # every row any read gave, the latest read's where several did
    for _ in range(WHOLE_READS):
        walk.pages, walk.seen = pages, set(seen)
        rows, whole = await _whole_listing(walk)
        if whole:
            break
        read.update((row.id or "", row) for row in rows)
    else:
        # Changing under every read: each row any of them gave (one deleted meanwhile may
        # come, stale; one that was there throughout is left out only if every read missed it).
        rows = list(read.values())
    if walk.local:  # the summary pages' rows (listed rows are read only with no filter here)
        rows = [
            row
            for row in rows
            if not isinstance(row, ListedRow) and matches(row, query, walk.local)
        ]
    size = walk.adapter.capabilities.max_page_size
    ordered = sorted(((_order(row, descending), row) for row in rows), key=lambda pair: pair[0])
    at, previous = walk.frontier, None
    for place, row in ordered:
        if after is not None and place <= after:
            continue  # handed out already (or, made since, sorted before the position)
        if place == previous:
            continue  # listed twice: a page boundary that moved while the pages were read
        following = Position(f"{place[0]}:{place[1]}", 0, size)
        walk.buffer.append(_Entry(row, place[0], at, following))
        at, previous = following, place
    walk.frontier = None


# How many times a whole listing is read before the rows of its reads are taken together: a
# listing written while its pages were read (an invoice deleted moves the rows after it up a
# page, onto one read already) is read again, within the walk's page budget each time.
WHOLE_READS = 3


async def _whole_listing(walk: _Walk) -> tuple[list[Row], bool]:
    """Every row of the connection's listing (``Adapter.listed_page`` where the adapter offers
    it and nothing is filtered here, else its summary pages); with whether the pages read
    agree: each says the same total, and that many invoices were read, each once. Where the
    provider says no total, nothing tells, and the rows are taken as read."""
    adapter, upstream = walk.adapter, walk.upstream
    size = adapter.capabilities.max_page_size
    walk.seen.add(None)
    walk.pages += 1
    listed = None if walk.local else await adapter.listed_page(upstream, None, size)
    if listed is not None:

        async def listed_page(token: str) -> ListedPage:
            page = await adapter.listed_page(upstream, token, size)
            if page is None:
                raise RuntimeError(f"{adapter.provider} listed a first page but not page {token}")
            return page

        pages: Sequence[ListedPage | SummaryPage] = await _every_page(walk, listed, listed_page)
    else:
        first = await adapter.summary_page(upstream, None, size)
        pages = await _every_page(
            walk, first, lambda token: adapter.summary_page(upstream, token, size)
        )
    rows: list[Row] = [row for page in pages for row in page.rows]
    totals = {page.total for page in pages}
    if len(pages) < 2 or None in totals:
        return rows, True
    return rows, len(totals) == 1 and len({row.id for row in rows}) == len(rows) == totals.pop()


async def _every_page(
    walk: _Walk, first: PageT, read: Callable[[str], Awaitable[PageT]]
) -> list[PageT]:
    """``first`` and every page after it (``read`` reads one by its token), within the walk's
    page budget (``NotMergeable`` beyond it): the pages ``first`` tells, at once
    (``Adapter.at_once``), then each next one in turn."""
    adapter = walk.adapter
    size = adapter.capabilities.max_page_size
    if first.total is not None and first.total > MAX_PAGES_PER_CALL * size:
        raise _too_large(walk, size)
    pages = [first]
    later = adapter.later_pages(first, size)
    if later:  # told by the first page: read at once
        if walk.pages + len(later) > MAX_PAGES_PER_CALL:
            raise _too_large(walk, size)
        walk.seen.update(later)
        walk.pages += len(later)
        pages += await adapter.at_once([functools.partial(read, token) for token in later])
    # Else (or when the listing grew meanwhile) each page's next one, in turn.
    while (following := pages[-1].next_page) is not None:
        if walk.pages >= MAX_PAGES_PER_CALL:
            raise _too_large(walk, size)
        check_not_seen(adapter, following, walk.seen)
        walk.seen.add(following)
        walk.pages += 1
        pages.append(await read(following))
    return pages


def _after(position: Position, adapter: Adapter) -> tuple[int, str] | None:
    """Where a walk of a whole listing stands (its page token): after the invoice of this
    issue date (as ``_key`` numbers it) and id, the last one it handed out; None at the start."""
    if position.page is None:
        return None
    key, colon, invoice_id = position.page.partition(":")
    digits = key.removeprefix("-")
    if not colon or not (digits.isascii() and digits.isdigit()) or len(digits) > 8:
        raise InvalidCursor(
            f"cursor holds a position out of range for connection {adapter.connection.name!r}"
        )
    return int(key), invoice_id


def _order(row: Row, descending: bool) -> tuple[int, str]:
    """Where a row of a whole listing sorts: by issue date, then by id, an order that invoices
    made or deleted during a walk do not shift (the provider's own order may)."""
    return _key(row, descending), row.id or ""


def _too_large(walk: _Walk, size: int) -> NotMergeable:
    adapter = walk.adapter
    upstream = sorted(adapter.capabilities.filters)
    narrow = f"a filter {adapter.provider} applies ({', '.join(upstream)})" if upstream else ""
    return NotMergeable(
        walk.name,
        adapter.provider,
        f"{adapter.provider} has no issue-date sort of its own, so a merge reads its whole "
        f"listing on every call, and it lists more than {MAX_PAGES_PER_CALL * size} invoices"
        + (f"; narrow it with {narrow}" if narrow else ""),
    )


def _key(invoice: Row, descending: bool) -> int:
    """The issue date as a number; no date sorts before every date (after, descending)."""
    day = invoice.issue_date.toordinal() if invoice.issue_date is not None else 0
    return -day if descending else day


def _out_of_order(adapter: Adapter, invoice: Invoice | InvoiceSummary) -> UpstreamError:
    error = UpstreamError(
        f"{adapter.provider} listed invoice {invoice.id} (issued {invoice.issue_date}) out of "
        "issue-date order, so its invoices cannot be merged",
        provider=adapter.provider,
    )
    error.retryable = False
    return error


# -- the cursor: a listing cursor whose page token holds every walk's position -----------------


def _make(cursors: Cursors, scope: str, positions: list[Position | None]) -> str:
    state = [None if p is None else [p.page, p.offset, p.size] for p in positions]
    packed = json.dumps(state, separators=(",", ":"))
    return cursors.make(scope, Position(page=packed, offset=0, size=len(positions)))


def _read(
    cursors: Cursors, scope: str, cursor: str, adapters: Sequence[Adapter]
) -> list[Position | None]:
    outer = cursors.read(scope, cursor)
    try:
        state: Any = json.loads(outer.page or "")
    except ValueError:
        raise InvalidCursor("cursor is not valid (made by another version)") from None
    if not isinstance(state, list) or len(state) != len(adapters):
        raise InvalidCursor("cursor is not valid (made by another version)")
    return [_position(item, adapter) for item, adapter in zip(state, adapters, strict=True)]


def _position(item: Any, adapter: Adapter) -> Position | None:
    if item is None:
        return None
    if not (isinstance(item, list) and len(item) == 3):
        raise InvalidCursor("cursor is not valid (made by another version)")
    position = within(position_of(*item), adapter)
    if _whole(adapter):
        _after(position, adapter)  # a whole listing's position, checked before any reading
    return position
