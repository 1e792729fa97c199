"""API keys on every route: who is calling, what they may do, on which connections, how fast.

Every route declares its scope with ``@requires`` (or
``@public``); ``create_app`` refuses to start with a route that declares neither.

A request that does not authenticate (no key, or a key the gateway does not know) counts
against its client address: past ``server.auth_failures.per_minute`` the answer is 429
``rate_limited`` with ``Retry-After`` instead of 401 (counted once for all the workers of one
gateway: ``gateway.keyring``). A known key is never counted nor refused
by it, whatever its address has sent (docs/decisions.md, "Authentication").
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.config import Client, Scope
from gateway.http.keys import CALLER, IDENTIFIED, KEYRING, METRICS
from gateway.http.problems import Problem, echoed
from gateway.ratelimit import client_address

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
    key = presented_key(request)
    client = keyring.identify(key) if key is not None else None
    if client is None:
        wait = await count_failure(request, presented=key is not None)
        if wait > 0:
            raise Problem(
                "rate_limited",
                "Too many requests without a valid API key from this address; retry after the "
                "Retry-After seconds.",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        detail = (
            _what_to_send(request, key)
            if keyring.clients
            else "This gateway has no API keys: it was started without a configuration and "
            "serves POST /v1/invoices/calculate alone. Start it with --config FILE (or "
            "--sandbox) for the rest."
        )
        raise Problem(
            "unauthenticated",
            detail,
            headers={"WWW-Authenticate": 'Bearer realm="invoice-gateway"'},
        )
    request[IDENTIFIED] = client
    if scope not in client.scopes and "admin" not in client.scopes:
        raise Problem("forbidden", f"This API key lacks the {scope} scope.")
    wait = await keyring.wait(client)
    if wait > 0:
        raise Problem(
            "rate_limited",
            f"Client {client.name} is over its rate limit; retry after the Retry-After seconds.",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    request[CALLER] = client
    return await handler(request)


def _what_to_send(request: web.Request, key: str | None) -> str:
    """What a request that did not authenticate should send instead: it sent no key, a key
    this gateway does not know (never repeated back), or an Authorization of another form."""
    send = "Send an API key as 'Authorization: Bearer <key>'."
    if key is not None:
        return (
            "The API key sent is not one this gateway knows: check it against the clients of "
            "the gateway's configuration (the sandbox prints its key when it starts)."
        )
    if request.headers.get("Authorization", "").strip():
        return f"The Authorization header is not a Bearer API key. {send}"
    return send


def presented_key(request: web.Request) -> str | None:
    """The key of ``Authorization: Bearer <key>``, or None when the request presents none.
    A request with two ``Authorization`` fields is a 400: it is no list (RFC 9110), and taking
    the first (as a proxy in front might take the last) would act on a key the caller may not
    mean."""
    if len(request.headers.getall("Authorization", [])) > 1:
        raise Problem("bad_request", "Authorization is given more than once: send one API key.")
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


async def count_failure(request: web.Request, *, presented: bool) -> float:
    """Count a request that did not authenticate against its client address (and in the
    metrics): 0 while the address is within ``server.auth_failures``, else the seconds to wait."""
    wait = await request.app[KEYRING].failed(client_address(request.remote))
    reason = "invalid" if presented else "missing"
    request.app[METRICS].auth_failure(reason, throttled=wait > 0)
    return wait


async def optional_caller(request: web.Request) -> Client | None:
    """On a public route: the client whose key the request presents, if any. A key presented
    and not known counts as a failed authentication, as on any other route, but is not
    refused: the route answers what it answers anyone."""
    key = presented_key(request)
    if key is None:
        return None
    client = request.app[KEYRING].identify(key)
    if client is None:
        await count_failure(request, presented=True)
    else:
        request[IDENTIFIED] = client
    return client


def check_connection(request: web.Request, name: str) -> None:
    """403 unless the caller's key may use connection ``name`` (whether or not it exists)."""
    client = request[CALLER]
    if not client.may_use(name):
        shown = echoed(name)
        raise Problem(
            "forbidden", f"This API key may not use connection '{shown}'.", connection=shown
        )
