"""A request aiohttp cannot read as HTTP, answered in the gateway's words.

aiohttp answers a request line or a header it cannot parse itself, before any middleware runs,
with a plain-text 400 that quotes what it could not read: an ``Authorization`` header with a
control character in it, or over 8,190 bytes, came back with the API key in the answer's body,
where a proxy or a client's error log keeps it. Its handler is wrapped, once per process, so
that such a request gets a problem answer (``bad_request``) naming the kind of mistake and
quoting none of it; every other answer of aiohttp's own is left as it is.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import web, web_protocol
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    ContentLengthError,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
    TransferEncodingError,
)

from gateway.http.problems import Problem

_WRAPPED = "_gateway_unreadable_requests"


def answer_unreadable_requests_in_our_words() -> None:
    """Wrap ``RequestHandler.handle_error`` (once): a 400 for a request it could not parse
    becomes a problem answer without the request's bytes."""
    handler = web_protocol.RequestHandler
    if getattr(handler, _WRAPPED, False):
        return
    original = handler.handle_error

    def handle_error(
        self: web_protocol.RequestHandler,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status != 400 or not isinstance(exc, HttpProcessingError):
            return original(self, request, status, exc, message)
        original(self, request, status, exc, "")  # its log line, as before (its kind only)
        # A name of its own, as every answer has: the request's own was not read.
        request_id = uuid.uuid4().hex
        response = Problem("bad_request", _said(exc)).response(request_id)
        response.headers["X-Request-ID"] = request_id
        response.force_close()
        return response

    handler.handle_error = handle_error  # type: ignore[method-assign]
    setattr(handler, _WRAPPED, True)


def _said(exc: HttpProcessingError) -> str:
    """What was wrong, by the kind of exception aiohttp raised (its text quotes the request)."""
    for kind, what in _KINDS:
        if isinstance(exc, kind):
            return f"The request cannot be read as HTTP: {what}. Nothing in it was read."
    words = _its_own_words(exc)
    return (
        "The request cannot be read as HTTP: "
        + (
            f"{words[0].lower()}{words[1:]}"
            if words
            else "its request line or a header is malformed"
        )
        + ". Nothing in it was read."
    )


def _its_own_words(exc: HttpProcessingError) -> str | None:
    """aiohttp's words for the mistake ("Invalid character in chunk size", "Missing 'Host'
    header"), without the request's bytes, which it quotes after a colon (``b'…'``). The
    names it quotes before one are header names."""
    first = (str(exc.message or "").splitlines() or [""])[0]
    words = re.split(r":|\bb['\"]", first, maxsplit=1)[0].strip()
    return words if words and words.isprintable() and len(words) <= 100 else None


_KINDS: tuple[tuple[type[HttpProcessingError], str], ...] = (
    (LineTooLong, "its request line or a header is longer than the server reads (8,190 bytes)"),
    (TransferEncodingError, "its chunked body is malformed (a chunk's size or its line end)"),
    (ContentLengthError, "its body does not match its Content-Length"),
    (BadHttpMethod, "its method is not an HTTP method"),
    (
        BadStatusLine,
        "its request line is malformed (its method, path or version; a byte that is not ASCII "
        "in the path or query)",
    ),
    (InvalidURLError, "its path or query is malformed"),
    (InvalidHeader, "a header is malformed (a control character in it, or no colon)"),
)
