"""Errors of the draft_publish emulator and the one envelope they are rendered in.

Every failure is ``{"error": {"code", "message", "details": [{"field", "message"}]}}``::

    ApiError
    ├── BadRequest          400  malformed_json, invalid_body, invalid_parameter
    ├── Unauthorized        401  unauthorized
    ├── NotFound            404  not_found
    ├── Conflict            409  invalid_status
    └── Unprocessable       422  validation_error, smtp_not_configured
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

# Codes for statuses the emulator only produces through routing or injected faults.
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "invalid_status",
    413: "payload_too_large",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


@dataclass(frozen=True, slots=True)
class Detail:
    field: str
    message: str


class ApiError(Exception):
    status = 500
    code = "internal_error"

    def __init__(
        self, message: str, details: list[Detail] | None = None, *, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        if code is not None:
            self.code = code


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "invalid_status"


class Unprocessable(ApiError):
    status = 422
    code = "validation_error"


def invalid(details: list[Detail]) -> Unprocessable:
    fields = ", ".join(dict.fromkeys(d.field for d in details))
    return Unprocessable(f"Validation failed: {fields}", details)


def envelope(code: str, message: str, details: list[Detail] | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": [{"field": d.field, "message": d.message} for d in details or []],
        }
    }


def error_response(error: ApiError) -> web.Response:
    return json_response(envelope(error.code, error.message, error.details), status=error.status)


def status_error_response(status: int, message: str) -> web.Response:
    """The envelope for a bare status (routing failures, injected faults)."""
    code = _STATUS_CODES.get(status, "server_error" if status >= 500 else "client_error")
    return json_response(envelope(code, message), status=status)


def json_response(
    payload: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=dumps(payload), status=status, content_type="application/json", headers=headers
    )


def dumps(value: Any) -> str:
    """JSON where a ``Decimal`` is written as the number literal it holds, never via float."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    if isinstance(value, datetime):
        return json.dumps(timestamp(value))
    if isinstance(value, date):
        return json.dumps(value.isoformat())
    return json.dumps(value)


def timestamp(value: datetime) -> str:
    """UTC with milliseconds and a ``Z``: JavaScript's ``toISOString`` form."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
