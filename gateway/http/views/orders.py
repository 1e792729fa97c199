"""``/v1/connections/{connection}/orders/{order_id}/invoices``: invoice an order."""

from __future__ import annotations

from aiohttp import web

from adapters.base import NotSupported
from gateway.http.auth import requires
from gateway.http.keys import SERVICE
from gateway.http.views.common import (
    adapter_for,
    handling,
    invoice_body,
    outcome_response,
    write_request,
)


@requires("invoices:write")
async def create_from_order_view(request: web.Request) -> web.StreamResponse:
    adapter = adapter_for(request)
    if not adapter.capabilities.create_from_order:
        raise NotSupported("create invoices from orders", provider=adapter.provider)
    invoice = await invoice_body(request) if request.body_exists else None
    preference = handling(request)
    outcome = await request.app[SERVICE].create_from_order(
        write_request(request), request.match_info["order_id"], invoice, preference
    )
    return outcome_response(outcome, request, preference=preference)
