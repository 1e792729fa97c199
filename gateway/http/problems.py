"""RFC 9457 problem details: every error the API answers, and its status, in one table."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from gateway.canonical.errors import FieldError

PROBLEM_CONTENT_TYPE = "application/problem+json"

# code → (status, title). The one place where an error's kind decides its HTTP status.
PROBLEMS: dict[str, tuple[int, str]] = {
    "bad_request": (400, "Request is malformed"),
    "unauthenticated": (401, "Missing or invalid API key"),
    "forbidden": (403, "Not allowed"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflict with the invoice's state"),
    "idempotency_in_progress": (409, "A request with this Idempotency-Key is still running"),
    "request_timeout": (408, "The request body did not arrive in time"),
    "precondition_failed": (412, "Version does not match"),
    "payload_too_large": (413, "Request body is too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "validation_error": (422, "Request is not valid"),
    "unsupported_field": (422, "Field cannot be carried by this provider"),
    "idempotency_key_reused": (422, "Idempotency-Key was used with a different request"),
    "rate_limited": (429, "Too many requests"),
    "internal_error": (500, "Internal error"),
    "not_supported": (501, "Not supported by this provider"),
    "upstream_error": (502, "Provider failed"),
    "upstream_auth_failed": (502, "Provider rejected the gateway's credentials"),
    "upstream_unavailable": (503, "Provider unavailable"),
    "upstream_timeout": (504, "Provider timed out"),
    "store_unavailable": (503, "The gateway's store is unavailable"),
}

# The most field errors one answer lists (``errors_omitted`` counts the others).
MAX_ERRORS = 100

_RETRYABLE = {
    "request_timeout",
    "rate_limited",
    "upstream_error",
    "upstream_unavailable",
    "upstream_timeout",
    "store_unavailable",
}


ECHO_CHARS = 100


def echoed(value: str) -> str:
    """A name the caller sent, as a problem shows it back: at most ``ECHO_CHARS`` characters
    (then "…"), with what does not print (control, bidi and other format characters) escaped
    as Python writes it, so it cannot rewrite what a terminal or a page shows around it."""
    cut = value[:ECHO_CHARS]
    shown = cut if cut.isprintable() else cut.encode("unicode_escape").decode("ascii")
    return shown + ("…" if len(value) > ECHO_CHARS else "")


def shown_pointer(pointer: str) -> str:
    """A field error's ``pointer`` as an answer shows it: each name in it longer than
    ``ECHO_CHARS`` cut (then "…"), as a detail echoes a name (a body of one 900 KB member name
    was answered with a 900 KB pointer). A name that long is no field of any invoice."""
    if len(pointer) <= ECHO_CHARS:
        return pointer
    return "/".join(
        part if len(part) <= ECHO_CHARS else part[:ECHO_CHARS] + "…" for part in pointer.split("/")
    )


def _shown(name: str, text: str) -> str:
    return shown_pointer(text) if name == "pointer" else text


def _utf8(text: str) -> str:
    """``text`` as UTF-8 can carry it: a header's bytes that are not UTF-8 (an ``If-Match`` of
    ``\\xff``) are read as lone surrogates, which a JSON answer would write as escapes strict
    parsers refuse; they are shown as the escape's text instead (``\\udcff``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class Problem(Exception):
    """An error answer. Raise it anywhere in a request; the error middleware renders it."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        retryable: bool | None = None,
        **extra: Any,
    ) -> None:
        if code not in PROBLEMS:
            raise ValueError(f"unknown problem code {code!r}")
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.retryable = code in _RETRYABLE if retryable is None else retryable
        self.extra = extra

    @property
    def status(self) -> int:
        return PROBLEMS[self.code][0]

    def body(self, request_id: str | None) -> dict[str, Any]:
        status, title = PROBLEMS[self.code]
        body: dict[str, Any] = {
            "type": f"/problems/{self.code}",
            "title": title,
            "status": status,
            "detail": _utf8(self.detail),
            "code": self.code,
        }
        if self.errors:
            # Enough to fix a body by; a body of 60,000 unknown members is not answered with
            # 60,000 errors (an answer many times the request): the rest are counted.
            body["errors"] = [
                {name: _utf8(_shown(name, text)) for name, text in error.as_dict().items()}
                for error in self.errors[:MAX_ERRORS]
            ]
            if len(self.errors) > MAX_ERRORS:
                body["errors_omitted"] = len(self.errors) - MAX_ERRORS
        body["request_id"] = request_id
        body["retryable"] = self.retryable
        body.update(self.extra)
        return body

    def response(self, request_id: str | None) -> web.Response:
        response = web.Response(
            status=self.status,
            body=json.dumps(self.body(request_id)).encode(),
            content_type=PROBLEM_CONTENT_TYPE,
            headers=self.headers,
        )
        if self.headers.get("Connection", "").lower() == "close":
            # The header alone does not make aiohttp close: it would keep the connection and
            # read (to discard) a body announced too large, or one that never came whole.
            response.force_close()
        return response
