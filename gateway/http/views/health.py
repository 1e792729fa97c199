"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.http.auth import public, requires
from gateway.http.keys import ADAPTERS, METRICS


@public
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@public
async def readyz(request: web.Request) -> web.Response:
    """Ready once the configuration is loaded and every connection has its adapter."""
    adapters = request.app.get(ADAPTERS)
    if adapters is None:
        return web.json_response({"status": "starting"}, status=503)
    return web.json_response({"status": "ready", "connections": sorted(adapters)})


@requires("admin")
async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
