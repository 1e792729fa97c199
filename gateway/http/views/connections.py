"""``/v1/connections``: what the caller may use, and what each connection can do."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from adapters.base import Adapter
from gateway.http.auth import requires
from gateway.http.keys import ADAPTERS, CALLER
from gateway.http.views.common import adapter_for


@requires("invoices:read")
async def list_connections_view(request: web.Request) -> web.Response:
    client = request[CALLER]
    adapters = request.app[ADAPTERS]
    data = [
        _describe(adapter, admin="admin" in client.scopes, full=False)
        for name, adapter in adapters.items()
        if client.may_use(name)
    ]
    return web.json_response(
        {"object": "list", "data": data, "has_more": False, "next_cursor": None}
    )


@requires("invoices:read")
async def get_connection_view(request: web.Request) -> web.Response:
    adapter = adapter_for(request)
    admin = "admin" in request[CALLER].scopes
    return web.json_response(_describe(adapter, admin=admin, full=True))


def _describe(adapter: Adapter, *, admin: bool, full: bool) -> dict[str, Any]:
    caps = adapter.capabilities.as_dict()
    described: dict[str, Any] = {
        "object": "connection",
        "name": adapter.connection.name,
        "provider": adapter.provider,
        "capabilities": caps
        if full
        else {k: caps[k] for k in ("operations", "actions", "payments")},
        "rounding": adapter.rounding.model_dump(),
        # The currencies its invoices can be in, where the gateway knows the provider takes only
        # those; null where it holds no such list.
        "currencies": adapter.currencies,
        # Calls, failures, and the circuit breaker: {"state": "open", "retry_after": 12, ...}.
        "health": adapter.client.health(),
    }
    if admin:
        described["base_url"] = adapter.connection.base_url
    return described
