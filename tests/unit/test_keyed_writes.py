"""The exactly-once runner's decisions, each on a real SQLite store with a scripted write: what
is kept, released or parked, when the provider is asked, and that nothing is sent twice."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from structlog.testing import capture_logs

from adapters.resolution import Resolution, Walk, judge
from gateway.canonical.model import Invoice
from gateway.errors import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidRequest,
    InvoiceBusy,
    OutcomeUncertain,
    ReadBackFailed,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamUnavailable,
)
from gateway.service import invoice_locks
from gateway.service.idempotency import SENT_AT, KeyedWrites
from gateway.service.outcomes import Outcome
from gateway.service.write_request import WriteRequest
from gateway.store import KeyScope, Store, StoreError, open_store
from gateway.upstream_answers import UnusableAnswer
from gateway.write_calls import write_calls_var
from tests.stores import sqlite_url

INVOICE = Invoice.model_validate({"id": "7", "currency": "EUR", "lines": []})
REQUEST = WriteRequest("sync", "crm", "POST /v1/connections/{connection}/invoices", "/x", "k-1")
SCOPE = KeyScope("sync", "crm", REQUEST.operation, "k-1")


@dataclass
class Scripted:
    """A write whose sending and finding follow a script; it counts what it was asked."""

    sends: list[Any]  # per call: an Outcome to answer, or an exception to raise
    finds: list[Resolution] = field(default_factory=list)
    sent_before_failing: bool = True  # whether a failure came after a write call left
    connection: str = "crm"
    idempotent: ClassVar[bool] = False
    calls: list[str] = field(default_factory=list)
    at_once: bool = False  # prepared with no provider call: claimed with its recovery
    settle_s: float = 60.0
    guarded: str | None = None  # no If-Match: no invoice lock

    @property
    def serialized(self) -> str | None:
        return self.guarded

    def prepared(self) -> dict[str, Any] | None:
        if not self.at_once:
            return None
        self.calls.append("prepared")
        return {"marker": "ig-1", "started_at": 1}

    async def prepare(self) -> dict[str, Any]:
        self.calls.append("prepare")
        return {"marker": "ig-1", "started_at": 1}

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        self.calls.append("send")
        step = self.sends.pop(0)
        if isinstance(step, BaseException):
            counter = write_calls_var.get()
            if counter is not None and self.sent_before_failing:
                counter.sent += 1
            raise step
        counter = write_calls_var.get()
        if counter is not None:
            counter.sent += 1
        assert isinstance(step, Outcome)
        return step

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        self.calls.append("find")
        assert {k: v for k, v in recovery.items() if k != SENT_AT} == {
            "marker": "ig-1",
            "started_at": 1,
        }
        return self.finds.pop(0)


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    opened = open_store(sqlite_url())
    await opened.open()
    yield opened
    await opened.close()


def runner(store: Store, clock: list[float] | None = None) -> KeyedWrites:
    now = clock or [1000.0]
    return KeyedWrites(store, lease_s=5, ttl_s=3600, clock=lambda: now[0])


def created() -> Outcome:
    return Outcome("invoice", INVOICE, created=True)


def lost() -> OutcomeUncertain:
    return OutcomeUncertain("crm_v1 dropped the connection", provider="crm_v1")


async def test_a_success_is_kept_and_replayed_without_sending(store: Store) -> None:
    write = Scripted([created()])
    first = await runner(store).run(REQUEST, "fp", write)
    second = await runner(store).run(REQUEST, "fp", Scripted([]))
    assert (first.replayed, second.replayed) == (False, True)
    assert second.invoice == INVOICE and second.created is True
    with pytest.raises(IdempotencyKeyReused):
        await runner(store).run(REQUEST, "another", Scripted([]))


@dataclass
class ReadsBack:
    """A write of one call, then (``read``) a read of what it wrote, as an adapter does."""

    read: bool
    connection: str = "crm"
    idempotent: ClassVar[bool] = False
    guarded: str | None = None
    serialized: str | None = None

    def prepared(self) -> dict[str, Any] | None:
        return None

    async def prepare(self) -> dict[str, Any]:
        return {}

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        counter = write_calls_var.get()
        assert counter is not None
        counter.sent, counter.read_after = counter.sent + 1, False
        if self.read:
            counter.read_after = True
        return created()

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        raise AssertionError("nothing was lost")


async def test_an_answer_read_after_the_write_says_so_and_its_replay_does_not(
    store: Store,
) -> None:
    other = WriteRequest("sync", "crm", REQUEST.operation, "/x", "k-2")
    read = await runner(store).run(REQUEST, "fp", ReadsBack(read=True))
    unread = await runner(store).run(other, "fp", ReadsBack(read=False))
    replay = await runner(store).run(REQUEST, "fp", ReadsBack(read=True))
    assert (read.read_back, unread.read_back) == (True, False)
    assert (replay.replayed, replay.read_back) == (True, False)  # a stored answer is no read


async def test_a_failure_before_anything_was_sent_releases_the_key(store: Store) -> None:
    write = Scripted([UpstreamUnavailable("circuit open")], sent_before_failing=False)
    with pytest.raises(UpstreamUnavailable):
        await runner(store).run(REQUEST, "fp", write)
    assert await store.get(SCOPE) is None
    assert write.calls == ["prepare", "send"]  # nothing asked: nothing could have happened


@pytest.mark.parametrize("error", [lost(), UpstreamError("crm_v1 answered 500")])
async def test_a_lost_answer_found_done_completes_the_write(
    store: Store, error: UpstreamError
) -> None:
    found = created()
    write = Scripted([error], [Resolution.done(found, "found by marker")])
    outcome = await runner(store).run(REQUEST, "fp", write)
    assert outcome.invoice == INVOICE and outcome.resolved == "found by marker"
    assert write.calls == ["prepare", "send", "find"]
    record = await store.get(SCOPE)
    assert record is not None and record.state == "done"


async def test_a_lost_answer_not_done_releases_the_key_and_says_nothing_was_written(
    store: Store,
) -> None:
    write = Scripted([lost()], [Resolution.not_done("no such invoice")])
    with pytest.raises(UpstreamError) as raised:
        await runner(store).run(REQUEST, "fp", write)
    assert not isinstance(raised.value, OutcomeUncertain)
    assert "nothing was written" in raised.value.message and raised.value.retryable
    assert await store.get(SCOPE) is None
    # The failure as the client said it ("may or may not have taken effect") is settled by
    # the look: said once, it would contradict the answer's own conclusion.
    unsure = OutcomeUncertain(
        "crm_v1 timed out; the write may or may not have taken effect", provider="crm_v1"
    )
    settled = Scripted([unsure], [Resolution.not_done("crm_v1 does not list it")])
    with pytest.raises(UpstreamError) as told:
        await runner(store).run(REQUEST, "fp", settled)
    assert told.value.message == (
        "crm_v1 timed out; crm_v1 does not list it, so nothing was written and the request can "
        "be sent again"
    )


async def test_an_untold_outcome_parks_the_key_and_the_retry_asks_before_sending(
    store: Store,
) -> None:
    write = Scripted([lost()], [Resolution.unknown("provider down")])
    with pytest.raises(OutcomeUncertain) as raised:
        await runner(store).run(REQUEST, "fp", write)
    assert raised.value.retryable is True
    assert "same Idempotency-Key" in raised.value.message
    record = await store.get(SCOPE)
    assert record is not None and (record.recovery_point, record.owner) == ("uncertain", None)
    retry = Scripted([], [Resolution.done(created(), "found now")])
    outcome = await runner(store).run(REQUEST, "fp", retry)
    assert retry.calls == ["find"]  # asked, and nothing sent again
    assert outcome.invoice == INVOICE


async def test_an_outcome_no_look_can_tell_is_not_retryable_even_with_a_key(
    store: Store,
) -> None:
    """The provider offers no way to read the write back: asking again would tell nothing, so
    the caller is told to check for itself, not to retry; the key's retry says the same and
    sends nothing."""
    never = Resolution.untellable("crm_v1 offers no way to read it back")
    write = Scripted([lost()], [never])
    with pytest.raises(OutcomeUncertain) as raised:
        await runner(store).run(REQUEST, "fp", write)
    assert (raised.value.retryable, raised.value.retry_after) == (False, None)
    assert "offers no way to read it back" in raised.value.message
    assert "A retry cannot tell either: check the provider" in raised.value.message
    assert "under a new Idempotency-Key" in raised.value.message
    retry = Scripted([], [never])
    with pytest.raises(OutcomeUncertain) as again:
        await runner(store).run(REQUEST, "fp", retry)
    assert retry.calls == ["find"]  # nothing sent again blind
    assert again.value.retryable is False


async def test_a_takeover_that_finds_nothing_sends_once_with_the_same_marker(store: Store) -> None:
    """The dead owner never got an answer, so the provider may still be working on what it
    sent: finding nothing is believed only once the write's settle time has passed."""
    clock = [1000.0]
    claim = await store.claim(SCOPE, "fp", "dead", now=clock[0], lease_s=5, ttl_s=3600)
    assert claim.__class__.__name__ == "Claimed"
    recovery = {"marker": "ig-1", "started_at": 1, SENT_AT: 1000}
    await store.save_progress(SCOPE, "dead", "sending", recovery, now=clock[0], lease_s=5)
    with pytest.raises(IdempotencyInProgress) as busy:
        await runner(store, clock).run(REQUEST, "fp", Scripted([]))
    assert busy.value.retry_after == pytest.approx(5)
    clock[0] += 6  # the dead owner's lease ran out
    early = Scripted([], [Resolution.not_done("nothing there")])
    with pytest.raises(OutcomeUncertain) as untold:
        await runner(store, clock).run(REQUEST, "fp", early)
    assert early.calls == ["find"] and untold.value.retry_after == pytest.approx(54)
    assert "after 54 s" in untold.value.message and "sent 6 s ago" in untold.value.message
    record = await store.get(SCOPE)
    assert record is not None and record.recovery_point == "unanswered"
    clock[0] += 54  # settled: nothing there now means nothing was written
    retry = Scripted([created()], [Resolution.not_done("nothing there")])
    outcome = await runner(store, clock).run(REQUEST, "fp", retry)
    assert retry.calls == ["find", "send"]  # no new prepare: the marker is the first one's
    assert outcome.invoice == INVOICE


async def test_a_write_prepared_without_the_provider_is_claimed_at_sending_in_one_step(
    store: Store,
) -> None:
    seen: list[Any] = []

    @dataclass
    class Watched(Scripted):
        async def send(self, recovery: dict[str, Any]) -> Outcome:
            seen.append(await store.get(SCOPE))  # what a crash at this moment would leave
            return await super().send(recovery)

    write = Watched([created()], at_once=True)
    outcome = await runner(store).run(REQUEST, "fp", write)

    assert write.calls == ["prepared", "send"]  # no prepare after the claim
    assert (seen[0].recovery_point, seen[0].recovery) == (
        "sending",
        {"marker": "ig-1", "started_at": 1, SENT_AT: 1000},
    )
    record = await store.get(SCOPE)
    assert record is not None and record.state == "done" and outcome.invoice == INVOICE
    replay = Scripted([], at_once=True)
    assert (await runner(store).run(REQUEST, "fp", replay)).replayed is True
    assert replay.calls == ["prepared"]  # prepared, never sent


async def test_a_takeover_of_a_key_claimed_at_sending_asks_before_sending(store: Store) -> None:
    clock = [1000.0]
    recovery = {"marker": "ig-1", "started_at": 1}
    await store.claim(SCOPE, "fp", "dead", now=clock[0], lease_s=5, ttl_s=3600, sending=recovery)
    clock[0] += 6  # the owner died before its answer was kept
    retry = Scripted([], [Resolution.done(created(), "found by its marker")], at_once=True)

    outcome = await runner(store, clock).run(REQUEST, "fp", retry)

    assert retry.calls == ["prepared", "find"]  # found: nothing sent again
    assert outcome.invoice == INVOICE and outcome.resolved == "found by its marker"


async def test_a_providers_final_refusal_after_sending_is_kept_and_replayed(store: Store) -> None:
    refusal = InvalidRequest("crm_v1: customer 10 does not exist", provider="crm_v1")
    with pytest.raises(InvalidRequest):
        await runner(store).run(REQUEST, "fp", Scripted([refusal]))
    with pytest.raises(InvalidRequest) as replayed:
        await runner(store).run(REQUEST, "fp", Scripted([]))
    assert replayed.value.replayed is True
    assert replayed.value.message == refusal.message


async def test_a_refusal_before_sending_is_not_kept(store: Store) -> None:
    refusal = InvalidRequest("lines: crm_v1 needs one", provider="crm_v1")
    write = Scripted([refusal], sent_before_failing=False)
    with pytest.raises(InvalidRequest):
        await runner(store).run(REQUEST, "fp", write)
    assert await store.get(SCOPE) is None


async def test_a_write_whose_lease_was_taken_over_before_sending_does_not_send(
    store: Store,
) -> None:
    clock = [1000.0]

    @dataclass
    class Slow(Scripted):
        async def prepare(self) -> dict[str, Any]:
            # The process stalls past its lease and another attempt takes the key over.
            clock[0] += 10
            taken = await store.claim(SCOPE, "fp", "other", now=clock[0], lease_s=5, ttl_s=3600)
            assert taken.__class__.__name__ == "Claimed"
            return await super().prepare()

    write = Slow([created()])
    with pytest.raises(IdempotencyInProgress):
        await KeyedWrites(store, lease_s=5, ttl_s=3600, clock=lambda: clock[0]).run(
            REQUEST, "fp", write
        )
    assert "send" not in write.calls


async def test_without_a_key_an_untold_outcome_is_not_retryable() -> None:
    write = Scripted([lost()], [Resolution.unknown("provider down")])
    unkeyed = WriteRequest("sync", "crm", REQUEST.operation, "/x", None)
    with pytest.raises(OutcomeUncertain) as raised:
        await KeyedWrites(None, lease_s=5, ttl_s=60).run(unkeyed, "fp", write)  # type: ignore[arg-type]
    assert raised.value.retryable is False
    assert "without an Idempotency-Key" in raised.value.message


async def test_a_cancelled_write_parks_its_key_for_the_next_attempt(store: Store) -> None:
    started = asyncio.Event()

    @dataclass
    class Hanging(Scripted):
        async def send(self, recovery: dict[str, Any]) -> Outcome:
            counter = write_calls_var.get()
            assert counter is not None
            counter.sent += 1
            started.set()
            await asyncio.sleep(60)
            raise AssertionError("not reached")

    task = asyncio.create_task(runner(store).run(REQUEST, "fp", Hanging([])))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = await store.get(SCOPE)
    assert record is not None and (record.recovery_point, record.owner) == ("uncertain", None)


@dataclass
class LongWrite(ReadsBack):
    """A write whose one call takes ``seconds``."""

    seconds: float = 0

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        await asyncio.sleep(self.seconds)
        return await super().send(recovery)


async def test_a_write_longer_than_its_lease_keeps_its_key(store: Store) -> None:
    """Renewed every third of the lease: a retry sent while the write still runs, after its
    first lease would have run out, is told to wait; it is not a takeover that sends again."""
    writes = KeyedWrites(store, lease_s=0.3, ttl_s=3600)
    running = asyncio.create_task(writes.run(REQUEST, "fp", LongWrite(read=False, seconds=0.9)))
    await asyncio.sleep(0.6)  # two leases
    with pytest.raises(IdempotencyInProgress):
        await KeyedWrites(store, lease_s=0.3, ttl_s=3600).run(REQUEST, "fp", LongWrite(read=False))
    assert (await running).replayed is False
    replay = await writes.run(REQUEST, "fp", LongWrite(read=False))
    assert replay.replayed is True
    await asyncio.sleep(0.3)  # no renewal is left behind once the write ended
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_every_write_of_every_runner_in_a_process_is_its_own_owner(store: Store) -> None:
    """Two runners in one process (two apps, or a restarted worker given the pid of a dead
    one) never hold a key as the same owner: a stalled write's owner must not match its
    taker's, or the stalled one would still pass the store's ownership checks."""
    owners: list[str | None] = []

    @dataclass
    class Notes(Scripted):
        key: str = ""

        async def send(self, recovery: dict[str, Any]) -> Outcome:
            record = await store.get(KeyScope("sync", "crm", REQUEST.operation, self.key))
            owners.append(record.owner if record is not None else None)
            return await super().send(recovery)

    first, second = runner(store), runner(store)
    for i, keyed in enumerate([first, first, second, second]):
        request = WriteRequest("sync", "crm", REQUEST.operation, "/x", f"k-{i}")
        await keyed.run(request, "fp", Notes([created()], key=f"k-{i}"))

    assert None not in owners and len(set(owners)) == 4, owners


@pytest.mark.parametrize("key", ["k-1", None])
async def test_the_only_call_refused_for_the_credentials_is_answered_at_once(
    store: Store, key: str | None
) -> None:
    """A provider that refuses the gateway's credentials processed nothing: no lookup for a
    lost answer (it would be refused too, and leave the key uncertain), the key free again."""
    refused = UpstreamAuthFailed("crm_v1 rejected the gateway's credentials (401)")
    # The upstream client counts a call refused unprocessed as not sent (test_upstream.py).
    write = Scripted([refused], sent_before_failing=False)
    with pytest.raises(UpstreamAuthFailed):
        await runner(store).run(dataclasses.replace(REQUEST, idempotency_key=key), "fp", write)
    assert write.calls == ["prepare", "send"]
    assert await store.get(SCOPE) is None


async def test_a_refusal_of_the_credentials_after_an_answered_call_is_looked_into(
    store: Store,
) -> None:
    """A write of several calls (bill_crm's header, then its lines) refused at a later call
    may have written with the first: the lookup runs as for any lost answer."""

    @dataclass
    class AfterOneCall(Scripted):
        async def send(self, recovery: dict[str, Any]) -> Outcome:
            counter = write_calls_var.get()
            assert counter is not None
            counter.sent += 1  # the header, answered
            return await super().send(recovery)

    refused = UpstreamAuthFailed("crm_v1 rejected the gateway's credentials (401)")
    write = AfterOneCall([refused], [Resolution.not_done("no such invoice")])
    with pytest.raises(UpstreamError) as raised:
        await runner(store).run(REQUEST, "fp", write)
    assert write.calls == ["prepare", "send", "find"]
    assert "nothing was written" in raised.value.message


async def test_an_idempotent_write_taken_over_is_sent_again_at_once_as_a_repeat(
    store: Store,
) -> None:
    """A PUT or DELETE converges when sent again: no lookup, no settle window, and the write
    knows it repeats a call that may have taken effect (a DELETE then told 404 is done)."""
    seen: list[bool] = []

    @dataclass
    class Idempotent(Scripted):
        idempotent: ClassVar[bool] = True

        async def send(self, recovery: dict[str, Any]) -> Outcome:
            calls = write_calls_var.get()
            seen.append(calls is not None and calls.repeated)
            return await super().send(recovery)

    clock = [1000.0]
    await store.claim(SCOPE, "fp", "dead", now=clock[0], lease_s=5, ttl_s=3600, sending={})
    clock[0] += 6  # the owner died mid-write
    write = Idempotent([created()])
    outcome = await runner(store, clock).run(REQUEST, "fp", write)
    assert write.calls == ["prepare", "send"] and seen == [True]
    assert outcome.invoice == INVOICE
    first = Idempotent([created()])
    fresh = dataclasses.replace(REQUEST, idempotency_key="k-fresh")
    await runner(store, clock).run(fresh, "fp", first)
    assert seen == [True, False]  # a first attempt repeats nothing


@pytest.mark.parametrize("repeat", [False, True], ids=["first-sending", "taken-over-repeat"])
async def test_a_refused_put_is_the_keys_answer_unless_it_repeats_a_lost_call(
    store: Store, repeat: bool
) -> None:
    """A provider's 4xx to a PUT's first sending changed nothing: kept as the key's answer,
    with no "may have taken effect". The same refusal to a key's retry that repeats a call whose
    answer was lost is no proof: the lost call may have landed before it."""

    @dataclass
    class Refused(Scripted):
        idempotent: ClassVar[bool] = True
        gone_when_repeated: ClassVar[bool] = False

        async def send(self, recovery: dict[str, Any]) -> Outcome:
            calls = write_calls_var.get()
            assert calls is not None
            calls.refused += 1  # what the upstream client counts for a first sending's 4xx
            return await super().send(recovery)

    clock = [1000.0]
    if repeat:
        await store.claim(SCOPE, "fp", "dead", now=clock[0], lease_s=5, ttl_s=3600, sending={})
        clock[0] += 6  # the owner died mid-write, its answer lost
    refusal = UpstreamError("crm_v1 answered 410: gone", provider="crm_v1", status=410)
    write = Refused([refusal])
    with pytest.raises(UpstreamError) as raised:
        await runner(store, clock).run(REQUEST, "fp", write)
    assert raised.value.may_have_landed is repeat
    assert ("may have taken effect" in raised.value.message) is repeat
    again = Refused([created()])
    if repeat:  # sent again, as a repeat converges
        assert (await runner(store, clock).run(REQUEST, "fp", again)).invoice == INVOICE
    else:  # the refusal replayed, nothing sent
        with pytest.raises(UpstreamError) as replayed:
            await runner(store, clock).run(REQUEST, "fp", again)
        assert replayed.value.message == raised.value.message and again.calls == []


async def test_an_invoice_lock_that_cannot_be_taken_sends_nothing_and_frees_the_key() -> None:
    """The store fails as the write takes its invoice's lock (here: its table is gone): the
    write is not sent, the store's error is the answer, and the key is free for the retry."""
    url = sqlite_url()
    store = open_store(url)
    await store.open()
    try:
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            db.execute("DROP TABLE write_locks")
        write = Guarded([created()])
        with pytest.raises(StoreError):
            await runner(store).run(REQUEST, "fp", write)
        assert "send" not in write.calls
        assert await store.get(SCOPE) is None
    finally:
        await store.close()


@dataclass
class Guarded(Scripted):
    """A write that checks If-Match on invoice 7: it takes that invoice's lock first."""

    guarded: str | None = "7"
    at_once: bool = True


@dataclass
class LookAlike(Scripted):
    """A create found again by what it looks like (the caller's notes left no room for a
    marker): the lookup may find another write's invoice of the same request."""

    makes_invoice: ClassVar[bool] = True

    async def prepare(self) -> dict[str, Any]:
        self.calls.append("prepare")
        return {"existing": [], "started_at": 1}

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        self.calls.append("find")
        return self.finds.pop(0)


def found_invoice_7() -> Resolution:
    return Resolution.done(created(), "crm_v1 has an invoice like the one sent: invoice 7")


async def test_a_look_alike_another_key_made_is_not_this_writes(store: Store) -> None:
    other = WriteRequest("sync", "crm", REQUEST.operation, "/x", "k-2")
    made = await runner(store).run(other, "fp", LookAlike([created()]))
    assert made.invoice is not None and made.invoice.id == "7"
    write = LookAlike([lost()], finds=[found_invoice_7()])
    with pytest.raises(UpstreamError) as info:
        await runner(store).run(REQUEST, "fp", write)
    assert "another write (another Idempotency-Key) made that invoice" in info.value.message
    assert "nothing was written" in info.value.message and info.value.retryable
    assert await store.get(SCOPE) is None, "nothing written: the key is free"
    again = await runner(store).run(REQUEST, "fp", LookAlike([created()]))
    assert again.created and not again.replayed


def several_alike(*ids: str) -> Resolution:
    """The lookup's own judgement (``judge``) of several look-alikes, every page read."""
    found = [INVOICE.model_copy(update={"id": invoice_id}) for invoice_id in ids]
    return judge(
        "crm_v1",
        found,
        Walk(complete=True, pages=1),
        looked_for="an invoice like it",
        sure=True,
        result=lambda invoice: Outcome("invoice", invoice, created=True),
    )


async def made_by(store: Store, key: str, invoice_id: str) -> None:
    other = WriteRequest("sync", "crm", REQUEST.operation, "/x", key)
    made = Outcome("invoice", INVOICE.model_copy(update={"id": invoice_id}), created=True)
    await runner(store).run(other, "fp", LookAlike([made]))


async def test_of_several_look_alikes_the_one_no_other_key_made_is_this_writes(
    store: Store,
) -> None:
    # Two keys sent one body: the other key's invoice 8 is kept as its own, and this write's
    # lost answer finds 7 and 8. Answered "several candidates, check the provider" for good,
    # the caller would find two invoices there and could not tell which was its own.
    await made_by(store, "k-2", "8")
    write = LookAlike([lost()], finds=[several_alike("7", "8")])
    outcome = await runner(store).run(REQUEST, "fp", write)
    assert outcome.invoice is not None and outcome.invoice.id == "7"
    assert outcome.created and outcome.resolved is not None
    assert "besides 8, alike but made by another write" in outcome.resolved
    replay = await runner(store).run(REQUEST, "fp", LookAlike([]))
    assert replay.replayed and replay.invoice is not None and replay.invoice.id == "7"


async def test_look_alikes_every_one_of_them_another_keys_are_not_this_writes(
    store: Store,
) -> None:
    await made_by(store, "k-2", "8")
    await made_by(store, "k-3", "9")
    write = LookAlike([lost()], finds=[several_alike("8", "9")])
    with pytest.raises(UpstreamError) as info:
        await runner(store).run(REQUEST, "fp", write)
    assert "nothing was written" in info.value.message and info.value.retryable
    assert await store.get(SCOPE) is None, "nothing written: the key is free"


async def test_several_look_alikes_no_other_key_made_stay_for_the_caller_to_check(
    store: Store,
) -> None:
    await made_by(store, "k-2", "9")
    write = LookAlike([lost()], finds=[several_alike("7", "8", "9")])
    with pytest.raises(OutcomeUncertain) as info:
        await runner(store).run(REQUEST, "fp", write)
    assert "several candidates for an invoice like it: 7, 8;" in info.value.message
    assert "besides 9" in info.value.message
    assert not info.value.retryable


async def test_a_look_alike_while_another_key_of_the_request_is_unfinished_is_not_taken(
    store: Store,
) -> None:
    other = KeyScope("sync", "crm", REQUEST.operation, "k-2")
    claim = await store.claim(other, "fp", "elsewhere", now=1000.0, lease_s=5, ttl_s=3600)
    assert type(claim).__name__ == "Claimed"
    write = LookAlike([lost()], finds=[found_invoice_7()])
    with pytest.raises(OutcomeUncertain) as running:
        await runner(store, [1001.0]).run(REQUEST, "fp", write)
    assert "is still running and may have made it" in running.value.message
    assert running.value.retryable, "its answer will tell: ask again"
    # The other write gave up, its outcome uncertain too: no retry can tell whose it is.
    assert await store.park(other, "elsewhere", "uncertain")
    retry = LookAlike([], finds=[found_invoice_7()])
    with pytest.raises(OutcomeUncertain) as uncertain:
        await runner(store, [1002.0]).run(REQUEST, "fp", retry)
    assert "nothing tells which" in uncertain.value.message
    assert not uncertain.value.retryable
    assert retry.calls == ["find"]


@pytest.mark.parametrize(
    ("failure", "logged"),
    [
        (
            StoreError("PostgreSQL store at db:5432/x: connection was closed"),
            "connection was closed",
        ),
        # What asyncpg raised when the server cut the connection mid-statement: not a
        # StoreError, and the made invoice was answered 500, retryable false.
        (
            RuntimeError("cannot switch to state 11; another operation is in progress"),
            "RuntimeError",
        ),
    ],
)
async def test_a_made_write_whose_outcome_cannot_be_kept_is_still_answered(
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
    logged: str,
) -> None:
    """The invoice is made: however keeping its outcome fails, the caller gets it (a careful
    caller told 500, retryable false, would make it again under a new key). The key still says
    sending, so a retry asks the provider and finds it."""

    async def fails(*args: Any, **kwargs: Any) -> bool:
        raise failure

    monkeypatch.setattr(store, "finish", fails)
    write = Scripted([created()])
    with capture_logs() as logs:
        outcome = await runner(store).run(REQUEST, "fp", write)
    assert outcome.invoice == INVOICE and outcome.created is True
    assert write.calls == ["prepare", "send"]
    said = [e["error"] for e in logs if e["event"] == "idempotency_finish_failed"]
    assert len(said) == 1 and logged in said[0]
    assert "another operation" not in said[0]  # a driver's text is not logged: not known safe
    monkeypatch.undo()
    retry = Scripted([], [Resolution.done(created(), "found by its marker")])
    clock = [1000.0 + 10]  # past the 5 s lease: the retry takes the key over and asks
    again = await runner(store, clock).run(REQUEST, "fp", retry)
    assert again.invoice == INVOICE
    assert retry.calls == ["find"]


@dataclass
class MakesInvoice(Scripted):
    makes_invoice: ClassVar[bool] = True


async def test_a_create_without_a_key_is_answered_while_a_hung_store_keeps_its_invoice(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The invoice an unkeyed create made is kept as made (so that no lookup takes it for
    another write's); with the store hung, that keeping held the answer 10 s, and a caller that
    gave up would have made the invoice again."""
    hung = asyncio.Event()

    async def hangs(*args: Any, **kwargs: Any) -> Any:
        await hung.wait()
        raise StoreError("no answer")

    monkeypatch.setattr(store, "claim", hangs)
    unkeyed = dataclasses.replace(REQUEST, idempotency_key=None)
    outcome = await asyncio.wait_for(runner(store).run(unkeyed, "fp", MakesInvoice([created()])), 1)
    assert outcome.invoice == INVOICE and outcome.created is True
    with capture_logs() as logs:
        hung.set()
        await asyncio.sleep(0.01)
    assert [e["event"] for e in logs] == ["unkeyed_create_not_kept"]


def _failing_once(store: Store, name: str) -> list[int]:
    """``store.<name>`` raising the store's error on its first call, as a store that is
    briefly unavailable does; the calls are counted."""
    calls: list[int] = []
    real = getattr(store, name)

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise StoreError("the store is unavailable")
        return await real(*args, **kwargs)

    setattr(store, name, flaky)
    return calls


async def test_an_outcome_the_store_failed_to_keep_is_kept_once_it_answers(store: Store) -> None:
    """The write was made and answered, but its outcome could not be kept: the key stayed at
    "sending", and a retry after the new invoice's notes were replaced (the dedupe marker gone)
    found nothing and made a second invoice. The outcome is kept as soon as the store answers:
    the retry replays it, sending nothing."""
    calls = _failing_once(store, "finish")
    keyed = runner(store)
    keyed._later_waits = (0.01,) * 5
    made = await keyed.run(REQUEST, "fp", Scripted([created()]))
    assert made.invoice == INVOICE and not made.replayed  # answered at once
    await asyncio.wait_for(asyncio.gather(*keyed._later_tasks), 2)
    assert len(calls) == 2
    again = await runner(store).run(REQUEST, "fp", Scripted([]))  # nothing to send
    assert again.replayed and again.invoice == INVOICE


async def test_a_key_the_store_failed_to_free_is_freed_once_it_answers(store: Store) -> None:
    """Nothing was sent (the provider was never reached), but the store failed as the key was
    freed: held at "sending", its retry waited out the settle time of a write never sent. It
    is freed as soon as the store answers, and the retry sends the write."""
    calls = _failing_once(store, "release")
    keyed = runner(store)
    keyed._later_waits = (0.01,) * 5
    unreached = UpstreamUnavailable("crm_v1 could not be reached", provider="crm_v1")
    with pytest.raises(UpstreamUnavailable):
        await keyed.run(REQUEST, "fp", Scripted([unreached], sent_before_failing=False))
    await asyncio.wait_for(asyncio.gather(*keyed._later_tasks), 2)
    assert len(calls) == 2
    write = Scripted([created()])
    assert (await runner(store).run(REQUEST, "fp", write)).invoice == INVOICE
    assert write.calls == ["prepare", "send"]


@pytest.mark.parametrize("lost", [StoreError("no answer within 10 s"), asyncio.CancelledError()])
async def test_a_claim_taken_with_its_answer_lost_is_let_go_of(
    store: Store, lost: BaseException
) -> None:
    """The store took the claim (at "sending", the write prepared) but its reply was lost: a
    503 told the caller to retry with the key, and the retry found the key "sending" a write
    never sent, answered uncertain until the settle time had passed (a minute). The claim is
    let go of, so the retry sends the write at once."""
    real = store.claim

    async def taken_then_lost(*args: Any, **kwargs: Any) -> Any:
        await real(*args, **kwargs)
        raise lost

    store.claim = taken_then_lost  # type: ignore[method-assign]
    keyed = runner(store)
    first = Scripted([created()], at_once=True)
    with pytest.raises(type(lost)):
        await keyed.run(REQUEST, "fp", first)
    assert first.calls == ["prepared"]  # nothing sent
    await asyncio.wait_for(asyncio.gather(*keyed._later_tasks), 2)
    store.claim = real  # type: ignore[method-assign]
    assert await store.get(SCOPE) is None
    retry = Scripted([created()], at_once=True)
    outcome = await runner(store).run(REQUEST, "fp", retry)
    assert outcome.invoice == INVOICE and not outcome.replayed
    assert retry.calls == ["prepared", "send"]


async def _an_uncertain_write(
    store: Store, clock: list[float], later: float = 120, at_once: bool = False
) -> None:
    """A keyed write sent, its answer lost, the lookup unable to tell: its key parked; the
    clock then ``later`` seconds on."""
    first = Scripted([lost()], finds=[Resolution.unknown("cannot tell yet")], at_once=at_once)
    with pytest.raises(OutcomeUncertain):
        await runner(store, clock).run(REQUEST, "fp", first)
    clock[0] += later


async def _asks_before_sending(store: Store, clock: list[float], at_once: bool = False) -> None:
    """The key's next retry asks the provider about the earlier write, and sends nothing."""
    retry = Scripted([created()], [Resolution.unknown("cannot tell yet")], at_once=at_once)
    with pytest.raises(OutcomeUncertain):
        await runner(store, clock).run(REQUEST, "fp", retry)
    assert [call for call in retry.calls if call != "prepared"] == ["find"]


@pytest.mark.parametrize(
    ("later", "at_once"), [(120, False), (0.5, True)], ids=["later", "in-the-same-second"]
)
async def test_a_key_taken_over_whose_claims_answer_was_lost_is_parked_not_freed(
    store: Store, later: float, at_once: bool
) -> None:
    """A retry took over a key whose earlier write may have landed, and the store's answer to
    that claim was lost: letting go of it freed the key, the earlier write's record with it,
    and the next retry sent the write again without asking (two invoices). Within the same
    second, a write prepared without the provider had the recovery the retry claimed with,
    and was taken for the retry's own new claim."""
    clock = [1000.1]
    await _an_uncertain_write(store, clock, later, at_once)
    real = store.claim

    async def taken_then_lost(*args: Any, **kwargs: Any) -> Any:
        await real(*args, **kwargs)
        raise StoreError("no answer within 10 s")

    store.claim = taken_then_lost  # type: ignore[method-assign]
    keyed = runner(store, clock)
    with pytest.raises(StoreError):
        await keyed.run(REQUEST, "fp", Scripted([], at_once=at_once))
    await asyncio.wait_for(asyncio.gather(*keyed._later_tasks), 10)
    store.claim = real  # type: ignore[method-assign]
    record = await store.get(SCOPE)
    assert record is not None and (record.owner, record.recovery_point) == (None, "uncertain")
    await _asks_before_sending(store, clock, at_once)


async def test_a_key_taken_over_by_a_write_kept_waiting_for_its_lock_is_parked_not_freed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same, when the retry that took the key over gave up waiting for its invoice's lock
    (a 409, nothing sent by it): the key was freed with the earlier write's record."""
    clock = [1000.0]
    await _an_uncertain_write(store, clock)
    monkeypatch.setattr(invoice_locks, "GUARD_WAIT_S", 0.05)
    assert await store.take_lock("crm inv-1", "another", now=clock[0], lease_s=60, grace_s=0)
    with pytest.raises(InvoiceBusy):
        await runner(store, clock).run(REQUEST, "fp", Scripted([], guarded="crm inv-1"))
    record = await store.get(SCOPE)
    assert record is not None and (record.owner, record.recovery_point) == (None, "uncertain")
    await _asks_before_sending(store, clock)


async def test_a_payment_without_a_key_is_kept_as_made_before_its_invoices_lock_is_let_go(
    store: Store,
) -> None:
    """Kept in the background, after the lock was let go, a payment without a key could be
    looked for by the next write to take the lock (a keyed payment's retry) before it was
    kept, and taken for that write's own."""
    order: list[str] = []
    real_finish, real_release = store.finish, store.release_lock

    async def finish(*args: Any, **kwargs: Any) -> Any:
        order.append(f"kept {kwargs.get('made')}")
        return await real_finish(*args, **kwargs)

    async def release_lock(*args: Any, **kwargs: Any) -> Any:
        order.append("lock let go")
        return await real_release(*args, **kwargs)

    store.finish = finish  # type: ignore[method-assign]
    store.release_lock = release_lock  # type: ignore[method-assign]
    recorded = Outcome("invoice", INVOICE, created=True, made="payment/inv-1/pay-9")
    write = Scripted([recorded], guarded="crm inv-1")
    unkeyed = WriteRequest("sync", "crm", REQUEST.operation, "/x", None)

    assert (await runner(store).run(unkeyed, "fp", write)).invoice == INVOICE

    assert order == ["kept payment/inv-1/pay-9", "lock let go"]
    assert await store.made_by_another("crm", "payment/inv-1/pay-9", SCOPE)


async def test_a_refusal_the_store_failed_to_keep_is_the_providers_answer_and_kept_later(
    store: Store,
) -> None:
    """The provider refused the write (its final word), and the store failed as the refusal
    was kept: the caller got the store's 503 for the provider's 422, and the key stayed at
    "sending", its retry later taken for a repeat that may have landed. The caller hears the
    refusal; it is kept once the store answers, and replayed."""
    calls = _failing_once(store, "finish")
    keyed = runner(store)
    keyed._later_waits = (0.01,) * 5
    refused = InvalidRequest("crm_v1 refused the invoice", [], provider="crm_v1")
    with pytest.raises(InvalidRequest):
        await keyed.run(REQUEST, "fp", Scripted([refused]))
    await asyncio.wait_for(asyncio.gather(*keyed._later_tasks), 2)
    assert len(calls) == 2
    again = Scripted([])
    with pytest.raises(InvalidRequest):
        await runner(store).run(REQUEST, "fp", again)
    assert again.calls == []  # replayed: nothing prepared or sent


async def test_a_stopping_gateway_does_not_wait_for_a_store_that_fails(store: Store) -> None:
    """An outcome the store failed to keep is asked of it again for about ten minutes; a process
    stopping (``drain``, before the store is closed) gives that up rather than wait for it."""

    async def failing(*args: Any, **kwargs: Any) -> bool:
        raise StoreError("the store is unavailable")

    store.finish = failing  # type: ignore[method-assign]
    keyed = runner(store)
    keyed._later_waits = (30.0,)
    made = await keyed.run(REQUEST, "fp", Scripted([created()]))
    assert made.invoice == INVOICE  # answered all the same
    [later] = keyed._later_tasks
    await asyncio.wait_for(keyed.drain(), 2)
    assert later.cancelled() and not keyed._later_tasks


async def test_a_success_it_could_not_read_that_no_lookup_finds_stays_uncertain_until_settled(
    store: Store,
) -> None:
    """The provider answered 200 with a body the gateway cannot read (over the cap, not
    JSON): most likely done, so a lookup that finds nothing is believed only after the write's
    settle time, as for a write that got no answer. It was "nothing was written", not
    retryable, and the key freed: its retry a new create, of a write most likely made."""
    clock = [1000.0]
    unreadable = UnusableAnswer(
        "crm_v1 answered JSON the gateway cannot read", provider="crm_v1", status=200
    )
    write = Scripted([unreadable], [Resolution.not_done("no invoice with the marker")])
    with pytest.raises(OutcomeUncertain) as raised:
        await runner(store, clock).run(REQUEST, "fp", write)
    assert raised.value.retryable is True and raised.value.retry_after == pytest.approx(60)
    assert "the write most likely took effect" in raised.value.message
    assert "answered a success the gateway could not use" in raised.value.message
    record = await store.get(SCOPE)
    assert record is not None and record.recovery_point == "unused_success"
    clock[0] += 10
    early = Scripted([], [Resolution.not_done("no invoice with the marker")])
    with pytest.raises(OutcomeUncertain):
        await runner(store, clock).run(REQUEST, "fp", early)
    assert early.calls == ["find"]  # nothing sent again
    clock[0] += 51  # settled: nothing there now means nothing was written
    retry = Scripted([created()], [Resolution.not_done("no invoice with the marker")])
    outcome = await runner(store, clock).run(REQUEST, "fp", retry)
    assert retry.calls == ["find", "send"] and outcome.invoice == INVOICE


async def test_without_a_key_such_a_success_is_uncertain_and_once_settled_retryable(
    store: Store,
) -> None:
    clock = [1000.0]
    unreadable = UnusableAnswer("crm_v1 answered too much", provider="crm_v1", status=201)
    keyless = dataclasses.replace(REQUEST, idempotency_key=None)
    write = Scripted([unreadable], [Resolution.not_done("no invoice with the marker")])
    with pytest.raises(OutcomeUncertain) as raised:
        await runner(store, clock).run(keyless, "fp", write)
    assert "most likely took effect" in raised.value.message
    settled = Scripted(
        [UnusableAnswer("crm_v1 answered too much", provider="crm_v1", status=201)],
        [Resolution.not_done("no invoice with the marker")],
        settle_s=0,
    )
    with pytest.raises(UpstreamError) as told:
        await runner(store, clock).run(keyless, "fp", settled)
    assert not isinstance(told.value, OutcomeUncertain)
    assert told.value.retryable is True
    assert told.value.message.endswith("so nothing was written and the request can be sent again")


@pytest.mark.parametrize(
    "unused",
    [
        # crm_v1's answer with no inv_id; a read-back that failed after the write
        ReadBackFailed("crm_v1 accepted the invoice (200) but its answer does not name it"),
        # item_envelope's answer with no id
        UpstreamError("item_envelope accepted the invoice but answered no id", status=201),
        # bill_crm's create answered without an id
        OutcomeUncertain("bill_crm answered the create without an invoice id", status=200),
    ],
)
async def test_every_success_it_could_not_use_waits_out_the_settle_time(
    store: Store, unused: UpstreamError
) -> None:
    """A provider's success that names nothing of what it made is as likely done as one whose
    body cannot be read: finding nothing is believed only after the settle time. It was
    "nothing was written" at once, not retryable, the key freed: the retry a second create.
    The key's retry says the same of it (not that the provider gave no answer)."""
    clock = [1000.0]
    write = Scripted([unused], [Resolution.not_done("no invoice with the marker")])
    with pytest.raises(OutcomeUncertain) as raised:
        await runner(store, clock).run(REQUEST, "fp", write)
    assert raised.value.retryable is True and raised.value.retry_after == pytest.approx(60)
    assert "answered a success the gateway could not use" in raised.value.message
    record = await store.get(SCOPE)
    assert record is not None and record.recovery_point == "unused_success"
    clock[0] += 10
    early = Scripted([], [Resolution.not_done("no invoice with the marker")])
    with pytest.raises(OutcomeUncertain) as again:
        await runner(store, clock).run(REQUEST, "fp", early)
    assert early.calls == ["find"] and again.value.retry_after == pytest.approx(50)
    assert "answered a success the gateway could not use" in again.value.message
    record = await store.get(SCOPE)
    assert record is not None and record.recovery_point == "unused_success"


async def test_a_write_its_adapter_undid_is_nothing_written_at_once(store: Store) -> None:
    """bill_crm deletes its half-made invoice when a later call of the create fails (here
    with a success it cannot read): nothing is left, so no settle time is waited, and the
    request can be sent again."""
    unreadable = UnusableAnswer(
        "bill_crm answered JSON the gateway cannot read; the invoice was not created (its "
        "partial record was deleted)",
        provider="bill_crm",
        status=200,
    )
    unreadable.undone = True
    write = Scripted([unreadable], [Resolution.not_done("no invoice with the marker")])
    with pytest.raises(UpstreamError) as raised:
        await runner(store).run(REQUEST, "fp", write)
    assert not isinstance(raised.value, OutcomeUncertain)
    assert raised.value.retryable is True
    assert "so nothing was written and the request can be sent again" in raised.value.message
    assert await store.get(SCOPE) is None


async def test_a_retry_whose_lookup_failed_keeps_the_settle_time_for_the_next(
    store: Store,
) -> None:
    """Parked after a success it could not use, the key's retry met a lookup that failed (the
    provider's list answering 503): it was parked "uncertain", which has no settle time, so the
    next retry believed a lookup that did not show the invoice yet and sent it again."""
    clock = [1000.0]
    unreadable = UnusableAnswer("crm_v1 answered a page", provider="crm_v1", status=200)
    first = Scripted([unreadable], [Resolution.not_done("no invoice with the marker")])
    with pytest.raises(OutcomeUncertain):
        await runner(store, clock).run(REQUEST, "fp", first)
    clock[0] += 2
    failed = Scripted([], [Resolution.unknown("looking it up failed: crm_v1 answered 503")])
    with pytest.raises(OutcomeUncertain) as untold:
        await runner(store, clock).run(REQUEST, "fp", failed)
    assert untold.value.retry_after == pytest.approx(58)  # the settle time left, said
    record = await store.get(SCOPE)
    assert record is not None and record.recovery_point == "unused_success"
    clock[0] += 2
    again = Scripted([created()], [Resolution.not_done("no invoice with the marker")])
    with pytest.raises(OutcomeUncertain) as told:
        await runner(store, clock).run(REQUEST, "fp", again)
    assert again.calls == ["find"]  # nothing sent again within the settle time
    assert told.value.retry_after == pytest.approx(56)


async def test_a_kept_refusal_replays_as_final_as_it_was_answered(store: Store) -> None:
    """A refusal kept with no status (crm_v1's success:false to a delete) replayed as
    retryable: the class's default, the instance's own word lost."""
    refused = UpstreamError("crm_v1 answered 200: Invoice cannot be deleted", provider="crm_v1")
    refused.retryable = False

    @dataclass
    class RefusedDelete(Scripted):
        idempotent: ClassVar[bool] = True

        async def send(self, recovery: dict[str, Any]) -> Outcome:
            counter = write_calls_var.get()
            assert counter is not None
            counter.sent += 1
            counter.refused += 1
            raise refused

    with pytest.raises(UpstreamError) as first:
        await runner(store).run(REQUEST, "fp", RefusedDelete([]))
    with pytest.raises(UpstreamError) as replayed:
        await runner(store).run(REQUEST, "fp", Scripted([]))
    assert (first.value.retryable, replayed.value.retryable) == (False, False)
    assert replayed.value.message == refused.message
