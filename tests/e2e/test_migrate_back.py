"""A migration back to where its invoices came from (A → B, then B → A) copies none of B's
copies back as a second invoice at A: each is a skip naming its original, known from the
crosswalk or, through another store, from the stamp bill_crm's copies carry. An original that
A no longer holds is copied back (a restore, not a double)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from gateway.migration.reasons import EARLIER_COPY, SOURCE_CHANGED
from gateway.sandbox.serve import Sandbox
from gateway.store import CrosswalkEntry, open_store
from tests.e2e import migrating as m
from tests.e2e.exporting import emulator_faults
from tests.e2e.sandbox import sandbox_in_thread
from tests.e2e.test_migrate_runs import args_for, killed_in_create
from tests.stores import sqlite_url


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=12) as running:
        yield running


async def made(sandbox: Sandbox, connection: str, count: int) -> list[str]:
    bodies = [m.portable_invoice(connection) for _ in range(count)]
    return [
        str(created["id"])
        for created in await asyncio.gather(*(m.create(sandbox, connection, b) for b in bodies))
    ]


async def delete(sandbox: Sandbox, connection: str, invoice_id: str) -> None:
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    where = f"{sandbox.gateway_url}/v1/connections/{connection}/invoices/{invoice_id}"
    async with aiohttp.ClientSession() as session, session.delete(where, headers=headers) as r:
        assert r.status == 204


def migrate(
    config: Path, folder: Path, source: str, target: str, ids: list[str], run: str, *more: str
) -> m.Ran:
    args = [
        "--from", source, "--to", target, "--ids", str(m.ids_file(folder, ids, f"{run}.ids")),
        "--map", str(m.map_file(folder, target)), "--lenient", "--run", run, *more,
    ]  # fmt: skip
    return m.run(config, "run", *args, report=folder / f"{run}.jsonl")


async def there_and_back(
    sandbox: Sandbox, folder: Path, source: str, target: str, count: int
) -> tuple[list[str], dict[str, str], Path]:
    """``count`` new ``source`` invoices copied to ``target``: their ids, each one's copy, and
    the configuration (a store of the test's own)."""
    originals = await made(sandbox, source, count)
    config = m.config_for(folder, sandbox, sqlite_url())
    there = migrate(config, folder, source, target, originals, "there")
    assert there.code == 0, there.stderr
    copies = {e["source_id"]: e["target_id"] for e in there.report}
    assert sorted(copies) == sorted(originals) and all(copies.values())
    return originals, copies, config


@pytest.mark.parametrize(
    ("source", "target"), [("crm_v1", "bill_crm"), ("item_envelope", "crm_v1")]
)
async def test_copies_migrated_back_to_their_origin_are_skipped_naming_it(
    sandbox: Sandbox, tmp_path: Path, source: str, target: str
) -> None:
    _, copies, config = await there_and_back(sandbox, tmp_path, source, target, 3)
    before = len(await m.listing(sandbox, source))
    log = len(await m.requests_log(sandbox, source))

    back = migrate(config, tmp_path, target, source, list(copies.values()), "back")

    assert back.outcomes() == dict.fromkeys(copies.values(), "skipped"), back.stderr
    for entry in back.report:
        original = next(o for o, c in copies.items() if c == entry["source_id"])
        assert entry["reason"] == (
            f"a copy of {source} invoice {original} (the crosswalk: {target} "
            f"{entry['source_id']} copied from {source} {original} by run there), which "
            f"{source} still holds: copied back, it would be there twice"
        )
        assert entry["target_id"] is None
    assert len(await m.listing(sandbox, source)) == before
    written = [e for e in (await m.requests_log(sandbox, source))[log:] if e["method"] != "GET"]
    assert written == []
    dry = migrate(config, tmp_path, target, source, list(copies.values()), "look", "--dry-run")
    assert set(dry.outcomes().values()) == {"skipped"}, dry.stderr


async def test_through_another_store_the_stamp_of_a_copy_names_its_origin(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    _, copies, _ = await there_and_back(sandbox, tmp_path, "crm_v1", "bill_crm", 2)
    elsewhere = m.config_for(tmp_path, sandbox, sqlite_url(), "elsewhere.yaml")
    before = len(await m.listing(sandbox, "crm_v1"))

    back = migrate(elsewhere, tmp_path, "bill_crm", "crm_v1", list(copies.values()), "back")

    assert set(back.outcomes().values()) == {"skipped"}, back.stderr
    reasons = {e["source_id"]: e["reason"] for e in back.report}
    for original, copy in copies.items():
        assert reasons[copy].startswith(
            f"a copy of crm_v1 invoice {original} (its stamp migrated-from:crm_v1:{original})"
        )
    assert len(await m.listing(sandbox, "crm_v1")) == before


async def test_a_copy_whose_original_is_gone_is_copied_back(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    originals, copies, config = await there_and_back(sandbox, tmp_path, "crm_v1", "bill_crm", 2)
    gone, kept = originals
    await delete(sandbox, "crm_v1", gone)

    back = migrate(config, tmp_path, "bill_crm", "crm_v1", list(copies.values()), "back")

    assert back.outcomes() == {copies[gone]: "copied", copies[kept]: "skipped"}, back.stderr
    restored = next(e["target_id"] for e in back.report if e["source_id"] == copies[gone])
    assert restored not in (gone, kept)
    assert (await m.read(sandbox, "crm_v1", restored))["totals"]["total"] == (
        (await m.read(sandbox, "bill_crm", copies[gone]))["totals"]["total"]
    )


async def test_a_copy_of_a_copy_migrated_back_to_the_first_is_skipped(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # crm_v1 → item_envelope → bill_crm, then bill_crm → crm_v1: the crosswalk followed back.
    originals, first, config = await there_and_back(sandbox, tmp_path, "crm_v1", "item_envelope", 2)
    second = migrate(config, tmp_path, "item_envelope", "bill_crm", list(first.values()), "on")
    assert second.code == 0, second.stderr
    copies = {e["source_id"]: e["target_id"] for e in second.report}
    before = len(await m.listing(sandbox, "crm_v1"))

    back = migrate(config, tmp_path, "bill_crm", "crm_v1", list(copies.values()), "back")

    assert set(back.outcomes().values()) == {"skipped"}, back.stderr
    reasons = {e["source_id"]: e["reason"] for e in back.report}
    for original in originals:
        middle = first[original]
        assert reasons[copies[middle]].startswith(
            f"a copy of crm_v1 invoice {original} (the crosswalk: bill_crm {copies[middle]} "
            f"copied from item_envelope {middle} by run on, item_envelope {middle} copied from "
            f"crm_v1 {original} by run there)"
        )
    assert len(await m.listing(sandbox, "crm_v1")) == before


async def copied_aside(sandbox: Sandbox, folder: Path) -> tuple[str, str, str, Path]:
    """A new crm_v1 invoice copied to item_envelope by run "side", in a store of the test's
    own: the invoice's id, its copy's, the store's URL and the configuration."""
    [original] = await made(sandbox, "crm_v1", 1)
    url = sqlite_url()
    config = m.config_for(folder, sandbox, url)
    side = migrate(config, folder, "crm_v1", "item_envelope", [original], "side")
    assert side.code == 0, side.stderr
    [at_item] = [e["target_id"] for e in side.report]
    return original, at_item, url, config


async def plant(url: str, *rows: tuple[str, str, str, str | None, str, str]) -> None:
    """Crosswalk rows as a run cut off leaves them: (source, source id, target, its copy's id,
    state, run)."""
    store = open_store(url)
    await store.open()
    try:
        for source, source_id, target, target_id, state, run in rows:
            now = time.time()
            row = CrosswalkEntry(source, source_id, target, target_id, "fp", state, {}, now, run)
            await store.crosswalk_put(row)
    finally:
        await store.close()


def kin_in_bill_crm(*steps: str) -> str:
    """A skip's reason where bill_crm holds a copy of the same invoice, found by ``steps``."""
    path = ", ".join(steps)
    return (
        f"bill_crm already holds a copy of the same invoice (the crosswalk: {path}): copied, it "
        "would be there twice"
    )


async def test_a_copy_of_an_invoice_already_copied_to_the_target_is_skipped_naming_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """crm_v1 → bill_crm and crm_v1 → item_envelope, then item_envelope → bill_crm: each copy
    at item_envelope was copied to bill_crm beside the copy bill_crm already held of the same
    crm_v1 invoice (the customer billed twice). It is a skip naming that copy; once the copy
    at bill_crm is gone, the copy goes ahead (it doubles nothing)."""
    originals, at_bill, config = await there_and_back(sandbox, tmp_path, "crm_v1", "bill_crm", 2)
    side = migrate(config, tmp_path, "crm_v1", "item_envelope", originals, "side")
    assert side.code == 0, side.stderr
    at_item = {e["source_id"]: e["target_id"] for e in side.report}
    before = len(await m.listing(sandbox, "bill_crm"))
    log = len(await m.requests_log(sandbox, "bill_crm"))

    dry = migrate(
        config, tmp_path, "item_envelope", "bill_crm", list(at_item.values()), "look", "--dry-run"
    )
    assert set(dry.outcomes().values()) == {"skipped"}, dry.stderr
    on = migrate(config, tmp_path, "item_envelope", "bill_crm", list(at_item.values()), "on")

    assert on.outcomes() == dict.fromkeys(at_item.values(), "skipped"), on.stderr
    assert {e["source_id"]: e["reason"] for e in on.report} == {
        at_item[original]: kin_in_bill_crm(
            f"item_envelope {at_item[original]} copied from crm_v1 {original} by run side",
            f"crm_v1 {original} copied to bill_crm {at_bill[original]} by run there",
        )
        for original in originals
    }
    assert len(await m.listing(sandbox, "bill_crm")) == before
    written = [e for e in (await m.requests_log(sandbox, "bill_crm"))[log:] if e["method"] != "GET"]
    assert written == []

    gone, kept = originals
    await delete(sandbox, "bill_crm", at_bill[gone])
    again = migrate(config, tmp_path, "item_envelope", "bill_crm", list(at_item.values()), "again")
    assert again.outcomes() == {at_item[gone]: "copied", at_item[kept]: "skipped"}, again.stderr


async def test_an_invoice_whose_copy_was_copied_to_the_target_is_skipped_naming_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """crm_v1 → item_envelope → bill_crm, then crm_v1 → bill_crm: the original is not copied
    where a copy of its copy already is."""
    originals, first, config = await there_and_back(sandbox, tmp_path, "crm_v1", "item_envelope", 2)
    on = migrate(config, tmp_path, "item_envelope", "bill_crm", list(first.values()), "on")
    assert on.code == 0, on.stderr
    second = {e["source_id"]: e["target_id"] for e in on.report}
    before = len(await m.listing(sandbox, "bill_crm"))

    direct = migrate(config, tmp_path, "crm_v1", "bill_crm", originals, "direct")

    assert direct.outcomes() == dict.fromkeys(originals, "skipped"), direct.stderr
    assert {e["source_id"]: e["reason"] for e in direct.report} == {
        original: kin_in_bill_crm(
            f"crm_v1 {original} copied to item_envelope {first[original]} by run there",
            f"item_envelope {first[original]} copied to bill_crm {second[first[original]]} "
            "by run on",
        )
        for original in originals
    }
    assert len(await m.listing(sandbox, "bill_crm")) == before


async def test_what_was_copied_from_a_reverted_copy_still_counts(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """crm_v1 → item_envelope → bill_crm, the first run reverted (its copies deleted; bill_crm's
    stay), then crm_v1 → bill_crm: bill_crm already holds a copy of each, reached through the
    reverted copy."""
    originals, first, config = await there_and_back(sandbox, tmp_path, "crm_v1", "item_envelope", 1)
    on = migrate(config, tmp_path, "item_envelope", "bill_crm", list(first.values()), "on")
    assert on.code == 0, on.stderr
    second = {e["source_id"]: e["target_id"] for e in on.report}
    reverted = m.run(config, "revert", "--run", "there", report=tmp_path / "revert.jsonl")
    assert reverted.code == 0, reverted.stderr
    before = len(await m.listing(sandbox, "bill_crm"))

    direct = migrate(config, tmp_path, "crm_v1", "bill_crm", originals, "direct")

    [original] = originals
    middle = first[original]
    assert {e["source_id"]: e["reason"] for e in direct.report} == {
        original: kin_in_bill_crm(
            f"crm_v1 {original} copied to item_envelope {middle} by run there (reverted)",
            f"item_envelope {middle} copied to bill_crm {second[middle]} by run on",
        )
    }, direct.stderr
    assert len(await m.listing(sandbox, "bill_crm")) == before


async def test_a_copy_named_by_a_stamp_already_copied_to_the_target_is_skipped(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """crm_v1 → bill_crm through another store (bill_crm's copy stamped), crm_v1 → item_envelope
    here, then bill_crm → item_envelope here: the stamp leads to the copy item_envelope holds."""
    originals = await made(sandbox, "crm_v1", 1)
    elsewhere = m.config_for(tmp_path, sandbox, sqlite_url(), "elsewhere.yaml")
    there = migrate(elsewhere, tmp_path, "crm_v1", "bill_crm", originals, "there")
    assert there.code == 0, there.stderr
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    side = migrate(config, tmp_path, "crm_v1", "item_envelope", originals, "side")
    assert side.code == 0, side.stderr
    [original] = originals
    [copy] = [e["target_id"] for e in there.report]
    [at_item] = [e["target_id"] for e in side.report]

    on = migrate(config, tmp_path, "bill_crm", "item_envelope", [copy], "on")

    assert on.outcomes() == {copy: "skipped"}, on.stderr
    assert on.report[0]["reason"] == (
        f"item_envelope already holds a copy of the same invoice (its stamp "
        f"migrated-from:crm_v1:{original}, crm_v1 {original} copied to item_envelope {at_item} "
        "by run side): copied, it would be there twice"
    )


async def test_a_copy_of_an_invoice_whose_copy_to_the_target_is_unfinished_waits_for_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """crm_v1 → bill_crm cut off in its create (the crosswalk's row "pending", naming no copy:
    one may be there), crm_v1 → item_envelope, then item_envelope → bill_crm: a skip saying to
    finish the first; once it is finished, the copy of the copy is skipped for it."""
    original, at_item, url, config = await copied_aside(sandbox, tmp_path)
    originals = [original]
    await plant(url, ("crm_v1", original, "bill_crm", None, "pending", "there"))
    before = len(await m.listing(sandbox, "bill_crm"))

    on = migrate(config, tmp_path, "item_envelope", "bill_crm", [at_item], "on")

    assert on.outcomes() == {at_item: "skipped"}, on.stderr
    assert on.report[0]["reason"] == (
        "a copy of the same invoice to bill_crm was begun and not finished (the crosswalk: "
        f"item_envelope {at_item} copied from crm_v1 {original} by run side, crm_v1 {original} "
        "copied to bill_crm by run there, unfinished): it may be there; run that migration "
        "again to finish it first, or it would be there twice"
    )
    assert len(await m.listing(sandbox, "bill_crm")) == before
    there = migrate(config, tmp_path, "crm_v1", "bill_crm", originals, "there")
    assert there.outcomes() == {original: "copied"}, there.stderr
    again = migrate(config, tmp_path, "item_envelope", "bill_crm", [at_item], "again")
    assert again.outcomes() == {at_item: "skipped"}, again.stderr
    assert again.report[0]["reason"].startswith("bill_crm already holds a copy of the same")


async def test_a_copy_begun_is_finished_whatever_its_kin_began_meanwhile(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """crm_v1 → bill_crm killed in its create (sent: its key holds it), item_envelope → bill_crm
    of the invoice's copy cut off too ("pending"): resumed, the first was skipped for the
    second's unfinished copy, and its own "pending" row, the only record of a copy that may be
    at bill_crm, was written over. A copy whose create was sent is finished first."""
    original, at_item, url, config = await copied_aside(sandbox, tmp_path)
    args = args_for(tmp_path, "crm_v1", "bill_crm", [original], "there")
    await killed_in_create(sandbox, config, url, args, tmp_path / "cut.jsonl")
    before = len(await m.listing(sandbox, "bill_crm")) - 1
    await plant(url, ("item_envelope", at_item, "bill_crm", None, "pending", "on"))

    there = migrate(config, tmp_path, "crm_v1", "bill_crm", [original], "there")

    assert there.outcomes() == {original: "copied"}, there.stderr
    [entry] = await m.crosswalk(url, "there")
    assert (entry.state, entry.target_id) == ("verified", there.report[0]["target_id"])
    assert len(await m.listing(sandbox, "bill_crm")) == before + 1


async def test_copies_begun_that_sent_nothing_wait_for_each_other_as_new_ones(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """An invoice and its copy, each cut off on its way to bill_crm before its create was sent
    ("pending", no key): each is checked as a new copy, so the first waits for the second,
    which is copied, and then the first is skipped for it: bill_crm holds the invoice once."""
    original, at_item, url, config = await copied_aside(sandbox, tmp_path)
    await plant(
        url,
        ("crm_v1", original, "bill_crm", None, "pending", "there"),
        ("item_envelope", at_item, "bill_crm", None, "pending", "on"),
    )
    before = len(await m.listing(sandbox, "bill_crm"))

    first = migrate(config, tmp_path, "crm_v1", "bill_crm", [original], "there")
    on = migrate(config, tmp_path, "item_envelope", "bill_crm", [at_item], "on")
    again = migrate(config, tmp_path, "crm_v1", "bill_crm", [original], "there")

    assert first.outcomes() == {original: "skipped"}, first.stderr
    assert "was begun and not finished" in first.report[0]["reason"]
    assert on.outcomes() == {at_item: "copied"}, on.stderr
    assert again.outcomes() == {original: "skipped"}, again.stderr
    assert again.report[0]["reason"].startswith("bill_crm already holds a copy of the same")
    assert len(await m.listing(sandbox, "bill_crm")) == before + 1


async def test_a_copy_made_and_gone_since_is_checked_before_it_is_made_again(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A copy whose later step failed (its row names it), deleted at the target since and its
    create's key expired, is made again on resume: it was resumed unchecked, and made beside the
    copy of its copy the target holds."""
    original, at_item, url, config = await copied_aside(sandbox, tmp_path)
    originals = [original]
    on = migrate(config, tmp_path, "item_envelope", "bill_crm", [at_item], "on")
    assert on.code == 0, on.stderr
    [at_bill] = [e["target_id"] for e in on.report]
    await plant(url, ("crm_v1", original, "bill_crm", "999999", "failed", "direct"))
    before = len(await m.listing(sandbox, "bill_crm"))

    direct = migrate(config, tmp_path, "crm_v1", "bill_crm", originals, "direct")

    assert direct.outcomes() == {original: "skipped"}, direct.stderr
    assert direct.report[0]["reason"] == kin_in_bill_crm(
        f"crm_v1 {original} copied to item_envelope {at_item} by run side",
        f"item_envelope {at_item} copied to bill_crm {at_bill} by run on",
    )
    assert len(await m.listing(sandbox, "bill_crm")) == before


async def _issue_failing(sandbox: Sandbox, tmp_path: Path) -> tuple[str, str, str, Path]:
    """crm_v1 → bill_crm, its issue refused with 503s: the copy made, not finished. The
    source id, the copy's, the store URL and the configuration."""
    [original] = await made(sandbox, "crm_v1", 1)
    url = sqlite_url()
    config = m.config_for(tmp_path, sandbox, url)
    publish = {
        "error_rate": 1,
        "error_status": 503,
        "methods": ["POST"],
        "path_regex": r"/invoices/\d+/publish$",
    }
    emulator_faults(sandbox, "bill_crm", publish)
    try:
        first = migrate(config, tmp_path, "crm_v1", "bill_crm", [original], "there")
    finally:
        emulator_faults(sandbox, "bill_crm", None)
    assert first.outcomes() == {original: "failed"}, first.stderr
    copy = first.report[0]["target_id"]
    assert copy is not None
    return original, copy, url, config


def expire_keys(url: str) -> None:
    """The store's keys as a day later (``idempotency_ttl_hours``): expired."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE idempotency_keys SET expires_at = ?", (time.time() - 10,))


async def test_a_copy_not_finished_before_its_keys_expired_is_left_to_be_finished_by_hand(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Resumed after its keys expired, a copy the crosswalk names, still at the target, was
    created a second time beside it (and the crosswalk forgot the first); taken up without its
    create, its payments were sent again under their expired keys. Nothing is sent: it fails,
    naming the copy and how to finish it, and the crosswalk keeps it; once finished at the
    target by hand, it is taken as finished (the dry run says all of it first)."""
    original, copy, url, config = await _issue_failing(sandbox, tmp_path)
    expire_keys(url)
    before = {i["id"] for i in await m.listing(sandbox, "bill_crm")}
    log = len(await m.requests_log(sandbox, "bill_crm"))
    stuck = (
        f"copied as {copy} by run there and not finished (status not as the source's), and its "
        "steps' Idempotency-Keys have expired since (idempotency_ttl_hours): finished now, a "
        "step it made could be made twice. Finish the copy at bill_crm and run again (a copy "
        "that then reads as its source is taken as finished), or delete it there and run again "
        "to copy it anew"
    )

    look = migrate(config, tmp_path, "crm_v1", "bill_crm", [original], "look", "--dry-run")
    again = migrate(config, tmp_path, "crm_v1", "bill_crm", [original], "there")

    assert look.outcomes() == {original: "failed"}, look.stderr
    assert again.outcomes() == {original: "failed"}, again.stderr
    assert look.report[0]["reason"] == again.report[0]["reason"] == stuck
    assert again.report[0]["target_id"] == copy
    written = [e for e in (await m.requests_log(sandbox, "bill_crm"))[log:] if e["method"] != "GET"]
    assert written == []
    assert {i["id"] for i in await m.listing(sandbox, "bill_crm")} == before
    [entry] = await m.crosswalk(url, "there")
    assert (entry.target_id, entry.state) == (copy, "failed")
    await m.api(sandbox, "POST", f"/v1/connections/bill_crm/invoices/{copy}/issue")
    finished = migrate(config, tmp_path, "crm_v1", "bill_crm", [original], "there")
    assert finished.outcomes() == {original: "copied"}, finished.stderr
    assert finished.report[0]["target_id"] == copy
    [entry] = await m.crosswalk(url, "there")
    assert (entry.target_id, entry.state) == (copy, "verified")


async def test_a_copy_finished_by_hand_after_its_source_changed_says_so(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A source changed since its copy was made (its notes: figures alike), keys expired, the
    copy finished by hand: taken as finished, it was reported exact with nothing said, and the
    row took the new source's fingerprint, so no later run said it either."""
    original, copy, url, config = await _issue_failing(sandbox, tmp_path)
    expire_keys(url)
    source = await m.read(sandbox, "crm_v1", original)
    path = f"/v1/connections/crm_v1/invoices/{original}"
    await m.api(sandbox, "PUT", path, {**source, "notes": "changed after the copy"})
    await m.api(sandbox, "POST", f"/v1/connections/bill_crm/invoices/{copy}/issue")

    finished = migrate(config, tmp_path, "crm_v1", "bill_crm", [original], "there")

    assert finished.outcomes() == {original: "copied"}, finished.stderr
    assert {"field": "", "reason": EARLIER_COPY} in finished.report[0]["warnings"]
    later = migrate(config, tmp_path, "crm_v1", "bill_crm", [original], "there")
    assert later.outcomes() == {original: "already_copied"}, later.stderr
    assert later.report[0]["reason"] == SOURCE_CHANGED


async def test_a_copy_made_and_deleted_since_is_made_anew_while_its_key_is_kept(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Deleted at the target before its resume, a copy whose create's key is still kept: the
    key replayed the copy gone, and every resume failed on it for the key's lifetime."""
    original, copy, url, config = await _issue_failing(sandbox, tmp_path)
    await delete(sandbox, "bill_crm", copy)

    again = migrate(config, tmp_path, "crm_v1", "bill_crm", [original], "again")

    assert again.outcomes() == {original: "copied"}, again.stderr
    anew = again.report[0]["target_id"]
    assert anew not in (None, copy)
    assert (await m.read(sandbox, "bill_crm", anew))["status"] == "open"
    # This run's copy, not the earlier run's: its revert finds it.
    assert again.report[0].get("made_by_run") is None
    [entry] = await m.crosswalk(url, "again")
    assert entry.target_id == anew


async def test_a_stamp_naming_an_invoice_unlike_it_or_none_there_is_no_origin(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A tag a person typed (or one naming a connection since pointed at another account)
    names an invoice that does not read as the copy: the invoice is copied, not skipped."""
    other = m.portable_invoice("crm_v1")
    unlike = await m.create(sandbox, "crm_v1", {**other, "issue_date": "2026-04-02"})
    typed = {
        "unlike": f"migrated-from:crm_v1:{unlike['id']}",
        "missing": "migrated-from:crm_v1:987654",
        "no-record": "migrated-from:crm_v1:..%2F1",
    }
    made = {
        name: await m.create(sandbox, "bill_crm", {**m.portable_invoice("bill_crm"), "tags": [tag]})
        for name, tag in typed.items()
    }
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    ids = [str(invoice["id"]) for invoice in made.values()]

    back = migrate(config, tmp_path, "bill_crm", "crm_v1", ids, "typed")

    assert back.outcomes() == dict.fromkeys(ids, "copied"), back.stderr


async def voided_copy(sandbox: Sandbox, folder: Path) -> tuple[str, str, Path]:
    """An open crm_v1 invoice copied to draft_publish by run ``there``, then reverted: the
    original's id, its copy's (issued, so voided: draft_publish deletes drafts alone) and the
    configuration."""
    issued = await m.api(sandbox, "GET", "/v1/connections/crm_v1/invoices?status=open&limit=1")
    original = issued["data"][0]["id"]
    config = m.config_for(folder, sandbox, sqlite_url())
    there = migrate(config, folder, "crm_v1", "draft_publish", [original], "there")
    assert there.code == 0, there.stderr
    copy = there.report[0]["target_id"]
    reverted = m.run(config, "revert", "--run", "there", report=folder / "revert.jsonl")
    assert reverted.code == 0, reverted.stderr
    assert (await m.read(sandbox, "draft_publish", copy))["status"] == "void"
    return original, copy, config


async def test_a_copy_a_revert_could_only_void_is_not_copied_back(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    original, copy, config = await voided_copy(sandbox, tmp_path)
    before = len(await m.listing(sandbox, "crm_v1"))

    back = migrate(config, tmp_path, "draft_publish", "crm_v1", [copy], "back")

    assert back.outcomes() == {copy: "skipped"}, back.stderr
    assert back.report[0]["reason"].startswith(f"a copy of crm_v1 invoice {original} ")
    assert len(await m.listing(sandbox, "crm_v1")) == before


async def test_a_voided_copy_is_not_copied_back_after_its_source_was_copied_again(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Copied, reverted (the issued copy voided, still there), then copied again by another
    run: the second copy's crosswalk row replaced the first's, and a migration back copied the
    voided first copy to crm_v1 as a second, open invoice beside its original."""
    original, first, config = await voided_copy(sandbox, tmp_path)
    again = migrate(config, tmp_path, "crm_v1", "draft_publish", [original], "again")
    assert again.code == 0, again.stderr
    second = again.report[0]["target_id"]
    assert second != first
    before = len(await m.listing(sandbox, "crm_v1"))

    back = migrate(config, tmp_path, "draft_publish", "crm_v1", [first, second], "back")

    assert back.outcomes() == {first: "skipped", second: "skipped"}, back.stderr
    reasons = {e["source_id"]: e["reason"] for e in back.report}
    assert reasons[first].startswith(
        f"a copy of crm_v1 invoice {original} (the crosswalk: draft_publish {first} copied from "
        f"crm_v1 {original} by run there)"
    ), reasons[first]
    assert "by run again)" in reasons[second]
    assert len(await m.listing(sandbox, "crm_v1")) == before


async def test_a_stamp_naming_the_target_after_another_stamp_is_read(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A copy of a copy carries its source's stamps with its own (bill_crm's tags travel with
    the copy); only the first was read, and through another store a copy whose later stamp
    named the target was copied there a second time."""
    body = m.portable_invoice("crm_v1")
    original = str((await m.create(sandbox, "crm_v1", body))["id"])
    stamps = ["migrated-from:item_envelope:4242", f"migrated-from:crm_v1:{original}"]
    copy = await m.create(sandbox, "bill_crm", {**m.portable_invoice("bill_crm"), "tags": stamps})
    assert (copy["issue_date"], copy["currency"]) == (body["issue_date"], body["currency"])
    config = m.config_for(tmp_path, sandbox, sqlite_url())  # a store that knows neither
    before = len(await m.listing(sandbox, "crm_v1"))

    back = migrate(config, tmp_path, "bill_crm", "crm_v1", [str(copy["id"])], "stamps")

    assert back.outcomes() == {str(copy["id"]): "skipped"}, back.stderr
    assert back.report[0]["reason"].startswith(
        f"a copy of crm_v1 invoice {original} (its stamp migrated-from:crm_v1:{original})"
    )
    assert len(await m.listing(sandbox, "crm_v1")) == before


async def test_a_copy_cut_off_before_its_create_is_checked_for_its_kin_when_resumed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """crm_v1 → item_envelope, then crm_v1 → bill_crm cut off once its row said "pending" and
    before its create (in its second look for the invoice's family), while item_envelope →
    bill_crm copied the invoice's copy: resumed, the row was taken for a create begun, and the
    create was sent unchecked, so bill_crm held the invoice twice. A create that made nothing
    is checked as a new one is."""
    original, at_item, url, config = await copied_aside(sandbox, tmp_path)
    there = migrate(config, tmp_path, "item_envelope", "bill_crm", [at_item], "there")
    assert there.outcomes() == {at_item: "copied"}, there.stderr
    [copy] = [e["target_id"] for e in there.report]
    await plant(url, ("crm_v1", original, "bill_crm", None, "pending", "cut"))
    before = len(await m.listing(sandbox, "bill_crm"))

    resumed = migrate(config, tmp_path, "crm_v1", "bill_crm", [original], "cut")

    assert resumed.outcomes() == {original: "skipped"}, resumed.stderr
    assert resumed.report[0]["reason"] == kin_in_bill_crm(
        f"crm_v1 {original} copied to item_envelope {at_item} by run side",
        f"item_envelope {at_item} copied to bill_crm {copy} by run there",
    )
    assert len(await m.listing(sandbox, "bill_crm")) == before
