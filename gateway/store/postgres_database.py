"""The PostgreSQL server under the store: its pool of connections, the schema's migrations, and
what the driver and the server fail with, as a ``StoreError`` naming the store.

``PostgresStore`` (``gateway/store/postgres.py``) keeps the records in it. A call holds its
request at most ``STATEMENT_TIMEOUT_S``, counted from when it asked for a connection; a
connection whose statement timed out, was cancelled, or whose reply could not be read is closed,
not waited on; tables dropped under a running gateway are made again at the first statement that
misses them. ``/readyz`` (``ping``) takes the lock a keyed write takes.
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
from gateway.store.base import Store, StoreError
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
_log = structlog.get_logger("gateway.store")
# The tables a keyed write writes to (``ping`` takes their lock as a write does).
_KEYED_WRITES = ("idempotency_keys", "write_locks")
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


class PostgresDatabase(Store):
    """The store's server and pool; ``PostgresStore`` is the store."""

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

    # -- statements ----------------------------------------------------------------------------

    async def _change(self, sql: str, *params: Any) -> int:
        """Run one conditional write; the number of rows it changed."""
        async with self._connection() as con:
            status = await con.execute(sql, *params)
        return int(status.rsplit(" ", 1)[-1])  # "UPDATE 1", "DELETE 3", "INSERT 0 1"


def _lock_id(name: str) -> int:
    """A stable signed 64-bit advisory lock id for ``name`` (Python's hash() is salted)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
