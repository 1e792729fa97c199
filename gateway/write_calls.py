"""One logical write's calls to its provider, as the service layer and the adapters see them:
the ``Idempotency-Key`` sent with each, how many may have reached the provider's records, and
a refusal written in a success's envelope counted as its status would be.

The service layer sets both variables around a keyed write (``gateway/service/idempotency.py``);
the upstream client counts every call it sends (``gateway/upstream.py``).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from gateway.errors import UpstreamAuthFailed, UpstreamError, UpstreamUnavailable, is_refusal
from gateway.upstream_answers import UpstreamResponse
from gateway.upstream_wire import retry_after

# Set by the service layer around one logical write: sent upstream as Idempotency-Key with
# each of its write calls (no provider documents one; their request logs show it).
idempotency_key_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "idempotency_key", default=None
)
# Set by the service layer around one logical write: counts the write calls that may have
# reached the provider, so that a failure before any of them is known to have written nothing.
write_calls_var: contextvars.ContextVar[WriteCalls | None] = contextvars.ContextVar(
    "write_calls", default=None
)


@dataclass
class WriteCalls:
    """The write calls (anything but a read) of one logical write that may have reached the
    provider's records; and whether its last call was a read the provider answered (2xx) after
    the last of them. A call counts from the moment it is sent, and no more once the provider
    refused it unprocessed (429: rate-limited; 401, 403: the gateway's credentials)."""

    sent: int = 0
    # Of those, the calls the provider refused on their first sending (``errors.is_refusal``):
    # each changed nothing. A refusal is the provider's final word, kept as a key's outcome.
    refused: int = 0
    read_after: bool = False
    # A write call was sent again after an attempt whose answer was lost (a timeout, a dropped
    # connection, a 5xx: only idempotent calls are): its answer may be to a repeat of a call
    # that already took effect (a DELETE told 404 by the repeat).
    repeated: bool = False

    @property
    def read_back(self) -> bool:
        """The write ended on a successful read sent after its last write call (the adapter's
        read-back of what it wrote)."""
        return self.sent > 0 and self.read_after


def refused_in_envelope(
    response: UpstreamResponse, says: str, *, provider: str, refusal: int
) -> UpstreamError:
    """The error for a refusal a provider wrote in a success's envelope (crm_v1's ``"success":
    false``, item_envelope's ``"result": "failed"``) that the adapter's own rules (a field, a
    lifecycle conflict) did not read; ``refusal`` is the status it says. It is counted as the
    client counts that status: a 401, 403 or 429 un-counts the write call (the provider
    processed nothing) and is the client's error for it (the credentials refused; rate-limited,
    its ``Retry-After`` or a second); another 4xx is final, and the call counted refused
    (``WriteCalls.refused``: a key keeps it as its answer), but not after a lost attempt (it may
    answer a repeat). Never with a status: a success's would read as a success the gateway
    could not use."""
    writes = write_calls_var.get() if response.method != "GET" else None
    if refusal in (401, 403, 429):
        if writes is not None and writes.sent > 0:
            writes.sent -= 1
        if refusal != 429:
            return UpstreamAuthFailed(
                f"{says} (the gateway's credentials refused, {refusal})", provider=provider
            )
        wait = retry_after(response.headers) or 1.0
        return UpstreamUnavailable(
            f"{says} (rate-limited, {refusal})", provider=provider, retry_after=wait
        )
    final = is_refusal(refusal)
    if final and writes is not None and not writes.repeated and writes.refused < writes.sent:
        writes.refused += 1
    error = UpstreamError(says, provider=provider)
    error.retryable = not final
    return error
