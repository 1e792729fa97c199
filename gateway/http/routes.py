"""Every route of the API, in one table."""

from __future__ import annotations

from aiohttp import web

from gateway.http.views.calculate import calculate
from gateway.http.views.health import healthz


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/v1/invoices/calculate", calculate)
