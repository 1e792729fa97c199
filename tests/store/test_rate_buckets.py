"""Token buckets kept in the store: a new one starts full, refills with time up to its burst,
answers the wait when empty; raced by store objects and processes, it never gives more than
burst + rate × elapsed."""

from __future__ import annotations

import asyncio

import pytest

from gateway.store import Store
from tests.store.conftest import Backend, OpenStore
from tests.store.workers import workers

NOW = 1_800_000_000.0
BUCKET = "provider:crm"


async def takes(store: Store, count: int, *, at: float, rate: float, burst: float) -> list[float]:
    return [await store.take_token(BUCKET, rate, burst, now=at) for _ in range(count)]


async def test_a_new_bucket_starts_full_then_answers_the_wait(store: Store) -> None:
    assert await takes(store, 3, at=NOW, rate=2.0, burst=3.0) == [0.0, 0.0, 0.0]

    # Empty: one token in 1 / rate seconds; asking again takes nothing and says the same.
    assert await takes(store, 2, at=NOW, rate=2.0, burst=3.0) == [0.5, 0.5]
    assert await store.take_token(BUCKET, 2.0, 3.0, now=NOW + 0.25) == pytest.approx(0.25)
    assert await store.take_token(BUCKET, 2.0, 3.0, now=NOW + 0.5) == 0.0
    assert await store.take_token(BUCKET, 2.0, 3.0, now=NOW + 0.5) == pytest.approx(0.5)
    # Another bucket is its own, full.
    assert await store.take_token("provider:shop", 2.0, 3.0, now=NOW + 0.5) == 0.0


async def test_a_bucket_refills_with_time_up_to_its_burst(store: Store) -> None:
    assert await takes(store, 5, at=NOW, rate=4.0, burst=5.0) == [0.0] * 5

    # 0.75 s at 4 a second: 3 tokens, then the fourth in 0.25 s.
    assert await takes(store, 4, at=NOW + 0.75, rate=4.0, burst=5.0) == [0.0, 0.0, 0.0, 0.25]
    # A partial token carries over: 0.125 s gives half a token, 0.125 s more makes one.
    assert await store.take_token(BUCKET, 4.0, 5.0, now=NOW + 0.875) == 0.125
    assert await store.take_token(BUCKET, 4.0, 5.0, now=NOW + 1.0) == 0.0
    assert await store.take_token(BUCKET, 4.0, 5.0, now=NOW + 1.0) == 0.25

    # An hour idle fills it to the burst, no more.
    later = NOW + 3600
    assert await takes(store, 6, at=later, rate=4.0, burst=5.0) == [0.0] * 5 + [0.25]


async def test_a_clock_behind_the_bucket_neither_makes_nor_loses_tokens(store: Store) -> None:
    # Processes' clocks differ a little: a take dated before the bucket's last use refills
    # nothing, takes a token that is there, and counts its wait from its own clock.
    assert await takes(store, 4, at=NOW, rate=1.0, burst=5.0) == [0.0] * 4  # one left
    assert await store.take_token(BUCKET, 1.0, 5.0, now=NOW - 2) == 0.0

    # Half a token since NOW (none for the 2 s the late clock is behind).
    assert await store.take_token(BUCKET, 1.0, 5.0, now=NOW + 0.5) == 0.5
    # The rest of the token comes 0.5 s after NOW + 0.5, 3 s from NOW - 2.
    assert await store.take_token(BUCKET, 1.0, 5.0, now=NOW - 2) == 3.0
    # At NOW + 2: 2 tokens since NOW, no more.
    assert await takes(store, 3, at=NOW + 2, rate=1.0, burst=5.0) == [0.0, 0.0, 1.0]


async def test_a_bucket_needs_a_rate_and_a_burst_of_one(store: Store) -> None:
    with pytest.raises(ValueError, match="rate > 0"):
        await store.take_token(BUCKET, 0.0, 5.0, now=NOW)
    with pytest.raises(ValueError, match="burst >= 1"):
        await store.take_token(BUCKET, 1.0, 0.5, now=NOW)
    assert await store.take_token(BUCKET, 1.0, 1.0, now=NOW) == 0.0  # nothing was stored


# -- races ---------------------------------------------------------------------------------------

STORES = 5
TAKES = 50


async def test_takers_on_five_stores_get_burst_then_rate_times_elapsed(
    open_stores: OpenStore,
) -> None:
    stores = [await open_stores() for _ in range(STORES)]

    async def wave(at: float) -> list[float]:
        return list(
            await asyncio.gather(
                *(stores[i % STORES].take_token(BUCKET, 2.0, 10.0, now=at) for i in range(TAKES))
            )
        )

    first = await wave(NOW)
    assert first.count(0.0) == 10  # the burst
    assert sorted(set(first)) == [0.0, 0.5]
    second = await wave(NOW + 2.5)
    assert second.count(0.0) == 5  # 2.5 s × 2 a second
    third = await wave(NOW + 1000)
    assert third.count(0.0) == 10  # refilled to the burst, no more
    # In all: never more than burst + rate × elapsed (which, asked for more, it gives).
    assert (first + second + third).count(0.0) == 10 + 2.0 * 2.5 + 10


PROCESSES = 4
TAKES_EACH = 10


async def test_takers_in_processes_get_burst_then_rate_times_elapsed(backend: Backend) -> None:
    order = {"do": "take", "bucket": BUCKET, "rate": 1.0, "burst": 12.0, "takes": TAKES_EACH}

    async with workers(backend.url, PROCESSES) as processes:
        first = await processes.each({**order, "now": NOW})  # a new bucket, raced
        second = await processes.each({**order, "now": NOW + 3})

    granted = [sum(wait == 0.0 for wait in answer) for answer in first]
    assert sum(granted) == 12
    assert all(wait in (0.0, 1.0) for answer in first for wait in answer)
    assert sum(wait == 0.0 for answer in second for wait in answer) == 3
    rows = await backend.sql("SELECT name, tokens, updated_at FROM rate_buckets")
    assert rows == [(BUCKET, 0.0, NOW + 3)]


async def test_idle_buckets_of_a_prefix_are_forgotten_and_start_full_again(
    store: Store, backend: Backend
) -> None:
    for name in ("auth-failures:10.0.0.1", "auth-failures:10.0.0.2", "client:sync"):
        await store.take_token(name, 1.0, 2.0, now=NOW)
    await store.take_token("auth-failures:10.0.0.2", 1.0, 2.0, now=NOW + 100)
    # A name holding what a LIKE pattern would read as wildcards is not matched by them.
    await store.take_token("auth_failures:x", 1.0, 2.0, now=NOW)

    assert await store.forget_buckets("auth-failures:", NOW + 50) == 1
    rows = await backend.sql("SELECT name FROM rate_buckets ORDER BY name")
    assert rows == [("auth-failures:10.0.0.2",), ("auth_failures:x",), ("client:sync",)]
    # The one forgotten is a new bucket again: full.
    assert await store.take_token("auth-failures:10.0.0.1", 1.0, 2.0, now=NOW + 60) == 0.0
    assert await store.forget_buckets("auth-failures:", NOW + 50) == 0
