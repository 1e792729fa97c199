"""``/v1/connections/{connection}/invoices/{id}/payments``: list, record, delete."""

from __future__ import annotations

from aiohttp import web

from adapters.base import NotSupported
from gateway.canonical.errors import FieldError
from gateway.canonical.model import Payment
from gateway.http.auth import requires
from gateway.http.body import read_json_object
from gateway.http.keys import SERVICE
from gateway.http.validation import parse, validation_problem
from gateway.http.views.common import adapter_for, if_match, outcome_response, write_request


@requires("invoices:read")
async def list_payments_view(request: web.Request) -> web.Response:
    adapter = adapter_for(request)
    payments = await adapter.list_payments(request.match_info["invoice_id"])
    return web.json_response(
        {
            "object": "list",
            "data": [payment.model_dump(mode="json") for payment in payments],
            "has_more": False,
            "next_cursor": None,
        }
    )


@requires("invoices:write")
async def record_payment_view(request: web.Request) -> web.StreamResponse:
    adapter = adapter_for(request)
    if "create" not in adapter.capabilities.payments:
        raise NotSupported("record payments", provider=adapter.provider)
    errors: list[FieldError] = []
    body = await read_json_object(request)
    payment = parse(Payment, body, errors)
    if errors or payment is None:
        # What the provider requires too, said at once: a second 422 for the next field
        # would have the caller fix one field a round.
        raise validation_problem([*errors, *adapter.payment_problems(body)])
    outcome = await request.app[SERVICE].record_payment(
        write_request(request, checks_if_match=True),
        request.match_info["invoice_id"],
        payment,
        if_match=if_match(request),
    )
    return outcome_response(outcome, request)


@requires("invoices:write")
async def delete_payment_view(request: web.Request) -> web.StreamResponse:
    adapter_for(request)
    invoice_id, payment_id = request.match_info["invoice_id"], request.match_info["payment_id"]
    outcome = await request.app[SERVICE].delete_payment(
        write_request(request, checks_if_match=True),
        invoice_id,
        payment_id,
        if_match=if_match(request),
    )
    return outcome_response(outcome, request)
