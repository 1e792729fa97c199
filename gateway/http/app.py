"""``create_app``: the only place where the gateway's HTTP application is wired."""

from __future__ import annotations

from aiohttp import web

from gateway.config import Settings
from gateway.http.keys import SETTINGS
from gateway.http.middlewares import problem_middleware, request_id_middleware
from gateway.http.routes import setup_routes


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[request_id_middleware, problem_middleware],
        client_max_size=settings.server.max_body_bytes,
    )
    app[SETTINGS] = settings
    setup_routes(app)
    return app
