"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from gateway.http.auth import public
from gateway.http.keys import ADAPTERS


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
