"""Which query parameters each route takes, read from the OpenAPI document (one source): on a
route whose view does not read its query itself, a parameter it does not take is a 400 naming
it, as on the lists (``?colour=red`` on one invoice, a payment or a create is not ignored)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.http.openapi import openapi_document
from gateway.http.validation import refuse_unknown

H = TypeVar("H", bound=Callable[..., Any])


def reads_own_query(handler: H) -> H:
    """Mark a view that checks its whole query itself (the lists: each names what is wrong in
    its own terms, a provider's own filter across connections among them)."""
    handler.reads_own_query = True  # type: ignore[attr-defined]
    return handler


@cache
def route_query_names() -> dict[tuple[str, str], frozenset[str]]:
    """(method, route path) → the query parameters the OpenAPI document gives it."""
    document = openapi_document()
    shared: dict[str, Any] = document.get("components", {}).get("parameters", {})
    names: dict[tuple[str, str], frozenset[str]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            given = [_resolved(p, shared) for p in operation.get("parameters", [])]
            query = frozenset(p["name"] for p in given if p.get("in") == "query")
            names[(method.upper(), path)] = query
    return names


def _resolved(parameter: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    reference = parameter.get("$ref")
    if not isinstance(reference, str):
        return parameter
    found: dict[str, Any] = shared[reference.rsplit("/", 1)[-1]]
    return found


@web.middleware
async def query_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.query and request.match_info.http_exception is None:
        view = request.match_info.handler
        if not getattr(view, "reads_own_query", False):
            method = "GET" if request.method == "HEAD" else request.method
            route = request.match_info.route.resource
            if route is not None:
                # A route the document does not describe (itself, the docs page and its
                # assets) takes no query parameter either.
                allowed = route_query_names().get((method, route.canonical), frozenset())
                refuse_unknown(request.query, allowed)
    return await handler(request)
