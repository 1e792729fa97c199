"""The migration crosswalk and checkpoints: put, get, replace, list in order, page."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from gateway import jsonwire
from gateway.store import CrosswalkEntry, Store

NOW = 1_800_000_000.0


def entry(source_id: str, **changes: object) -> CrosswalkEntry:
    base = CrosswalkEntry(
        source_connection="crm",
        source_id=source_id,
        target_connection="billing",
        target_id=None,
        fingerprint=f"fp-{source_id}",
        state="pending",
        detail={},
        updated_at=NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_an_entry_round_trips_and_is_replaced(store: Store) -> None:
    assert await store.crosswalk_get("crm", "INV-1", "billing") is None
    pending = entry("INV-1")
    await store.crosswalk_put(pending)
    assert await store.crosswalk_get("crm", "INV-1", "billing") == pending

    created = entry(
        "INV-1",
        target_id="B-77",
        state="verified",
        fingerprint="fp-changed",
        detail={
            "warnings": ["rounding differs", "Café ☕"],
            "totals": {"source": "5250.00", "target": Decimal("5250.01")},
            "z": 1,
            "a": 2,
        },
        updated_at=NOW + 60.5,
    )
    await store.crosswalk_put(created)

    got = await store.crosswalk_get("crm", "INV-1", "billing")
    assert got == created
    assert got is not None
    assert jsonwire.dumps(got.detail) == jsonwire.dumps(created.detail)  # order, "5250.01"
    assert await store.crosswalk_list("crm", "billing") == [created]  # replaced, not added


async def test_the_target_connection_is_part_of_the_key(store: Store) -> None:
    to_billing = entry("INV-1", target_id="B-1")
    to_shop = entry("INV-1", target_connection="shop", target_id="S-1")
    await store.crosswalk_put(to_billing)
    await store.crosswalk_put(to_shop)

    assert await store.crosswalk_get("crm", "INV-1", "billing") == to_billing
    assert await store.crosswalk_get("crm", "INV-1", "shop") == to_shop
    assert await store.crosswalk_get("other", "INV-1", "billing") is None


async def test_list_orders_by_source_id_and_pages_after_one(store: Store) -> None:
    # Code-point order, whatever the database's locale: "B" < "a" < "b" < "é".
    ids = ["b", "é", "INV-10", "INV-2", "a", "B", "INV-1"]
    for source_id in ids:
        await store.crosswalk_put(entry(source_id))
    await store.crosswalk_put(entry("a-other-pair", source_connection="shop"))
    await store.crosswalk_put(entry("a-other-target", target_connection="shop"))
    expected = ["B", "INV-1", "INV-10", "INV-2", "a", "b", "é"]

    everything = await store.crosswalk_list("crm", "billing")
    assert [e.source_id for e in everything] == expected
    assert everything[0] == entry("B")

    pages: list[list[str]] = []
    after: str | None = None
    while page := await store.crosswalk_list("crm", "billing", after_source_id=after, limit=3):
        pages.append([e.source_id for e in page])
        after = page[-1].source_id
    assert pages == [expected[0:3], expected[3:6], expected[6:]]

    assert [
        e.source_id for e in await store.crosswalk_list("crm", "billing", after_source_id="INV-")
    ] == ["INV-1", "INV-10", "INV-2", "a", "b", "é"]
    assert await store.crosswalk_list("crm", "billing", after_source_id="é") == []
    assert await store.crosswalk_list("nowhere", "billing") == []


async def test_checkpoints_round_trip_and_are_replaced(store: Store) -> None:
    assert await store.checkpoint_get("crm->billing") is None
    first = {"cursor": "page-2", "counts": {"copied": 40, "failed": 1}, "since": "2027-01-01"}
    await store.checkpoint_put("crm->billing", first, now=NOW)
    assert await store.checkpoint_get("crm->billing") == first

    second = {"cursor": None, "counts": {"copied": 56, "failed": 1}, "done": True}
    await store.checkpoint_put("crm->billing", second, now=NOW + 1)
    await store.checkpoint_put("crm->shop", {"cursor": "x"}, now=NOW + 2)

    assert await store.checkpoint_get("crm->billing") == second
    assert await store.checkpoint_get("crm->shop") == {"cursor": "x"}


async def test_the_run_round_trips_and_is_replaced_with_the_entry(store: Store) -> None:
    first = entry("INV-1", run="run-1")
    await store.crosswalk_put(first)
    assert await store.crosswalk_get("crm", "INV-1", "billing") == first

    again = entry("INV-1", run="run-2", state="created", target_id="B-1")
    await store.crosswalk_put(again)
    assert await store.crosswalk_get("crm", "INV-1", "billing") == again
    assert await store.crosswalk_by_run("run-1") == []
    assert await store.crosswalk_by_run("run-2") == [again]

    untouched = entry("INV-2")  # written without a run (as before runs existed)
    await store.crosswalk_put(untouched)
    got = await store.crosswalk_get("crm", "INV-2", "billing")
    assert got is not None
    assert got.run is None


async def test_by_run_orders_by_connection_then_id_and_pages_after_a_pair(store: Store) -> None:
    # Code-point order for connections too: "Shop" < "crm" < "crm2" (a locale would say
    # otherwise); ids as in crosswalk_list.
    pairs = [
        ("crm", "b"),
        ("Shop", "INV-2"),
        ("crm", "é"),
        ("crm2", "A"),
        ("crm", "INV-10"),
        ("Shop", "B"),
        ("crm", "a"),
        ("crm", "INV-2"),
    ]
    for connection, source_id in pairs:
        await store.crosswalk_put(entry(source_id, source_connection=connection, run="run-1"))
    await store.crosswalk_put(entry("c", run="run-2"))  # another run
    await store.crosswalk_put(entry("INV-1"))  # no run
    expected = [
        ("Shop", "B"),
        ("Shop", "INV-2"),
        ("crm", "INV-10"),
        ("crm", "INV-2"),
        ("crm", "a"),
        ("crm", "b"),
        ("crm", "é"),
        ("crm2", "A"),
    ]

    everything = await store.crosswalk_by_run("run-1")
    assert [(e.source_connection, e.source_id) for e in everything] == expected
    assert everything[0] == entry("B", source_connection="Shop", run="run-1")

    pages: list[list[tuple[str, str]]] = []
    after: tuple[str, str] | None = None
    while page := await store.crosswalk_by_run("run-1", after=after, limit=3):
        pages.append([(e.source_connection, e.source_id) for e in page])
        after = (page[-1].source_connection, page[-1].source_id)
    assert pages == [expected[0:3], expected[3:6], expected[6:]]

    # After a pair that is not there: from the next one; the connection alone counts first.
    after_absent = await store.crosswalk_by_run("run-1", after=("crm", "INV-1"))
    assert [(e.source_connection, e.source_id) for e in after_absent] == expected[2:]
    after_connection = await store.crosswalk_by_run("run-1", after=("crm", "\U0010ffff"))
    assert [(e.source_connection, e.source_id) for e in after_connection] == [("crm2", "A")]
    assert await store.crosswalk_by_run("run-1", after=("crm2", "A")) == []
    assert await store.crosswalk_by_run("run-3") == []


async def test_the_copies_made_as_one_target_invoice_are_found_by_it(store: Store) -> None:
    copied = entry("INV-1", target_id="B-77", state="verified")
    from_shop = entry("S-9", source_connection="shop", target_id="B-77", state="reverted")
    elsewhere = entry("INV-2", target_id="B-78", state="verified")
    other_target = entry("INV-3", target_connection="shop", target_id="B-77", state="verified")
    pending = entry("INV-4")  # no copy yet: found by no target id
    for each in (copied, from_shop, elsewhere, other_target, pending):
        await store.crosswalk_put(each)
    assert await store.crosswalk_copies_as("billing", "B-77") == [copied, from_shop]
    assert await store.crosswalk_copies_as("shop", "B-77") == [other_target]
    assert await store.crosswalk_copies_as("billing", "INV-1") == []


async def test_the_copies_of_one_source_invoice_are_found_by_it(store: Store) -> None:
    """Where one invoice was copied, whatever the target: ordered by the target connection."""
    to_billing = entry("INV-1", target_id="B-77", state="verified")
    to_shop = entry("INV-1", target_connection="shop", target_id="S-1", state="created")
    to_ab = entry("INV-1", target_connection="ab", state="pending")  # none made yet: kept too
    other = entry("INV-2", target_id="B-78", state="verified")
    elsewhere = entry("INV-1", source_connection="shop", target_id="B-79", state="verified")
    for each in (to_billing, to_shop, to_ab, other, elsewhere):
        await store.crosswalk_put(each)
    assert await store.crosswalk_copies_of("crm", "INV-1") == [to_ab, to_billing, to_shop]
    assert await store.crosswalk_copies_of("shop", "INV-1") == [elsewhere]
    assert await store.crosswalk_copies_of("crm", "B-77") == []
    # Copied again to billing after a revert: the first copy is still one of its copies.
    reverted = replace(to_billing, state="reverted")
    await store.crosswalk_put(reverted)
    again = replace(to_billing, target_id="B-80", run="again")
    await store.crosswalk_put(again)
    assert await store.crosswalk_copies_of("crm", "INV-1") == [to_ab, reverted, again, to_shop]


async def test_a_copy_whose_row_another_copy_replaced_is_still_found_by_it(store: Store) -> None:
    """A run that copies an invoice again after a revert (which could only void the first copy)
    writes its row over the first copy's: the first copy, still at the target, was no longer
    found as one, and a migration back copied it as a second invoice beside its original."""
    first = entry("INV-1", target_id="B-1", state="reverted", run="there")
    await store.crosswalk_put(first)
    again = entry("INV-1", run="again")  # the new run's row, naming no copy yet
    await store.crosswalk_put(again)
    second = replace(again, target_id="B-2", state="verified")
    await store.crosswalk_put(second)
    await store.crosswalk_put(replace(second, state="reverted"))  # the same copy: nothing kept
    assert await store.crosswalk_get("crm", "INV-1", "billing") == replace(second, state="reverted")
    assert await store.crosswalk_copies_as("billing", "B-1") == [first]
    assert await store.crosswalk_copies_as("billing", "B-2") == [replace(second, state="reverted")]
    assert await store.crosswalk_copies_as("billing", "B-3") == []
