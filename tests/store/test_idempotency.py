"""Idempotency records through their life: claim, progress, finish, park, release, expiry."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from gateway import jsonwire
from gateway.store import (
    Busy,
    Claimed,
    Finished,
    IdempotencyRecord,
    KeyScope,
    Mismatch,
    Store,
)
from gateway.store.records import UNSETTLED_KEEP_S

NOW = 1_800_000_000.0
LEASE = 30.0
TTL = 86_400.0
SCOPE = KeyScope(
    client="billing-sync",
    connection="crm",
    operation="POST /v1/connections/{connection}/invoices",
    key="key-1",
)


async def claim(
    store: Store, owner: str, *, fingerprint: str = "fp-1", at: float = NOW, scope: KeyScope = SCOPE
) -> Claimed | Finished | Mismatch | Busy:
    return await store.claim(scope, fingerprint, owner, now=at, lease_s=LEASE, ttl_s=TTL)


async def claimed(store: Store, owner: str = "worker-a", **kwargs: Any) -> IdempotencyRecord:
    result = await claim(store, owner, **kwargs)
    assert isinstance(result, Claimed), result
    return result.record


async def test_a_new_key_is_claimed_in_progress_with_a_lease(store: Store) -> None:
    result = await claim(store, "worker-a")

    assert result == Claimed(
        IdempotencyRecord(
            scope=SCOPE,
            fingerprint="fp-1",
            state="in_progress",
            recovery_point="claimed",
            recovery={},
            outcome=None,
            owner="worker-a",
            lease_expires_at=NOW + LEASE,
            created_at=NOW,
            expires_at=NOW + TTL,
        ),
        taken_over=False,
    )
    assert await store.get(SCOPE) == result.record


async def test_a_claim_prepared_before_it_is_stored_as_sending_in_one_step(store: Store) -> None:
    recovery = {"marker": "ig-7", "marker_field": "notes", "amount": Decimal("19.90")}
    result = await store.claim(
        SCOPE, "fp-1", "worker-a", now=NOW, lease_s=LEASE, ttl_s=TTL, sending=recovery
    )

    assert isinstance(result, Claimed) and not result.taken_over
    assert (result.record.recovery_point, result.record.recovery) == ("sending", recovery)
    assert await store.get(SCOPE) == result.record
    # The same request meanwhile is busy and changes nothing; another one is a mismatch.
    assert isinstance(await claim(store, "worker-b", at=NOW + 1), Busy)
    assert isinstance(await claim(store, "worker-b", fingerprint="fp-2", at=NOW + 1), Mismatch)
    # A dead owner's key is taken over at that point: the taker asks before sending.
    taken = await claim(store, "worker-b", at=NOW + LEASE)
    assert isinstance(taken, Claimed) and taken.taken_over
    assert (taken.record.recovery_point, taken.record.recovery) == ("sending", recovery)


async def test_an_expired_record_is_replaced_by_a_claim_prepared_before_it(store: Store) -> None:
    await claimed(store)
    assert await store.finish(SCOPE, "worker-a", {"status": 201})

    result = await store.claim(
        SCOPE, "fp-2", "worker-b", now=NOW + TTL, lease_s=LEASE, ttl_s=TTL, sending={"m": "2"}
    )

    assert isinstance(result, Claimed) and not result.taken_over
    fresh = result.record
    assert (fresh.fingerprint, fresh.recovery_point, fresh.recovery) == (
        "fp-2",
        "sending",
        {"m": "2"},
    )
    assert (fresh.outcome, fresh.owner) == (None, "worker-b")
    assert await store.get(SCOPE) == fresh


async def test_the_same_request_while_the_lease_is_live_is_busy_for_what_is_left(
    store: Store,
) -> None:
    first = await claimed(store)

    result = await claim(store, "worker-b", at=NOW + 12.5)

    assert isinstance(result, Busy)
    assert result.retry_after == pytest.approx(LEASE - 12.5)
    assert result.record == first
    assert await store.get(SCOPE) == first


@pytest.mark.parametrize("done", [False, True], ids=["in_progress", "done"])
async def test_another_request_with_the_same_key_is_a_mismatch(store: Store, done: bool) -> None:
    await claimed(store)
    if done:
        assert await store.finish(SCOPE, "worker-a", {"status": 201})
    before = await store.get(SCOPE)

    result = await claim(store, "worker-b", fingerprint="fp-other", at=NOW + 1)

    assert before is not None
    assert result == Mismatch(before)
    assert await store.get(SCOPE) == before


async def test_a_finished_key_replays_the_exact_outcome(store: Store) -> None:
    await claimed(store)
    outcome = {
        "status": 201,
        "headers": {"Location": "/v1/connections/crm/invoices/INV-7", "ETag": '"v1"'},
        "body": {
            "id": "INV-7",
            "total": "5250.00",
            "tax": Decimal("0.10"),
            "negative": Decimal("-12.3400"),
            "big_int": 12345678901234567890,
            "customer": {"name": "Zoë Ørsted — 東京 ☕", "tags": ["a", "", None, True, False]},
            "lines": [
                {"n": i, "amount": f"{i}.05", "nested": {"deep": [[{}], []]}} for i in range(3)
            ],
            "z_first_then_a": {"z": 1, "a": 2},
            "escapes": 'quote " backslash \\ newline \n tab \t nul \u0000',
        },
    }

    assert await store.finish(SCOPE, "worker-a", outcome)
    result = await claim(store, "worker-b", at=NOW + 5)

    assert isinstance(result, Finished)
    record = result.record
    assert record.outcome == outcome
    # Exact: key order and decimal literals too (Decimal("0.1") == Decimal("0.10")).
    assert jsonwire.dumps(record.outcome) == jsonwire.dumps(outcome)
    assert str(record.outcome["body"]["tax"]) == "0.10"
    assert (record.state, record.recovery_point, record.owner) == ("done", "done", None)


async def test_a_big_outcome_round_trips(store: Store) -> None:
    await claimed(store)
    body = "".join(chr(0x20 + i % 0x5F) for i in range(1_000_000)) + "é€😀"
    outcome = {"status": 200, "body": {"blob": body, "items": [{"i": i} for i in range(5000)]}}

    assert await store.finish(SCOPE, "worker-a", outcome)

    record = await store.get(SCOPE)
    assert record is not None
    assert record.outcome == outcome


async def test_progress_is_kept_and_renews_the_lease(store: Store) -> None:
    await claimed(store)
    recovery = {"attempt": 1, "provider_request_id": "req-9", "amount": Decimal("5250.00")}

    assert await store.save_progress(
        SCOPE, "worker-a", "sending", recovery, now=NOW + 10, lease_s=LEASE
    )
    record = await store.get(SCOPE)

    assert record is not None
    assert (record.recovery_point, record.recovery) == ("sending", recovery)
    assert record.lease_expires_at == NOW + 10 + LEASE
    assert await store.renew(SCOPE, "worker-a", now=NOW + 20, lease_s=LEASE)
    renewed = await store.get(SCOPE)
    assert renewed == replace(record, lease_expires_at=NOW + 20 + LEASE)


async def test_a_non_owner_changes_nothing(store: Store) -> None:
    await claimed(store)
    assert await store.save_progress(SCOPE, "worker-a", "sending", {"n": 1}, now=NOW, lease_s=LEASE)
    before = await store.get(SCOPE)

    assert not await store.save_progress(
        SCOPE, "intruder", "uncertain", {"n": 2}, now=NOW + 1, lease_s=999
    )
    assert not await store.renew(SCOPE, "intruder", now=NOW + 1, lease_s=999)
    assert not await store.finish(SCOPE, "intruder", {"status": 500})
    assert not await store.park(SCOPE, "intruder", "uncertain")
    assert not await store.release(SCOPE, "intruder")

    assert await store.get(SCOPE) == before


async def test_nothing_can_be_done_to_an_absent_key(store: Store) -> None:
    assert not await store.save_progress(SCOPE, "worker-a", "sending", {}, now=NOW, lease_s=LEASE)
    assert not await store.renew(SCOPE, "worker-a", now=NOW, lease_s=LEASE)
    assert not await store.finish(SCOPE, "worker-a", {"status": 201})
    assert not await store.park(SCOPE, "worker-a", "uncertain")
    assert not await store.release(SCOPE, "worker-a")
    assert await store.get(SCOPE) is None


async def test_a_finished_key_cannot_be_finished_or_released_again(store: Store) -> None:
    await claimed(store)
    assert await store.finish(SCOPE, "worker-a", {"status": 201})
    done = await store.get(SCOPE)

    assert not await store.finish(SCOPE, "worker-a", {"status": 500})
    assert not await store.release(SCOPE, "worker-a")
    assert not await store.park(SCOPE, "worker-a", "uncertain")
    assert await store.get(SCOPE) == done


async def test_a_lapsed_lease_is_taken_over_with_its_progress(store: Store) -> None:
    await claimed(store)
    recovery = {"attempt": 1, "sent_at": "2027-01-15T08:00:00Z"}
    assert await store.save_progress(
        SCOPE, "worker-a", "uncertain", recovery, now=NOW + 5, lease_s=LEASE
    )

    at = NOW + 5 + LEASE  # the lease ends exactly now
    result = await claim(store, "worker-b", at=at)

    assert isinstance(result, Claimed)
    assert result.taken_over
    assert result.record == IdempotencyRecord(
        scope=SCOPE,
        fingerprint="fp-1",
        state="in_progress",
        recovery_point="uncertain",
        recovery=recovery,
        outcome=None,
        owner="worker-b",
        lease_expires_at=at + LEASE,
        created_at=NOW,
        expires_at=at + TTL,  # kept a time to live from the takeover
    )
    assert await store.get(SCOPE) == result.record
    # The old owner lost the key: its late answer is refused; the new owner's is kept.
    assert not await store.finish(SCOPE, "worker-a", {"status": 201, "by": "a"})
    assert await store.finish(SCOPE, "worker-b", {"status": 201, "by": "b"})
    record = await store.get(SCOPE)
    assert record is not None
    assert record.outcome == {"status": 201, "by": "b"}


async def test_a_parked_key_is_taken_over_at_once(store: Store) -> None:
    await claimed(store)
    assert await store.save_progress(
        SCOPE, "worker-a", "sending", {"x": "1"}, now=NOW, lease_s=LEASE
    )

    assert await store.park(SCOPE, "worker-a", "uncertain")
    parked = await store.get(SCOPE)
    assert parked is not None
    assert (parked.owner, parked.recovery_point, parked.recovery) == (None, "uncertain", {"x": "1"})
    assert not await store.renew(SCOPE, "worker-a", now=NOW + 1, lease_s=LEASE)

    result = await claim(store, "worker-b", at=NOW + 1)  # well within the old lease

    assert isinstance(result, Claimed)
    assert result.taken_over
    assert (result.record.owner, result.record.recovery_point) == ("worker-b", "uncertain")
    assert result.record.lease_expires_at == NOW + 1 + LEASE


async def test_a_released_key_is_forgotten(store: Store) -> None:
    await claimed(store)

    assert await store.release(SCOPE, "worker-a")
    assert await store.get(SCOPE) is None
    result = await claim(store, "worker-b", fingerprint="fp-2", at=NOW + 1)

    assert isinstance(result, Claimed)
    assert not result.taken_over
    assert result.record.fingerprint == "fp-2"


@pytest.mark.parametrize("done", [False, True], ids=["never_sent", "done"])
async def test_an_expired_record_is_as_good_as_absent(store: Store, done: bool) -> None:
    """Once expired, a finished write's record, or one that never reached the provider and
    that nobody holds, is forgotten: the key is new again."""
    await claimed(store)
    if done:
        assert await store.finish(SCOPE, "worker-a", {"status": 201})
    else:
        assert await store.park(SCOPE, "worker-a", "claimed")  # given up before sending
    # One moment before expiry the record still counts.
    before = await claim(store, "worker-b", at=NOW + TTL - 0.001)
    assert isinstance(before, Finished if done else Claimed)
    if not done:  # taken over (nothing was sent): given up again
        assert await store.park(SCOPE, "worker-b", "claimed")

    result = await claim(store, "worker-b", fingerprint="fp-2", at=NOW + 2 * TTL)

    assert isinstance(result, Claimed)
    assert not result.taken_over
    fresh = result.record
    assert (fresh.fingerprint, fresh.owner, fresh.state) == ("fp-2", "worker-b", "in_progress")
    assert (fresh.recovery_point, fresh.recovery, fresh.outcome) == ("claimed", {}, None)
    assert (fresh.created_at, fresh.expires_at) == (NOW + 2 * TTL, NOW + 3 * TTL)
    assert await store.get(SCOPE) == fresh


@pytest.mark.parametrize("point", ["sending", "unanswered", "uncertain"])
async def test_an_expired_record_whose_write_may_have_been_sent_still_names_that_write(
    store: Store, point: str
) -> None:
    """A write that may have reached the provider and never finished is not forgotten when
    its record expires: the same request is busy while its owner lives, then takes it over
    (and first finds out what it did); another request with the key is still a mismatch; the
    taker keeps the record a time to live from then; the reaper leaves it."""
    await claimed(store)
    assert await store.save_progress(SCOPE, "worker-a", point, {"m": 1}, now=NOW, lease_s=TTL * 2)
    late = NOW + TTL + 5

    assert isinstance(await claim(store, "worker-b", at=late), Busy)  # its owner still runs
    assert isinstance(await claim(store, "worker-b", fingerprint="fp-2", at=late), Mismatch)
    assert await store.reap(late) == 0

    after_lease = NOW + TTL * 2 + 1
    result = await claim(store, "worker-b", at=after_lease)

    assert isinstance(result, Claimed) and result.taken_over
    assert (result.record.recovery_point, result.record.recovery) == (point, {"m": 1})
    assert result.record.expires_at == after_lease + TTL
    assert await store.get(SCOPE) == result.record
    assert await store.park(SCOPE, "worker-b", point)  # still uncertain: parked again
    assert await store.reap(after_lease + TTL * 10) == 0
    parked = await claim(store, "worker-c", at=after_lease + TTL * 10)
    assert isinstance(parked, Claimed) and parked.taken_over
    # Not for ever: unsettled that long past its expiry, no one came back for it.
    assert await store.park(SCOPE, "worker-c", point)
    forgotten_at = parked.record.expires_at + UNSETTLED_KEEP_S
    assert await store.reap(forgotten_at - 1) == 0
    assert await store.reap(forgotten_at) == 1
    assert await store.get(SCOPE) is None


async def test_an_expired_write_sent_again_as_it_is_is_forgotten(store: Store) -> None:
    """A PUT or DELETE whose answer was lost is parked "resent": its retry sends it again as it
    is, so an expired one teaches nothing and is forgotten like a finished one."""
    await claimed(store)
    assert await store.save_progress(SCOPE, "worker-a", "sending", {}, now=NOW, lease_s=LEASE)
    assert await store.park(SCOPE, "worker-a", "resent")
    result = await claim(store, "worker-b", fingerprint="fp-2", at=NOW + TTL)
    assert isinstance(result, Claimed) and not result.taken_over
    assert result.record.fingerprint == "fp-2"


async def test_each_part_of_the_scope_separates_keys(store: Store) -> None:
    scopes = [
        SCOPE,
        replace(SCOPE, client="other-client"),
        replace(SCOPE, connection="billing"),
        replace(SCOPE, operation="PUT /v1/connections/{connection}/invoices/{id}"),
        replace(SCOPE, key="key-2"),
    ]
    for i, scope in enumerate(scopes):
        result = await claim(store, f"worker-{i}", fingerprint=f"fp-{i}", scope=scope)
        assert isinstance(result, Claimed), scope
        assert not result.taken_over

    for i, scope in enumerate(scopes):
        record = await store.get(scope)
        assert record is not None
        assert (record.owner, record.fingerprint) == (f"worker-{i}", f"fp-{i}")


async def test_reap_deletes_exactly_the_expired_records(store: Store) -> None:
    ttls = {"k-early": 10.0, "k-edge": 20.0, "k-late": 20.001, "k-later": 1000.0}
    for key, ttl in ttls.items():
        scope = replace(SCOPE, key=key)
        result = await store.claim(scope, "fp", "w", now=NOW, lease_s=LEASE, ttl_s=ttl)
        assert isinstance(result, Claimed)
    assert await store.finish(replace(SCOPE, key="k-early"), "w", {"status": 201})

    # k-edge has expired too, but its owner's lease runs to NOW + LEASE: it may be sending.
    assert await store.reap(NOW + 20.0) == 1

    remaining = {key for key in ttls if await store.get(replace(SCOPE, key=key)) is not None}
    assert remaining == {"k-edge", "k-late", "k-later"}
    assert await store.reap(NOW + 20.0) == 0
    assert await store.reap(NOW + 5000.0) == 3  # never sent, and nobody holds them now


# -- the invoice a create made, and the unfinished writes of one request ---------------------


async def test_the_invoice_a_write_made_is_another_writes_to_every_other_key(store: Store) -> None:
    """A lookup after a lost answer asks whether the invoice it found was made by another
    write: kept with the key that made it, on its connection."""
    other = replace(SCOPE, key="key-2")
    await claimed(store)
    await claimed(store, "worker-b", scope=other)
    assert await store.finish(SCOPE, "worker-a", {"status": 201}, made="57")
    assert await store.finish(other, "worker-b", {"status": 201})  # made none

    assert await store.made_by_another("crm", "57", other)
    assert await store.made_by_another("crm", "57", None)  # a write without a key
    assert not await store.made_by_another("crm", "57", SCOPE), "its own"
    assert not await store.made_by_another("crm", "58", other)
    assert not await store.made_by_another("bill", "57", other), "another connection's 57"
    # Another client's key of the same name is another write.
    assert await store.made_by_another("crm", "57", replace(SCOPE, client="another-client"))


async def test_a_key_claimed_again_after_expiry_no_longer_names_the_invoice_it_made(
    store: Store,
) -> None:
    """The expired record is replaced by a new write, which has made nothing yet: the invoice
    the old write made is no longer any key's (PostgreSQL's replacing UPDATE kept it)."""
    other = replace(SCOPE, key="key-2")
    await claimed(store)
    assert await store.finish(SCOPE, "worker-a", {"status": 201}, made="57")
    assert await store.made_by_another("crm", "57", other)

    await claimed(store, "worker-b", fingerprint="fp-2", at=NOW + 2 * TTL)

    assert not await store.made_by_another("crm", "57", other)


async def test_another_unfinished_write_of_the_same_request_is_running_then_uncertain(
    store: Store,
) -> None:
    other = replace(SCOPE, key="key-2")
    await claimed(store, fingerprint="fp-same")
    assert await store.alike_unfinished(other, "fp-same", now=NOW) == "running"
    assert await store.alike_unfinished(SCOPE, "fp-same", now=NOW) is None, "its own"
    assert await store.alike_unfinished(other, "fp-else", now=NOW) is None
    # Its lease run out (its process gone), or given up: whether it wrote is uncertain.
    assert await store.alike_unfinished(other, "fp-same", now=NOW + LEASE + 1) == "uncertain"
    assert await store.park(SCOPE, "worker-a", "uncertain")
    assert await store.alike_unfinished(other, "fp-same", now=NOW) == "uncertain"
    # Finished: none unfinished.
    taken = await claim(store, "worker-c", fingerprint="fp-same", at=NOW + 1)
    assert isinstance(taken, Claimed)
    assert await store.finish(SCOPE, "worker-c", {"status": 201}, made="57")
    assert await store.alike_unfinished(other, "fp-same", now=NOW + 2) is None
