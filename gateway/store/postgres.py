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

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import structlog

from gateway.store import migrations
from gateway.store.base import (
    Chunk,
    Claim,
    Claimed,
    CrosswalkEntry,
    IdempotencyRecord,
    KeyScope,
    Store,
    StoreError,
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
)
from gateway.store.urls import PostgresTarget

POOL_MIN = 1
POOL_MAX = 10
CONNECT_TIMEOUT_S = 10.0
# A statement the server has not answered in this long fails (StoreError) rather than holding
# its request until the server comes back; the schema's migrations, which may wait for another
# instance's, get MIGRATION_TIMEOUT_S.
STATEMENT_TIMEOUT_S = 10.0
MIGRATION_TIMEOUT_S = 3600.0
_log = structlog.get_logger("gateway.store")
# A claim re-reads when a compare-and-set loses (the record changed under it); each loss means
# another claim won, so a few rounds always settle it.
CLAIM_ROUNDS = 8
# The tables a keyed write writes to (``ping`` takes their lock as a write does).
_KEYED_WRITES = ("idempotency_keys", "write_locks")
_KEY = "client = $1 AND connection = $2 AND operation = $3 AND key = $4"
_HELD = f"{_KEY} AND owner = $5 AND state = 'in_progress'"
_CHUNK_HELD = "run = $1 AND seq = $2 AND owner = $3 AND state = 'claimed'"
# What the driver raises when the server is unreachable or refuses a statement, or when a
# connection the server cut leaves the driver's protocol in a state it cannot go on from
# (InternalClientError: "cannot switch to state 11; another operation is in progress").
_DRIVER_ERRORS = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
# What leaves a connection not to be used again: no answer in time (TimeoutError is an
# OSError), the connection lost or its protocol astray, a reply that could not be read.
_BROKEN = (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError, UnicodeError)


class PostgresStore(Store):
    url_scheme = "postgresql"

    def __init__(self, target: PostgresTarget) -> None:
        self._target = target
        self._name = f"PostgreSQL store at {target.where}" + (
            f" (schema {target.schema})" if target.schema else ""
        )
        self._pool: Any = None  # asyncpg.Pool, once open
        self._remaking = asyncio.Lock()

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        if self._pool is not None:
            return
        schema = self._target.schema
        settings = {"search_path": f'"{schema}"'} if schema else None
        try:
            pool = await asyncpg.create_pool(
                self._target.dsn,
                min_size=POOL_MIN,
                max_size=self._target.pool_max or POOL_MAX,
                timeout=CONNECT_TIMEOUT_S,
                command_timeout=STATEMENT_TIMEOUT_S,
                server_settings=settings,
            )
        except (*_DRIVER_ERRORS, ValueError) as e:
            raise StoreError(f"{self._name}: cannot connect: {self._scrub(e)}") from None
        self._pool = pool
        try:
            await self._migrate()
        except BaseException:
            self._pool = None
            await pool.close()
            raise

    async def _migrate(self, *, at_once: bool = False) -> None:
        """Create the schema if named, then apply each pending migration in its own
        transaction under an advisory lock, so that instances starting together take turns
        and the later ones find the work done. ``at_once``: every step in one transaction
        (tables made again under a running gateway: its other statements must not find them
        half made, say without a column a later step adds, and write into them)."""
        lock = _lock_id(f"invoice-gateway migrations {self._target.schema or ''}")
        async with self._connection(bounded=False) as con:
            if self._target.schema:
                async with con.transaction():
                    await con.execute(
                        "SELECT pg_advisory_xact_lock($1)", lock, timeout=MIGRATION_TIMEOUT_S
                    )
                    await con.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._target.schema}"')
            while True:
                async with con.transaction():
                    await con.execute(
                        "SELECT pg_advisory_xact_lock($1)", lock, timeout=MIGRATION_TIMEOUT_S
                    )
                    applied = await self._applied(con)
                    todo = migrations.pending(applied, self._name)
                    if not todo:
                        await self._whole(con, applied)
                        return
                    for step in todo if at_once else todo[:1]:
                        for statement in step.postgresql:
                            await con.execute(statement, timeout=MIGRATION_TIMEOUT_S)
                        await con.execute(
                            "INSERT INTO schema_migrations (version, name, applied_at) "
                            "VALUES ($1, $2, extract(epoch FROM clock_timestamp()))",
                            step.version,
                            step.name,
                        )

    async def _whole(self, con: Any, applied: list[int]) -> None:
        """StoreError when a table the schema made is gone (``migrations.damaged``): looked up
        as the store's statements name them (its schema, else the search path)."""
        rows = await con.fetch(
            "SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(name) IS NOT NULL",
            sorted(migrations.made_tables(applied)),
        )
        missing = migrations.missing_tables(applied, [row["name"] for row in rows])
        if missing:
            raise migrations.damaged(self._name, missing)

    @staticmethod
    async def _applied(con: Any) -> list[int]:
        if await con.fetchval("SELECT to_regclass('schema_migrations')") is None:
            return []
        return [int(v) for (v,) in await con.fetch("SELECT version FROM schema_migrations")]

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def ping(self) -> dict[str, Any]:
        """The store as a keyed write finds it: its tables there, the database writable, and
        the tables a keyed write writes to locked as a write locks them, within the time a
        write has (a read alone went through another session's lock on them, and answered
        ready while every keyed write waited 10 s for its 503)."""
        async with self._connection() as con, con.transaction():
            # Read without looking for the table first: one that is gone is found here, and
            # made again (``_connection``).
            rows = await con.fetch("SELECT version FROM schema_migrations")
            applied = [int(version) for (version,) in rows]
            await self._whole(con, applied)
            if await con.fetchval("SELECT current_setting('transaction_read_only')") == "on":
                raise StoreError(
                    f"{self._name} is read-only (a standby server, or "
                    "default_transaction_read_only set): no keyed write can be kept"
                )
            written = [t for t in _KEYED_WRITES if t in migrations.made_tables(applied)]
            if written:
                await con.execute(f"LOCK TABLE {', '.join(written)} IN ROW EXCLUSIVE MODE")
        return {"backend": self.url_scheme, "schema_version": max(applied, default=0)}

    @asynccontextmanager
    async def _connection(self, *, bounded: bool = True) -> AsyncIterator[Any]:
        """A pooled connection; what the driver and the server fail with is a StoreError
        naming the store (a keyed write is then told to retry with its key, never a 500).

        ``bounded``: its use holds the request at most ``STATEMENT_TIMEOUT_S``, counted from
        when it asked for the connection, the wait for a free one included (not bounded: the
        schema's migrations, whose statements have their own timeout). Each statement's own
        timeout alone let a request queued behind ten others held by a lock wait 10 s for a
        connection, then 10 s more.

        A statement that ran out of time, or was given up (cancelled), or whose reply could
        not be read, leaves its connection waiting for the server: the pool would wait as long
        again for the cancel to be answered before taking it back, doubling the documented
        10 s. Such a connection (``_BROKEN``) is closed instead, and the pool opens another."""
        if self._pool is None:
            raise StoreError(f"{self._name} is not open")
        within = STATEMENT_TIMEOUT_S if bounded else None
        try:
            async with (
                asyncio.timeout(within),
                self._pool.acquire(timeout=CONNECT_TIMEOUT_S) as con,
            ):
                try:
                    yield con
                except (*_BROKEN, asyncio.CancelledError):
                    con.terminate()
                    raise
        except StoreError:
            raise
        except asyncpg.UndefinedTableError as e:
            # The tables are gone (the database or schema dropped and made again): they are
            # made again now, as at a start, so that the retry this failure asks for works.
            failed = await self._remade()
            raise StoreError(
                f"{self._name}: its tables were missing ({self._scrub(e)}; the database or "
                "schema was emptied or made again); "
                + ("they have been made again" if failed is None else failed)
            ) from e
        except _DRIVER_ERRORS as e:
            raise StoreError(f"{self._name}: {self._scrub(e)}") from e
        except UnicodeError as e:
            # A reply the driver could not read: a byte changed on the way reads as text that
            # is not UTF-8.
            raise StoreError(f"{self._name}: its answer could not be read ({e})") from e

    async def _remade(self) -> str | None:
        """The schema migrated again, once however many requests found the tables gone; what
        stopped it (logged), if anything: some tables dropped by hand, which no migration makes
        again, are said as such (``migrations.damaged``)."""
        async with self._remaking:
            try:
                await self._migrate(at_once=True)
            except StoreError as e:
                _log.error("store_remake_failed", store=self._name, error=str(e))
                return f"making them again failed: {e}"
        return None

    def _scrub(self, error: BaseException) -> str:
        """The driver's message, with the URL's password cut out should it ever appear; for a
        timeout (whose message is empty), what timed out."""
        if isinstance(error, TimeoutError) and not str(error):
            return (
                f"no answer within {CONNECT_TIMEOUT_S:g} s (the server is down, unreachable, "
                "or busy: held by a lock, or out of connections)"
            )
        text = str(error) or type(error).__name__
        password = self._target.password
        return text.replace(password, "***") if password else text

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

    async def _change(self, sql: str, *params: Any) -> int:
        """Run one conditional write; the number of rows it changed."""
        async with self._connection() as con:
            status = await con.execute(sql, *params)
        return int(status.rsplit(" ", 1)[-1])  # "UPDATE 1", "DELETE 3", "INSERT 0 1"

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


def _lock_id(name: str) -> int:
    """A stable signed 64-bit advisory lock id for ``name`` (Python's hash() is salted)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
