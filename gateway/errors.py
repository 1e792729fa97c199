"""The gateway's errors, classified by what the caller should do next.

Adapters, the upstream client and the service layer raise them; the facade maps each to its
HTTP answer in one place (``gateway/http/errors.py``); the command line maps them to exit codes.
This module depends on nothing but the canonical layer's ``FieldError``, so every layer can
import it without a cycle.

    AdapterError
    ├── BadIdentifier         an id that cannot safely name a provider record: fix the request
    ├── NotFound              the invoice (or order, payment) does not exist: don't retry
    ├── Conflict              the provider's lifecycle refuses it now (edit a sent invoice)
    │   └── InvoiceBusy       another If-Match write to the invoice is still running: send later
    ├── PreconditionFailed    the version given with If-Match is not the current one
    ├── InvalidRequest        the provider (or a pre-check) rejected fields: fix them, see errors
    ├── UnsupportedFields     fields this provider cannot carry: drop them or go lenient
    ├── NotSupported          an operation this provider cannot do at all
    └── UpstreamError         the provider failed; retrying later may work
        ├── UpstreamAuthFailed    the provider rejected the gateway's credentials: fix config
        ├── UpstreamUnavailable   unreachable, or rate-limiting us (Retry-After when known)
        ├── UpstreamTimeout       no answer in time, and nothing was written (reads, retries)
        └── OutcomeUncertain      a write was sent and its outcome is unknown: reconcile first

    IdempotencyError          the Idempotency-Key cannot be used for this request now
    ├── IdempotencyKeyReused  the key was used with a different request: use a new key
    └── IdempotencyInProgress the key's first request is still running: retry later
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.canonical.errors import FieldError


class AdapterError(Exception):
    """Base of every error an adapter or a use case raises; ``message`` is safe to show a caller."""

    def __init__(self, message: str, *, provider: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.replayed = False  # the stored answer of an earlier request with the same key

    def annotate(self, note: str) -> None:
        """``note`` added to the message: what the adapter did about the failure since."""
        self.message = f"{self.message.rstrip('.')}; {note}"
        self.args = (self.message,)


def annotate(exc: BaseException, note: str) -> None:
    """``note`` added to ``exc``'s message where it is an ``AdapterError`` (a cancellation, or a
    defect, carries none: what was done about it is not said)."""
    if isinstance(exc, AdapterError):
        exc.annotate(note)


class BadIdentifier(AdapterError):
    """An id that would change a provider path (``..``, a ``/``): refused before any call."""


class NotFound(AdapterError):
    pass


class Conflict(AdapterError):
    pass


class InvoiceBusy(Conflict):
    """Another write to the invoice that checks ``If-Match`` held its lock too long: nothing
    was sent; send again once that write is done."""


class PreconditionFailed(AdapterError):
    pass


class InvalidRequest(AdapterError):
    """Rejected fields, each with a canonical pointer where the mapping knows one."""

    def __init__(
        self, message: str, errors: Sequence[FieldError] = (), *, provider: str | None = None
    ) -> None:
        super().__init__(message, provider=provider)
        self.errors = list(errors)


class UnsupportedFields(InvalidRequest):
    """Fields the provider cannot represent (``Prefer: handling=strict``)."""


class NotSupported(AdapterError):
    def __init__(self, operation: str, *, provider: str) -> None:
        super().__init__(f"{provider} cannot {operation}", provider=provider)
        self.operation = operation


# A provider's 4xx that a later attempt may not meet: a request timeout, too early, too many.
_ASK_AGAIN = frozenset({408, 425, 429})


def is_refusal(status: int | None) -> bool:
    """A provider's answer that refuses the request (a 4xx but 408, 425 and 429): the same
    request gets the same refusal, and the provider changed nothing."""
    return status is not None and 400 <= status < 500 and status not in _ASK_AGAIN


class UpstreamError(AdapterError):
    """The provider failed; ``status`` is its HTTP status where it answered."""

    retryable: bool = True  # a class default; an instance may say otherwise
    # Whether the write may have taken effect (the answer says ``"outcome": "uncertain"``):
    # always for ``OutcomeUncertain``; for an idempotent write (PUT, DELETE) that failed after
    # it was sent, set where that is found (the retry converges, but it may have landed).
    may_have_landed: bool = False
    # The adapter undid what the write had done before it failed (bill_crm's half-made
    # invoice deleted, a half-done update put back): nothing of it is left, whatever its
    # answers were.
    undone: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider)
        self.status = status
        self.retry_after = retry_after
        if is_refusal(status):
            self.retryable = False


class UpstreamAuthFailed(UpstreamError):
    retryable = False


class UpstreamUnavailable(UpstreamError):
    pass


class UpstreamTimeout(UpstreamError):
    pass


class ReadBackFailed(UpstreamError):
    """The write took effect but the invoice could not be read back: retrying would repeat it
    (a ``PUT``'s, which converges when sent again, is made retryable by the write's caller)."""

    retryable = False


# What a ``ReadBackFailed`` message ends with: a write that repeats is not sent again blind.
READ_IT_FIRST = "; read it before writing again"


class OutcomeUncertain(UpstreamError):
    """A write reached the provider (or may have) and no answer says whether it took effect.
    ``unanswered``: no answer came at all (a timeout, or a 504 from the provider's own gateway),
    so the provider may still be working on it: a lookup that finds nothing yet proves nothing
    until the connection's ``write_settle_s`` has passed."""

    unanswered: bool = False  # a class default; the upstream client sets it on an instance
    may_have_landed = True
    # The message without its last sentence, what an HTTP caller should do (its
    # Idempotency-Key): a command (``migrate``) says its own after it instead.
    untold: str = ""


class IdempotencyError(Exception):
    """The ``Idempotency-Key`` given cannot be used for this request (nothing was sent)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class IdempotencyKeyReused(IdempotencyError):
    pass


class IdempotencyInProgress(IdempotencyError):
    pass
