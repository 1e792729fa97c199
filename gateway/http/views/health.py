"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.http.auth import optional_caller, public, requires
from gateway.http.keys import ADAPTERS, CALLER, METRICS, READINESS, STORE
from gateway.store import StoreError


@public
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@public
async def readyz(request: web.Request) -> web.Response:
    """Ready once the configuration is loaded, every connection has its adapter, and the store
    answers (idempotency keys cannot be honoured without it).

    Anyone may ask whether the gateway is ready (200 or 503, and the status); which connections
    it serves and what the store says, only an admin key (``Authorization: Bearer``)."""
    caller = await optional_caller(request)
    admin = caller if caller is not None and "admin" in caller.scopes else None
    adapters = request.app.get(ADAPTERS)
    store, readiness = request.app.get(STORE), request.app.get(READINESS)
    if adapters is None or store is None or readiness is None:
        return web.json_response({"status": "starting"}, status=503)
    try:
        described = await readiness.check()
    except (StoreError, TimeoutError) as exc:
        if admin is None:
            return web.json_response({"status": "not_ready"}, status=503)
        # A timeout's own text is empty: what did not answer, and for how long, is said here.
        detail = str(exc) or f"the store gave no answer within {readiness.wait_s:g} s"
        failed = {"backend": store.url_scheme, "status": "unreachable", "detail": detail}
        shown = [name for name in sorted(adapters) if admin.may_use(name)]
        body = {"status": "not_ready", "connections": shown, "store": failed}
        return web.json_response(body, status=503)
    if admin is None:
        return web.json_response({"status": "ready"})
    store_state = {**described, "status": "ok"}
    shown = [name for name in sorted(adapters) if admin.may_use(name)]
    return web.json_response({"status": "ready", "connections": shown, "store": store_state})


@requires("admin")
async def metrics(request: web.Request) -> web.Response:
    """The Prometheus exposition; to an admin key limited to some connections, their series
    alone (a 403 never tells such a key that another connection exists: nor does this)."""
    caller = request[CALLER]
    shown = None if "*" in caller.connections else caller.may_use
    body = request.app[METRICS].render(shown)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
