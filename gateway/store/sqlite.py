"""The SQLite store: one file shared by the gateway's worker processes on one host.

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

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
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
    taken_over,
)
from gateway.store.sqlite_now import Now
from gateway.store.urls import MEMORY

BUSY_TIMEOUT_MS = 5000
# Queued this long or less behind the store's other statements, a statement keeps the whole
# wait (no trip to set a shorter one).
_PATIENCE_SLACK_MS = 50
# Times a token bucket is read and compared-and-set before a take holds the lock instead.
BUCKET_TRIES = 8
_log = structlog.get_logger("gateway.store")
_KEY = "client = ? AND connection = ? AND operation = ? AND key = ?"
_HELD = f"{_KEY} AND owner = ? AND state = 'in_progress'"
_RECORD = f"SELECT {RECORD_COLUMNS} FROM idempotency_keys WHERE {_KEY}"
_CHUNK_HELD = "run = ? AND seq = ? AND owner = ? AND state = 'claimed'"
_BUCKET = "SELECT tokens, updated_at FROM rate_buckets WHERE name = ?"


class SqliteStore(Store):
    url_scheme = "sqlite"

    def __init__(self, path: str) -> None:
        self._path = path
        self._name = f"SQLite store {path}"
        self._db: aiosqlite.Connection | None = None
        self._now: Now | None = None  # single statements that need no wait (sqlite_now.py)
        self._lock = asyncio.Lock()  # taken through ``_held`` only
        self._idle = asyncio.Event()  # set whenever ``_lock`` is free
        self._idle.set()
        self._file: tuple[int, int] | None = None  # the opened file's (device, inode)

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        if self._db is not None:
            return
        if self._path != MEMORY:
            self._create_private_file()
        try:
            db = await aiosqlite.connect(self._path, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"{self._name}: cannot open: {e}") from e
        db.row_factory = sqlite3.Row
        try:
            await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await _use_wal(db)
            await db.execute("PRAGMA synchronous = NORMAL")
            self._db = db
            await self._migrate()
            if self._path != MEMORY:  # another connection to ":memory:" is another database
                now = Now(self._path)
                now.open()
                self._now = now
                self._file = self._identity()
        except BaseException as e:
            self._db = None
            await db.close()
            if isinstance(e, sqlite3.Error):
                raise StoreError(f"{self._name}: cannot open: {e}") from e
            raise

    def _identity(self) -> tuple[int, int] | None:
        """The store's path's file as (device, inode); None when no file is there."""
        try:
            found = os.stat(self._path)
        except FileNotFoundError:
            return None
        return found.st_dev, found.st_ino

    def _still_there(self) -> None:
        """StoreError when the file opened is no longer the one at the store's path (deleted,
        or replaced by a copy): SQLite goes on writing to the file it opened, unseen by every
        other process and lost at the next start, where a key written now would be new again
        and its write made a second time."""
        if self._file is None or self._identity() == self._file:
            return
        raise StoreError(
            f"{self._name}: the file was deleted or replaced while the gateway ran; what was "
            "kept since is in the file it opened, which no other process sees: stop every "
            "process using the store and start them again"
        )

    def unusable(self) -> str | None:
        if self._path == MEMORY:
            return None
        path = Path(self._path).absolute()
        if path.is_dir():
            return (
                f"{self._name}: is a directory; name the store's file in it "
                "(sqlite:///var/lib/invoice-gateway/store.db, say)"
            )
        if path.exists() and not path.is_file():
            return f"{self._name}: is not a regular file; name the store's file"
        if not path.parent.is_dir():
            return (
                f"{self._name}: the directory {str(path.parent)!r} does not exist; create it "
                "first (the store creates its file, not directories)"
            )
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            return (
                f"{self._name}: the file cannot be read and written by this user (its mode or "
                "owner); give the gateway's user both"
            )
        if not os.access(path.parent, os.W_OK | os.X_OK):
            return (
                f"{self._name}: the directory {str(path.parent)!r} cannot be written by this "
                "user; SQLite keeps its -wal and -shm files beside the store, so the gateway's "
                "user must be able to create files there"
            )
        return None

    def _create_private_file(self) -> None:
        """Create the file readable by its owner only, before SQLite creates it with the
        umask's mode; SQLite gives the -wal and -shm files the same mode as the database."""
        problem = self.unusable()
        if problem is not None:
            raise StoreError(problem)
        path = Path(self._path)
        try:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as e:
            raise StoreError(f"{self._name}: cannot create the file: {e}") from e

    async def _migrate(self) -> None:
        """Apply what is pending, one migration per write transaction; the write lock makes
        concurrent openers (other processes) wait and then find the work done. With nothing
        pending (every start but the first of a version), no write lock is asked for: a start
        is not refused because another process is writing."""
        async with self._transaction(write=False) as db:
            applied = await self._applied(db)
            if not migrations.pending(applied, self._name):
                await self._whole(db, applied)
                return
        while True:
            async with self._transaction() as db:
                applied = await self._applied(db)
                todo = migrations.pending(applied, self._name)
                if not todo:
                    return
                step = todo[0]
                for statement in step.sqlite:
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (step.version, step.name, time.time()),
                )

    @staticmethod
    async def _applied(db: aiosqlite.Connection) -> list[int]:
        found = await db.execute_fetchall(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        )
        if not list(found):
            return []
        rows = await db.execute_fetchall("SELECT version FROM schema_migrations")
        return [int(row["version"]) for row in rows]

    async def close(self) -> None:
        db, self._db = self._db, None
        now, self._now = self._now, None
        if db is not None:
            async with self._held():
                if now is not None:
                    now.close()
                await db.close()

    async def ping(self) -> dict[str, Any]:
        """The store as a keyed write finds it: its file the one opened, its tables there, and
        its write lock taken within the wait a write has (a read alone went through a lock
        held elsewhere, and answered ready while every keyed write was a 503)."""
        self._still_there()
        async with self._transaction() as db:
            # Read without looking for the table first: one that is gone is a StoreError.
            rows = await db.execute_fetchall("SELECT version FROM schema_migrations")
            applied = [int(row["version"]) for row in rows]
            await self._whole(db, applied)
        return {"backend": self.url_scheme, "schema_version": max(applied, default=0)}

    async def _whole(self, db: aiosqlite.Connection, applied: list[int]) -> None:
        """StoreError when a table the ``applied`` migrations made is gone
        (``migrations.damaged``)."""
        rows = await db.execute_fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        missing = migrations.missing_tables(applied, [row["name"] for row in rows])
        if missing:
            raise migrations.damaged(self._name, missing)

    @asynccontextmanager
    async def _held(self) -> AsyncIterator[None]:
        """``_lock``, held; ``_idle`` is clear while it is (single statements wait on it)."""
        async with self._lock:
            self._idle.clear()
            try:
                yield
            finally:
                self._idle.set()

    @asynccontextmanager
    async def _transaction(
        self, *, write: bool = True, deadline: float | None = None
    ) -> AsyncIterator[aiosqlite.Connection]:
        """The connection, alone, in a write transaction (or, ``write=False``, in autocommit
        for single reads); committed on success, rolled back on any exception, cancellation
        included. SQLite errors become StoreError.

        The wait for another process's lock is the caller's, from when it asked
        (``deadline``, by default now): its 5 s (``BUSY_TIMEOUT_MS``) count the time spent
        queued behind this store's other statements, each of which may have waited for that
        lock too. Without that, the k-th of k requests queued behind a lock held elsewhere
        waited k × 5 s."""
        db = self._db
        if db is None:
            raise StoreError(f"{self._name} is not open")
        if deadline is None:
            deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        async with self._held():
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                raise StoreError(
                    f"{self._name}: database is locked (another process has held the file's "
                    f"lock for {BUSY_TIMEOUT_MS / 1000:g} s)"
                )
            shortened = left_ms < BUSY_TIMEOUT_MS - _PATIENCE_SLACK_MS
            try:
                if shortened:
                    await db.execute(f"PRAGMA busy_timeout = {left_ms}")
                if write:
                    await db.execute("BEGIN IMMEDIATE")
                yield db
                if write:
                    await db.execute("COMMIT")
            except BaseException as e:
                if write:
                    await _roll_back(db)
                if isinstance(e, sqlite3.Error):
                    raise StoreError(f"{self._name}: {e}") from e
                raise
            finally:
                if shortened:
                    with contextlib.suppress(sqlite3.Error):
                        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

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

    async def _change(self, sql: str, params: tuple[Any, ...]) -> int:
        """Run one conditional write (``INSERT``, ``UPDATE`` or ``DELETE``); the number of rows
        it changed."""
        return await self._alone(f"{sql} RETURNING 1", params)

    async def _alone(self, sql: str, params: tuple[Any, ...]) -> int:
        """One write statement ending in ``RETURNING``, as its own transaction (autocommit: see
        the module's docstring); the number of rows it returned."""
        return len(await self._one(sql, params, write=True))

    async def _one(self, sql: str, params: tuple[Any, ...], *, write: bool = False) -> list[Any]:
        """One statement, alone (autocommit), and its rows: at once on the event loop's thread
        when it needs no wait for the file's lock, else on aiosqlite's thread, which waits.

        The statement does not take ``_lock``: it waits while something of aiosqlite's
        connection is under way (a transaction, a checkpoint: they hold the lock), then runs at
        once, synchronously, so nothing else runs meanwhile. Taking the lock in turn would make
        every statement that arrives while others wait for it queue behind them, one task per
        turn of the event loop, each turn long with 50 requests in flight; waiting on ``_idle``
        wakes all the waiting statements at once."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000  # the wait counts from here
        now = self._now
        while now is not None and self._lock.locked():
            await self._idle.wait()
            now = self._now
        if now is not None:
            try:
                rows = now.rows(sql, params, write=write)
            except sqlite3.Error as e:
                raise StoreError(f"{self._name}: {e}") from e
            if rows is not None:
                if now.checkpoint_due():
                    await self._checkpoint()
                return rows
        # Another process holds the file's lock (or there is no second connection: ":memory:").
        async with self._transaction(write=False, deadline=deadline) as db:
            return list(await db.execute_fetchall(sql, params))

    async def _checkpoint(self) -> None:
        """A passive checkpoint of the log on aiosqlite's thread, holding the lock (see
        ``sqlite_now``). It is upkeep after a statement that has landed: a failure is logged,
        not raised to that statement's caller, and the next checkpoint tries again."""
        try:
            async with self._transaction(write=False) as db:
                await db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except StoreError as exc:
            _log.warning("sqlite_checkpoint_failed", store=self._name, error=str(exc))

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


async def _roll_back(db: aiosqlite.Connection) -> None:
    """End whatever transaction is open. A cancelled call's statements still run on the
    connection's thread (BEGIN, COMMIT included); the thread runs them in order, so a ROLLBACK
    queued now comes after them: it ends their transaction, or finds none, which is fine."""
    with contextlib.suppress(sqlite3.OperationalError):  # no transaction was open
        await db.execute("ROLLBACK")


def _bucket(rows: list[Any]) -> Bucket | None:
    """The bucket ``_BUCKET`` read, or None where there is none yet."""
    return Bucket(float(rows[0][0]), float(rows[0][1])) if rows else None


async def _use_wal(db: aiosqlite.Connection) -> None:
    """Switch the file to WAL mode (it stays so). The switch needs the file to itself, and
    SQLite reports "database is locked" at once, without its busy handler, while another
    connection opens it at the same moment: so retry, within the same patience."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.01)
