"""``/v1/connections/{connection}/invoices``: list, create, preview, read, replace, delete, act."""

from __future__ import annotations

from aiohttp import web

from adapters.base import ACTIONS, Adapter, ListQuery, NotSupported
from gateway.canonical.errors import InvalidInvoice
from gateway.http import list_filters, list_options
from gateway.http.action_inputs import action_inputs
from gateway.http.auth import requires
from gateway.http.keys import CURSORS, SERVICE
from gateway.http.problems import Problem
from gateway.http.query_names import reads_own_query
from gateway.http.validation import (
    cursor_problem,
    refuse_unknown,
    validation_problem,
)
from gateway.http.views.common import (
    adapter_for,
    expanded,
    handling,
    if_match,
    invoice_body,
    invoice_response,
    listing_response,
    not_modified,
    outcome_response,
    write_request,
)
from gateway.http.views.summaries import summaries_response
from gateway.listing import InvalidCursor, list_invoices, list_summaries
from gateway.service.preview import preview

_QUERY = {*list_filters.NAMES, "cursor", "expand", "view"}


@requires("invoices:read")
@reads_own_query
async def list_view(request: web.Request) -> web.Response:
    adapter = adapter_for(request)
    query, limit, cursor, summary = _list_query(request, adapter)
    cursors = request.app[CURSORS]
    try:
        if summary:
            summaries = await list_summaries(adapter, query, limit, cursor, cursors)
            return summaries_response(summaries, request)
        listing = await list_invoices(adapter, query, limit, cursor, cursors)
    except InvalidCursor as exc:
        raise cursor_problem(exc) from None
    return listing_response(listing, request)


@requires("invoices:write")
async def create_view(request: web.Request) -> web.StreamResponse:
    invoice = await invoice_body(request, adapter_for(request))
    preference = handling(request)
    outcome = await request.app[SERVICE].create(write_request(request), invoice, preference)
    return outcome_response(outcome, request, preference=preference)


@requires("invoices:read")
async def preview_view(request: web.Request) -> web.Response:
    """The totals this provider would compute, without sending anything to it."""
    adapter = adapter_for(request)
    invoice = await invoice_body(request, adapter)
    preference = handling(request)
    try:
        previewed, warnings = preview(adapter, invoice, preference)
    except InvalidInvoice as exc:
        raise validation_problem(exc.errors) from None
    return invoice_response(previewed, request, warnings=warnings, preference=preference)


@requires("invoices:read")
async def get_view(request: web.Request) -> web.Response:
    adapter = adapter_for(request)
    expanded(request)
    invoice = await adapter.get(request.match_info["invoice_id"])
    response = invoice_response(invoice, request)
    # An overdue invoice's answer changed with the clock (``overdue`` turned true on the day
    # after its due date) while its ETag, the invoice's version, did not: a copy held from
    # before would be told it is current. So it is always answered whole.
    if not invoice.overdue and not_modified(request, response.headers["ETag"]):
        return web.Response(status=304, headers={"ETag": response.headers["ETag"]})
    return response


@requires("invoices:write")
async def replace_view(request: web.Request) -> web.StreamResponse:
    adapter = adapter_for(request)
    if "update" not in adapter.capabilities.operations:
        raise NotSupported("update invoices", provider=adapter.provider)
    invoice = await invoice_body(request, adapter)
    preference = handling(request)
    outcome = await request.app[SERVICE].replace(
        write_request(request, checks_if_match=True),
        request.match_info["invoice_id"],
        invoice,
        preference,
        if_match=if_match(request),
    )
    return outcome_response(outcome, request, preference=preference)


@requires("invoices:write")
async def delete_view(request: web.Request) -> web.StreamResponse:
    adapter_for(request)
    outcome = await request.app[SERVICE].delete(
        write_request(request, checks_if_match=True),
        request.match_info["invoice_id"],
        if_match=if_match(request),
    )
    return outcome_response(outcome, request)


@requires("invoices:write")
async def action_view(request: web.Request) -> web.StreamResponse:
    adapter = adapter_for(request)
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise Problem("not_found", f"No action {action!r}; actions are: {', '.join(ACTIONS)}.")
    if action not in adapter.capabilities.actions:
        raise NotSupported(action.replace("_", " ") + " invoices", provider=adapter.provider)
    # A duplicate's optional body.
    inputs = await action_inputs(request, action, adapter.capabilities.duplicate_inputs)
    outcome = await request.app[SERVICE].act(
        write_request(request, checks_if_match=True),
        request.match_info["invoice_id"],
        action,
        inputs,
        if_match=if_match(request),
    )
    return outcome_response(outcome, request)


def _list_query(request: web.Request, adapter: Adapter) -> tuple[ListQuery, int, str | None, bool]:
    """The query, the limit, the cursor and whether ``view=summary`` asks for the rows as
    listed; every parameter checked before anything is read."""
    params = request.query
    refuse_unknown(params, _QUERY | list_options.NAMES)
    expanded(request)  # checked up front: an empty page must refuse a bad expand too
    summary = list_filters.summary_view(params)
    query = ListQuery(
        **list_filters.filters(params),
        **list_options.upstream_options(params, adapter.capabilities, adapter.provider),
    )
    return query, list_filters.limit(params), list_filters.cursor(params), summary
