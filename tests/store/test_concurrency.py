"""Of any number of concurrent claims of one key, exactly one wins: across connections, store
objects and operating-system processes."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import asdict, replace

from gateway.store import Busy, Claimed, Store
from tests.store.conftest import Backend, OpenStore
from tests.store.test_idempotency import LEASE, NOW, SCOPE, TTL
from tests.store.workers import workers

STORES = 5
CLAIMS = 50


async def race(stores: list[Store], *, at: float, fingerprint: str = "fp-1") -> list[object]:
    """CLAIMS claims of SCOPE at once, spread over ``stores``, each by its own owner."""
    return await asyncio.gather(
        *(
            stores[i % len(stores)].claim(
                SCOPE, fingerprint, f"owner-{i}", now=at, lease_s=LEASE, ttl_s=TTL
            )
            for i in range(CLAIMS)
        )
    )


def exactly_one_winner(results: list[object], *, taken_over: bool) -> Claimed:
    winners = [r for r in results if isinstance(r, Claimed)]
    assert len(winners) == 1, Counter(type(r).__name__ for r in results)
    winner = winners[0]
    assert winner.taken_over is taken_over
    losers = [r for r in results if r is not winner]
    assert all(isinstance(r, Busy) for r in losers), Counter(type(r).__name__ for r in losers)
    # Every loser saw the winner's lease, not some other state.
    assert {r.record.owner for r in losers if isinstance(r, Busy)} == {winner.record.owner}
    return winner


async def test_one_of_fifty_claims_from_five_stores_wins(open_stores: OpenStore) -> None:
    stores = [await open_stores() for _ in range(STORES)]

    winner = exactly_one_winner(await race(stores, at=NOW), taken_over=False)

    assert await stores[0].get(SCOPE) == winner.record


async def test_one_of_fifty_takers_of_a_lapsed_lease_wins(open_stores: OpenStore) -> None:
    stores = [await open_stores() for _ in range(STORES)]
    first = await stores[0].claim(SCOPE, "fp-1", "dead", now=NOW, lease_s=LEASE, ttl_s=TTL)
    assert isinstance(first, Claimed)
    assert await stores[0].save_progress(SCOPE, "dead", "sending", {"n": 1}, now=NOW, lease_s=LEASE)

    winner = exactly_one_winner(await race(stores, at=NOW + LEASE + 1), taken_over=True)

    assert winner.record.recovery == {"n": 1}
    assert await stores[1].get(SCOPE) == winner.record


async def test_one_of_fifty_takers_of_a_parked_key_wins(open_stores: OpenStore) -> None:
    stores = [await open_stores() for _ in range(STORES)]
    first = await stores[0].claim(SCOPE, "fp-1", "parker", now=NOW, lease_s=LEASE, ttl_s=TTL)
    assert isinstance(first, Claimed)
    assert await stores[0].park(SCOPE, "parker", "uncertain")

    winner = exactly_one_winner(await race(stores, at=NOW + 1), taken_over=True)

    assert winner.record.recovery_point == "uncertain"


async def test_one_of_fifty_claims_of_an_expired_record_wins(open_stores: OpenStore) -> None:
    stores = [await open_stores() for _ in range(STORES)]
    old = await stores[0].claim(SCOPE, "fp-old", "old", now=NOW, lease_s=LEASE, ttl_s=10.0)
    assert isinstance(old, Claimed)
    assert await stores[0].finish(SCOPE, "old", {"status": 201})

    winner = exactly_one_winner(
        await race(stores, at=NOW + 10, fingerprint="fp-new"), taken_over=False
    )

    assert (winner.record.fingerprint, winner.record.outcome) == ("fp-new", None)
    assert await stores[2].get(SCOPE) == winner.record


async def test_claims_of_distinct_keys_all_win(open_stores: OpenStore) -> None:
    stores = [await open_stores() for _ in range(STORES)]

    results = await asyncio.gather(
        *(
            stores[i % STORES].claim(
                replace(SCOPE, key=f"k-{i}"), "fp", f"o-{i}", now=NOW, lease_s=LEASE, ttl_s=TTL
            )
            for i in range(CLAIMS)
        )
    )

    assert [r.record.owner for r in results if isinstance(r, Claimed)] == [
        f"o-{i}" for i in range(CLAIMS)
    ]


PROCESSES = 4
CLAIMS_EACH = 10


async def test_one_claim_wins_across_processes(backend: Backend, open_stores: OpenStore) -> None:
    order = {
        "do": "claim",
        "scope": asdict(SCOPE),
        "fingerprint": "fp-1",
        "claims": CLAIMS_EACH,
        "now": NOW,
        "lease_s": LEASE,
        "ttl_s": TTL,
    }
    async with workers(backend.url, PROCESSES) as processes:
        answers = await processes.each(order)

    results = [result for answer in answers for result in answer]
    kinds = Counter(kind for kind, _ in results)
    assert kinds == {"Claimed": 1, "Busy": PROCESSES * CLAIMS_EACH - 1}
    winner = next(owner for kind, owner in results if kind == "Claimed")
    assert {owner for _, owner in results} == {winner}
    record = await (await open_stores()).get(SCOPE)
    assert record is not None
    assert record.owner == winner


async def test_a_cancelled_call_leaves_the_store_usable(store: Store) -> None:
    # Cancelled at every point of its run in turn: before, inside and after its transaction.
    for step in range(30):
        task = asyncio.create_task(
            store.claim(
                replace(SCOPE, key=f"c-{step}"), "fp", "w", now=NOW, lease_s=LEASE, ttl_s=TTL
            )
        )
        for _ in range(step % 10):
            await asyncio.sleep(0)
        await asyncio.sleep(step // 10 * 0.0003)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    result = await store.claim(SCOPE, "fp", "after", now=NOW, lease_s=LEASE, ttl_s=TTL)
    assert isinstance(result, Claimed)
    assert await store.finish(SCOPE, "after", {"status": 201})
    record = await store.get(SCOPE)
    assert record is not None
    assert record.outcome == {"status": 201}
