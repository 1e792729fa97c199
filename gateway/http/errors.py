"""Adapter errors → problem details: the one place where what-to-do-next becomes a status."""

from __future__ import annotations

import math

from gateway.errors import (
    AdapterError,
    BadIdentifier,
    Conflict,
    IdempotencyError,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidRequest,
    InvoiceBusy,
    NotFound,
    NotSupported,
    OutcomeUncertain,
    PreconditionFailed,
    UnsupportedFields,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.http.problems import Problem

# A write kept waiting for its invoice's lock: when to send it again (the other write's end is
# not known; its own wait of up to 60 s starts again then).
BUSY_RETRY_AFTER_S = 5
# Checked in order: subclasses before their bases.
_CODES: tuple[tuple[type[AdapterError], str], ...] = (
    (BadIdentifier, "bad_request"),
    (NotFound, "not_found"),
    (Conflict, "conflict"),
    (PreconditionFailed, "precondition_failed"),
    (UnsupportedFields, "unsupported_field"),
    (InvalidRequest, "validation_error"),
    (NotSupported, "not_supported"),
    (UpstreamAuthFailed, "upstream_auth_failed"),
    (UpstreamTimeout, "upstream_timeout"),
    (UpstreamUnavailable, "upstream_unavailable"),
    (OutcomeUncertain, "upstream_error"),
    (UpstreamError, "upstream_error"),
)


def problem_for(error: AdapterError, *, connection: str | None = None) -> Problem:
    code = next(code for kind, code in _CODES if isinstance(error, kind))
    extra: dict[str, object] = {}
    if connection is not None:
        extra["connection"] = connection
    if error.provider is not None:
        extra["provider"] = error.provider
    headers: dict[str, str] = {}
    if isinstance(error, NotSupported):
        extra["capabilities"] = f"/v1/connections/{connection}" if connection else None
    if isinstance(error, UpstreamError) and error.may_have_landed:
        extra["outcome"] = "uncertain"
    if isinstance(error, UpstreamError) and error.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    errors = error.errors if isinstance(error, InvalidRequest) else ()
    retryable = error.retryable if isinstance(error, UpstreamError) else False
    if isinstance(error, InvoiceBusy):
        # Nothing was sent and the key is free: the same request sent again is safe.
        headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
        retryable = True
    return Problem(
        code, error.message, errors=errors, headers=headers, retryable=retryable, **extra
    )


def idempotency_problem(error: IdempotencyError) -> Problem:
    """422 for a key reused with another request; 409 (+ Retry-After) while it still runs (its
    connection named as every problem on a connection's route is: ``problem_middleware``)."""
    if isinstance(error, IdempotencyKeyReused):
        return Problem("idempotency_key_reused", error.message, retryable=False)
    assert isinstance(error, IdempotencyInProgress)
    wait = max(1, math.ceil(error.retry_after or 1))
    return Problem(
        "idempotency_in_progress",
        error.message,
        headers={"Retry-After": str(wait)},
        retryable=True,
    )
