"""order_linked's error envelope, ``{"error": {"code", "message"}}``, and the exception behind it.

Handlers and the store raise :class:`ApiError`; the app's error middleware renders it. A message
about bad input starts with the path of the field it is about (``invoice.lines[0].item_id: …``)
so a client can tell which field to fix without a second, undocumented key in the envelope.
"""

from __future__ import annotations

from aiohttp import web

# The code a client sees for a status when nothing more specific applies (injected faults,
# aiohttp's own 404/405/413).
_CODE_FOR_STATUS: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


def code_for_status(status: int) -> str:
    return _CODE_FOR_STATUS.get(status, "SERVER_ERROR" if status >= 500 else "REQUEST_ERROR")


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def status_error_response(status: int, message: str) -> web.StreamResponse:
    """The envelope for a bare status: what the control layer's injected faults answer."""
    return error_response(status, code_for_status(status), message)


class ApiError(Exception):
    """A request the provider refuses, with the status and code it answers."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message)


def invalid(field: str, problem: str) -> ApiError:
    """A body field that is missing or wrong: 422 naming the field."""
    return ApiError(422, "VALIDATION_ERROR", f"{field}: {problem}")


def bad_parameter(name: str, problem: str) -> ApiError:
    """A query parameter the list cannot use: 400, since the request itself is malformed."""
    return ApiError(400, "INVALID_PARAMETER", f"{name}: {problem}")


def not_found(kind: str, identifier: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{kind} {identifier!r} not found")
