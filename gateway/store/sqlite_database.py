"""The SQLite file under the store: its one connection, its transactions and its failures.

``SqliteStore`` (``gateway/store/sqlite.py``) keeps the records in it; this opens the file
(private to its owner, in WAL mode, migrated), notices when the file was deleted or replaced
under a running gateway, and runs every statement within the wait a write has: ``BUSY_TIMEOUT_MS``
counted from when the request asked, however many of its requests wait together.

Every call that reads then writes runs in a ``BEGIN IMMEDIATE`` transaction (``_transaction``),
which takes the file's write lock at once. A write that is one statement runs alone, in
autocommit (``_one``): on the event loop's own thread when the file's lock is free
(``sqlite_now.Now``), on aiosqlite's thread, which waits for it, only when another process
holds it. See ``gateway/store/sqlite.py`` for why.
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
from gateway.store.base import Store, StoreError
from gateway.store.sqlite_now import Now
from gateway.store.urls import MEMORY

BUSY_TIMEOUT_MS = 5000
# Queued this long or less behind the store's other statements, a statement keeps the whole
# wait (no trip to set a shorter one).
_PATIENCE_SLACK_MS = 50
_log = structlog.get_logger("gateway.store")


class SqliteDatabase(Store):
    """The store's file and connection; ``SqliteStore`` is the store."""

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

    # -- statements ----------------------------------------------------------------------------

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


async def _roll_back(db: aiosqlite.Connection) -> None:
    """End whatever transaction is open. A cancelled call's statements still run on the
    connection's thread (BEGIN, COMMIT included); the thread runs them in order, so a ROLLBACK
    queued now comes after them: it ends their transaction, or finds none, which is fine."""
    with contextlib.suppress(sqlite3.OperationalError):  # no transaction was open
        await db.execute("ROLLBACK")


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
