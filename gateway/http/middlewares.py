"""Request id and error rendering: every failure leaves as problem details."""

from __future__ import annotations

import re
import uuid

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.errors import AdapterError, IdempotencyError
from gateway.http.body import ClientClosed
from gateway.http.errors import idempotency_problem, problem_for
from gateway.http.keys import ADAPTERS, CALLER, REQUEST_ID, SETTINGS
from gateway.http.observability import CLIENT_CLOSED
from gateway.http.problems import Problem
from gateway.logging_setup import ServedRequest, served_request
from gateway.store import StoreError
from gateway.upstream import request_id_var

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_log = structlog.get_logger("gateway.http")


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Accept a sane ``X-Request-ID`` or make one; it goes back on every response."""
    given = request.headers.get("X-Request-ID", "")
    request_id = given if _VALID_REQUEST_ID.match(given) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    request_id_var.set(request_id)  # sent upstream with every provider call of this request
    served = ServedRequest()
    served_request.set(served)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["X-Request-ID"] = request_id
        raise
    finally:
        served.ended = True
    response.headers["X-Request-ID"] = request_id
    return response


@web.middleware
async def idempotency_key_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``Idempotency-Key`` on a write: 1 to 255 printable characters (docs/facade.md).

    Only where a route takes the request: a method or path with none is its 405 or 404 (the
    handler raises it), whatever the key, as the route table is what the caller has wrong."""
    key = request.headers.get("Idempotency-Key")
    routed = request.match_info.http_exception is None
    if routed and request.method in _WRITES and key is not None:
        if len(request.headers.getall("Idempotency-Key")) > 1:
            # Several lines are one list (RFC 9110): not one key, and taking the first would
            # tie the write to a key the caller may not mean.
            raise Problem("bad_request", "Idempotency-Key is given more than once; give one key.")
        if not _VALID_KEY.match(key):
            raise Problem(
                "bad_request",
                "Idempotency-Key must be 1 to 255 printable ASCII characters (no spaces).",
            )
    return await handler(request)


def _on_its_connection(problem: Problem, request: web.Request) -> Problem:
    """A problem met on a connection's route (a body refused before the provider was asked,
    say) names that connection and its provider, as a provider's own refusal does: where the
    connection exists and the caller's key may use it (a name is never confirmed to a caller
    who may not, nor to one not yet known)."""
    name = request.match_info.get("connection")
    caller = request.get(CALLER)
    if name is None or caller is None:
        return problem
    adapter = request.app[ADAPTERS].get(name)
    if adapter is not None and caller.may_use(name):
        problem.extra = {"connection": name, "provider": adapter.provider, **problem.extra}
    return problem


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.get(REQUEST_ID)
    try:
        return await handler(request)
    except Problem as problem:
        return _on_its_connection(problem, request).response(request_id)
    except AdapterError as error:
        # Named by its connection and provider whoever raised it (a check of the gateway's own
        # before sending raises without the provider: the 422 of a payment's places).
        answer = _on_its_connection(
            problem_for(error, connection=request.match_info.get("connection")), request
        )
        response = answer.response(request_id)
        if error.replayed:  # the kept answer of an earlier request with the same key
            response.headers["Idempotent-Replayed"] = "true"
        return response
    except StoreError as error:
        # Idempotency keys cannot be honoured without the store: nothing was sent, or (once
        # sent) the key's record still says so and a retry asks the provider first.
        _log.error("store_unavailable", request_id=request_id, error=str(error))
        return Problem(
            "store_unavailable",
            "The gateway's store cannot be reached; retry with the same Idempotency-Key.",
            headers={"Retry-After": "2"},
        ).response(request_id)
    except IdempotencyError as error:
        return _on_its_connection(idempotency_problem(error), request).response(request_id)
    except ClientClosed:
        return web.Response(status=CLIENT_CLOSED)  # written nowhere: counted and logged
    except web.RequestPayloadError:
        # aiohttp could not read the body: a compressed one that does not decompress, or
        # broken chunked framing. The caller's to mend, never the gateway's failure.
        coding = request.headers.get("Content-Encoding")
        detail = (
            f"The request body could not be decoded as its Content-Encoding ({coding[:40]}) "
            "says; send it compressed whole, or uncompressed."
            if coding
            else "The request body could not be read whole (its framing is broken); send it again."
        )
        # What is left of the body is not read again after the answer (aiohttp would, and log
        # the same failure as an unhandled exception): the connection closes instead.
        request.content.feed_eof()
        unread = Problem("bad_request", detail, headers={"Connection": "close"})
        return _on_its_connection(unread, request).response(request_id)
    except web.HTTPRequestEntityTooLarge:
        # aiohttp's own limit, met reading a body that announced no size (chunked) or grew
        # past it decompressed: said as the gateway says a body announced too large.
        limit = request.app[SETTINGS].server.max_body_bytes
        too_large = Problem(
            "payload_too_large",
            f"The request body is larger than the {limit} bytes taken (server.max_body_bytes)"
            + (" once decompressed." if request.headers.get("Content-Encoding") else "."),
        )
        return _on_its_connection(too_large, request).response(request_id)
    except web.HTTPNotFound:
        return Problem("not_found", f"No route for {request.path}.").response(request_id)
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        return Problem(
            "method_not_allowed",
            f"{request.method} is not allowed on {request.path}; allowed: {allowed}.",
            headers={"Allow": allowed},
        ).response(request_id)
    except web.HTTPException:
        raise
    except Exception as exc:
        if isinstance(exc, ConnectionResetError) and _caller_gone(request):
            # The caller hung up while a streamed answer (an export) was being written: as a
            # ClientClosed above, nothing failed and no one reads an answer.
            return web.Response(status=CLIENT_CLOSED)
        _log.exception("unhandled_error", request_id=request_id, path=request.path)
        return Problem(
            "internal_error", "The gateway failed; the request id identifies it."
        ).response(request_id)


def _caller_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()
