"""The PostgreSQL store: shared by gateway instances on several hosts.

No claim of a key holds a lock across round trips. A claim first tries ``INSERT … ON CONFLICT DO
NOTHING``; when the key exists it reads the record, decides (``records.decide``), and applies
the decision with an ``UPDATE`` whose ``WHERE`` repeats the conditions it was decided on: a
compare-and-set. Of two racing takers, PostgreSQL makes the second wait for the first's row
lock and then re-checks the ``WHERE`` against the new row, which no longer matches; that taker
reads again and gets ``Busy``. Owner-only writes are single conditional statements.

A chunk claim is one statement: it locks the lowest free chunk with ``FOR UPDATE SKIP LOCKED``
(claimers racing for chunks take different ones rather than queue behind each other) and
updates it. A token take locks its bucket's row (``FOR UPDATE``) for one short transaction:
takers of one bucket queue, each seeing what the previous one left.

``?schema=NAME`` in the URL puts the store's tables in that schema (created if missing): every
pooled connection starts with it as its ``search_path``. Tests use it to isolate runs.
``?pool_max=N`` caps the connections of one store object (default 10): each gateway worker
process holds its own pool, and the server's ``max_connections`` is shared by all of them.
"""

from __future__ import annotations

from typing import Any

from gateway.store.base import (
    Chunk,
    Claim,
    Claimed,
    CrosswalkEntry,
    IdempotencyRecord,
    KeyScope,
    StoreError,
    Unfinished,
    made_elsewhere,
    unfinished_elsewhere,
)
from gateway.store.postgres_database import PostgresDatabase
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
)

# A claim re-reads when a compare-and-set loses (the record changed under it); each loss means
# another claim won, so a few rounds always settle it.
CLAIM_ROUNDS = 8
_KEY = "client = $1 AND connection = $2 AND operation = $3 AND key = $4"
_HELD = f"{_KEY} AND owner = $5 AND state = 'in_progress'"
_CHUNK_HELD = "run = $1 AND seq = $2 AND owner = $3 AND state = 'claimed'"


class PostgresStore(PostgresDatabase):
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
        fresh = new_record(
            scope, fingerprint, owner, now=now, lease_s=lease_s, ttl_s=ttl_s, sending=sending
        )
        key = scope_params(scope)
        async with self._connection() as con:
            for _ in range(CLAIM_ROUNDS):
                row = await con.fetchrow(
                    f"INSERT INTO idempotency_keys ({RECORD_COLUMNS}) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
                    f"ON CONFLICT DO NOTHING RETURNING {RECORD_COLUMNS}",
                    *record_params(fresh),
                )
                if row is not None:
                    return Claimed(record_from_row(row), taken_over=False)
                row = await con.fetchrow(
                    f"SELECT {RECORD_COLUMNS} FROM idempotency_keys WHERE {_KEY}", *key
                )
                if row is None:
                    continue  # released or reaped meanwhile: insert again
                current = record_from_row(row)
                decision = decide(current, fingerprint, now)
                if decision == "new":  # expired: replace it, unless another claim just did
                    row = await con.fetchrow(
                        "UPDATE idempotency_keys SET fingerprint = $5, state = 'in_progress', "
                        "recovery_point = $11, recovery = $6, outcome = NULL, made = NULL, "
                        "owner = $7, lease_expires_at = $8, created_at = $9, expires_at = $10 "
                        f"WHERE {_KEY} AND expires_at <= $9 AND "
                        f"{REAPABLE.format(now='$9', long_ago='$12')} "
                        f"RETURNING {RECORD_COLUMNS}",
                        *key,
                        fingerprint,
                        dump_json(fresh.recovery),
                        owner,
                        fresh.lease_expires_at,
                        fresh.created_at,
                        fresh.expires_at,
                        fresh.recovery_point,
                        fresh.created_at - UNSETTLED_KEEP_S,
                    )
                    if row is not None:
                        return Claimed(record_from_row(row), taken_over=False)
                elif decision == "take_over":  # unless another taker got there first
                    # An expired record is taken over too when its write may have reached
                    # the provider (``decide``); the taker keeps it a time to live from now.
                    row = await con.fetchrow(
                        "UPDATE idempotency_keys SET owner = $5, lease_expires_at = $6, "
                        "expires_at = GREATEST(expires_at, $9) "
                        f"WHERE {_KEY} AND state = 'in_progress' AND fingerprint = $7 "
                        "AND (owner IS NULL OR lease_expires_at <= $8) "
                        f"RETURNING {RECORD_COLUMNS}",
                        *key,
                        owner,
                        fresh.lease_expires_at,
                        fingerprint,
                        float(now),
                        fresh.expires_at,
                    )
                    if row is not None:
                        return Claimed(record_from_row(row), taken_over=True)
                else:
                    return decision
        raise StoreError(f"{self._name}: a claim of {scope} kept losing races; try again")

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
            "UPDATE idempotency_keys SET recovery_point = $6, recovery = $7, "
            f"lease_expires_at = $8 WHERE {_HELD}",
            *scope_params(scope),
            owner,
            recovery_point,
            dump_json(recovery),
            float(now + lease_s),
        )
        return changed == 1

    async def renew(self, scope: KeyScope, owner: str, *, now: float, lease_s: float) -> bool:
        changed = await self._change(
            f"UPDATE idempotency_keys SET lease_expires_at = $6 WHERE {_HELD}",
            *scope_params(scope),
            owner,
            float(now + lease_s),
        )
        return changed == 1

    async def finish(
        self, scope: KeyScope, owner: str, outcome: dict[str, Any], *, made: str | None = None
    ) -> bool:
        changed = await self._change(
            "UPDATE idempotency_keys SET state = 'done', recovery_point = 'done', outcome = $6, "
            f"made = $7, owner = NULL WHERE {_HELD}",
            *scope_params(scope),
            owner,
            dump_json(outcome),
            made,
        )
        return changed == 1

    async def made_by_another(
        self, connection: str, invoice_id: str, scope: KeyScope | None
    ) -> bool:
        async with self._connection() as con:
            rows = await con.fetch(
                "SELECT client, operation, key FROM idempotency_keys "
                "WHERE connection = $1 AND made = $2",
                connection,
                invoice_id,
            )
        return made_elsewhere(list(rows), scope)

    async def alike_unfinished(
        self, scope: KeyScope, fingerprint: str, *, now: float
    ) -> Unfinished | None:
        async with self._connection() as con:
            rows = await con.fetch(
                "SELECT client, operation, key, owner, lease_expires_at FROM idempotency_keys "
                "WHERE connection = $1 AND fingerprint = $2 AND state = 'in_progress'",
                scope.connection,
                fingerprint,
            )
        return unfinished_elsewhere(list(rows), scope, now)

    async def park(self, scope: KeyScope, owner: str, recovery_point: str) -> bool:
        changed = await self._change(
            "UPDATE idempotency_keys SET owner = NULL, recovery_point = $6, "
            f"lease_expires_at = $7 WHERE {_HELD}",
            *scope_params(scope),
            owner,
            recovery_point,
            PARKED_LEASE,
        )
        return changed == 1

    async def release(self, scope: KeyScope, owner: str) -> bool:
        changed = await self._change(
            f"DELETE FROM idempotency_keys WHERE {_HELD}", *scope_params(scope), owner
        )
        return changed == 1

    async def get(self, scope: KeyScope) -> IdempotencyRecord | None:
        async with self._connection() as con:
            row = await con.fetchrow(
                f"SELECT {RECORD_COLUMNS} FROM idempotency_keys WHERE {_KEY}",
                *scope_params(scope),
            )
        return None if row is None else record_from_row(row)

    async def reap(self, now: float, *, lock_grace_s: float = 0.0) -> int:
        await self._change("DELETE FROM write_locks WHERE expires_at <= $1", now - lock_grace_s)
        return await self._change(
            "DELETE FROM idempotency_keys WHERE expires_at <= $1 AND "
            + REAPABLE.format(now="$1", long_ago="$2"),
            now,
            now - UNSETTLED_KEEP_S,
        )

    # -- write locks ---------------------------------------------------------------------------

    async def take_lock(
        self, name: str, owner: str, *, now: float, lease_s: float, grace_s: float = 0.0
    ) -> bool:
        return bool(
            await self._change(
                "INSERT INTO write_locks (name, owner, expires_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                "expires_at = excluded.expires_at "
                "WHERE write_locks.owner = excluded.owner OR write_locks.expires_at <= $4",
                name,
                owner,
                now + lease_s,
                now - grace_s,
            )
        )

    async def renew_lock(self, name: str, owner: str, *, now: float, lease_s: float) -> bool:
        return bool(
            await self._change(
                "UPDATE write_locks SET expires_at = $1 WHERE name = $2 AND owner = $3",
                now + lease_s,
                name,
                owner,
            )
        )

    async def release_lock(self, name: str, owner: str) -> None:
        await self._change("DELETE FROM write_locks WHERE name = $1 AND owner = $2", name, owner)

    # -- the migration crosswalk ---------------------------------------------------------------

    async def crosswalk_get(
        self, source_connection: str, source_id: str, target_connection: str
    ) -> CrosswalkEntry | None:
        async with self._connection() as con:
            row = await con.fetchrow(
                f"SELECT {CROSSWALK_COLUMNS} FROM crosswalk WHERE source_connection = $1 "
                "AND source_id = $2 AND target_connection = $3",
                source_connection,
                source_id,
                target_connection,
            )
        return None if row is None else crosswalk_from_row(row)

    async def crosswalk_put(self, entry: CrosswalkEntry) -> None:
        # The row another copy (or a row naming none yet) replaces is kept, in the same
        # statement (migration 5: ``crosswalk_copies_as`` still finds that copy).
        await self._change(
            f"WITH kept AS (INSERT INTO crosswalk_replaced ({CROSSWALK_COLUMNS}) "
            f"SELECT {CROSSWALK_COLUMNS} FROM crosswalk WHERE source_connection = $1 "
            "AND source_id = $2 AND target_connection = $3 AND target_id IS NOT NULL "
            "AND target_id IS DISTINCT FROM $4 ON CONFLICT DO NOTHING) "
            f"INSERT INTO crosswalk ({CROSSWALK_COLUMNS}) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "ON CONFLICT (source_connection, source_id, target_connection) DO UPDATE SET "
            "target_id = EXCLUDED.target_id, fingerprint = EXCLUDED.fingerprint, "
            "state = EXCLUDED.state, detail = EXCLUDED.detail, updated_at = EXCLUDED.updated_at, "
            "run = EXCLUDED.run",
            *crosswalk_params(entry),
        )

    async def crosswalk_list(
        self,
        source_connection: str,
        target_connection: str,
        *,
        after_source_id: str | None = None,
        limit: int = 500,
    ) -> list[CrosswalkEntry]:
        return await self._crosswalk_where(
            "source_connection = $1 AND target_connection = $2 "
            "AND ($3::text IS NULL OR source_id > $3) ORDER BY source_id LIMIT $4",
            source_connection,
            target_connection,
            after_source_id,
            limit,
        )

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
        copy of the same source replaced (``crosswalk_replaced``), ordered by the ``other``
        (by code point, as SQLite orders)."""
        where = f"WHERE {side}_connection = $1 AND {side}_id = $2"
        async with self._connection() as con:
            rows = await con.fetch(
                f"SELECT {CROSSWALK_COLUMNS} FROM (SELECT {CROSSWALK_COLUMNS} FROM crosswalk "
                f"{where} UNION SELECT {CROSSWALK_COLUMNS} FROM crosswalk_replaced {where}) "
                f'AS copies ORDER BY {other}_connection COLLATE "C", {other}_id COLLATE "C"',
                connection,
                invoice_id,
            )
        return [crosswalk_from_row(row) for row in rows]

    async def _crosswalk_where(self, where: str, *args: Any) -> list[CrosswalkEntry]:
        async with self._connection() as con:
            sql = f"SELECT {CROSSWALK_COLUMNS} FROM crosswalk WHERE {where}"
            rows = await con.fetch(sql, *args)
        return [crosswalk_from_row(row) for row in rows]

    async def crosswalk_by_run(
        self, run: str, *, after: tuple[str, str] | None = None, limit: int = 500
    ) -> list[CrosswalkEntry]:
        # Connections compare by code point, as source ids do (and SQLite): the index
        # crosswalk_run has the same collation, so it serves both the order and the paging.
        connection = 'source_connection COLLATE "C"'
        async with self._connection() as con:
            if after is None:
                rows = await con.fetch(
                    f"SELECT {CROSSWALK_COLUMNS} FROM crosswalk WHERE run = $1 "
                    f"ORDER BY {connection}, source_id, target_connection LIMIT $2",
                    run,
                    limit,
                )
            else:
                rows = await con.fetch(
                    f"SELECT {CROSSWALK_COLUMNS} FROM crosswalk WHERE run = $1 "
                    f"AND ({connection}, source_id) > ($2, $3) "
                    f"ORDER BY {connection}, source_id, target_connection LIMIT $4",
                    run,
                    *after,
                    limit,
                )
        return [crosswalk_from_row(row) for row in rows]

    # -- migration chunks ----------------------------------------------------------------------

    async def chunk_add(self, run: str, seq: int, token: str | None) -> bool:
        changed = await self._change(
            f"INSERT INTO migration_chunks ({CHUNK_COLUMNS}) "
            "VALUES ($1, $2, $3, 'pending', NULL, $4) ON CONFLICT DO NOTHING",
            run,
            seq,
            token,
            NO_LEASE,
        )
        return changed == 1

    async def chunk_claim(
        self, run: str, owner: str, *, now: float, lease_s: float
    ) -> Chunk | None:
        # One statement, so one transaction: the row locked by the SELECT is the row updated.
        # A chunk another claim has locked is skipped; one it has just claimed and committed is
        # re-checked against the WHERE by the lock, no longer matches, and is skipped too.
        async with self._connection() as con:
            row = await con.fetchrow(
                "WITH free AS ("
                "SELECT run, seq FROM migration_chunks WHERE run = $1 AND state <> 'done' "
                "AND (state = 'pending' OR lease_expires_at <= $2) "
                "ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) "
                "UPDATE migration_chunks AS c SET state = 'claimed', owner = $3, "
                "lease_expires_at = $4 FROM free WHERE c.run = free.run AND c.seq = free.seq "
                "RETURNING c.run, c.seq, c.token, c.state, c.owner, c.lease_expires_at",
                run,
                float(now),
                owner,
                float(now + lease_s),
            )
        return None if row is None else chunk_from_row(row)

    async def chunk_renew(
        self, run: str, seq: int, owner: str, *, now: float, lease_s: float
    ) -> bool:
        changed = await self._change(
            f"UPDATE migration_chunks SET lease_expires_at = $4 WHERE {_CHUNK_HELD}",
            run,
            seq,
            owner,
            float(now + lease_s),
        )
        return changed == 1

    async def chunk_done(self, run: str, seq: int, owner: str) -> bool:
        changed = await self._change(
            f"UPDATE migration_chunks SET state = 'done' WHERE {_CHUNK_HELD}", run, seq, owner
        )
        return changed == 1

    async def chunk_counts(self, run: str) -> dict[str, int]:
        async with self._connection() as con:
            rows = await con.fetch(
                "SELECT state, count(*) AS n FROM migration_chunks WHERE run = $1 GROUP BY state",
                run,
            )
        return {row["state"]: int(row["n"]) for row in rows}

    # -- rate limits ---------------------------------------------------------------------------

    async def take_token(self, bucket: str, rate: float, burst: float, *, now: float) -> float:
        async with self._connection() as con, con.transaction():
            # A new bucket: insert it full (other takers of it wait for this transaction).
            await con.execute(
                "INSERT INTO rate_buckets (name, tokens, updated_at) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                bucket,
                float(burst),
                float(now),
            )
            row = await con.fetchrow(
                "SELECT tokens, updated_at FROM rate_buckets WHERE name = $1 FOR UPDATE", bucket
            )
            after, wait = take(Bucket(row["tokens"], row["updated_at"]), rate, burst, now)
            await con.execute(
                "UPDATE rate_buckets SET tokens = $2, updated_at = $3 WHERE name = $1",
                bucket,
                after.tokens,
                after.updated_at,
            )
        return wait

    async def forget_buckets(self, prefix: str, idle_before: float) -> int:
        return await self._change(
            "DELETE FROM rate_buckets WHERE left(name, length($1)) = $1 AND updated_at < $2",
            prefix,
            idle_before,
        )

    # -- migration checkpoints -----------------------------------------------------------------

    async def checkpoint_get(self, name: str) -> dict[str, Any] | None:
        async with self._connection() as con:
            data = await con.fetchval(
                "SELECT data FROM migration_checkpoints WHERE name = $1", name
            )
        return None if data is None else load_json(data)

    async def checkpoint_put(self, name: str, data: dict[str, Any], *, now: float) -> None:
        await self._change(
            "INSERT INTO migration_checkpoints (name, data, updated_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data, "
            "updated_at = EXCLUDED.updated_at",
            name,
            dump_json(data),
            float(now),
        )
