"""draft_publish's operations on its invoices as a whole: the next number, the CSV export,
batches and the trash (``docs/providers/draft_publish.md``, "Routes", "Batches").

A delete moves a draft to the trash; ``trash/batch`` restores it (a draft again) or purges it
(gone for good). Both batch endpoints answer 200 with the ids that succeeded and those that
failed, each with the code it would have had alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from adapters.base import (
    BadIdentifier,
    BatchItem,
    BatchResult,
    Conflict,
    CsvExport,
    InvalidRequest,
    ListQuery,
    NotFound,
    Page,
    UpstreamError,
)
from adapters.draft_publish import wire
from adapters.draft_publish.listing import StatusWalk
from adapters.paths import segment
from gateway.canonical.errors import FieldError
from gateway.canonical.model import Invoice
from gateway.upstream_answers import reading_a_list

if TYPE_CHECKING:
    from adapters.draft_publish.adapter import DraftPublishAdapter

BASE = "/api/v1/invoices"
NEXT_NUMBER = f"{BASE}/next-number"
EXPORT_CSV = f"{BASE}/export/csv"
BATCH = f"{BASE}/batch"
TRASH_LIST = f"{BASE}/trash/list"
TRASH_BATCH = f"{BASE}/trash/batch"
# The provider's own paths under /invoices: an id equal to one of these would call them.
RESERVED = frozenset({"next-number", "export", "batch", "trash"})

# Canonical batch action → the provider's endpoint and action.
BATCH_CALLS: dict[str, tuple[str, str]] = {
    "delete": (BATCH, "delete"),
    "void": (BATCH, "void"),
    "mark_sent": (BATCH, "mark-sent"),
    "restore": (TRASH_BATCH, "restore"),
    "purge": (TRASH_BATCH, "purge"),
}
# The provider's per-id error code → the gateway's problem code for it.
_CODES = {
    "not_found": "not_found",
    "invalid_status": "conflict",
    "validation_error": "validation_error",
}
_FILENAME = "invoices.csv"


async def next_number(adapter: DraftPublishAdapter) -> str:
    response = await adapter.client.request("GET", NEXT_NUMBER)
    number = adapter._data(response, "tell the next invoice number").get("number")
    if not isinstance(number, str) or not number:
        raise UpstreamError(
            f"{adapter.provider} answered next-number without a number", provider=adapter.provider
        )
    return number


@contextlib.asynccontextmanager
async def export_csv(adapter: DraftPublishAdapter, query: ListQuery) -> AsyncIterator[CsvExport]:
    """The provider's export with the list's filters; canonical ``open`` is two provider
    statuses (sent, overdue): two exports, one after the other, under the first's header."""
    parts = _export_statuses(adapter, query.status)
    params = wire.filter_params(query, query.search)
    async with contextlib.AsyncExitStack() as first_open:
        # Opened before the caller's answer starts, so that its refusal is the answer.
        first = await first_open.enter_async_context(_opened(adapter, params, parts[0]))

        async def chunks() -> AsyncIterator[bytes]:
            ended = b"\n"  # the last byte handed on
            async for chunk in first:
                ended = chunk[-1:] or ended
                yield chunk
            # Closed before the next is opened: each holds one of the connection's
            # max_connections, and with one the next would wait for it for ever.
            await first_open.aclose()
            for status in parts[1:]:
                async with _opened(adapter, params, status) as more:
                    joined = ended == b"\n"
                    async for chunk in _without_header(more):
                        if not joined:  # the part before did not end its last row
                            yield b"\r\n"
                            joined = True
                        ended = chunk[-1:]
                        yield chunk

        yield CsvExport("text/csv; charset=utf-8", _FILENAME, chunks())


@contextlib.asynccontextmanager
async def _opened(
    adapter: DraftPublishAdapter, params: dict[str, Any], status: str | None
) -> AsyncIterator[AsyncIterator[bytes]]:
    sent = {**params, "status": status} if status is not None else params
    async with adapter.client.stream(EXPORT_CSV, params=sent, accept="text/csv") as upstream:
        if upstream.answer is not None:
            if upstream.answer.ok:  # a 2xx that is not a stream cannot happen; said plainly
                raise UpstreamError(
                    f"{adapter.provider} answered its CSV export without a body",
                    provider=adapter.provider,
                )
            raise adapter._failure(upstream.answer, "export invoices", adapter.mapping.pointer_for)
        kind = upstream.headers.get("Content-Type", "")
        if "csv" not in kind.lower():
            raise UpstreamError(
                f"{adapter.provider} answered its CSV export as {kind or 'no content type'}, "
                "not text/csv",
                provider=adapter.provider,
                status=upstream.status,
            )
        yield upstream.chunks


async def _without_header(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The chunks after the first line (the header; its column names hold no line break)."""
    header = True
    async for chunk in chunks:
        if header:
            end = chunk.find(b"\n")
            if end < 0:
                continue
            header, chunk = False, chunk[end + 1 :]
        if chunk:
            yield chunk


def _export_statuses(adapter: DraftPublishAdapter, status: str | None) -> tuple[str | None, ...]:
    parts = StatusWalk.of(adapter.mapping, status).parts
    if status == "unknown" or not parts:
        raise InvalidRequest(
            f"{adapter.provider}'s export cannot select invoices of unknown status",
            [FieldError("#/query/status", "must be draft, open, paid or void for this export")],
            provider=adapter.provider,
        )
    return parts


async def batch(
    adapter: DraftPublishAdapter, action: str, ids: list[str], *, converges: bool = False
) -> BatchResult:
    """``action`` on ``ids`` in one call. ``converges``: sending it again does what it did (a
    purge of one invoice: purged again, it is its 404), so a lost answer is sent again."""
    path, provider_action = BATCH_CALLS[action]
    doing = f"{action.replace('_', ' ')} invoices in a batch"
    wanted = list(dict.fromkeys(ids))
    unusable: dict[str, str] = {}
    for invoice_id in wanted:  # in a body, but held to what an id in a path is
        try:
            segment(invoice_id, what="invoice id", reserved=RESERVED)
        except BadIdentifier as exc:
            # Failed as it would fail alone (a 400), the others sent: one id a script got
            # wrong does not hold up the rest, and is named.
            unusable[invoice_id] = exc.message
    sent = [invoice_id for invoice_id in wanted if invoice_id not in unusable]
    if not sent:
        return BatchResult(action, [_unusable(i, unusable[i]) for i in wanted])
    body = {"action": provider_action, "ids": sent}
    answer = await adapter.client.request("POST", path, json=body, idempotent=converges or None)
    data = adapter._data(answer, doing)
    succeeded, failed = data.get("succeeded"), data.get("failed")
    if not isinstance(succeeded, list) or not isinstance(failed, list):
        raise UpstreamError(
            f"{adapter.provider} answered a batch without succeeded and failed lists",
            provider=adapter.provider,
        )
    done = {str(i) for i in succeeded}
    refused = {str(f.get("id")): f for f in failed if isinstance(f, dict)}
    items = []
    for invoice_id in wanted:
        if invoice_id in unusable:
            items.append(_unusable(invoice_id, unusable[invoice_id]))
        elif invoice_id in refused:
            failure = refused[invoice_id]
            code = _CODES.get(str(failure.get("code")), "upstream_error")
            message = str(failure.get("message") or failure.get("code") or "failed")
            items.append(BatchItem(invoice_id, code, f"{adapter.provider}: {message}"))
        elif invoice_id in done:
            items.append(BatchItem(invoice_id))
        else:
            items.append(
                BatchItem(
                    invoice_id,
                    "upstream_error",
                    f"{adapter.provider}'s answer says nothing of this id: read the invoice to "
                    "know whether it was done",
                )
            )
    return BatchResult(action, items)


def _unusable(invoice_id: str, why: str) -> BatchItem:
    return BatchItem(invoice_id, "bad_request", why)


async def trash_page(adapter: DraftPublishAdapter, page: str | None, page_size: int) -> Page:
    number = adapter.pages.number(page)
    limit = adapter.served_size(page_size)
    params = {"page": number, "limit": limit}
    response = await adapter.client.request("GET", TRASH_LIST, params=params)
    with reading_a_list("trash"):
        body = adapter._body(response, "list the trash")
    rows, meta = adapter._list(body, "list the trash")
    total = _int(meta.get("total"))
    following = adapter.pages.next_token(
        number,
        count=len(rows),
        page_size=_int(meta.get("limit")) or limit,
        total_pages=_int(meta.get("total_pages")),
        total=total,
    )
    return Page([adapter._invoice(row) for row in rows], following, total)


async def restore(adapter: DraftPublishAdapter, invoice_id: str) -> Invoice:
    await _one(adapter, "restore", invoice_id)
    return await adapter.read_back(invoice_id, "restored")


async def purge(adapter: DraftPublishAdapter, invoice_id: str) -> None:
    await _one(adapter, "purge", invoice_id)


async def _one(adapter: DraftPublishAdapter, action: str, invoice_id: str) -> None:
    """A trash action on one id, its per-id failure raised as the error it is. The id goes in
    a body, not a path, but is held to what any id in a path is (``..`` is a 400 on every
    route that names an invoice, this one too)."""
    segment(invoice_id, what="invoice id", reserved=RESERVED)
    (item,) = (await batch(adapter, action, [invoice_id], converges=action == "purge")).items
    if item.error == "not_found":
        raise NotFound(
            f"{adapter.provider} has no invoice {invoice_id} in its trash",
            provider=adapter.provider,
        )
    if item.error == "conflict":
        raise Conflict(item.detail or "refused", provider=adapter.provider)
    if item.error is not None:
        raise UpstreamError(
            f"{adapter.provider} could not {action} invoice {invoice_id}: {item.detail}",
            provider=adapter.provider,
        )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
