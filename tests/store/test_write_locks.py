"""Write locks: one holder at a time across store objects and processes; renewed by their
holder, taken over once a dead holder's lease runs out, let go only by their holder, and the
expired ones reaped."""

from __future__ import annotations

import asyncio

from gateway.store import Store
from tests.store.conftest import Backend, OpenStore

NOW = 1_800_000_000.0
LOCK = "crm:invoice 7"


async def test_one_holder_at_a_time_until_it_lets_go(store: Store) -> None:
    assert await store.take_lock(LOCK, "a", now=NOW, lease_s=10) is True
    assert await store.take_lock(LOCK, "b", now=NOW + 1, lease_s=10) is False
    # Another lock is its own.
    assert await store.take_lock("crm:invoice 8", "b", now=NOW + 1, lease_s=10) is True
    # Only its holder lets it go.
    await store.release_lock(LOCK, "b")
    assert await store.take_lock(LOCK, "b", now=NOW + 2, lease_s=10) is False
    await store.release_lock(LOCK, "a")
    assert await store.take_lock(LOCK, "b", now=NOW + 2, lease_s=10) is True


async def test_its_holder_renews_it_and_a_dead_holders_is_taken_over(store: Store) -> None:
    assert await store.take_lock(LOCK, "a", now=NOW, lease_s=10) is True
    assert await store.take_lock(LOCK, "a", now=NOW + 8, lease_s=10) is True  # renewed to +18
    assert await store.take_lock(LOCK, "b", now=NOW + 12, lease_s=10) is False
    # "a" renews no more (it died): at +18 its lease has run out.
    assert await store.take_lock(LOCK, "b", now=NOW + 18, lease_s=10) is True
    assert await store.take_lock(LOCK, "a", now=NOW + 19, lease_s=10) is False
    # "a", back, cannot let go of what "b" holds.
    await store.release_lock(LOCK, "a")
    assert await store.take_lock(LOCK, "c", now=NOW + 20, lease_s=10) is False


async def test_racing_takers_on_several_stores_get_it_once(open_stores: OpenStore) -> None:
    stores = [await open_stores() for _ in range(4)]
    taken = await asyncio.gather(
        *(stores[i % 4].take_lock(LOCK, f"owner {i}", now=NOW, lease_s=10) for i in range(20))
    )
    assert taken.count(True) == 1


async def test_the_reaper_deletes_expired_locks_only(store: Store, backend: Backend) -> None:
    await store.take_lock("old", "a", now=NOW, lease_s=10)
    await store.take_lock("held", "b", now=NOW + 5, lease_s=10)
    await store.reap(NOW + 12)
    assert await backend.sql("SELECT name, owner FROM write_locks") == [("held", "b")]


async def test_the_reaper_keeps_a_dead_holders_lock_through_the_takers_grace(
    store: Store, backend: Backend
) -> None:
    """Reaped at the end of its lease, a dead holder's lock would be free to the next taker at
    once, though that taker waits out the grace when it finds the lock (the write the holder
    sent may still land)."""
    assert await store.take_lock(LOCK, "a", now=NOW, lease_s=10) is True
    await store.reap(NOW + 30, lock_grace_s=60)
    assert await store.take_lock(LOCK, "b", now=NOW + 30, lease_s=10, grace_s=60) is False
    await store.reap(NOW + 71, lock_grace_s=60)
    assert await backend.sql("SELECT name FROM write_locks") == []


async def test_a_renewal_extends_its_holders_lock_only_and_never_takes_one(
    store: Store, backend: Backend
) -> None:
    assert await store.take_lock(LOCK, "a", now=NOW, lease_s=10) is True
    assert await store.renew_lock(LOCK, "a", now=NOW + 8, lease_s=10) is True  # to +18
    assert await store.take_lock(LOCK, "b", now=NOW + 15, lease_s=10) is False
    assert await store.renew_lock(LOCK, "b", now=NOW + 15, lease_s=10) is False
    # Let go, a late renewal (one in flight as the write ended) holds nothing again.
    await store.release_lock(LOCK, "a")
    assert await store.renew_lock(LOCK, "a", now=NOW + 16, lease_s=10) is False
    assert await backend.sql("SELECT name FROM write_locks") == []
    assert await store.take_lock(LOCK, "b", now=NOW + 16, lease_s=10) is True


async def test_a_dead_holders_lock_is_taken_over_only_after_its_grace(store: Store) -> None:
    """A holder that died may have sent its write, which may still land until the provider's
    settle time has passed: its lock is taken over only after that grace."""
    assert await store.take_lock(LOCK, "a", now=NOW, lease_s=10) is True
    assert await store.take_lock(LOCK, "b", now=NOW + 30, lease_s=10, grace_s=60) is False
    assert await store.take_lock(LOCK, "b", now=NOW + 69, lease_s=10, grace_s=60) is False
    assert await store.take_lock(LOCK, "b", now=NOW + 70, lease_s=10, grace_s=60) is True
