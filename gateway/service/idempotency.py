"""Exactly-once writes: an ``Idempotency-Key`` held in the store while its write runs.

The first request with a key claims it (``in_progress``, with a lease it renews while it runs),
records what a later attempt would need to find out what it did (the write's *recovery*, before
anything is sent; in the claim itself when that needs no provider call, as a create's marker),
calls the provider, and stores the final answer. A later request with the same key and the same
request gets that answer replayed; with another request, 422; while the first still runs, 409
with ``Retry-After``.

When the provider's answer is lost (a timeout, a reset, a 5xx after the write was sent), nothing
is sent again before the provider has been asked whether the write happened
(``Write.find``, see ``adapters/resolution.py``): found, the write completes with what it made;
not there, it is safe to send again; cannot tell, the caller is told the outcome is uncertain
and the key is parked, so that a retry with it asks again. A gateway that dies mid-write leaves
its key ``in_progress``; once the lease runs out, the next retry takes it over and asks first.

"Not there" is believed only of a provider that has finished with the write. One that gave no
answer at all (a timeout, a 504 from its own gateway, or a gateway of ours that died waiting) may
still be working on it and store it after the lookup: until the connection's
``write_settle_s`` has passed since the write was sent, such a lookup is "cannot tell yet", with
a ``Retry-After`` of the time left, and the key is parked ``unanswered``.

Requests refused before anything was sent to the provider (a pre-check, an open circuit, a
missing invoice on the read before a state change) are not kept: the key is released and the
same request may be sent again as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import math
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

import structlog

from gateway.errors import (
    AdapterError,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    UpstreamError,
)
from gateway.service.invoice_locks import Lease, let_go, take_lock
from gateway.service.lost_answers import SENT_AT, LostAnswers, made_by, resolved
from gateway.service.outcomes import Outcome, error_from_json, error_to_json, is_error
from gateway.service.write_failures import (
    MAY_HAVE_WRITTEN,
    RESENT,
    UNANSWERED,
    UNSEEN_BECAUSE,
    all_refused,
    nothing_sent,
    nothing_written,
    say_it_may_have_landed,
    uncertain,
    unseen_at,
    unseen_because,
)
from gateway.service.write_request import (
    KeyReusedAfterSuccess,
    Write,
    WriteObserver,
    WriteRequest,
)
from gateway.store import Busy, Claimed, Finished, KeyScope, Mismatch, Store, StoreError
from gateway.write_calls import WriteCalls, idempotency_key_var, write_calls_var

__all__ = ["SENT_AT", "KeyedWrites"]

_T = TypeVar("_T")
_log = structlog.get_logger("gateway.writes")


class KeyedWrites:
    """Runs writes once: with the store when the caller gave a key, resolving lost answers."""

    def __init__(
        self,
        store: Store,
        *,
        lease_s: float,
        ttl_s: float,
        clock: Callable[[], float] = time.time,
        observer: WriteObserver | None = None,
        same_records: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.store = store
        self.lease_s = lease_s
        self.ttl_s = ttl_s
        self._clock = clock
        self._lost = LostAnswers(store, same_records or {}, clock, observer, lease_s, ttl_s)
        # Who holds a key: this runner (a random part, so a restarted process that is given
        # the same pid is another owner) and a serial number per write.
        self._process = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._serial = itertools.count(1)
        self._keeping: set[asyncio.Task[None]] = set()  # ``LostAnswers.keep_made``s under way
        # A key's last word the store failed to take (``_now_or_later``), asked of it again.
        self._later_tasks: set[asyncio.Task[None]] = set()
        self._later_waits = _LATER_WAITS

    async def run(self, request: WriteRequest, fingerprint: str, write: Write) -> Outcome:
        scope = request.scope()
        owner = f"{self._process}:{next(self._serial)}"
        if scope is None:
            token = idempotency_key_var.set("ig-" + uuid.uuid4().hex)
            try:
                held = await take_lock(
                    self.store, write, owner, clock=self._clock, lease_s=self.lease_s
                )
                try:
                    outcome = await self._unkeyed(write)
                    if held is not None:
                        # A payment: kept before its invoice's lock is let go, so that the
                        # lookup of the next write to take the lock finds it kept.
                        await self._lost.keep_made(write, outcome, owner)
                finally:
                    await let_go(self.store, held)
            finally:
                idempotency_key_var.reset(token)
            if held is None:
                # Kept beside the answer, not before it: a store that hangs must not hold a
                # create that is made (a caller that gives up would make it again).
                _in_background(self._lost.keep_made(write, outcome, owner), self._keeping)
            return outcome
        now, prepared = self._clock(), write.prepared()
        sending = None if prepared is None else {**prepared, SENT_AT: _second(now)}
        try:
            claim = await self.store.claim(
                scope,
                fingerprint,
                owner,
                now=now,
                lease_s=self.lease_s,
                ttl_s=self.ttl_s,
                sending=sending,
            )
        except BaseException:
            # The claim may have been taken with its answer lost (the server committed it and
            # its reply timed out, or the request was cancelled meanwhile). Held, it said
            # "sending" of a write never sent, and the retry this failure asks for was told
            # "uncertain" until the settle time ran out: let go of it, should it be held.
            _in_background(self._let_go_of_claim(scope, owner, sending), self._later_tasks)
            raise
        if isinstance(claim, Mismatch):
            message = (
                f"Idempotency-Key {scope.key!r} was already used with a different request "
                f"({scope.operation}); send a new key for a new request."
            )
            earlier = claim.record.outcome
            if claim.record.state == "done" and earlier is not None and not is_error(earlier):
                raise KeyReusedAfterSuccess(message, Outcome.from_json(earlier, replayed=True))
            raise IdempotencyKeyReused(message)
        if isinstance(claim, Busy):
            raise IdempotencyInProgress(
                f"A request with Idempotency-Key {scope.key!r} is still running; retry it after "
                f"{max(1, math.ceil(claim.retry_after))} s to get its answer.",
                retry_after=claim.retry_after,
            )
        if isinstance(claim, Finished):
            self._lost.observe(write.connection, "replayed")
            return _replay(claim.record.outcome or {})
        assert isinstance(claim, Claimed)
        token = idempotency_key_var.set(scope.key)
        lease = Lease(
            lambda: self.store.renew(scope, owner, now=self._clock(), lease_s=self.lease_s),
            every=self.lease_s / 3,
        )
        try:
            try:
                held = await take_lock(
                    self.store, write, owner, clock=self._clock, lease_s=self.lease_s
                )
            except BaseException:
                # Busy, the store failing, or cancelled: nothing was sent by this attempt. The
                # key is free, unless it was taken over from one that may have sent the write:
                # freed, its record lost, the next retry sent the write again unasked.
                if claim.taken_over and claim.record.recovery_point != "claimed":
                    await self._park(scope, owner, claim.record.recovery_point)
                else:
                    await self._release(scope, owner)
                raise
            try:
                return await self._keyed(scope, owner, claim, write)
            finally:
                await let_go(self.store, held)
        finally:
            await lease.end()
            idempotency_key_var.reset(token)

    # -- without a key: one attempt, and a lost answer still asked about ----------------------

    async def _unkeyed(self, write: Write) -> Outcome:
        recovery = write.prepared()
        if recovery is None:
            recovery = await write.prepare()
        recovery = {**recovery, SENT_AT: _second(self._clock())}
        calls = WriteCalls()
        token = write_calls_var.set(calls)
        try:
            return await write.send(recovery)
        except UpstreamError as error:
            if write.idempotent or nothing_sent(calls):
                say_it_may_have_landed(error, write, calls, keyed=False)
                raise
            resolution, wait = await self._lost.find(write, recovery, error, unseen_because(error))
            if resolution.state == "done":
                return resolved(resolution)
            if resolution.state == "not_done":
                raise nothing_written(error, resolution) from error
            raise uncertain(error, resolution, keyed=False, settle=wait) from error
        finally:
            write_calls_var.reset(token)

    # -- with a key -----------------------------------------------------------------------------

    async def _keyed(self, scope: KeyScope, owner: str, claim: Claimed, write: Write) -> Outcome:
        record = claim.record
        recovery: dict[str, Any] | None = None
        # An idempotent write taken over is sent again as it is (its lookup could only say so),
        # as a repeat of a call that may have taken effect.
        repeat = claim.taken_over and write.idempotent and record.recovery_point != "claimed"
        if not repeat and claim.taken_over and record.recovery_point in MAY_HAVE_WRITTEN:
            # An earlier attempt may have written: ask before anything is sent again.
            recovery = record.recovery
            unseen = UNSEEN_BECAUSE.get(record.recovery_point)
            resolution, wait = await self._lost.find(
                write, recovery, None, unseen, scope, record.fingerprint
            )
            if resolution.state == "done":
                return await self._finish(scope, owner, resolved(resolution), write)
            if resolution.state == "unknown":
                # Parked where it was (a lookup that failed leaves the settle time to run): a
                # dead owner's "sending" got no answer.
                parked = UNANSWERED if record.recovery_point == "sending" else record.recovery_point
                await self.store.park(scope, owner, parked)
                raise uncertain(None, resolution, keyed=True, settle=wait)
            _log.info("write_not_done", connection=write.connection, detail=resolution.detail)
        if not claim.taken_over and record.recovery_point == "sending":
            recovery = record.recovery  # prepared before the claim and stored by it
        else:
            recovery = await self._sending(scope, owner, write, recovery)
        calls = WriteCalls(repeated=repeat)
        token = write_calls_var.set(calls)
        try:
            outcome = await write.send(recovery)
            if calls.read_back and outcome.invoice is not None:
                outcome = dataclasses.replace(outcome, read_back=True)
        except UpstreamError as error:
            if nothing_sent(calls):
                await self._release(scope, owner)  # nothing was written: the key is free
                raise
            if write.idempotent and all_refused(calls):
                # The provider's final word, kept as a refusal is (a retry replays it, and the
                # key with another request is refused as reused).
                await self._kept(scope, owner, error_to_json(error))
                raise
            if write.idempotent:
                # Sending the same again converges: the key's retry does, as a repeat.
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.store.park(scope, owner, RESENT))
                say_it_may_have_landed(error, write, calls, keyed=True)
                raise
            resolution, wait = await self._lost.find(
                write, recovery, error, unseen_because(error), scope, record.fingerprint
            )
            if resolution.state == "done":
                return await self._finish(scope, owner, resolved(resolution), write)
            if resolution.state == "not_done":
                await self._release(scope, owner)
                raise nothing_written(error, resolution) from error
            await self.store.park(scope, owner, unseen_at(error) or "uncertain")
            raise uncertain(error, resolution, keyed=True, settle=wait) from error
        except AdapterError as error:
            if calls.sent == 0:
                await self._release(scope, owner)
                raise
            # The provider gave its final word (refused the fields, no such invoice): kept.
            await self._kept(scope, owner, error_to_json(error))
            raise
        except BaseException:
            # Cancelled, or a bug: whether the write happened is unknown; the next claim asks.
            with contextlib.suppress(Exception):
                await asyncio.shield(self.store.park(scope, owner, "uncertain"))
            raise
        finally:
            write_calls_var.reset(token)
        return await self._finish(scope, owner, outcome, write)

    async def _sending(
        self, scope: KeyScope, owner: str, write: Write, recovery: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The write prepared (unless a takeover found it prepared) and its recovery point
        "sending" stored, before anything is sent."""
        try:
            if recovery is None:
                recovery = await write.prepare()
        except BaseException:
            await self._release(scope, owner)
            raise
        now = self._clock()
        recovery = {**recovery, SENT_AT: _second(now)}
        held = await self.store.save_progress(
            scope, owner, "sending", recovery, now=now, lease_s=self.lease_s
        )
        if not held:
            # Our lease ran out before anything was sent (a stalled process) and another attempt
            # took the key: it does the write, this one must not.
            raise IdempotencyInProgress(
                f"A request with Idempotency-Key {scope.key!r} took over this one; retry it to "
                "get its answer.",
                retry_after=1,
            )
        return recovery

    async def _finish(self, scope: KeyScope, owner: str, outcome: Outcome, write: Write) -> Outcome:
        made = made_by(write, outcome)
        # Whatever the store does, the write is made: a 500 (retryable: false) for a made write
        # would have a careful caller make it again under a new key.
        if await self._kept(scope, owner, outcome.to_json(), made) is False:
            # Our lease ran out and another attempt took the key over; it will find this write
            # (it asks the provider first), so the answer here is still the write's own.
            _log.warning("lease_lost", connection=scope.connection, operation=scope.operation)
        return outcome

    async def _kept(
        self, scope: KeyScope, owner: str, answer: dict[str, Any], made: str | None = None
    ) -> bool | None:
        """The key's answer kept (``store.finish``: False when another attempt has the key; None
        when the store failed, and the answer is kept later). Until the store takes it, its key
        says "sending" and a retry asks the provider, which finds the write only while it still
        looks as it was made (a replace of the new invoice's notes removed the dedupe marker,
        and a retry made a second invoice). A provider's refusal kept so is still the caller's
        answer, not the store's 503."""
        return await self._now_or_later(
            scope,
            "idempotency_finish_failed",
            lambda: self.store.finish(scope, owner, answer, made=made),
        )

    async def _release(self, scope: KeyScope, owner: str) -> None:
        """The key freed: nothing was sent. Also asked again when the store fails: a key left
        held at "sending" had its retry wait out a write never sent (a minute of "uncertain"
        answers after a 503 that sent nothing)."""
        await self._now_or_later(
            scope,
            "idempotency_release_failed",
            lambda: asyncio.shield(self.store.release(scope, owner)),
        )

    async def _let_go_of_claim(
        self, scope: KeyScope, owner: str, sending: dict[str, Any] | None
    ) -> None:
        """A claim whose answer was lost, let go of should the store have taken it. Freed where
        it is this attempt's own new claim (its recovery point "claimed", or "sending" with
        the recovery it was claimed with: nothing of the write was sent by anyone). Parked
        where it was, if it took the key over from an earlier attempt that may have sent the
        write: freed, that attempt's record was lost, and the next retry sent the write
        again without asking the provider. Looked for over some seconds (a claim may land
        late: a cancelled request's statement still running), then left: a store that fails
        for longer most likely took nothing, and a task a request would pile up."""
        for wait in _CLAIM_RELEASE_WAITS:
            await asyncio.sleep(wait)
            try:
                record = await self.store.get(scope)
            except Exception:
                continue
            if record is None:
                continue  # not taken, or not yet
            if record.owner != owner:
                return  # not this attempt's (never taken by it, or taken from it since)
            # A write with nothing to prepare is recovered by its time alone (one second): an
            # earlier attempt's parked in the same second has the same recovery, and its point
            # ("uncertain", "unanswered"…) tells it apart.
            fresh = record.recovery_point == "claimed" or (
                record.recovery_point == "sending"
                and sending is not None
                and record.recovery == sending
            )
            with contextlib.suppress(Exception):
                if fresh:
                    await self.store.release(scope, owner)
                else:
                    await self.store.park(scope, owner, record.recovery_point)
                return

    async def _park(self, scope: KeyScope, owner: str, recovery_point: str) -> None:
        """The key given up where it was (``recovery_point``), for the next claim to take over
        and ask the provider first; asked again when the store fails, as a release is."""
        await self._now_or_later(
            scope,
            "idempotency_park_failed",
            lambda: asyncio.shield(self.store.park(scope, owner, recovery_point)),
        )

    async def _now_or_later(
        self, scope: KeyScope, failed: str, step: Callable[[], Awaitable[_T]]
    ) -> _T | None:
        """``step`` (a key's finish or release), its answer; when the store fails, ``failed`` is
        logged, None answered, and ``step`` tried again in a task of its own, waiting longer
        each time, until the store takes it or ``_LATER_WAITS`` are spent (nothing waits for
        it). An error the store did not name is logged by its kind alone (its text is the
        driver's, and is not known to hold no secret)."""
        try:
            return await step()
        except Exception as exc:
            said = str(exc) if isinstance(exc, StoreError) else type(exc).__name__
            _log.error(failed, connection=scope.connection, error=said)

        async def again() -> None:
            for wait in self._later_waits:
                await asyncio.sleep(wait)
                try:
                    taken = await step()
                except Exception:
                    continue
                if taken is not False:  # False: another attempt has the key, and asks first
                    _log.info("idempotency_kept_later", connection=scope.connection)
                return
            _log.error("idempotency_not_kept", connection=scope.connection)

        _in_background(again(), self._later_tasks)
        return None

    async def drain(self) -> None:
        """Wait for the unkeyed creates' invoices being kept (``LostAnswers.keep_made``): before
        the store they are kept in is closed."""
        while self._keeping:
            await asyncio.gather(*self._keeping, return_exceptions=True)
        for task in list(self._later_tasks):  # a stopping process does not wait for a store
            task.cancel()
        await asyncio.gather(*self._later_tasks, return_exceptions=True)


# The waits before each new try of a key's finish or release the store failed: about ten
# minutes in all, a store's restart or a full disk freed.
_LATER_WAITS = (0.5, 1.0, 2.0, 4.0, 8.0, *([15.0] * 39))


# The waits before each try of freeing a claim whose answer was lost (``_let_go_of_claim``).
_CLAIM_RELEASE_WAITS = (0.0, 0.5, 1.0, 2.0, 4.0)


def _in_background(work: Coroutine[Any, Any, None], tasks: set[asyncio.Task[None]]) -> None:
    """``work`` run in a task of its own, held in ``tasks`` until it ends (``drain``)."""
    task = asyncio.ensure_future(work)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def _replay(stored: dict[str, Any]) -> Outcome:
    if is_error(stored):
        raise error_from_json(stored)
    return Outcome.from_json(stored, replayed=True)


def _second(now: float) -> int:
    """A time kept in a recovery (JSON holds no floats here): rounded up, so that the settle
    window it starts is never shorter than it should be."""
    return math.ceil(now)
