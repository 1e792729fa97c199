"""The SQLite store: one file shared by the gateway's worker processes on one host (the file, its
connection and transactions: ``gateway/store/sqlite_database.py``).

Every call that reads then writes runs in a ``BEGIN IMMEDIATE`` transaction, which takes the
file's write lock at once: of several processes claiming one key, one at a time reads and
writes, so exactly one wins. WAL mode lets readers go on meanwhile, and ``busy_timeout`` makes
a writer wait for the lock instead of failing. One connection serves one store object; an
``asyncio.Lock`` keeps the asyncio tasks sharing it from running statements inside each other's
transactions (sqlite3 has one transaction per connection, whoever issued its BEGIN).

A write that is one statement (most of them: a conditional ``UPDATE``, a crosswalk row) runs
alone, in autocommit: SQLite makes a single statement its own transaction, atomic and under the
same write lock and ``busy_timeout``, so it needs no ``BEGIN``/``COMMIT`` around it; with
``RETURNING`` its changed rows come back in the same call (one trip to aiosqlite's thread
instead of three or four). A claim first tries to insert a fresh record that way (the common
case: a key not seen before) and only when the key exists reads and decides in a transaction.

Such single statements, reads included, run on the event loop's own thread when the file's lock
is free (``sqlite_now.Now``, a second connection with no busy handler), and go to aiosqlite's
thread, which waits for the lock, only when another process holds it.
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from gateway.store.base import (
    Chunk,
    Claim,
    Claimed,
    CrosswalkEntry,
    IdempotencyRecord,
    KeyScope,
    Unfinished,
    made_elsewhere,
    unfinished_elsewhere,
)
from gateway.store.records import (
    CHUNK_COLUMNS,
    CROSSWALK_COLUMNS,
    NO_LEASE,
    PARKED_LEASE,
    REAPABLE,
    RECORD_COLUMNS,
    UNSETTLED_KEEP_S,
    Bucket,
    chunk_from_row,
    crosswalk_from_row,
    crosswalk_params,
    decide,
    dump_json,
    load_json,
    new_record,
    record_from_row,
    record_params,
    scope_params,
    take,
    taken_over,
)
from gateway.store.sqlite_database import SqliteDatabase

# Times a token bucket is read and compared-and-set before a take holds the lock instead.
BUCKET_TRIES = 8
_KEY = "client = ? AND connection = ? AND operation = ? AND key = ?"
_HELD = f"{_KEY} AND owner = ? AND state = 'in_progress'"
_RECORD = f"SELECT {RECORD_COLUMNS} FROM idempotency_keys WHERE {_KEY}"
_CHUNK_HELD = "run = ? AND seq = ? AND owner = ? AND state = 'claimed'"
_BUCKET = "SELECT tokens, updated_at FROM rate_buckets WHERE name = ?"


class SqliteStore(SqliteDatabase):
    """The store's records: idempotency keys, invoice write locks, the migration crosswalk,
    chunks and checkpoints, and the shared rate limits' buckets."""

    # -- idempotency keys ----------------------------------------------------------------------

    async def claim(
        self,
        scope: KeyScope,
        fingerprint: str,
        owner: str,
        *,
        now: float,
        lease_s: float,
        ttl_s: float,
        sending: dict[str, Any] | None = None,
    ) -> Claim:
        self._still_there()
        fresh = new_record(
            scope, fingerprint, owner, now=now, lease_s=lease_s, ttl_s=ttl_s, sending=sending
        )
        # A key not seen before: one statement, which exactly one of several claimers wins.
        inserted = await self._alone(
            f"INSERT INTO idempotency_keys ({RECORD_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1",
            record_params(fresh),
        )
        if inserted:
            return Claimed(fresh, taken_over=False)
        # The key exists. Its record as it stands answers a replay, a mismatch or a request in
        # flight: one read, without the file's lock. Only a claim that writes (the record
        # expired, or its owner's lease lapsed) reads it again, holding the lock.
        rows = await self._one(_RECORD, scope_params(scope))
        seen = decide(record_from_row(rows[0]) if rows else None, fingerprint, now)
        if not isinstance(seen, str):
            return seen
        async with self._transaction() as db:
            current = await self._read(db, scope)
            decision = decide(current, fingerprint, now)
            if decision == "new":
                record = fresh
                await db.execute(
                    f"INSERT OR REPLACE INTO idempotency_keys ({RECORD_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    record_params(record),
                )
                return Claimed(record, taken_over=False)
            if decision == "take_over":
                assert current is not None  # "take_over" is only decided about a record
                record = taken_over(current, owner, now=now, lease_s=lease_s, ttl_s=ttl_s)
                await db.execute(
                    "UPDATE idempotency_keys SET owner = ?, lease_expires_at = ?, expires_at = ? "
                    f"WHERE {_KEY}",
                    (owner, record.lease_expires_at, record.expires_at, *scope_params(scope)),
                )
                return Claimed(record, taken_over=True)
            return decision

    @staticmethod
    async def _read(db: aiosqlite.Connection, scope: KeyScope) -> IdempotencyRecord | None:
        async with db.execute(_RECORD, scope_params(scope)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else record_from_row(row)

    async def save_progress(
        self,
        scope: KeyScope,
        owner: str,
        recovery_point: str,
        recovery: dict[str, Any],
        *,
        now: float,
        lease_s: float,
    ) -> bool:
        changed = await self._change(
            "UPDATE idempotency_keys SET recovery_point = ?, recovery = ?, lease_expires_at = ? "
            f"WHERE {_HELD}",
            (
                recovery_point,
                dump_json(recovery),
                float(now + lease_s),
                *scope_params(scope),
                owner,
            ),
        )
        return changed == 1

    async def renew(self, scope: KeyScope, owner: str, *, now: float, lease_s: float) -> bool:
        changed = await self._change(
            f"UPDATE idempotency_keys SET lease_expires_at = ? WHERE {_HELD}",
            (float(now + lease_s), *scope_params(scope), owner),
        )
        return changed == 1

    async def finish(
        self, scope: KeyScope, owner: str, outcome: dict[str, Any], *, made: str | None = None
    ) -> bool:
        changed = await self._change(
            "UPDATE idempotency_keys SET state = 'done', recovery_point = 'done', outcome = ?, "
            f"made = ?, owner = NULL WHERE {_HELD}",
            (dump_json(outcome), made, *scope_params(scope), owner),
        )
        return changed == 1

    async def made_by_another(
        self, connection: str, invoice_id: str, scope: KeyScope | None
    ) -> bool:
        rows = await self._one(
            "SELECT client, operation, key FROM idempotency_keys WHERE connection = ? AND made = ?",
            (connection, invoice_id),
        )
        return made_elsewhere(rows, scope)

    async def alike_unfinished(
        self, scope: KeyScope, fingerprint: str, *, now: float
    ) -> Unfinished | None:
        rows = await self._one(
            "SELECT client, operation, key, owner, lease_expires_at FROM idempotency_keys "
            "WHERE connection = ? AND fingerprint = ? AND state = 'in_progress'",
            (scope.connection, fingerprint),
        )
        return unfinished_elsewhere(rows, scope, now)

    async def park(self, scope: KeyScope, owner: str, recovery_point: str) -> bool:
        changed = await self._change(
            "UPDATE idempotency_keys SET owner = NULL, recovery_point = ?, lease_expires_at = ? "
            f"WHERE {_HELD}",
            (recovery_point, PARKED_LEASE, *scope_params(scope), owner),
        )
        return changed == 1

    async def release(self, scope: KeyScope, owner: str) -> bool:
        changed = await self._change(
            f"DELETE FROM idempotency_keys WHERE {_HELD}", (*scope_params(scope), owner)
        )
        return changed == 1

    async def get(self, scope: KeyScope) -> IdempotencyRecord | None:
        rows = await self._one(_RECORD, scope_params(scope))
        return record_from_row(rows[0]) if rows else None

    async def reap(self, now: float, *, lock_grace_s: float = 0.0) -> int:
        await self._change("DELETE FROM write_locks WHERE expires_at <= ?", (now - lock_grace_s,))
        forgettable = REAPABLE.format(now="?", long_ago="?")
        return await self._change(
            f"DELETE FROM idempotency_keys WHERE expires_at <= ? AND {forgettable}",
            (now, now - UNSETTLED_KEEP_S, now),
        )

    # -- write locks ---------------------------------------------------------------------------

    async def take_lock(
        self, name: str, owner: str, *, now: float, lease_s: float, grace_s: float = 0.0
    ) -> bool:
        return bool(
            await self._change(
                "INSERT INTO write_locks (name, owner, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                "expires_at = excluded.expires_at "
                "WHERE write_locks.owner = excluded.owner OR write_locks.expires_at <= ?",
                (name, owner, now + lease_s, now - grace_s),
            )
        )

    async def renew_lock(self, name: str, owner: str, *, now: float, lease_s: float) -> bool:
        return bool(
            await self._change(
                "UPDATE write_locks SET expires_at = ? WHERE name = ? AND owner = ?",
                (now + lease_s, name, owner),
            )
        )

    async def release_lock(self, name: str, owner: str) -> None:
        await self._change("DELETE FROM write_locks WHERE name = ? AND owner = ?", (name, owner))

    # -- the migration crosswalk ---------------------------------------------------------------

    async def crosswalk_get(
        self, source_connection: str, source_id: str, target_connection: str
    ) -> CrosswalkEntry | None:
        rows = await self._one(
            f"SELECT {CROSSWALK_COLUMNS} FROM crosswalk WHERE source_connection = ? "
            "AND source_id = ? AND target_connection = ?",
            (source_connection, source_id, target_connection),
        )
        return crosswalk_from_row(rows[0]) if rows else None

    async def crosswalk_put(self, entry: CrosswalkEntry) -> None:
        await self._change(
            f"INSERT OR REPLACE INTO crosswalk ({CROSSWALK_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            crosswalk_params(entry),
        )

    async def crosswalk_list(
        self,
        source_connection: str,
        target_connection: str,
        *,
        after_source_id: str | None = None,
        limit: int = 500,
    ) -> list[CrosswalkEntry]:
        rows = await self._one(
            f"SELECT {CROSSWALK_COLUMNS} FROM crosswalk "
            "WHERE source_connection = ? AND target_connection = ? "
            "AND (? IS NULL OR source_id > ?) ORDER BY source_id LIMIT ?",
            (source_connection, target_connection, after_source_id, after_source_id, limit),
        )
        return [crosswalk_from_row(row) for row in rows]

    async def crosswalk_copies_as(
        self, target_connection: str, target_id: str
    ) -> list[CrosswalkEntry]:
        return await self._with_replaced("target", "source", target_connection, target_id)

    async def crosswalk_copies_of(
        self, source_connection: str, source_id: str
    ) -> list[CrosswalkEntry]:
        return await self._with_replaced("source", "target", source_connection, source_id)

    async def _with_replaced(
        self, side: str, other: str, connection: str, invoice_id: str
    ) -> list[CrosswalkEntry]:
        """The rows whose ``side`` ("source" or "target") is that invoice, with those another
        copy of the same source replaced (``crosswalk_replaced``), ordered by the ``other``."""
        where = f"WHERE {side}_connection = ? AND {side}_id = ?"
        rows = await self._one(
            f"SELECT {CROSSWALK_COLUMNS} FROM crosswalk {where} "
            f"UNION SELECT {CROSSWALK_COLUMNS} FROM crosswalk_replaced {where} "
            f"ORDER BY {other}_connection, {other}_id",
            (connection, invoice_id, connection, invoice_id),
        )
        return [crosswalk_from_row(row) for row in rows]

    async def crosswalk_by_run(
        self, run: str, *, after: tuple[str, str] | None = None, limit: int = 500
    ) -> list[CrosswalkEntry]:
        # Text compares by code point (BINARY on UTF-8), as in PostgreSQL's "C" collation.
        sql = f"SELECT {CROSSWALK_COLUMNS} FROM crosswalk WHERE run = ? "
        params: tuple[Any, ...] = (run,)
        if after is not None:
            sql += "AND (source_connection, source_id) > (?, ?) "
            params += after
        sql += "ORDER BY source_connection, source_id, target_connection LIMIT ?"
        rows = await self._one(sql, (*params, limit))
        return [crosswalk_from_row(row) for row in rows]

    # -- migration chunks ----------------------------------------------------------------------

    async def chunk_add(self, run: str, seq: int, token: str | None) -> bool:
        changed = await self._change(
            f"INSERT OR IGNORE INTO migration_chunks ({CHUNK_COLUMNS}) "
            "VALUES (?, ?, ?, 'pending', NULL, ?)",
            (run, seq, token, NO_LEASE),
        )
        return changed == 1

    async def chunk_claim(
        self, run: str, owner: str, *, now: float, lease_s: float
    ) -> Chunk | None:
        # One statement: the choice of the chunk and its claim are one step for every process.
        rows = await self._one(
            "UPDATE migration_chunks SET state = 'claimed', owner = ?, lease_expires_at = ? "
            "WHERE run = ? AND seq = (SELECT seq FROM migration_chunks WHERE run = ? "
            "AND state <> 'done' AND (state = 'pending' OR lease_expires_at <= ?) "
            f"ORDER BY seq LIMIT 1) RETURNING {CHUNK_COLUMNS}",
            (owner, float(now + lease_s), run, run, float(now)),
            write=True,
        )
        return chunk_from_row(rows[0]) if rows else None

    async def chunk_renew(
        self, run: str, seq: int, owner: str, *, now: float, lease_s: float
    ) -> bool:
        changed = await self._change(
            f"UPDATE migration_chunks SET lease_expires_at = ? WHERE {_CHUNK_HELD}",
            (float(now + lease_s), run, seq, owner),
        )
        return changed == 1

    async def chunk_done(self, run: str, seq: int, owner: str) -> bool:
        changed = await self._change(
            f"UPDATE migration_chunks SET state = 'done' WHERE {_CHUNK_HELD}", (run, seq, owner)
        )
        return changed == 1

    async def chunk_counts(self, run: str) -> dict[str, int]:
        rows = await self._one(
            "SELECT state, count(*) AS n FROM migration_chunks WHERE run = ? GROUP BY state",
            (run,),
        )
        return {row["state"]: int(row["n"]) for row in rows}

    # -- rate limits ---------------------------------------------------------------------------

    async def take_token(self, bucket: str, rate: float, burst: float, *, now: float) -> float:
        """The bucket read, the take decided (``records.take``), and written only if the bucket
        is still as read: two single statements, without the file's lock between them (a
        migration's every provider call passes here). A bucket another taker changed meanwhile
        is read again; after ``BUCKET_TRIES`` such races, the take holds the lock."""
        for _ in range(BUCKET_TRIES):
            current = _bucket(await self._one(_BUCKET, (bucket,)))
            after, wait = take(current, rate, burst, now)
            if current is None:
                written = await self._alone(
                    "INSERT INTO rate_buckets (name, tokens, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT DO NOTHING RETURNING 1",
                    (bucket, after.tokens, after.updated_at),
                )
            else:
                written = await self._alone(
                    "UPDATE rate_buckets SET tokens = ?, updated_at = ? "
                    "WHERE name = ? AND tokens = ? AND updated_at = ? RETURNING 1",
                    (after.tokens, after.updated_at, bucket, current.tokens, current.updated_at),
                )
            if written:
                return wait
        async with self._transaction() as db:
            current = _bucket(list(await db.execute_fetchall(_BUCKET, (bucket,))))
            after, wait = take(current, rate, burst, now)
            await db.execute(
                "INSERT OR REPLACE INTO rate_buckets (name, tokens, updated_at) VALUES (?, ?, ?)",
                (bucket, after.tokens, after.updated_at),
            )
        return wait

    async def forget_buckets(self, prefix: str, idle_before: float) -> int:
        return await self._change(
            "DELETE FROM rate_buckets WHERE substr(name, 1, length(?)) = ? AND updated_at < ?",
            (prefix, prefix, idle_before),
        )

    # -- migration checkpoints -----------------------------------------------------------------

    async def checkpoint_get(self, name: str) -> dict[str, Any] | None:
        rows = await self._one("SELECT data FROM migration_checkpoints WHERE name = ?", (name,))
        return load_json(rows[0]["data"]) if rows else None

    async def checkpoint_put(self, name: str, data: dict[str, Any], *, now: float) -> None:
        await self._change(
            "INSERT OR REPLACE INTO migration_checkpoints (name, data, updated_at) "
            "VALUES (?, ?, ?)",
            (name, dump_json(data), float(now)),
        )


def _bucket(rows: list[Any]) -> Bucket | None:
    """The bucket ``_BUCKET`` read, or None where there is none yet."""
    return Bucket(float(rows[0][0]), float(rows[0][1])) if rows else None
