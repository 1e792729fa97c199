"""The limits two workers of one gateway share through the store: an API key's rate limit and
an address's failed authentications are counted once, not once per worker; while the store
cannot be reached each worker keeps them alone; a connection's pacing shares one quota."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.config import AuthFailures, Client, Connection
from gateway.keyring import KeyRing
from gateway.ratelimit import SharedTokens, answer_within
from gateway.store import Store, open_store
from gateway.upstream import UpstreamClient
from tests.unit.mock_upstream import mocked_network

NOW = 1_800_000_000.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    await store.open()
    yield store
    await store.close()


def limited_client(per_second: float, burst: int) -> Client:
    return Client.model_validate(
        {
            "name": "sync",
            "key_sha256": hashlib.sha256(b"sk_live_1").hexdigest(),
            "connections": ["*"],
            "scopes": ["invoices:read"],
            "rate_limit": {"per_second": per_second, "burst": burst},
        }
    )


def worker(store: Store, now: list[float], *, per_minute: int = 20) -> KeyRing:
    """One worker's key ring, its buckets in ``store``; both clocks read ``now``."""
    ring = KeyRing.from_clients(
        [limited_client(2, 4)], auth_failures=AuthFailures(per_minute=per_minute)
    )
    ring.clock = lambda: now[0]
    ring.shared = SharedTokens(store, clock=lambda: now[0])
    return ring


async def test_two_workers_share_one_keys_rate_limit(store: Store) -> None:
    now = [NOW]
    first, second = worker(store, now), worker(store, now)
    client = first.identify("sk_live_1")
    assert client is not None

    # The burst of 4, taken alternately by the two workers, then the wait for both.
    waits = [await ring.wait(client) for ring in (first, second, first, second, first, second)]
    assert waits == [0.0, 0.0, 0.0, 0.0, 0.5, 0.5]
    now[0] += 0.5
    assert await second.wait(client) == 0.0
    assert await first.wait(client) == 0.5


async def test_two_workers_share_one_addresss_failed_authentications(store: Store) -> None:
    now = [NOW]
    first, second = worker(store, now, per_minute=6), worker(store, now, per_minute=6)

    waits = [await ring.failed("10.0.0.9") for ring in (first, second) * 4]
    # Six failures allowed in all (not six a worker), then a token every 10 s.
    assert waits == [0.0] * 6 + [10.0, 10.0]
    # Another address has its own allowance.
    assert await first.failed("10.0.0.10") == 0.0
    now[0] += 10
    assert await second.failed("10.0.0.9") == 0.0
    assert await first.failed("10.0.0.9") == 10.0


async def test_an_address_the_store_refused_is_refused_here_without_asking_again(
    store: Store,
) -> None:
    now = [NOW]
    first, second = worker(store, now, per_minute=2), worker(store, now, per_minute=2)
    assert [await first.failed("10.0.0.9") for _ in range(2)] == [0.0, 0.0]
    # The second worker's own count allows it; the store's refuses it.
    assert await second.failed("10.0.0.9") == pytest.approx(30.0)
    await store.close()  # any further question to the store would now fail
    now[0] += 10
    # Held here: the wait the store gave, though this worker alone counted one failure.
    assert await second.failed("10.0.0.9") == pytest.approx(20.0)
    now[0] += 20
    # The wait is over: this worker lets the failure through (the store is gone: alone).
    assert await second.failed("10.0.0.9") == 0.0


async def test_while_the_store_fails_each_worker_keeps_the_limits_alone(store: Store) -> None:
    now = [NOW]
    first, second = worker(store, now), worker(store, now)
    client = first.identify("sk_live_1")
    assert client is not None
    await store.close()

    assert [await first.wait(client) for _ in range(5)] == [0.0] * 4 + [0.5]
    assert [await second.wait(client) for _ in range(5)] == [0.0] * 4 + [0.5]
    assert [await first.failed("10.0.0.9") for _ in range(21)] == [0.0] * 20 + [3.0]


async def test_the_provider_calls_of_two_workers_share_one_quota(store: Store) -> None:
    """Two upstream clients (two workers) on one connection with a rate limit of 5 a second,
    burst 2, pacing through the store: two calls from the burst, then one every 0.2 s,
    whichever client calls."""
    now = [NOW]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limited = Connection.model_validate(
        {
            "name": "crm",
            "provider": "crm_v1",
            "base_url": "https://provider.example",
            "auth": {"type": "bearer", "token": "t"},
            "rate_limit": {"per_second": 5, "burst": 2},
        }
    )
    tokens = SharedTokens(store, clock=lambda: now[0])
    async with aiohttp.ClientSession() as session:
        first, second = (
            UpstreamClient(session, limited, sleep=sleep, clock=lambda: now[0], shared=tokens)
            for _ in range(2)
        )
        with mocked_network() as mock:
            for _ in range(4):
                mock.get("https://provider.example/x", status=200, payload={})
            for client in (first, second, first, second):
                assert (await client.request("GET", "/x")).status == 200
    assert slept == [pytest.approx(0.2), pytest.approx(0.2)]
    assert now[0] == pytest.approx(NOW + 0.4)


async def test_a_store_that_does_not_answer_costs_one_wait_then_each_worker_goes_alone(
    tmp_path: Path,
) -> None:
    """Another process holds the SQLite file's lock (the store answers nothing for seconds):
    the first take waits ``ANSWER_WITHIN_S`` and falls back; the next ones, until
    ``RETRY_EVERY_S`` has passed, do not ask the store at all; then it is asked again."""
    path = tmp_path / "store.db"
    store = open_store(f"sqlite:///{path}")
    await store.open()
    asked: list[str] = []
    take_token = store.take_token

    async def counted(name: str, rate: float, burst: float, *, now: float) -> float:
        asked.append(name)
        return await take_token(name, rate, burst, now=now)

    store.take_token = counted  # type: ignore[method-assign]
    now, later = [NOW], [0.0]
    ring = worker(store, now)
    ring.shared = SharedTokens(store, clock=lambda: now[0], monotonic=lambda: later[0])
    client = ring.identify("sk_live_1")
    assert client is not None
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        assert await ring.wait(client) == 0.0  # this worker's own bucket: burst 4
        assert time.monotonic() - started < SharedTokens.ANSWER_WITHIN_S + 1.5
        assert [await ring.wait(client) for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]
        assert asked == ["client:sync"]  # one question, then alone
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    later[0] += SharedTokens.RETRY_EVERY_S
    assert await ring.wait(client) == 0.0  # the store's bucket, full
    assert asked == ["client:sync", "client:sync"]
    await store.close()


async def test_a_call_given_up_is_not_waited_for_while_it_is_cancelled() -> None:
    """A PostgreSQL statement's cancel waits on a server that does not answer: the take falls
    back after its second, not after the cancel."""

    async def stubborn() -> float:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(2)  # the cancel itself takes this long
            raise
        return 0.0

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await answer_within(stubborn(), 0.2)
    assert loop.time() - started < 1.0
    assert await answer_within(asyncio.sleep(0, result=0.5), 0.2) == 0.5
