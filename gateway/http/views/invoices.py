"""``/v1/connections/{connection}/invoices``: list, create, preview, read, replace, delete, act."""

from __future__ import annotations

import re
from datetime import date

from aiohttp import web
from multidict import MultiMapping

from adapters.base import ACTIONS, Adapter, ListQuery, NotSupported
from adapters.representable import fit
from gateway.canonical.calculated import calculated_invoice
from gateway.canonical.errors import InvalidInvoice
from gateway.canonical.model import DOCUMENT_TYPES, InvoiceStatus
from gateway.http import list_options
from gateway.http.action_inputs import action_inputs
from gateway.http.auth import requires
from gateway.http.keys import CURSORS, SERVICE
from gateway.http.problems import Problem
from gateway.http.validation import query_problem, validation_problem
from gateway.http.views.common import (
    adapter_for,
    expanded,
    handling,
    if_match,
    invoice_body,
    invoice_response,
    listing_response,
    outcome_response,
    write_request,
)
from gateway.listing import InvalidCursor, list_invoices

_STATUSES: tuple[InvoiceStatus, ...] = ("draft", "open", "paid", "void", "unknown")
# ASCII digits only: int() would also take "1_0", " 10", "+5" and other scripts' digits.
_DIGITS = re.compile(r"[0-9]{1,9}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_QUERY = {
    "status",
    "customer_id",
    "issued_from",
    "issued_to",
    "number",
    "document_type",
    "limit",
    "cursor",
    "expand",
}


@requires("invoices:read")
async def list_view(request: web.Request) -> web.Response:
    adapter = adapter_for(request)
    query, limit, cursor = _list_query(request, adapter)
    try:
        listing = await list_invoices(adapter, query, limit, cursor, request.app[CURSORS])
    except InvalidCursor as exc:
        raise query_problem({"cursor": str(exc)}, f"cursor: {exc}.") from None
    return listing_response(listing, request)


@requires("invoices:write")
async def create_view(request: web.Request) -> web.StreamResponse:
    adapter_for(request)
    invoice = await invoice_body(request)
    preference = handling(request)
    outcome = await request.app[SERVICE].create(write_request(request), invoice, preference)
    return outcome_response(outcome, request, preference=preference)


@requires("invoices:read")
async def preview_view(request: web.Request) -> web.Response:
    """The totals this provider would compute, without sending anything to it."""
    adapter = adapter_for(request)
    invoice = await invoice_body(request)
    preference = handling(request)
    fitted, warnings = fit(invoice, adapter.capabilities, adapter.provider, preference)
    try:
        calculated = calculated_invoice(fitted, adapter.policy_for(fitted))
    except InvalidInvoice as exc:
        raise validation_problem(exc.errors) from None
    stamped = calculated.model_copy(
        update={"connection": adapter.connection.name, "provider": adapter.provider}
    )
    return invoice_response(stamped, request, warnings=warnings, preference=preference)


@requires("invoices:read")
async def get_view(request: web.Request) -> web.Response:
    adapter = adapter_for(request)
    expanded(request)
    invoice = await adapter.get(request.match_info["invoice_id"])
    return invoice_response(invoice, request)


@requires("invoices:write")
async def replace_view(request: web.Request) -> web.StreamResponse:
    adapter = adapter_for(request)
    if "update" not in adapter.capabilities.operations:
        raise NotSupported("update invoices", provider=adapter.provider)
    invoice = await invoice_body(request)
    preference = handling(request)
    outcome = await request.app[SERVICE].replace(
        write_request(request),
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
        write_request(request), request.match_info["invoice_id"]
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
    inputs = await action_inputs(request, action)  # a duplicate's optional body
    outcome = await request.app[SERVICE].act(
        write_request(request), request.match_info["invoice_id"], action, inputs
    )
    return outcome_response(outcome, request)


def _list_query(request: web.Request, adapter: Adapter) -> tuple[ListQuery, int, str | None]:
    params = request.query
    unknown = sorted(set(params) - _QUERY - list_options.NAMES)
    if unknown:
        raise query_problem(
            dict.fromkeys(unknown, "is not a query parameter of this route"),
            f"Unknown query parameter(s): {', '.join(unknown)}.",
        )
    expanded(request)  # checked up front: an empty page must refuse a bad expand too
    status = params.get("status")
    if status is not None and status not in _STATUSES:
        raise query_problem({"status": f"must be one of {', '.join(_STATUSES)}"})
    document_type = params.get("document_type")
    if document_type is not None and document_type not in DOCUMENT_TYPES:
        raise query_problem({"document_type": f"must be one of {', '.join(DOCUMENT_TYPES)}"})
    given = params.get("limit", "25")
    limit = int(given) if _DIGITS.fullmatch(given) else 0
    if not 1 <= limit <= 100:
        raise query_problem({"limit": "must be a whole number from 1 to 100"})
    query = ListQuery(
        status=status,
        customer_id=params.get("customer_id") or None,
        issued_from=_date(params, "issued_from"),
        issued_to=_date(params, "issued_to"),
        number=params.get("number") or None,
        **list_options.upstream_options(params, adapter.capabilities, adapter.provider),
        document_type=document_type,
    )
    return query, limit, params.get("cursor") or None


def _date(params: MultiMapping[str], name: str) -> date | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        return date.fromisoformat(value) if _ISO_DATE.fullmatch(value) else _bad_date(name)
    except ValueError:
        return _bad_date(name)


def _bad_date(name: str) -> date:
    raise query_problem({name: "must be a date written as YYYY-MM-DD"})
