"""A connection's invoices as a whole: the next number, the CSV export, batches, the trash.

``GET  …/invoices/next-number``          the number the next invoice gets
``GET  …/invoices/export.csv``           the provider's own CSV export, streamed through
``POST …/invoices/batch``                one action on many invoices, a result per id
``GET  …/trash/invoices``                the invoices a delete moved to the trash
``POST …/invoices/{id}/restore``         out of the trash, readable again
``DELETE …/trash/invoices/{id}``         deleted for good

What a connection's provider lacks is a 501 ``not_supported`` (``capabilities`` says which).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

from adapters.base import BATCH_ACTIONS, Adapter, Capabilities, ListQuery, NotSupported
from gateway.canonical.errors import FieldError
from gateway.errors import AdapterError
from gateway.http import list_filters, list_options
from gateway.http.action_inputs import action_inputs
from gateway.http.auth import requires
from gateway.http.body import read_json_object
from gateway.http.keys import CURSORS, REQUEST_ID, SERVICE, SETTINGS
from gateway.http.query_names import reads_own_query
from gateway.http.validation import (
    cursor_problem,
    query_problem,
    refuse_unknown,
    validation_problem,
)
from gateway.http.views.common import (
    REPLAYED,
    adapter_for,
    expanded,
    listing_response,
    outcome_response,
    write_request,
)
from gateway.listing import InvalidCursor, list_invoices

_log = structlog.get_logger("gateway.collection")

MAX_BATCH_IDS = 100
_STATUSES = ("draft", "open", "paid", "void")
_EXPORT_QUERY = frozenset({"status", "customer_id", "issued_from", "issued_to", "search"})
_TRASH_QUERY = frozenset({"limit", "cursor", "expand"})


def _able(request: web.Request, able: Callable[[Capabilities], bool], operation: str) -> Adapter:
    adapter = adapter_for(request)
    if not able(adapter.capabilities):
        raise NotSupported(operation, provider=adapter.provider)
    return adapter


@requires("invoices:read")
async def next_number_view(request: web.Request) -> web.Response:
    adapter = _able(request, lambda can: can.next_number, "tell the next invoice number")
    number = await adapter.next_number()
    return web.json_response({"object": "next_number", "number": number})


@requires("invoices:read")
@reads_own_query
async def export_csv_view(request: web.Request) -> web.StreamResponse:
    """The provider's CSV, chunk by chunk as it arrives: memory stays at one chunk. A transfer
    that breaks off is cut off here too (no final chunk), never passed off as the whole file."""
    adapter = _able(request, lambda can: can.export_csv, "export invoices as CSV")
    query = _export_query(request, adapter)
    async with adapter.export_csv(query) as export:
        response = web.StreamResponse(
            headers={
                "Content-Type": export.content_type,
                "Content-Disposition": f'attachment; filename="{export.filename}"',
                "Cache-Control": "no-store",
                # Sent with the head, before request_id_middleware could add it afterwards.
                "X-Request-ID": request[REQUEST_ID],
            }
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        # A caller that takes nothing for this long is cut off: it holds one of the
        # connection's provider connections (``max_connections``) while the export is open.
        stalled_after = request.app[SETTINGS].server.idle_timeout_s
        try:
            async for chunk in export.chunks:
                async with asyncio.timeout(stalled_after):
                    await response.write(chunk)
        except ConnectionError:
            raise  # the caller hung up: counted and logged as 499 by the middleware
        except TimeoutError:
            _log.warning(
                "export_reader_stalled",
                connection=adapter.connection.name,
                seconds=stalled_after,
            )
            return _cut_off(request, response)
        except Exception as exc:
            # Once the head is sent, no other answer can be: whatever fails (an upstream
            # failure, a refusal of a later provider call such as a 404, a defect) cuts the
            # transfer off, without its final chunk. An answer written here would have been
            # spliced into the body, after which the file looked whole.
            if isinstance(exc, AdapterError):
                _log.warning(
                    "export_broken_off", connection=adapter.connection.name, error=exc.message
                )
            else:
                _log.exception("export_broken_off", connection=adapter.connection.name)
            return _cut_off(request, response)
    await response.write_eof()
    return response


def _cut_off(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """An answer whose head is sent ended without its final chunk: the caller sees a transfer
    broken off, never a whole file."""
    response.force_close()
    if request.transport is not None:
        request.transport.close()
    return response


@requires("invoices:write")
async def batch_view(request: web.Request) -> web.StreamResponse:
    _able(request, lambda can: bool(can.batch_actions), "act on invoices in batches")
    action, ids = _batch_body(await read_json_object(request))
    outcome = await request.app[SERVICE].batch(write_request(request), action, ids)
    response = web.json_response({"object": "batch", **(outcome.batch or {})})
    if outcome.replayed:
        response.headers[REPLAYED] = "true"
    return response


@requires("invoices:read")
@reads_own_query
async def trash_list_view(request: web.Request) -> web.Response:
    adapter = _able(request, lambda can: "list" in can.trash, "list the trash")
    limit, cursor = _trash_query(request)
    try:
        listing = await list_invoices(
            adapter, ListQuery(), limit, cursor, request.app[CURSORS], trash=True
        )
    except InvalidCursor as exc:
        raise cursor_problem(exc) from None
    return listing_response(listing, request)


@requires("invoices:write")
async def restore_view(request: web.Request) -> web.StreamResponse:
    _able(request, lambda can: "restore" in can.trash, "restore invoices from the trash")
    await action_inputs(request, "restore")  # as an action's: a body with keys is a 422
    outcome = await request.app[SERVICE].restore(
        write_request(request), request.match_info["invoice_id"]
    )
    return outcome_response(outcome, request)


@requires("invoices:write")
async def purge_view(request: web.Request) -> web.StreamResponse:
    _able(request, lambda can: "purge" in can.trash, "purge invoices from the trash")
    outcome = await request.app[SERVICE].purge(
        write_request(request), request.match_info["invoice_id"]
    )
    return outcome_response(outcome, request)


# -- reading the request --------------------------------------------------------------------------


def _batch_body(body: dict[str, Any]) -> tuple[str, list[str]]:
    errors: list[FieldError] = []
    unknown = sorted(set(body) - {"action", "ids"})
    errors += [FieldError(f"/{name}", "is not a field of a batch") for name in unknown]
    action = body.get("action")
    if action not in BATCH_ACTIONS:
        errors.append(FieldError("/action", f"must be one of {', '.join(BATCH_ACTIONS)}"))
    ids = body.get("ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_BATCH_IDS:
        errors.append(FieldError("/ids", f"must be an array of 1 to {MAX_BATCH_IDS} invoice ids"))
    else:
        errors += [
            FieldError(f"/ids/{i}", "must be a non-empty string")
            for i, value in enumerate(ids)
            if not isinstance(value, str) or not value.strip()
        ]
    if errors:
        raise validation_problem(errors)
    assert isinstance(action, str) and isinstance(ids, list)
    return action, list(dict.fromkeys(ids))  # a repeated id is acted on, and answered, once


def _export_query(request: web.Request, adapter: Adapter) -> ListQuery:
    params = request.query
    refuse_unknown(params, _EXPORT_QUERY)
    status = params.get("status")  # empty is no status, and a 400 as on the list
    if status is not None and status not in _STATUSES:
        raise query_problem({"status": f"must be one of {', '.join(_STATUSES)}"})
    issued_from, issued_to = list_filters.issue_dates(params)
    return ListQuery(
        status=status,
        customer_id=params.get("customer_id") or None,
        issued_from=issued_from,
        issued_to=issued_to,
        **list_options.upstream_options(params, adapter.capabilities, adapter.provider),
    )


def _trash_query(request: web.Request) -> tuple[int, str | None]:
    params = request.query
    refuse_unknown(params, _TRASH_QUERY)
    expanded(request)
    return list_filters.limit(params), list_filters.cursor(params)
