"""One SQLite statement run at once, on the event loop's own thread, when it needs no wait.

A statement through aiosqlite is a trip to its thread and back: about 120 µs of CPU (half of
it the kernel's: a queue, a wake-up, the loop's self-pipe) for a statement that SQLite runs in
about 20. The store's calls are nearly all one statement (a conditional ``UPDATE``, a
crosswalk row, a keyed read), so ``Now`` keeps a second connection to the same file, opened
with no busy handler: a statement that can take the file's lock at once runs here and now;
one that would have to wait (another process is writing) gets ``None`` back, having changed
nothing, and the store sends it to its aiosqlite connection, which waits for the lock
(``busy_timeout``) on its own thread. The event loop never waits for a lock.

What it does not do: transactions of several statements (the store runs them on aiosqlite's
thread holding the store's lock, and single statements wait while it is held, so the two
connections never interleave), and the WAL's checkpoints. Those copy the log into the file and
may sync it, so they are kept off the loop too: this connection never checkpoints by itself
(``wal_autocheckpoint = 0``), and after ``CHECKPOINT_EVERY`` writes here the store asks for a
passive checkpoint on aiosqlite's thread, holding its lock: no write here meanwhile, so the
checkpoint reaches the log's end and the next write starts the log over (writes during it would
keep it growing).
"""

from __future__ import annotations

import sqlite3
from typing import Any

# SQLite's result codes for "the lock is taken" (the low byte of an extended code).
_WAIT = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
CHECKPOINT_EVERY = 256


class Now:
    def __init__(self, path: str) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None
        self.writes = 0  # since the last checkpoint

    def open(self) -> None:
        """After the store's migrations: the file exists, in WAL mode, with its tables."""
        db = sqlite3.connect(self._path, isolation_level=None, timeout=0)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA wal_autocheckpoint = 0")
        except BaseException:
            db.close()
            raise
        self._db = db

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()

    def rows(self, sql: str, params: tuple[Any, ...], *, write: bool) -> list[Any] | None:
        """The statement's rows, or None when it would have had to wait for the lock (it then
        changed nothing: one statement is its own transaction). Other errors are raised."""
        if self._db is None:
            return None
        try:
            rows = self._db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as e:
            if (e.sqlite_errorcode & 0xFF) in _WAIT:
                return None
            raise
        if write:
            self.writes += 1
        return rows

    def checkpoint_due(self) -> bool:
        if self.writes < CHECKPOINT_EVERY:
            return False
        self.writes = 0
        return True
