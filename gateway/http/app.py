"""``create_app``: the only place where the gateway's HTTP application is wired."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from adapters.registry import build_adapter
from gateway.config import Settings
from gateway.http.auth import auth_middleware
from gateway.http.keys import ADAPTERS, CURSORS, KEYRING, METRICS, SETTINGS
from gateway.http.middlewares import (
    idempotency_key_middleware,
    problem_middleware,
    request_id_middleware,
)
from gateway.http.observability import access_log_middleware
from gateway.http.routes import setup_routes
from gateway.keyring import KeyRing
from gateway.listing import Cursors
from gateway.metrics import Metrics


def create_app(settings: Settings, *, cursor_secret: bytes | None = None) -> web.Application:
    app = web.Application(
        middlewares=[
            request_id_middleware,
            access_log_middleware,
            problem_middleware,
            auth_middleware,
            idempotency_key_middleware,
        ],
        client_max_size=settings.server.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[KEYRING] = KeyRing.from_clients(settings.clients)
    app[METRICS] = Metrics()
    # Instances behind one load balancer must share the secret to honour each other's cursors.
    app[CURSORS] = Cursors(cursor_secret or secrets.token_bytes(32))
    app.cleanup_ctx.append(_upstream)
    setup_routes(app)
    return app


async def _upstream(app: web.Application) -> AsyncIterator[None]:
    """One client session for every provider call, opened and closed with the app."""
    settings = app[SETTINGS]
    connector = aiohttp.TCPConnector(limit=100, limit_per_host=20)
    async with aiohttp.ClientSession(connector=connector) as session:
        observer = app[METRICS].upstream_call
        app[ADAPTERS] = {
            c.name: build_adapter(c, session, observer=observer) for c in settings.connections
        }
        yield
