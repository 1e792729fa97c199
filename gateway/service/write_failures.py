"""What a write that failed after it was sent tells its caller, and where its key is parked.

A write whose provider call failed is one of three: nothing of it reached the provider's
records (sent again as it is), it may have landed (asked about before anything is sent again),
or it cannot be told (the caller is told the outcome is uncertain, and when to ask again).
The runner (``idempotency.py``) decides which from the write's calls and the lookup's answer;
this module words the answer and names the recovery points a parked key is left at.
"""

from __future__ import annotations

import math

from adapters.resolution import Resolution
from gateway.errors import (
    READ_IT_FIRST,
    OutcomeUncertain,
    ReadBackFailed,
    UpstreamError,
    UpstreamUnavailable,
)
from gateway.service.write_request import Write
from gateway.upstream import MAY_HAVE_TAKEN_EFFECT, UnusableAnswer
from gateway.write_calls import WriteCalls

# Recovery points of a key whose write may have reached the provider: "sending" (its owner
# never got an answer: it died, or was taken over), "unanswered" (parked after a call that got
# no answer at all), "uncertain" (parked after an answer that did not say).
UNANSWERED = "unanswered"
# Parked after a success whose answer told nothing the gateway could use (a body it cannot
# read, no id of what was made, a read-back that failed): most likely done.
UNUSED_SUCCESS = "unused_success"
# Of those, the points whose write a lookup may not show yet (``_find``'s settle time): why.
UNSEEN_BECAUSE = {
    "sending": "gave no answer",  # its owner never got one
    UNANSWERED: "gave no answer",
    UNUSED_SUCCESS: "answered a success the gateway could not use",
}
# Recovery point of an idempotent write (PUT, DELETE) whose answer was lost: the key's retry
# sends it again, knowing it repeats a call that may have taken effect (``WriteCalls.repeated``:
# a DELETE then told 404 is done).
RESENT = "resent"
MAY_HAVE_WRITTEN = frozenset({"sending", "uncertain", UNANSWERED, UNUSED_SUCCESS})


def nothing_sent(calls: WriteCalls) -> bool:
    """Whether nothing of the write reached the provider's records: no call was sent, or each
    one sent was refused unprocessed (rate-limited, or the gateway's credentials refused:
    ``WriteCalls``), so there is no lost answer to look for."""
    return calls.sent == 0


def all_refused(calls: WriteCalls) -> bool:
    """Whether every write call sent was refused on its first sending (a 4xx): the provider
    changed nothing, and the same request meets the same refusal. Not for a repeat of a call
    whose answer was lost (``repeated``: a key's retry, taken over): that call may have taken
    effect before the refusal of its repeat."""
    return calls.sent > 0 and calls.refused == calls.sent and not calls.repeated


def nothing_written(error: UpstreamError, resolution: Resolution) -> UpstreamError:
    """The provider failed and did not take the write: the same request may be sent again
    (where the provider refused it, a 4xx, it will meet the same refusal: not retryable)."""
    # A success it could not use refused nothing, and a write the adapter undid left nothing:
    # once the lookup is believed, sending again is what the caller meant.
    retryable = error.retryable or unused_success(error) or error.undone
    again = " and the request can be sent again" if retryable else ""
    # What the look found settles the failure's own "may or may not have taken effect".
    failed = error.message.removesuffix(MAY_HAVE_TAKEN_EFFECT)
    # A provider that was unavailable (rate-limiting the gateway to the end, or not reached)
    # part-way through a write the adapter undid is the 503 it is anywhere else, not a 502.
    kind = UpstreamUnavailable if isinstance(error, UpstreamUnavailable) else UpstreamError
    written = kind(
        f"{failed}; {resolution.detail}, so nothing was written{again}",
        provider=error.provider,
        status=error.status,
        retry_after=error.retry_after,
    )
    written.retryable = retryable
    return written


def say_it_may_have_landed(
    error: UpstreamError, write: Write, calls: WriteCalls, *, keyed: bool
) -> None:
    """An idempotent write (``PUT``, ``DELETE``) that failed after a call was sent may have
    taken effect: sending it again converges, but an ``If-Match`` it carried may no longer
    match, the write itself having changed the invoice. The caller's retry would get a 412
    that reads like someone else's change, so the answer says so first (not for a ``DELETE``:
    one that landed left no invoice to change, one that did not left its ETag). A ``DELETE`` sent
    again without a key cannot be known for a repeat: its 404 would read as an unknown
    invoice, so the answer says what it means (with the key, the retry answers 204)."""
    if nothing_sent(calls) or all_refused(calls) or not write.idempotent:
        return
    if error.undone:
        # The adapter put back what its calls had changed: none of it stands, and the failure
        # is retryable as it is (a final refusal stays final: the same update meets it again).
        return
    error.may_have_landed = True  # "outcome": "uncertain", as for any write that may have
    if isinstance(error, ReadBackFailed):
        # The provider answered the write with a success; only its read-back failed. Sending
        # it again converges (a key's retry does, as a repeat): the answer is retryable, not
        # the "read it before writing again" of a write that repeats.
        error.retryable = True
        error.message = error.message.removesuffix(READ_IT_FIRST)
        error.message += "; the write took effect (sending it again converges)"
    else:
        # An uncertain answer's own "may or may not have taken effect" is said once, here.
        error.message = error.message.removesuffix(MAY_HAVE_TAKEN_EFFECT)
        error.message += "; the write may have taken effect (sending it again converges)"
    if write.gone_when_repeated and not keyed:
        error.message += (
            ": a 404 to the same request sent again means this one took effect (sent with "
            "an Idempotency-Key, the retry answers 204)"
        )
    if write.guarded is not None and not write.gone_when_repeated:  # it carried an If-Match
        error.message += (
            ", and then the invoice's ETag is no longer the If-Match sent: read it again "
            "before retrying"
        )


def unanswered(error: UpstreamError) -> bool:
    return isinstance(error, OutcomeUncertain) and error.unanswered


def unused_success(error: UpstreamError) -> bool:
    """A success whose answer the gateway could not use: a body it cannot read (over the cap,
    not JSON), one that names nothing of what was made, or a read-back that failed after the
    write took effect. Most likely done."""
    return isinstance(error, ReadBackFailed) or 200 <= (error.status or 0) < 300


def unseen_at(error: UpstreamError) -> str | None:
    """The recovery point of a write that may be at the provider but not shown yet, after
    ``error`` (``UNSEEN_BECAUSE`` says why: a lookup that finds nothing proves nothing before
    its settle time, ``_find``); None where a lookup is believed at once (the adapter undid
    what the write made, or the provider answered a failure)."""
    if error.undone:
        return None
    if unanswered(error):
        return UNANSWERED
    return UNUSED_SUCCESS if unused_success(error) else None


def unseen_because(error: UpstreamError) -> str | None:
    point = unseen_at(error)
    return UNSEEN_BECAUSE[point] if point is not None else None


def uncertain(
    error: UpstreamError | None,
    resolution: Resolution,
    *,
    keyed: bool,
    settle: float | None = None,
) -> OutcomeUncertain:
    """The answer to a write whose outcome cannot be told. It says when to ask again: the
    seconds left of the write's settle time (``settle``), else the wait the failed lookup was
    told (an open circuit's, a provider's ``Retry-After``, or, for a provider that could not be
    reached or dropped the connection, the longest wait the upstream client's next retry would
    have had)."""
    # Not before the settle time is up, nor before the lookup's own wait (an open circuit's).
    waits = [wait for wait in (settle, resolution.retry_after) if wait]
    retry_after = max(waits) if waits else None
    first = f"{error.message}. " if error is not None else ""
    if isinstance(error, UnusableAnswer) and 200 <= (error.status or 0) < 300:
        # A success it could not read: most likely done, but a body that is not the provider's
        # (a proxy's page) says nothing, so it is not taken for proof.
        first += (
            f"It answered {error.status}, a success whose answer the gateway cannot read: the "
            "write most likely took effect. "
        )
    after = f" after {max(1, math.ceil(retry_after))} s" if retry_after else ""
    askable = keyed and resolution.tellable
    if askable:
        advice = (
            f"Retry with the same Idempotency-Key{after}: it asks the provider again before "
            "sending anything."
        )
    elif keyed:
        advice = (
            "A retry cannot tell either: check the provider before sending the write again, "
            "under a new Idempotency-Key."
        )
    else:
        advice = (
            "Check the provider before sending it again: without an Idempotency-Key a retry "
            "is a new write."
        )
    told = "yet " if resolution.tellable else ""
    untold = f"{first}Whether the write took effect cannot be told {told}({resolution.detail})."
    answer = OutcomeUncertain(
        f"{untold} {advice}",
        provider=error.provider if error is not None else None,
        status=error.status if error is not None else None,
        retry_after=retry_after if askable else None,
    )
    answer.retryable = askable  # whatever the status of the answer that left it untold
    answer.untold = untold  # a command that writes gives its own advice after it
    return answer
