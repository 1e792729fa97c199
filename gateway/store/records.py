"""What both backends share: rows to records and back, the one rule a claim follows, and the
arithmetic of a token bucket.

The claim rule lives here once so that SQLite and PostgreSQL cannot drift apart: each backend
reads the current record, asks ``decide`` what to do, and applies it atomically its own way
(SQLite inside a write transaction, PostgreSQL by conditional statements that repeat the same
conditions in SQL). A token bucket likewise: each backend reads the bucket under its write lock
(SQLite's write transaction, PostgreSQL's ``FOR UPDATE``), asks ``take`` and writes the result.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from gateway import jsonwire
from gateway.store.base import (
    Busy,
    Chunk,
    Claim,
    CrosswalkEntry,
    Finished,
    IdempotencyRecord,
    KeyScope,
    Mismatch,
)


class Row(Protocol):
    """A result row by column name: ``sqlite3.Row`` and ``asyncpg.Record`` both are."""

    def __getitem__(self, key: str, /) -> Any: ...


# The columns of ``idempotency_keys`` in the order every SELECT and RETURNING lists them.
RECORD_COLUMNS = (
    "client, connection, operation, key, fingerprint, state, recovery_point, recovery, "
    "outcome, owner, lease_expires_at, created_at, expires_at"
)
CROSSWALK_COLUMNS = (
    "source_connection, source_id, target_connection, target_id, fingerprint, state, detail, "
    "updated_at, run"
)
CHUNK_COLUMNS = "run, seq, token, state, owner, lease_expires_at"
# A pending chunk's lease: none (the column is NOT NULL, as ``Chunk.lease_expires_at`` is).
NO_LEASE = 0.0
# A parked record's lease: already over whatever the clock says, so the next claim takes it.
PARKED_LEASE = 0.0


def dump_json(value: dict[str, Any]) -> str:
    """Exact JSON text (``Decimal`` kept as its literal, key order kept); floats are refused,
    as everywhere in the gateway, because they cannot carry amounts exactly. Compact, and
    written by orjson: every step of every keyed write stores one."""
    return jsonwire.compact(value)


def load_json(text: str) -> Any:
    return jsonwire.loads(text)


def record_from_row(row: Row) -> IdempotencyRecord:
    outcome = row["outcome"]
    return IdempotencyRecord(
        scope=KeyScope(
            client=row["client"],
            connection=row["connection"],
            operation=row["operation"],
            key=row["key"],
        ),
        fingerprint=row["fingerprint"],
        state=row["state"],
        recovery_point=row["recovery_point"],
        recovery=load_json(row["recovery"]),
        outcome=None if outcome is None else load_json(outcome),
        owner=row["owner"],
        lease_expires_at=float(row["lease_expires_at"]),
        created_at=float(row["created_at"]),
        expires_at=float(row["expires_at"]),
    )


def record_params(record: IdempotencyRecord) -> tuple[Any, ...]:
    """The record's values in ``RECORD_COLUMNS`` order, for an INSERT."""
    scope = record.scope
    return (
        scope.client,
        scope.connection,
        scope.operation,
        scope.key,
        record.fingerprint,
        record.state,
        record.recovery_point,
        dump_json(record.recovery),
        None if record.outcome is None else dump_json(record.outcome),
        record.owner,
        record.lease_expires_at,
        record.created_at,
        record.expires_at,
    )


def scope_params(scope: KeyScope) -> tuple[str, str, str, str]:
    return (scope.client, scope.connection, scope.operation, scope.key)


def new_record(
    scope: KeyScope,
    fingerprint: str,
    owner: str,
    *,
    now: float,
    lease_s: float,
    ttl_s: float,
    sending: dict[str, Any] | None = None,
) -> IdempotencyRecord:
    """A fresh claim: in progress, nothing sent yet; at recovery point "sending" with
    ``sending`` as its recovery when the write prepared that before its claim (``Store.claim``)."""
    return IdempotencyRecord(
        scope=scope,
        fingerprint=fingerprint,
        state="in_progress",
        recovery_point="claimed" if sending is None else "sending",
        recovery={} if sending is None else sending,
        outcome=None,
        owner=owner,
        lease_expires_at=float(now + lease_s),
        created_at=float(now),
        expires_at=float(now + ttl_s),
    )


def decide(
    current: IdempotencyRecord | None, fingerprint: str, now: float
) -> Claim | Literal["new", "take_over"]:
    """What a claim of ``current`` (None: absent) with ``fingerprint`` at ``now`` does.

    "new": write a fresh record (absent, or expired and forgettable: ``forgettable``);
    "take_over": the record is in progress with no live lease (its owner died or parked it);
    otherwise the claim's answer as is. See ``Store.claim``.

    An expired record whose write may have reached the provider and never finished is not
    forgotten: the key still names that write, and a retry with it first finds out what it
    did, however late it comes (a fresh record would send the write blindly again).
    """
    if current is None or (current.expires_at <= now and forgettable(current, now)):
        return "new"
    if current.fingerprint != fingerprint:
        return Mismatch(current)
    if current.state == "done":
        return Finished(current)
    if current.owner is not None and current.lease_expires_at > now:
        return Busy(current, retry_after=current.lease_expires_at - now)
    return "take_over"


def taken_over(
    current: IdempotencyRecord, owner: str, *, now: float, lease_s: float, ttl_s: float
) -> IdempotencyRecord:
    """``current`` held by ``owner`` now, and kept at least the key's time to live from now
    (a write taken over after its record expired is as recent as this attempt)."""
    return replace(
        current,
        owner=owner,
        lease_expires_at=float(now + lease_s),
        expires_at=max(current.expires_at, float(now + ttl_s)),
    )


def forgettable(record: IdempotencyRecord, now: float) -> bool:
    """Whether ``record``, expired, is as good as absent. Its write is done (its kept answer is
    what expires); or nothing can be learned of it: it never reached the provider ("claimed"),
    or it is an idempotent write that a retry simply sends again ("resent"), and no live
    attempt holds it; or it has been unsettled for ``UNSETTLED_KEEP_S`` past its expiry (no
    one came back for it). Any other unsettled record still names its write: a retry with its
    key finds out what it did first. The reaper deletes the forgettable only (``REAPABLE``)."""
    if record.state == "done" or record.expires_at <= now - UNSETTLED_KEEP_S:
        return True
    held = record.owner is not None and record.lease_expires_at > now
    return record.recovery_point in ("claimed", "resent") and not held


# How long past its expiry a record whose write may have reached the provider, and never
# settled, is kept for a retry to find out what it did: then it is forgotten like the rest.
UNSETTLED_KEEP_S = 30 * 86_400.0

# ``forgettable`` in SQL, for the reaper and a claim (``expires_at`` past too): ``{now}`` and
# ``{long_ago}`` (now − ``UNSETTLED_KEEP_S``) are its parameters.
REAPABLE = " ".join(
    (
        "(state = 'done' OR expires_at <= {long_ago}",
        "OR (recovery_point IN ('claimed', 'resent')",
        "AND (owner IS NULL OR lease_expires_at <= {now})))",
    )
)


def crosswalk_from_row(row: Row) -> CrosswalkEntry:
    return CrosswalkEntry(
        source_connection=row["source_connection"],
        source_id=row["source_id"],
        target_connection=row["target_connection"],
        target_id=row["target_id"],
        fingerprint=row["fingerprint"],
        state=row["state"],
        detail=load_json(row["detail"]),
        updated_at=float(row["updated_at"]),
        run=row["run"],
    )


def crosswalk_params(entry: CrosswalkEntry) -> tuple[Any, ...]:
    """The entry's values in ``CROSSWALK_COLUMNS`` order."""
    return (
        entry.source_connection,
        entry.source_id,
        entry.target_connection,
        entry.target_id,
        entry.fingerprint,
        entry.state,
        dump_json(entry.detail),
        float(entry.updated_at),
        entry.run,
    )


def chunk_from_row(row: Row) -> Chunk:
    return Chunk(
        run=row["run"],
        seq=int(row["seq"]),
        token=row["token"],
        state=row["state"],
        owner=row["owner"],
        lease_expires_at=float(row["lease_expires_at"]),
    )


@dataclass(frozen=True)
class Bucket:
    """A token bucket as stored: its tokens at ``updated_at`` (the latest time it was used)."""

    tokens: float
    updated_at: float


def take(current: Bucket | None, rate: float, burst: float, now: float) -> tuple[Bucket, float]:
    """One take from ``current`` (None: a new bucket, which starts full) at ``now``: the bucket
    to store, and the answer of ``Store.take_token`` (0: a token was taken; otherwise the
    seconds, on the caller's clock, until one will be there).

    Refills by the time elapsed since ``updated_at`` × ``rate``, at most ``burst``. Processes'
    clocks differ a little: a ``now`` behind ``updated_at`` refills nothing and leaves
    ``updated_at`` where it is (time never runs backwards for the bucket, so no token is
    created twice), and its wait includes how far behind it is.
    """
    if not rate > 0 or not burst >= 1:  # also refuses NaN
        raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, not {rate}, {burst}")
    if current is None:
        tokens, updated_at = float(burst), float(now)
    else:
        elapsed = max(0.0, now - current.updated_at)
        tokens = min(float(burst), current.tokens + elapsed * rate)
        updated_at = max(current.updated_at, float(now))
    if tokens >= 1:
        return Bucket(tokens - 1, updated_at), 0.0
    return Bucket(tokens, updated_at), (1 - tokens) / rate + (updated_at - now)
