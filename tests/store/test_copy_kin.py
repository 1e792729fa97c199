"""Where a migration would copy an invoice beside a copy of the same invoice
(``migration.origin.kin_at_target``): the crosswalk walked both ways from the source invoice,
on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

from gateway.migration.origin import MAX_STEPS, Origin, Unfinished, kin_at_target
from gateway.store import CrosswalkEntry, Store


def copied(source: str, target: str, state: str = "verified", run: str = "r") -> CrosswalkEntry:
    """``source`` and ``target`` as "connection id"."""
    source_connection, source_id = source.split()
    target_connection, target_id = target.split()
    return CrosswalkEntry(
        source_connection=source_connection,
        source_id=source_id,
        target_connection=target_connection,
        target_id=target_id,
        fingerprint="fp",
        state=state,
        detail={},
        updated_at=1_800_000_000.0,
        run=run,
    )


async def test_a_copy_of_the_same_original_at_the_target_is_found_nearest_first(
    store: Store,
) -> None:
    for entry in (copied("a 1", "c 10"), copied("a 1", "b 20"), copied("b 20", "d 30")):
        await store.crosswalk_put(entry)
    # b 20's original, a 1, has a copy at c: a sibling.
    [kin] = await kin_at_target(store, ("b", "20"), [], "c")
    assert kin.invoice_id == "10"
    assert (
        kin.known_by == "the crosswalk: b 20 copied from a 1 by run r, a 1 copied to c 10 by run r"
    )
    # a copy of a copy: a 1 → b 20 → d 30, for a 1 to d.
    [kin] = await kin_at_target(store, ("a", "1"), [], "d")
    assert (kin.invoice_id, kin.known_by) == (
        "30",
        "the crosswalk: a 1 copied to b 20 by run r, b 20 copied to d 30 by run r",
    )
    # Its own copy at the target is none (a re-run's, or the one a resumed run finishes), and
    # neither is its original there (copied back: ``origin_at_target``).
    assert await kin_at_target(store, ("a", "1"), [], "c") == []
    assert await kin_at_target(store, ("b", "20"), [], "a") == []
    assert await kin_at_target(store, ("x", "1"), [], "c") == []


async def test_a_reverted_copy_is_no_kin_but_what_was_copied_from_it_is(store: Store) -> None:
    """A → B → C, then A → B reverted (its copy deleted; B → C's copy still at C): A → C."""
    await store.crosswalk_put(copied("a 1", "c 10", state="reverted"))
    await store.crosswalk_put(copied("a 1", "b 20"))
    assert await kin_at_target(store, ("b", "20"), [], "c") == []
    await store.crosswalk_put(copied("a 2", "b 21", state="reverted", run="ab"))
    await store.crosswalk_put(copied("b 21", "c 11", run="bc"))
    assert await kin_at_target(store, ("a", "2"), [], "c") == [
        Origin(
            "11",
            "the crosswalk: a 2 copied to b 21 by run ab (reverted), b 21 copied to c 11 by run bc",
        )
    ]


async def test_a_copy_made_from_a_replaced_copy_is_kin(store: Store) -> None:
    """A → B, B → C, then A → B reverted and copied again (its row replaced): A → C."""
    await store.crosswalk_put(copied("a 1", "b 20", state="reverted", run="ab"))
    await store.crosswalk_put(copied("b 20", "c 10", run="bc"))
    await store.crosswalk_put(copied("a 1", "b 21", run="ab2"))  # replaces a 1's row to b
    assert [k.invoice_id for k in await kin_at_target(store, ("a", "1"), [], "c")] == ["10"]


async def test_a_copy_begun_and_not_finished_at_the_target_is_unfinished(store: Store) -> None:
    """A → C cut off in its create (no copy recorded, one may be there), then A → B → C."""
    await store.crosswalk_put(replace(copied("a 2", "c 11", state="pending"), target_id=None))
    await store.crosswalk_put(copied("a 2", "b 21", run="ab"))
    assert await kin_at_target(store, ("b", "21"), [], "c") == [
        Unfinished(
            "the crosswalk: b 21 copied from a 2 by run ab, a 2 copied to c by run r, unfinished"
        )
    ]
    # Skipped or failed before anything was sent: nothing there.
    await store.crosswalk_put(replace(copied("a 3", "c 12", state="skipped"), target_id=None))
    await store.crosswalk_put(copied("a 3", "b 22"))
    assert await kin_at_target(store, ("b", "22"), [], "c") == []


async def test_the_walk_starts_from_what_the_invoices_stamps_name_too(store: Store) -> None:
    """A → B through another store (the copy's stamp names A's invoice), A → C here: B → C."""
    await store.crosswalk_put(copied("a 1", "c 10", run="ac"))
    assert await kin_at_target(store, ("b", "9"), [("a", "1")], "c") == [
        Origin("10", "its stamp migrated-from:a:1, a 1 copied to c 10 by run ac", stamped=True)
    ]
    await store.crosswalk_put(replace(copied("a 2", "d 1", state="pending"), target_id=None))
    assert await kin_at_target(store, ("b", "8"), [("a", "2")], "d") == [
        Unfinished("its stamp migrated-from:a:2, a 2 copied to d by run r, unfinished")
    ]


async def test_the_walk_ends_after_max_steps_copies(store: Store) -> None:
    # A chain a 0 → a 1 → … of MAX_STEPS + 1 copies, the last at c.
    for step in range(MAX_STEPS):
        await store.crosswalk_put(copied(f"a {step}", f"a {step + 1}"))
    await store.crosswalk_put(copied(f"a {MAX_STEPS}", "c 99"))
    assert [k.invoice_id for k in await kin_at_target(store, ("a", "1"), [], "c")] == ["99"]
    assert await kin_at_target(store, ("a", "0"), [], "c") == []
