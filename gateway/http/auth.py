"""API keys on every route: who is calling, what they may do, on which connections, how fast.

Every route declares its scope with ``@requires`` (or
``@public``); ``create_app`` refuses to start with a route that declares neither.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.config import Scope
from gateway.http.keys import CALLER, KEYRING
from gateway.http.problems import Problem

H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])
PUBLIC = "public"


def requires(scope: Scope) -> Callable[[H], H]:
    def mark(handler: H) -> H:
        handler.scope = scope  # type: ignore[attr-defined]
        return handler

    return mark


def public(handler: H) -> H:
    handler.scope = PUBLIC  # type: ignore[attr-defined]
    return handler


def scope_of(handler: Any) -> str | None:
    return getattr(handler, "scope", None)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    scope = scope_of(request.match_info.handler)
    if scope == PUBLIC or request.match_info.http_exception is not None:
        return await handler(request)
    keyring = request.app[KEYRING]
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    client = keyring.identify(key.strip()) if scheme.lower() == "bearer" and key.strip() else None
    if client is None:
        raise Problem(
            "unauthenticated",
            "Send an API key as 'Authorization: Bearer <key>'.",
            headers={"WWW-Authenticate": 'Bearer realm="invoice-gateway"'},
        )
    if scope not in client.scopes and "admin" not in client.scopes:
        raise Problem("forbidden", f"This API key lacks the {scope} scope.")
    wait = keyring.wait(client)
    if wait > 0:
        raise Problem(
            "rate_limited",
            f"Client {client.name} is over its rate limit; retry after the Retry-After seconds.",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    request[CALLER] = client
    return await handler(request)


def check_connection(request: web.Request, name: str) -> None:
    """403 unless the caller's key may use connection ``name`` (whether or not it exists)."""
    client = request[CALLER]
    if not client.may_use(name):
        raise Problem(
            "forbidden", f"This API key may not use connection {name!r}.", connection=name
        )
