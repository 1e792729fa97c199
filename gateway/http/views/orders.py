"""``/v1/connections/{connection}/orders/{order_id}/invoices``: invoice an order.

The body is optional and every field of it too: the doc's body is a note alone
(``{"notes": "…"}``), and the order fixes the currency, lines and customer. A body that says
otherwise is compared with the order by the adapter (refused when strict, dropped with a
warning when lenient). An unknown order is a 404 whatever the body: a body the gateway cannot
take is answered only once the order is known to exist.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from adapters.base import NotSupported
from gateway.canonical.errors import InvalidInvoice
from gateway.canonical.order_invoice import OrderInvoice, order_invoice_from_input
from gateway.http.auth import requires
from gateway.http.body import read_body, read_json_object
from gateway.http.keys import SERVICE
from gateway.http.problems import Problem
from gateway.http.validation import validation_problem
from gateway.http.views.common import adapter_for, handling, outcome_response, write_request


@requires("invoices:write")
async def create_from_order_view(request: web.Request) -> web.StreamResponse:
    adapter = adapter_for(request)
    if not adapter.capabilities.create_from_order:
        raise NotSupported("create invoices from orders", provider=adapter.provider)
    order_id = request.match_info["order_id"]
    try:
        invoice = await _order_invoice(request)
    except Problem as problem:
        # The order first: an unknown one is a 404, whatever is wrong with the body (a body
        # too large to read is said at once, with no provider call).
        if problem.code != "payload_too_large":
            await request.app[SERVICE].check_order(adapter.connection.name, order_id)
        raise
    preference = handling(request)
    outcome = await request.app[SERVICE].create_from_order(
        write_request(request), order_id, invoice, preference
    )
    return outcome_response(outcome, request, preference=preference)


async def _order_invoice(request: web.Request) -> OrderInvoice | None:
    """The body as an order invoice; None when there is none (or it is ``{}``)."""
    if not request.body_exists or not (await read_body(request)).strip():
        return None
    data = await read_json_object(request)
    try:
        invoice = order_invoice_from_input(data)
    except ValidationError as exc:
        found = InvalidInvoice.from_pydantic(exc, currency=data.get("currency"))
        raise validation_problem(found.errors) from None
    return invoice if invoice.model_fields_set else None
