"""``/v1/connections/{connection}/orders/{order_id}/invoices``: invoice an order."""

from __future__ import annotations

from aiohttp import web

from adapters.base import NotSupported
from gateway.http.auth import requires
from gateway.http.views.common import adapter_for, handling, invoice_body, invoice_response


@requires("invoices:write")
async def create_from_order_view(request: web.Request) -> web.Response:
    adapter = adapter_for(request)
    if not adapter.capabilities.create_from_order:
        raise NotSupported("create invoices from orders", provider=adapter.provider)
    invoice = await invoice_body(request) if request.body_exists else None
    preference = handling(request)
    result = await adapter.create_from_order(
        request.match_info["order_id"], invoice, handling=preference
    )
    return invoice_response(
        result.invoice, request, status=201, warnings=result.warnings, preference=preference
    )
