"""Request logs (structlog, one JSON line per request) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.http.keys import CONNECTIONS, IDENTIFIED, METRICS, REQUEST_ID
from gateway.http.problems import echoed
from gateway.upstream import CallStats, request_calls_var

_log = structlog.get_logger("gateway.access")


CLIENT_CLOSED = 499


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    calls = CallStats()
    request_calls_var.set(calls)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        # serve runs handlers to their end (no cancellation): a caller who hung up while the
        # provider answered has no connection left to take this answer.
        gone = request.transport is None and not response.prepared  # a stream went out whole
        status = CLIENT_CLOSED if gone else response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        # The handler was cancelled: its caller hung up (mid-body, say) or the gateway is
        # stopping. Nothing failed and no one reads an answer: logged and counted as 499,
        # "client closed request" (nginx's), never as a 500 that alerts watch.
        status = CLIENT_CLOSED
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = _route(request)
        metrics = request.app[METRICS]
        metrics.request_served(route, request.method, status, elapsed)
        # The caller's, before any key is checked: shown as a problem shows a name back, so that
        # an escape sequence, U+2028 or NEL (which a JSON line keeps raw) breaks no line.
        connection = request.match_info.get("connection")
        if connection is not None:
            connection = echoed(connection)
        # Whose key it was, also when the key's scope or rate limit refused the request.
        caller = request.get(IDENTIFIED)
        _log.info(
            "request",
            request_id=request.get(REQUEST_ID),
            client=caller.name if caller else None,
            remote=request.remote,
            method=request.method,
            route=route,
            connection=connection or request.get(CONNECTIONS),
            status=status,
            latency_ms=round(elapsed * 1000, 2),
            upstream_calls=calls.calls,
            upstream_retries=calls.retries,
        )


def _route(request: web.Request) -> str:
    route = request.match_info.route
    if request.match_info.http_exception is not None or route.resource is None:
        return "unmatched"
    return route.resource.canonical
