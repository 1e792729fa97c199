"""Opening a store: migrations applied once, concurrent openers, versions, failures."""

from __future__ import annotations

import asyncio
import contextlib
import re
import stat
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from gateway.store import Claimed, CrosswalkEntry, Store, StoreError, migrations, open_store
from gateway.store.migrations import LATEST, MIGRATIONS
from tests.store.conftest import PG_URL, Backend, OpenStore, pg_url_with_schema
from tests.store.test_idempotency import LEASE, NOW, SCOPE, TTL


def modes_in(directory: Path) -> dict[str, int]:
    """The permission bits of each file in ``directory``, by name."""
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()}


def migrations_rows() -> list[tuple[int, str]]:
    return [(m.version, m.name) for m in MIGRATIONS]


def test_migrations_are_numbered_one_by_one() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert all(m.sqlite and m.postgresql and m.name for m in MIGRATIONS)


async def test_ping_names_the_backend_and_schema_version(store: Store, backend: Backend) -> None:
    assert store.url_scheme == backend.name
    assert await store.ping() == {"backend": backend.name, "schema_version": LATEST}


async def test_opening_again_applies_nothing_twice_and_keeps_data(
    open_stores: OpenStore, backend: Backend
) -> None:
    first = await open_stores()
    claimed = await first.claim(SCOPE, "fp", "w", now=NOW, lease_s=LEASE, ttl_s=TTL)
    assert isinstance(claimed, Claimed)
    await first.close()

    second = await open_stores()
    await second.open()  # a second open() of one object is a no-op

    assert await second.get(SCOPE) == claimed.record
    assert await backend.sql("SELECT version, name FROM schema_migrations") == migrations_rows()


async def test_stores_opening_at_once_migrate_once(
    open_stores: OpenStore, backend: Backend
) -> None:
    stores = await asyncio.gather(*(open_stores() for _ in range(6)))

    assert [await s.ping() for s in stores] == [
        {"backend": backend.name, "schema_version": LATEST}
    ] * 6
    assert await backend.sql("SELECT version, name FROM schema_migrations") == migrations_rows()


@pytest.mark.parametrize("table", ["idempotency_keys", "write_locks"])
async def test_a_table_dropped_by_hand_is_said_not_taken_for_a_whole_store(
    open_stores: OpenStore, backend: Backend, table: str
) -> None:
    """One table dropped (or renamed) by hand: its schema_migrations says it was made, so no
    migration makes it again. Every keyed write was a 503 for good while /readyz answered
    ready, and a start took the store as whole. Both now say which table is missing."""
    store = await open_stores()
    await backend.sql(f"DROP TABLE {table}")
    said = f"its table(s) {table} are missing, though its schema_migrations says they were made"
    with pytest.raises(StoreError, match=re.escape(said)):
        await store.ping()
    with pytest.raises(StoreError, match=re.escape(said)):
        await open_stores()


async def index_names(backend: Backend) -> set[str]:
    if backend.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    else:
        query = f"SELECT indexname FROM pg_indexes WHERE schemaname = '{backend.pg_schema}'"
    return {name for (name,) in await backend.sql(query)}


INDEXES = {
    "idempotency_keys_expires_at",
    "crosswalk_target",
    "crosswalk_run",
    "migration_chunks_open",
}


async def test_the_reaper_and_reverse_lookups_have_indexes(store: Store, backend: Backend) -> None:
    assert await index_names(backend) >= INDEXES


async def test_a_version_1_store_migrates_to_2_keeping_its_data(
    open_stores: OpenStore, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store as a gateway that knew migration 1 only made it, with data in every table.
    with monkeypatch.context() as old_code:
        old_code.setattr(migrations, "MIGRATIONS", MIGRATIONS[:1])
        old_code.setattr(migrations, "LATEST", 1)
        old = await open_stores()
        assert await old.ping() == {"backend": backend.name, "schema_version": 1}
        claimed = await old.claim(SCOPE, "fp", "w", now=NOW, lease_s=LEASE, ttl_s=TTL)
        assert isinstance(claimed, Claimed)
        await old.checkpoint_put("crm->billing", {"cursor": "page-2"}, now=NOW)
        await old.close()
    await backend.sql(
        "INSERT INTO crosswalk (source_connection, source_id, target_connection, target_id, "
        "fingerprint, state, detail, updated_at) "
        f"VALUES ('crm', 'INV-1', 'billing', 'B-1', 'fp-1', 'verified', '{{}}', {NOW})"
    )
    assert "crosswalk_run" not in await index_names(backend)

    # Opened by this gateway, several processes' worth at once: migrated once, data kept.
    stores = await asyncio.gather(*(open_stores() for _ in range(4)))
    store = stores[0]
    assert [await s.ping() for s in stores] == [
        {"backend": backend.name, "schema_version": LATEST}
    ] * 4
    assert await backend.sql("SELECT version, name FROM schema_migrations") == migrations_rows()
    assert await index_names(backend) >= INDEXES
    assert await store.get(SCOPE) == claimed.record
    assert await store.checkpoint_get("crm->billing") == {"cursor": "page-2"}
    copied = CrosswalkEntry("crm", "INV-1", "billing", "B-1", "fp-1", "verified", {}, NOW)
    assert await store.crosswalk_get("crm", "INV-1", "billing") == copied  # run None

    # What migration 2 added works on the old data.
    await store.crosswalk_put(replace(copied, run="run-1"))
    assert await store.crosswalk_by_run("run-1") == [replace(copied, run="run-1")]
    assert await store.chunk_add("run-1", 0, None)
    chunk = await store.chunk_claim("run-1", "w", now=NOW, lease_s=LEASE)
    assert chunk is not None
    assert (chunk.seq, chunk.owner) == (0, "w")
    assert await store.chunk_counts("run-1") == {"claimed": 1}
    assert await store.take_token("crm", 1.0, 1.0, now=NOW) == 0.0
    assert await store.take_token("crm", 1.0, 1.0, now=NOW) == 1.0


async def test_a_store_written_by_a_newer_gateway_refuses_to_open(
    open_stores: OpenStore, backend: Backend
) -> None:
    await open_stores()
    await backend.sql(
        f"INSERT INTO schema_migrations (version, name, applied_at) VALUES ({LATEST + 1}, 'x', 0)"
    )

    with pytest.raises(StoreError, match=f"version {LATEST + 1}.*up to {LATEST}"):
        await open_stores()


async def test_a_closed_store_says_so(store: Store) -> None:
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.ping()
    with pytest.raises(StoreError, match="not open"):
        await store.get(SCOPE)
    await store.close()  # closing twice is harmless


# -- SQLite only ---------------------------------------------------------------------------------


async def test_sqlite_files_are_private_to_their_owner(tmp_path: Path) -> None:
    path = tmp_path / "private.db"
    store = open_store(f"sqlite:///{path}")
    await store.open()
    try:
        result = await store.claim(SCOPE, "fp", "w", now=NOW, lease_s=LEASE, ttl_s=TTL)
        assert isinstance(result, Claimed)
        files = modes_in(tmp_path)
    finally:
        await store.close()

    assert set(files) == {"private.db", "private.db-wal", "private.db-shm"}  # WAL mode
    assert {name: mode & 0o077 for name, mode in files.items()} == dict.fromkeys(files, 0)


async def test_sqlite_in_a_missing_directory_says_which(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    store = open_store(f"sqlite:///{missing}/store.db")

    with pytest.raises(StoreError, match=f"directory '{missing}' does not exist"):
        await store.open()
    assert not missing.exists()


async def test_sqlite_relative_path_is_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    store = open_store("sqlite:///./data/gw.db")
    await store.open()
    await store.close()

    assert (tmp_path / "data" / "gw.db").is_file()


async def test_sqlite_in_memory_works_for_one_store_object() -> None:
    store = open_store("sqlite:///:memory:")
    await store.open()
    try:
        assert await store.ping() == {"backend": "sqlite", "schema_version": LATEST}
        result = await store.claim(SCOPE, "fp", "w", now=NOW, lease_s=LEASE, ttl_s=TTL)
        assert isinstance(result, Claimed)
    finally:
        await store.close()
    assert ":memory:" not in modes_in(Path())


# -- PostgreSQL only -----------------------------------------------------------------------------


async def test_postgres_unreachable_names_host_and_database_not_the_password() -> None:
    store = open_store("postgresql://gw:Sup3r-secret@127.0.0.1:1/invoices")

    with pytest.raises(StoreError) as caught:
        await store.open()

    message = str(caught.value)
    assert "127.0.0.1:1/invoices" in message
    assert "cannot connect" in message
    assert "Sup3r-secret" not in message


async def test_postgres_schemas_keep_stores_apart() -> None:
    schemas = [f"t_{uuid.uuid4().hex}" for _ in range(2)]
    one, other = (open_store(pg_url_with_schema(schema)) for schema in schemas)
    try:
        await one.open()
        await other.open()
        result = await one.claim(SCOPE, "fp", "w", now=NOW, lease_s=LEASE, ttl_s=TTL)
        assert isinstance(result, Claimed)
        assert await other.get(SCOPE) is None
        assert await one.get(SCOPE) == result.record
    finally:
        await one.close()
        await other.close()
        con = await asyncpg.connect(PG_URL)
        try:
            for schema in schemas:
                await con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await con.close()


async def test_a_postgresql_server_that_stops_answering_fails_a_statement_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server (here a relay in front of it that stops relaying) takes a statement and
    never answers: the statement fails as a StoreError after the statement timeout, instead of
    holding its request until the server comes back."""
    from gateway.store import postgres_database as postgres

    monkeypatch.setattr(postgres, "STATEMENT_TIMEOUT_S", 0.5)
    frozen = asyncio.Event()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 5432)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                if not frozen.is_set():
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    schema = f"t_{uuid.uuid4().hex[:16]}"
    store = open_store(f"postgresql://postgres@127.0.0.1:{port}/test?schema={schema}&pool_max=1")
    await store.open()
    try:
        assert await store.take_token("b", 1.0, 1.0, now=NOW) == 0.0
        frozen.set()
        started = asyncio.get_running_loop().time()
        with pytest.raises(StoreError):
            await store.take_token("b", 1.0, 1.0, now=NOW + 1)
        assert asyncio.get_running_loop().time() - started < 5
    finally:
        frozen.clear()
        server.close()
        await store.close()
        con = await asyncpg.connect(PG_URL)
        await con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await con.close()


@contextlib.asynccontextmanager
async def _own_schema(
    url_for: Callable[[str], str] = pg_url_with_schema,
) -> AsyncIterator[tuple[Store, str]]:
    """An open PostgreSQL store in a schema of its own (``url_for`` makes its URL), and the
    schema's name; closed, and the schema dropped, after."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    store = open_store(url_for(schema))
    await store.open()
    try:
        yield store, schema
    finally:
        await store.close()
        await _sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def _sql(statement: str) -> None:
    con = await asyncpg.connect(PG_URL)
    try:
        await con.execute(statement)
    finally:
        await con.close()


def _database_as_a_parameter(schema: str) -> str:
    """The test server's URL with its database given as ``?dbname=`` after a bare ``/``."""
    parts = urlsplit(PG_URL)
    query = f"dbname={parts.path.lstrip('/')}&schema={schema}"
    return urlunsplit(parts._replace(path="/", query=query))


async def test_a_database_named_as_a_parameter_after_a_bare_slash_is_the_one_written() -> None:
    """The driver read the bare "/" as an empty database name, and the store's tables went
    into the database named as the user, while check-config named the one asked for."""
    async with _own_schema(_database_as_a_parameter) as (store, schema):
        con = await asyncpg.connect(PG_URL)
        try:
            found = await con.fetchval("SELECT to_regclass($1)", f'"{schema}".idempotency_keys')
        finally:
            await con.close()
        assert found is not None
        assert (await store.ping())["schema_version"] == LATEST


async def test_a_postgresql_connection_left_in_a_broken_state_is_a_store_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A connection the server cut mid-statement leaves asyncpg's protocol unable to go on:
    it raises ``InternalClientError`` ("cannot switch to state 11; another operation is in
    progress"), which is none of the errors the store named. It reached a keyed create's
    finish as a 500 (retryable false) for an invoice that was made; it is a StoreError, as any
    other connection failure is, the password cut out."""
    async with _own_schema() as (store, _):
        assert await store.take_token("b", 1.0, 1.0, now=NOW) == 0.0
        broken = asyncpg.InternalClientError("cannot switch to state 11; another operation (2)")

        async def cut(*args: object, **kwargs: object) -> object:
            raise broken

        monkeypatch.setattr(asyncpg.pool.PoolConnectionProxy, "execute", cut)
        monkeypatch.setattr(asyncpg.pool.PoolConnectionProxy, "fetchrow", cut)
        monkeypatch.setattr(asyncpg.pool.PoolConnectionProxy, "fetchval", cut)
        monkeypatch.setattr(asyncpg.pool.PoolConnectionProxy, "fetch", cut)
        with pytest.raises(StoreError) as caught:
            await store.take_token("b", 1.0, 1.0, now=NOW + 1)
        assert "cannot switch to state 11" in str(caught.value)
        assert caught.value.__cause__ is broken
        with pytest.raises(StoreError):
            await store.ping()
        monkeypatch.undo()  # before the store is closed


class _Relay:
    """A TCP relay in front of the PostgreSQL server that can stall the connections open now
    (``hold``: nothing passes either way; a connection opened later, the driver's cancel
    request included, passes) or change a byte of the text ``garble`` names in what the
    server sends next (to one that is not UTF-8), as a stalled or faulty network does."""

    def __init__(self) -> None:
        self.garble: bytes | None = None
        self.port = 0
        self._open: set[int] = set()
        self._held: set[int] = set()
        self._server: asyncio.Server | None = None

    def hold(self) -> None:
        self._held |= self._open

    def release(self) -> None:
        self._held.clear()

    async def __aenter__(self) -> _Relay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 5432)
        me = id(writer)
        self._open.add(me)

        async def pipe(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, down: bool
        ) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    if me in self._held:
                        continue
                    if down and self.garble and self.garble in data:
                        data = data.replace(self.garble, b"\xff" + self.garble[1:], 1)
                        self.garble = None
                    sink.write(data)
                    await sink.drain()
            sink.close()

        try:
            await asyncio.gather(pipe(reader, up_writer, False), pipe(up_reader, writer, True))
        finally:
            self._open.discard(me)


@contextlib.asynccontextmanager
async def _store_behind(relay: _Relay) -> AsyncIterator[Store]:
    def behind(schema: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{relay.port}/test?schema={schema}&pool_max=1"

    async with _own_schema(behind) as (store, _):
        try:
            yield store
        finally:
            relay.release()
            relay.garble = None


async def _take(store: Store, bucket: str) -> object:
    return await store.take_token(bucket, 1.0, 1.0, now=NOW)


async def _claim(store: Store, key: str) -> object:
    scope = replace(SCOPE, key=key)
    return await store.claim(scope, "fp", "owner", now=NOW, lease_s=LEASE, ttl_s=TTL)


async def test_a_stalled_postgresql_statement_fails_within_its_timeout_not_twice_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The statement timed out at 10 s, then the pool waited as long again for the server to
    answer the cancel before taking the connection back: a keyed write was held 20 s, twice
    what docs/operations.md says. The connection is closed instead, and the next statement
    gets a new one."""
    from gateway.store import postgres_database as postgres

    monkeypatch.setattr(postgres, "STATEMENT_TIMEOUT_S", 1.0)
    async with _Relay() as relay, _store_behind(relay) as store:
        assert await store.take_token("b", 1.0, 1.0, now=NOW) == 0.0
        # A statement alone, and one in a transaction (whose rollback waited on it too).
        for i, stalled in enumerate((_claim, _take)):
            relay.hold()
            started = asyncio.get_running_loop().time()
            with pytest.raises(StoreError):
                await stalled(store, f"stalled-{i}")
            # 1 s, not 2: the pool waited as long again for the cancel before taking it back
            assert asyncio.get_running_loop().time() - started < 1.6
            relay.release()
            assert isinstance(await _claim(store, f"after-{i}"), Claimed)


async def test_a_postgresql_request_queued_for_a_connection_fails_within_the_timeout_in_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another session locks the keys' table. Requests that found every pooled connection
    held by writes waiting on that lock waited for a connection until one timed out, then as
    long again for their own statement: 20 s where docs/operations.md says 10. The time
    counts from when the request asked for a connection."""
    from gateway.store import postgres_database as postgres

    monkeypatch.setattr(postgres, "STATEMENT_TIMEOUT_S", 1.0)

    def one_connection(schema: str) -> str:
        return pg_url_with_schema(schema) + "&pool_max=1"

    async with _own_schema(one_connection) as (store, schema):
        assert isinstance(await _claim(store, "before"), Claimed)
        locker = await asyncpg.connect(PG_URL)
        try:
            locker_transaction = locker.transaction()
            await locker_transaction.start()
            await locker.execute(f'LOCK TABLE "{schema}".idempotency_keys IN ACCESS EXCLUSIVE MODE')
            loop = asyncio.get_running_loop()
            started = loop.time()

            async def timed(key: str) -> tuple[object, float]:
                try:
                    return await _claim(store, key), loop.time() - started
                except StoreError as refused:
                    return refused, loop.time() - started

            answers = await asyncio.gather(*(timed(f"queued-{i}") for i in range(3)))
            await locker_transaction.rollback()
        finally:
            await locker.close()
        for answer, seconds in answers:
            assert isinstance(answer, StoreError), answer
            assert "no answer within" in str(answer)
            assert seconds < 1.6, answers  # 1 s from asking, not 2 or 3
        assert isinstance(await _claim(store, "after"), Claimed)


async def test_a_postgresql_store_whose_keys_another_session_locks_is_not_ready(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/readyz read through another session's lock on the keys' table and said ready while
    every keyed write waited out its time for a 503: the ping takes the lock a write takes."""
    from gateway.store import postgres_database as postgres

    monkeypatch.setattr(postgres, "STATEMENT_TIMEOUT_S", 1.0)
    async with _own_schema() as (store, schema):
        await store.ping()
        locker = await asyncpg.connect(PG_URL)
        try:
            async with locker.transaction():
                await locker.execute(f'LOCK TABLE "{schema}".write_locks IN SHARE MODE')
                with pytest.raises(StoreError) as refused:
                    await store.ping()
                assert "no answer within" in str(refused.value)
                # Read alone, the store still answers: a lock that lets reads through.
                assert await store.get(SCOPE) is None
        finally:
            await locker.close()
        assert (await store.ping())["backend"] == "postgresql"


async def test_a_read_only_postgresql_database_is_not_ready() -> None:
    """A database every write is refused by (a standby after a failover, or
    default_transaction_read_only) made every keyed write a 503 while /readyz said ready."""
    database = f"t_ro_{uuid.uuid4().hex[:12]}"
    await _sql(f'CREATE DATABASE "{database}"')
    url = urlunsplit(urlsplit(PG_URL)._replace(path=f"/{database}"))
    store = open_store(url)
    try:
        await store.open()
        await store.ping()
        await _sql(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
        # The pool's connections were opened writable: the server ends them, new ones are not.
        await _sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )
        said = []
        for _ in range(3):  # the first may be told its connection was cut
            with pytest.raises(StoreError) as refused:
                await store.ping()
            said.append(str(refused.value))
        assert said[-1].endswith(
            "is read-only (a standby server, or default_transaction_read_only set): "
            "no keyed write can be kept"
        ), said
    finally:
        await store.close()
        await _sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def test_a_postgresql_reply_changed_on_the_way_is_a_store_error() -> None:
    """A byte changed on the way made a text field that is not UTF-8: the driver's
    UnicodeDecodeError (or another of its own) was no StoreError, and a keyed create was a
    500 with a traceback. It is a StoreError, and the next statement gets a new connection."""
    async with _Relay() as relay, _store_behind(relay) as store:
        assert isinstance(await _claim(store, "before"), Claimed)
        relay.garble = b"garbled-key"
        with pytest.raises(StoreError) as caught:
            await _claim(store, "garbled-key")
        assert relay.garble is None  # the reply was changed on the way
        assert str(caught.value).startswith("PostgreSQL store at 127.0.0.1:")
        assert isinstance(await _claim(store, "after"), Claimed)


async def test_a_postgresql_store_whose_tables_were_dropped_makes_them_again() -> None:
    """The database emptied or made again under a running gateway: every keyed write was told
    503, retry with the same key, for ever (the tables were made at the start only), and
    /readyz called a reachable server unreachable. The failure makes them again, so the retry
    it asks for works."""
    async with _own_schema() as (store, schema):
        assert isinstance(
            await store.claim(SCOPE, "fp", "a", now=NOW, lease_s=LEASE, ttl_s=TTL), Claimed
        )
        await _sql(f'DROP SCHEMA "{schema}" CASCADE')
        with pytest.raises(StoreError) as caught:
            await store.claim(SCOPE, "fp", "b", now=NOW, lease_s=LEASE, ttl_s=TTL)
        assert "its tables were missing" in str(caught.value)
        assert "they have been made again" in str(caught.value)
        retried = await store.claim(SCOPE, "fp", "b", now=NOW, lease_s=LEASE, ttl_s=TTL)
        assert isinstance(retried, Claimed)  # a new store: the key is new to it
        assert (await store.ping())["schema_version"] == LATEST


async def test_tables_made_again_are_made_whole_before_any_statement_finds_them() -> None:
    """Statements racing the remake of dropped tables: one that came between two migration
    steps found the table without a column a later step adds, claimed a key in it, and the
    create's finish then failed ("column made does not exist"): a write made and not kept.
    Each statement now finds no table (503, retry) or the whole schema."""
    async with _own_schema() as (store, schema):
        await _sql(f'DROP SCHEMA "{schema}" CASCADE')

        async def write(n: int) -> str:
            scope = replace(SCOPE, key=f"race-{n}")
            await asyncio.sleep(n * 0.002)  # arriving while the tables are being made
            for _ in range(50):
                try:
                    claimed = await store.claim(scope, "fp", "a", now=NOW, lease_s=LEASE, ttl_s=TTL)
                except StoreError:
                    await asyncio.sleep(0.001)
                    continue
                assert isinstance(claimed, Claimed)
                assert await store.finish(scope, "a", {"status": 201}, made=f"inv-{n}")
                return "kept"
            return "never claimed"

        assert await asyncio.gather(*(write(n) for n in range(40))) == ["kept"] * 40


async def test_tables_that_cannot_be_made_again_are_not_said_to_be(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with _own_schema() as (store, schema):
        await _sql(f'DROP SCHEMA "{schema}" CASCADE')

        async def refused(**_: object) -> None:
            raise StoreError("permission denied for database test")

        monkeypatch.setattr(store, "_migrate", refused)
        with pytest.raises(StoreError) as caught:
            await store.claim(SCOPE, "fp", "b", now=NOW, lease_s=LEASE, ttl_s=TTL)
        assert "its tables were missing" in str(caught.value)
        assert str(caught.value).endswith(
            "making them again failed: permission denied for database test"
        )
