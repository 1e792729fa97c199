"""Migration chunks: added once, claimed lowest first by one owner at a time under a lease,
taken over once the lease runs out, renewed and finished by their owner only; and, raced by
store objects and by processes, each claimed exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

from gateway.store import Chunk, Store
from tests.store.conftest import Backend, OpenStore
from tests.store.workers import workers

NOW = 1_800_000_000.0
LEASE = 30.0
RUN = "run-1"


async def claim(store: Store, owner: str, *, at: float = NOW, run: str = RUN) -> Chunk | None:
    return await store.chunk_claim(run, owner, now=at, lease_s=LEASE)


async def add(store: Store, *seqs: int, run: str = RUN) -> None:
    for seq in seqs:
        assert await store.chunk_add(run, seq, f"token-{seq}" if seq else None)


async def test_a_chunk_is_added_once_and_claimed_with_its_token(store: Store) -> None:
    assert await store.chunk_add(RUN, 0, None)
    assert await store.chunk_add(RUN, 1, "page-2")
    assert not await store.chunk_add(RUN, 1, "another-token")  # exists: nothing changed
    assert not await store.chunk_add(RUN, 0, "another-token")
    assert await store.chunk_add("run-2", 1, "run-2-page-2")  # the run is part of the key
    assert await store.chunk_counts(RUN) == {"pending": 2}

    assert await claim(store, "w") == Chunk(RUN, 0, None, "claimed", "w", NOW + LEASE)
    assert await claim(store, "w") == Chunk(RUN, 1, "page-2", "claimed", "w", NOW + LEASE)
    assert await claim(store, "w") is None
    assert await claim(store, "w", run="run-2") == Chunk(
        "run-2", 1, "run-2-page-2", "claimed", "w", NOW + LEASE
    )


async def test_chunks_are_claimed_lowest_seq_first_whatever_the_order_added(
    store: Store,
) -> None:
    await add(store, 3, 11, 0, 2)
    await add(store, 1, run="run-0")  # other runs are not claimed

    seqs: list[int] = []
    while chunk := await claim(store, f"w{len(seqs)}"):
        assert (chunk.run, chunk.owner) == (RUN, f"w{len(seqs)}")
        seqs.append(chunk.seq)

    assert seqs == [0, 2, 3, 11]
    assert await store.chunk_counts(RUN) == {"claimed": 4}
    assert await store.chunk_counts("run-0") == {"pending": 1}


async def test_nothing_to_claim_is_none(store: Store) -> None:
    assert await claim(store, "w") is None  # no chunk at all
    await add(store, 0)
    assert await claim(store, "w") is not None
    assert await claim(store, "v") is None  # the only one is held
    assert await store.chunk_counts(RUN) == {"claimed": 1}


async def test_a_held_chunk_is_not_claimed_until_its_lease_runs_out(store: Store) -> None:
    await add(store, 0, 1)
    first = await claim(store, "dead")
    assert first is not None
    assert first.seq == 0

    # While "dead" holds chunk 0, others get chunk 1, then nothing.
    assert (await claim(store, "b", at=NOW + 1)) == Chunk(
        RUN, 1, "token-1", "claimed", "b", NOW + 1 + LEASE
    )
    assert await claim(store, "c", at=NOW + LEASE - 0.5) is None

    # Chunk 1's lease is renewed; chunk 0's runs out and "c" takes it, token kept.
    assert await store.chunk_renew(RUN, 1, "b", now=NOW + 20, lease_s=LEASE)
    taken = await claim(store, "c", at=NOW + LEASE)
    assert taken == Chunk(RUN, 0, None, "claimed", "c", NOW + 2 * LEASE)

    # The dead owner's late writes change nothing.
    assert not await store.chunk_renew(RUN, 0, "dead", now=NOW + LEASE + 1, lease_s=LEASE)
    assert not await store.chunk_done(RUN, 0, "dead")
    assert await claim(store, "d", at=NOW + 40) is None  # "c" holds 0, "b" holds 1
    assert await store.chunk_done(RUN, 0, "c")
    assert await store.chunk_counts(RUN) == {"claimed": 1, "done": 1}

    # Chunk 1 was renewed until NOW + 20 + LEASE: held past its first lease, free after.
    assert await claim(store, "d", at=NOW + 1 + LEASE) is None
    assert await claim(store, "d", at=NOW + 20 + LEASE) == Chunk(
        RUN, 1, "token-1", "claimed", "d", NOW + 20 + 2 * LEASE
    )


async def test_renew_and_done_are_for_the_owner_only(store: Store) -> None:
    await add(store, 0, 1)
    chunk = await claim(store, "owner")
    assert chunk is not None

    assert not await store.chunk_renew(RUN, 0, "intruder", now=NOW + 1, lease_s=1000.0)
    assert not await store.chunk_done(RUN, 0, "intruder")
    assert not await store.chunk_renew(RUN, 1, "owner", now=NOW, lease_s=LEASE)  # pending
    assert not await store.chunk_done(RUN, 1, "owner")
    assert not await store.chunk_done(RUN, 7, "owner")  # no such chunk
    assert not await store.chunk_done("run-2", 0, "owner")
    assert await store.chunk_counts(RUN) == {"claimed": 1, "pending": 1}
    # The intruder's renewal did not extend the lease: free at NOW + LEASE as it was.
    assert await claim(store, "other", at=NOW + LEASE - 0.5) is not None  # chunk 1
    taken = await claim(store, "other", at=NOW + LEASE)
    assert taken is not None
    assert (taken.seq, taken.owner) == (0, "other")


async def test_a_done_chunk_stays_done(store: Store) -> None:
    await add(store, 0)
    assert await claim(store, "w") is not None
    assert await store.chunk_done(RUN, 0, "w")

    assert not await store.chunk_done(RUN, 0, "w")  # once
    assert not await store.chunk_renew(RUN, 0, "w", now=NOW, lease_s=LEASE)
    assert await claim(store, "v", at=NOW + 1_000_000) is None  # however late
    assert not await store.chunk_add(RUN, 0, None)  # nor added again
    assert await store.chunk_counts(RUN) == {"done": 1}


async def test_counts_by_state(store: Store) -> None:
    assert await store.chunk_counts(RUN) == {}
    await add(store, 0, 1, 2, 3, 4)
    for owner in ("a", "b", "c"):
        assert await claim(store, owner) is not None
    assert await store.chunk_done(RUN, 1, "b")

    assert await store.chunk_counts(RUN) == {"pending": 2, "claimed": 2, "done": 1}
    assert await store.chunk_counts("run-2") == {}


# -- races ---------------------------------------------------------------------------------------

STORES = 5
CHUNKS = 40


async def test_five_stores_claim_every_chunk_exactly_once(open_stores: OpenStore) -> None:
    stores = [await open_stores() for _ in range(STORES)]
    for seq in range(CHUNKS):
        assert await stores[0].chunk_add(RUN, seq, f"t{seq}")

    async def worker(store: Store, owner: str) -> list[Chunk]:
        got = []
        while chunk := await claim(store, owner):
            got.append(chunk)
        return got

    claimed = await asyncio.gather(
        *(worker(stores[i % STORES], f"w{i}") for i in range(3 * STORES))
    )

    chunks = [chunk for chunks in claimed for chunk in chunks]
    assert sorted(c.seq for c in chunks) == list(range(CHUNKS))  # each once
    assert all(c.token == f"t{c.seq}" for c in chunks)
    assert await stores[1].chunk_counts(RUN) == {"claimed": CHUNKS}
    # Every chunk is held by the owner its claim answered: done succeeds for it alone.
    done = await asyncio.gather(*(stores[2].chunk_done(RUN, c.seq, c.owner or "") for c in chunks))
    assert all(done)
    assert await stores[3].chunk_counts(RUN) == {"done": CHUNKS}


PROCESSES = 4
TASKS_EACH = 3


async def test_processes_claim_every_chunk_exactly_once(
    backend: Backend, open_stores: OpenStore
) -> None:
    store = await open_stores()
    for seq in range(CHUNKS):
        assert await store.chunk_add(RUN, seq, f"t{seq}")
    order = {"do": "chunks", "run": RUN, "tasks": TASKS_EACH, "now": NOW, "lease_s": LEASE}

    async with workers(backend.url, PROCESSES) as processes:
        answers = await processes.each(order)

    claims = [claim for answer in answers for claim in answer]
    assert Counter(seq for _, seq, _ in claims) == dict.fromkeys(range(CHUNKS), 1)
    assert all(done for _, _, done in claims)  # each marked done by its one claimer
    assert await store.chunk_counts(RUN) == {"done": CHUNKS}
    owners = dict(await backend.sql("SELECT seq, owner FROM migration_chunks"))
    assert owners == {seq: owner for owner, seq, _ in claims}
