"""SQLite only: single statements run on the event loop's thread when the file's lock is free
(``gateway/store/sqlite_now.py``), and wait on aiosqlite's thread when it is not, without ever
holding up the event loop; the write-ahead log is checkpointed off the loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from gateway.store import (
    Busy,
    Claimed,
    CrosswalkEntry,
    Finished,
    KeyScope,
    Mismatch,
    Store,
    StoreError,
    open_store,
    sqlite_database,
)
from gateway.store import sqlite as sqlite_store
from gateway.store.sqlite_now import CHECKPOINT_EVERY, Now


def _entry(n: int) -> CrosswalkEntry:
    return CrosswalkEntry(
        source_connection="a",
        source_id=f"inv-{n}",
        target_connection="b",
        target_id=str(n),
        fingerprint="f" * 64,
        state="verified",
        detail={"n": n},
        updated_at=time.time(),
        run="run-1",
    )


@pytest.fixture
async def store_file(tmp_path: Path) -> AsyncIterator[tuple[Store, Path]]:
    """An open SQLite store, and its file."""
    path = tmp_path / "store.db"
    store = open_store(f"sqlite:///{path}")
    await store.open()
    yield store, path
    await store.close()


def _size(path: str) -> int:
    return os.path.getsize(path)


async def test_a_write_waits_for_another_writer_without_holding_up_the_loop(
    store_file: tuple[Store, Path],
) -> None:
    store, path = store_file
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    write = asyncio.create_task(store.crosswalk_put(_entry(1)))
    started = time.monotonic()
    for _ in range(20):  # the loop keeps running while the write waits for the lock
        await asyncio.sleep(0.01)
    assert time.monotonic() - started < 1.0  # not held up by the lock's 5 s of patience
    assert not write.done()
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(write, 5)
    found = await store.crosswalk_get("a", "inv-1", "b")
    assert found is not None and found.target_id == "1" and found.detail == {"n": 1}


async def test_a_key_claimed_while_the_file_is_locked_is_claimed_once_it_is_free(
    store_file: tuple[Store, Path],
) -> None:
    store, path = store_file
    scope = KeyScope("client", "conn", "POST /v1/invoices", "key-1")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    claim = asyncio.create_task(
        store.claim(scope, "fp", "owner", now=time.time(), lease_s=30, ttl_s=3600)
    )
    await asyncio.sleep(0.1)
    assert not claim.done()
    other.execute("ROLLBACK")
    other.close()
    claimed = await asyncio.wait_for(claim, 5)
    assert isinstance(claimed, Claimed) and not claimed.taken_over
    record = await store.get(scope)
    assert record is not None and record.owner == "owner" and record.state == "in_progress"


def _count_transactions(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A one-item list counting the write transactions ``store`` opens from now on."""
    count = [0]
    transaction = store._transaction  # type: ignore[attr-defined]

    def counted(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return transaction(*args, **kwargs)

    monkeypatch.setattr(store, "_transaction", counted)
    return count


async def test_a_claim_writes_under_the_lock_only_when_it_changes_the_record(
    store_file: tuple[Store, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay, a mismatch and a request in flight are answered from one read of the record:
    no write transaction, which would hold the file's lock over several trips to aiosqlite's
    thread while other processes' statements wait. Taking over a lapsed lease, and replacing
    an expired record, still read the record again holding the lock."""
    store, _ = store_file
    locked = _count_transactions(store, monkeypatch)
    now = time.time()

    def claim(key: str, fingerprint: str, owner: str, at: float) -> Any:
        scope = KeyScope("client", "conn", "POST /v1/invoices", key)
        return store.claim(scope, fingerprint, owner, now=at, lease_s=30, ttl_s=3600)

    assert isinstance(await claim("done", "fp", "a", now), Claimed)
    done = KeyScope("client", "conn", "POST /v1/invoices", "done")
    assert await store.finish(done, "a", {"status": 201, "body": {"id": "1"}})
    replay = await claim("done", "fp", "b", now + 1)
    assert isinstance(replay, Finished) and replay.record.outcome == {
        "status": 201,
        "body": {"id": "1"},
    }
    assert isinstance(await claim("done", "other", "b", now + 1), Mismatch)
    assert isinstance(await claim("held", "fp", "a", now), Claimed)
    busy = await claim("held", "fp", "b", now + 1)
    assert isinstance(busy, Busy) and busy.retry_after == pytest.approx(29)
    assert locked[0] == 0
    taken = await claim("held", "fp", "b", now + 31)  # a's lease lapsed
    assert isinstance(taken, Claimed) and taken.taken_over and taken.record.owner == "b"
    fresh = await claim("done", "other", "c", now + 3601)  # expired: as good as absent
    assert isinstance(fresh, Claimed) and not fresh.taken_over
    assert fresh.record.fingerprint == "other" and fresh.record.owner == "c"
    assert locked[0] == 2


def test_now_answers_none_when_it_would_wait_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "file.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as setup:
        setup.execute("PRAGMA journal_mode = WAL")
        setup.execute("CREATE TABLE t (n INTEGER)")
    now = Now(str(path))
    now.open()
    try:
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            assert now.rows("INSERT INTO t VALUES (1) RETURNING n", (), write=True) is None
            other.execute("ROLLBACK")
        inserted = now.rows("INSERT INTO t VALUES (2) RETURNING n", (), write=True)
        assert [tuple(r) for r in inserted or []] == [(2,)]
        assert [tuple(r) for r in now.rows("SELECT n FROM t", (), write=False) or []] == [(2,)]
        assert now.writes == 1  # the refused insert was not counted
    finally:
        now.close()


async def test_the_log_is_checkpointed_so_it_does_not_grow_with_every_write(
    store_file: tuple[Store, Path],
) -> None:
    store, path = store_file
    wal = f"{path}-wal"
    for n in range(CHECKPOINT_EVERY - 1):
        await store.crosswalk_put(_entry(n))
    one_round = _size(wal)  # the log of as many writes as go between checkpoints
    for n in range(CHECKPOINT_EVERY - 1, 4 * CHECKPOINT_EVERY):
        await store.crosswalk_put(_entry(n))
    # Each write appends pages to the log; checkpointed, the log starts over from its head
    # instead of holding all four rounds.
    assert one_round > 0 and _size(wal) < 2 * one_round, one_round
    assert len(await store.crosswalk_by_run("run-1", limit=5000)) == 4 * CHECKPOINT_EVERY


async def test_a_statement_runs_at_once_while_tasks_woken_for_the_lock_wait_their_turn(
    store_file: tuple[Store, Path],
) -> None:
    """After a checkpoint (or a transaction) lets go of the store's lock, the tasks that
    waited for it are woken one by one; a statement arriving meanwhile runs at once, without
    a turn of the event loop, instead of queueing behind them."""
    store, _ = store_file
    await store.crosswalk_put(_entry(1))
    held = store._held()  # type: ignore[attr-defined]  # as a checkpoint holds the lock
    await held.__aenter__()
    waiting = [asyncio.create_task(store.crosswalk_get("a", f"inv-{n}", "b")) for n in (1, 2)]
    await asyncio.sleep(0)
    assert not any(task.done() for task in waiting)  # they wait while it is held
    await held.__aexit__(None, None, None)
    turned: list[bool] = []
    asyncio.get_running_loop().call_soon(turned.append, True)

    found = await store.crosswalk_get("a", "inv-1", "b")

    assert found is not None and found.target_id == "1"
    assert turned == []  # ran before the loop turned: not queued behind the woken tasks
    await asyncio.sleep(0)
    assert all(task.done() for task in waiting)  # all woken and done in one turn, not one each
    first, second = [task.result() for task in waiting]
    assert first is not None and second is None


async def test_a_failed_checkpoint_is_logged_and_the_write_that_made_it_due_still_answers(
    store_file: tuple[Store, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = store_file
    db = store._db  # type: ignore[attr-defined]  # aiosqlite's connection, which checkpoints
    real = db.execute

    def execute(sql: str, *args: Any) -> Any:
        if "wal_checkpoint" in sql:
            raise sqlite3.OperationalError("disk I/O error")
        return real(sql, *args)

    monkeypatch.setattr(db, "execute", execute)
    with capture_logs() as logs:
        for n in range(CHECKPOINT_EVERY):  # the last one makes a checkpoint due
            await store.crosswalk_put(_entry(n))

    last = await store.crosswalk_get("a", f"inv-{CHECKPOINT_EVERY - 1}", "b")
    assert last is not None and last.target_id == str(CHECKPOINT_EVERY - 1)
    failed = [e for e in logs if e["event"] == "sqlite_checkpoint_failed"]
    assert len(failed) == 1 and "disk I/O error" in failed[0]["error"]


async def test_a_token_is_taken_without_the_lock_and_a_raced_bucket_is_read_again(
    store_file: tuple[Store, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``take_token`` reads the bucket and writes it only if it is still as read: no write
    transaction (a migration takes a token for every provider call). Another process taking a
    token between the read and the write makes the write miss, and the bucket is read again."""
    store, path = store_file
    locked = _count_transactions(store, monkeypatch)
    now = 1_800_000_000.0
    assert [await store.take_token("b", 1.0, 2.0, now=now) for _ in range(3)] == [0.0, 0.0, 1.0]
    assert locked[0] == 0

    # At now + 1 one token is back; another process takes it right after this one reads.
    one = store._one  # type: ignore[attr-defined]
    raced = False

    async def read_then_race(sql: str, params: tuple[Any, ...], **kwargs: Any) -> Any:
        nonlocal raced
        rows = await one(sql, params, **kwargs)
        if sql.startswith("SELECT tokens") and not raced:
            raced = True
            with closing(sqlite3.connect(path, isolation_level=None)) as other:
                other.execute(
                    "UPDATE rate_buckets SET tokens = 0.0, updated_at = ? WHERE name = 'b'",
                    (now + 1,),
                )
        return rows

    monkeypatch.setattr(store, "_one", read_then_race)
    # Without the race this take would get the token; with it, the token is gone.
    assert await store.take_token("b", 1.0, 2.0, now=now + 1) == pytest.approx(1.0)
    assert raced and locked[0] == 0
    rows = await one("SELECT tokens, updated_at FROM rate_buckets WHERE name = 'b'", ())
    assert (rows[0][0], rows[0][1]) == (0.0, now + 1)


async def test_a_take_raced_past_its_tries_holds_the_lock_and_takes_the_same(
    store_file: tuple[Store, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After ``BUCKET_TRIES`` races a take holds the lock: the same bucket, the same answers."""
    store, _ = store_file
    monkeypatch.setattr(sqlite_store, "BUCKET_TRIES", 0)  # every take goes the locked way
    locked = _count_transactions(store, monkeypatch)
    now = 1_800_000_000.0
    answers = [await store.take_token("b", 1.0, 2.0, now=now) for _ in range(3)]
    assert answers == [0.0, 0.0, 1.0] and locked[0] == 3
    assert await store.take_token("b", 1.0, 2.0, now=now + 1) == 0.0  # refilled by the rate
    assert await store.take_token("b", 1.0, 2.0, now=now + 1) == pytest.approx(1.0)


@pytest.fixture
async def patient_for_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Store, Path]]:
    """An open SQLite store that waits 1 s (not 5) for another process's lock."""
    monkeypatch.setattr(sqlite_database, "BUSY_TIMEOUT_MS", 1000)
    path = tmp_path / "store.db"
    store = open_store(f"sqlite:///{path}")
    await store.open()
    yield store, path
    await store.close()


async def test_writes_queued_behind_a_lock_held_elsewhere_wait_its_time_once_not_in_turn(
    patient_for_a_second: tuple[Store, Path],
) -> None:
    """Each statement that fell back to waiting for the lock held the store's own lock while
    it waited: the k-th of k concurrent keyed writes waited k times the patience (30 s for the
    sixth, at 5 s), and callers that had hung up kept their place. Each waits its own
    patience, counted from when it asked."""
    store, path = patient_for_a_second
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the file
    try:
        started = time.monotonic()
        claims = [
            store.claim(
                KeyScope("c", "conn", "POST /v1/invoices", f"k-{n}"),
                "fp",
                "owner",
                now=time.time(),
                lease_s=30,
                ttl_s=3600,
            )
            for n in range(6)
        ]
        results = await asyncio.gather(*claims, return_exceptions=True)
        took = time.monotonic() - started
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert [type(r).__name__ for r in results] == ["StoreError"] * 6
    assert took < 2.5  # one patience and a little, not six
    assert isinstance(
        await store.claim(
            KeyScope("c", "conn", "POST /v1/invoices", "k-0"),
            "fp",
            "o",
            now=time.time(),
            lease_s=30,
            ttl_s=3600,
        ),
        Claimed,
    )


async def test_readiness_asks_for_the_write_lock_a_keyed_write_needs(
    patient_for_a_second: tuple[Store, Path],
) -> None:
    """A read went through another process's write lock: /readyz said ready while every
    keyed write was a 503."""
    store, path = patient_for_a_second
    assert (await store.ping())["backend"] == "sqlite"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="database is locked"):
            await store.ping()
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert (await store.ping())["backend"] == "sqlite"


async def test_a_store_file_deleted_or_replaced_under_the_gateway_is_refused(
    store_file: tuple[Store, Path],
) -> None:
    """SQLite writes on to the file it opened, unlinked: the keys kept there were lost at the
    next start, and a retry of a key answered meanwhile made its write a second time."""
    store, path = store_file
    scope = KeyScope("c", "conn", "POST /v1/invoices", "before")
    assert isinstance(
        await store.claim(scope, "fp", "o", now=time.time(), lease_s=30, ttl_s=60), Claimed
    )
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")
    after = KeyScope("c", "conn", "POST /v1/invoices", "after")
    await _refused_as_gone(store, after)


async def test_a_store_file_replaced_by_a_copy_under_the_gateway_is_refused(
    store_file: tuple[Store, Path],
) -> None:
    """A copy put in its place (a backup restored): another file at the path, which the
    gateway's connections do not see."""
    store, path = store_file
    copy = path.with_name("copy.db")
    with closing(sqlite3.connect(path)) as db, closing(sqlite3.connect(copy)) as target:
        db.backup(target)
    os.replace(copy, path)
    await _refused_as_gone(store, KeyScope("c", "conn", "POST /v1/invoices", "after"))


async def _refused_as_gone(store: Store, after: KeyScope) -> None:
    for attempt in (
        store.claim(after, "fp", "o", now=time.time(), lease_s=30, ttl_s=60),
        store.ping(),
    ):
        with pytest.raises(
            StoreError, match="the file was deleted or replaced while the gateway ran"
        ):
            await attempt


async def test_a_start_needs_no_write_lock_when_nothing_is_to_migrate(
    store_file: tuple[Store, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every start took the write lock to look for migrations: another process writing for
    longer than the patience made a gateway refuse to start, its store up to date."""
    _, path = store_file
    monkeypatch.setattr(sqlite_database, "BUSY_TIMEOUT_MS", 300)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    second = open_store(f"sqlite:///{path}")
    try:
        await second.open()
        assert await second.get(KeyScope("c", "conn", "POST /v1/invoices", "none")) is None
    finally:
        other.execute("ROLLBACK")
        other.close()
        await second.close()


def test_a_file_or_folder_this_user_cannot_write_is_named_before_opening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only store file was "cannot create the file"; a folder that cannot be written
    (SQLite makes its -wal and -shm there) "attempt to write a readonly database"."""
    path = tmp_path / "store.db"
    path.touch()
    store = sqlite_store.SqliteStore(str(path))
    denied: set[Path] = set()
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) not in denied)
    denied.add(path)
    assert "the file cannot be read and written by this user" in (store.unusable() or "")
    denied.clear()
    denied.add(tmp_path)
    said = store.unusable() or ""
    assert f"the directory {str(tmp_path)!r} cannot be written by this user" in said
    assert "-wal and -shm" in said
    denied.clear()
    assert store.unusable() is None
