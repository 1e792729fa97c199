"""A copy whose create a run sent and never recorded (``pending``: its answer lost, or its
process killed before the crosswalk heard of it), resumed after the store forgot the create's
Idempotency-Key (``idempotency_ttl_hours``, or reaped): the create is not sent a second time
beside the copy it made. The copy is taken up where the key's record still names it or the
target holds an invoice with the marker the create carried; a copy with no room for a marker
(its notes are the source's) is left to be told apart by hand, nothing sent."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.migration.reasons import EARLIER_COPY
from gateway.sandbox.serve import Sandbox
from tests.e2e import migrating as m
from tests.e2e.sandbox import sandbox_in_thread
from tests.e2e.test_migrate_back import delete
from tests.e2e.test_migrate_runs import (
    args_for,
    copies_at_bill_crm,
    faulty,
    killed_in_create,
)
from tests.stores import sqlite_url


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=4) as running:
        yield running


def _db(url: str) -> sqlite3.Connection:
    return sqlite3.connect(url.removeprefix("sqlite:///"))


DAYS_2 = 2 * 86_400


def forget_keys(url: str, *, reaped: bool, later_s: float = DAYS_2) -> None:
    """The store as ``later_s`` later (two days: ``idempotency_ttl_hours`` is 24): its keys
    expired, or gone (reaped), and the crosswalk's rows as old."""
    with _db(url) as db:
        if reaped:
            db.execute("DELETE FROM idempotency_keys")
        else:
            db.execute("UPDATE idempotency_keys SET expires_at = ?", (time.time() - 10,))
        db.execute("UPDATE crosswalk SET updated_at = updated_at - ?", (later_s,))
        db.execute(
            "UPDATE crosswalk SET detail = json_set(detail, '$.pending_since', "
            "json_extract(detail, '$.pending_since') - ?) "
            "WHERE json_extract(detail, '$.pending_since') IS NOT NULL",
            (later_s,),
        )


def as_cut_off_after_the_create(url: str, source_id: str) -> None:
    """The crosswalk row as a process killed between the create's answer (kept with its key)
    and the row's ``created`` leaves it: ``pending``, naming no copy."""
    with _db(url) as db:
        db.execute(
            "UPDATE crosswalk SET state = 'pending', target_id = NULL, detail = '{}' "
            "WHERE source_id = ?",
            (source_id,),
        )


async def copied(
    sandbox: Sandbox, folder: Path, target: str, run: str, bodies: list[dict[str, Any]]
) -> tuple[dict[str, str], str, Path]:
    """New crm_v1 invoices copied to ``target``: each one's copy, the store and the config."""
    made = [str((await m.create(sandbox, "crm_v1", body))["id"]) for body in bodies]
    url = sqlite_url()
    config = m.config_for(folder, sandbox, url)
    args = args_for(folder, "crm_v1", target, made, run)
    ran = m.run(config, "run", *args, report=folder / f"{run}.jsonl")
    assert ran.code == 0, ran.stderr
    assert ran.outcomes() == dict.fromkeys(made, "copied")
    copies = {e["source_id"]: e["target_id"] for e in ran.report}
    return {source: copies[source] for source in made}, url, config  # in the order made


async def expired_after_the_create(
    sandbox: Sandbox, folder: Path, run: str
) -> tuple[str, str, str, Path, set[str]]:
    """A crm_v1 invoice copied to bill_crm, its row as cut off after the create's answer was
    kept, a day later (its keys expired): the source id, the copy's, the store, the config and
    the ids bill_crm holds."""
    copies, url, config = await copied(
        sandbox, folder, "bill_crm", run, [m.portable_invoice("crm_v1")]
    )
    [(original, copy)] = copies.items()
    as_cut_off_after_the_create(url, original)
    forget_keys(url, reaped=False)
    before = {i["id"] for i in await m.listing(sandbox, "bill_crm")}
    return original, copy, url, config, before


async def written_since(sandbox: Sandbox, provider: str, log: int) -> list[str]:
    after = (await m.requests_log(sandbox, provider))[log:]
    return [f"{e['method']} {e['path']}" for e in after if e["method"] != "GET"]


async def test_a_create_whose_kept_answer_expired_is_taken_up_not_sent_again(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Killed after the create's answer was kept with its key and before the crosswalk said
    ``created``, resumed a day later: the key's record had expired, so the create was sent
    again and bill_crm held the invoice twice. The kept answer names the copy: finished."""
    original, copy, url, config, before = await expired_after_the_create(sandbox, tmp_path, "cut")
    log = len(await m.requests_log(sandbox, "bill_crm"))

    args = args_for(tmp_path, "crm_v1", "bill_crm", [original], "cut")
    resumed = m.run(config, "run", *args, report=tmp_path / "resumed.jsonl")

    assert resumed.code == 0, resumed.stderr
    assert resumed.outcomes() == {original: "copied"}
    assert resumed.report[0]["target_id"] == copy
    assert {i["id"] for i in await m.listing(sandbox, "bill_crm")} == before
    assert not any(w.endswith("/invoices") for w in await written_since(sandbox, "bill_crm", log))
    [entry] = await m.crosswalk(url, "cut")
    assert (entry.target_id, entry.state) == (copy, "verified")


async def test_a_dry_run_says_a_create_begun_is_looked_for_before_anything_is_made(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A dry run over a copy whose create was sent and never recorded said ``would_copy`` as
    for any new invoice, where the run looks for what that create made first. It says so, and
    its run, and writes nothing."""
    original, _, url, config, before = await expired_after_the_create(sandbox, tmp_path, "cut")
    log = len(await m.requests_log(sandbox, "bill_crm"))

    args = args_for(tmp_path, "crm_v1", "bill_crm", [original], "look")
    looked = m.run(config, "run", *args, "--dry-run", report=tmp_path / "look.jsonl")

    assert looked.code == 0, looked.stderr
    assert looked.outcomes() == {original: "would_copy"}
    reason = looked.report[0]["reason"]
    assert "'cut'" in reason and "never recorded" in reason, reason
    assert {i["id"] for i in await m.listing(sandbox, "bill_crm")} == before
    assert await written_since(sandbox, "bill_crm", log) == []
    [entry] = await m.crosswalk(url, "cut")
    assert entry.state == "pending"


async def test_a_create_killed_mid_way_is_found_by_its_marker_after_its_key_is_reaped(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Killed while its creates were under way at bill_crm, resumed once the store had reaped
    their keys: each create was sent again beside the invoice the first had made (or begun).
    Each carried a marker its key gives, kept in the row: found by it, finished, once."""
    ids = [
        str((await m.create(sandbox, "crm_v1", m.portable_invoice("crm_v1"))).get("id"))
        for _ in range(6)
    ]
    url = sqlite_url()
    config = m.config_for(tmp_path, sandbox, url)
    args = args_for(tmp_path, "crm_v1", "bill_crm", ids, "cut", "--concurrency", "2")
    before = len(await m.listing(sandbox, "bill_crm"))
    await killed_in_create(sandbox, config, url, args, tmp_path / "first.jsonl")
    cut = {e.source_id: e for e in await m.crosswalk(url, "cut")}
    unrecorded = [i for i in ids if i in cut and cut[i].state == "pending"]
    recorded = sum(1 for e in cut.values() if e.target_id is not None)

    async def unnamed() -> bool:  # a create landed that the crosswalk does not name
        return len(await m.listing(sandbox, "bill_crm")) - before > recorded

    assert unrecorded
    await m.wait_until(unnamed, "a create the crosswalk does not name")
    forget_keys(url, reaped=True)

    resumed = m.run(config, "run", *args, report=tmp_path / "resumed.jsonl")

    assert resumed.code == 0, resumed.stderr
    assert set(resumed.outcomes().values()) <= {"copied", "already_copied"}
    assert len(await m.listing(sandbox, "bill_crm")) - before == len(ids)
    copies = await copies_at_bill_crm(sandbox, "crm_v1")
    assert {i: copies[i] for i in ids} == dict.fromkeys(ids, 1)
    states = Counter(e.state for e in await m.crosswalk(url, "cut"))
    assert states == Counter({"verified": len(ids)})


async def test_a_create_with_no_room_for_a_marker_is_left_to_be_told_apart(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The source's notes fill the marker's field: after its key is gone, the copy can only be
    looked for as an invoice like it, which cannot tell it from one made before. Nothing is
    sent; it fails naming the look-alike (not the copy of its twin, which the crosswalk names
    as that one's) and what to do, and the row stays ``pending`` (verify and revert name it);
    once the copy is deleted there, the next run copies it anew, once."""
    note = "Deliver to the back door"
    body = {**m.portable_invoice("crm_v1", note=note), "issue_date": "2026-03-17"}
    body["due_date"] = "2026-04-16"
    copies, url, config = await copied(sandbox, tmp_path, "bill_crm", "noted", [body, body])
    (original, copy), (twin, twins) = copies.items()
    as_cut_off_after_the_create(url, original)
    forget_keys(url, reaped=True)
    log = len(await m.requests_log(sandbox, "bill_crm"))
    args = args_for(tmp_path, "crm_v1", "bill_crm", [original, twin], "noted")

    stuck = m.run(config, "run", *args, report=tmp_path / "stuck.jsonl")

    assert stuck.code == 1, stuck.stderr
    assert stuck.outcomes() == {original: "failed", twin: "already_copied"}
    reason = next(e["reason"] for e in stuck.report if e["source_id"] == original)
    assert reason == (
        "its create was sent by run noted and its answer never recorded, and its "
        "Idempotency-Key has expired since (idempotency_ttl_hours): bill_crm invoice "
        f"{copy} looks like the one sent, but the look-alikes there before the create could "
        "not all be listed. If the copy is there, delete it at bill_crm and run the migration "
        "again to copy it anew"
    )
    assert await written_since(sandbox, "bill_crm", log) == []
    entries = {e.source_id: e for e in await m.crosswalk(url, "noted")}
    assert (entries[original].state, entries[original].target_id) == ("pending", None)

    await delete(sandbox, "bill_crm", copy)
    anew = m.run(config, "run", *args, report=tmp_path / "anew.jsonl")
    assert anew.outcomes() == {original: "copied", twin: "already_copied"}, anew.stderr
    made = next(e["target_id"] for e in anew.report if e["source_id"] == original)
    assert made not in (None, copy, twins)
    dated = [
        i["id"] for i in await m.listing(sandbox, "bill_crm") if i["issue_date"] == "2026-03-17"
    ]
    assert sorted(dated) == sorted([made, twins])


async def test_a_forgotten_create_whose_copy_cannot_be_read_stays_pending(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The key's kept answer names the copy, and the target fails the read of it (503s): the
    run recorded the copy "failed" naming none, so the next run sent the create again beside
    it. It stays ``pending``, saying to run again, and the next run finishes that copy."""
    original, copy, url, config, before = await expired_after_the_create(
        sandbox, tmp_path, "unread"
    )
    args = args_for(tmp_path, "crm_v1", "bill_crm", [original], "unread")
    unreadable = {
        "error_rate": 1,
        "error_status": 503,
        "methods": ["GET"],
        "path_regex": rf"/invoices/{copy}$",
    }
    async with faulty(sandbox, "bill_crm", unreadable):
        failed = m.run(config, "run", *args, report=tmp_path / "failed.jsonl")

    assert failed.outcomes() == {original: "failed"}, failed.stderr
    reason = failed.report[0]["reason"]
    assert f"its copy {copy} could not be read: " in reason, reason
    assert reason.endswith("Run the migration again with the same --run to look again")
    [entry] = await m.crosswalk(url, "unread")
    assert (entry.state, entry.target_id) == ("pending", None)
    resumed = m.run(config, "run", *args, report=tmp_path / "resumed.jsonl")
    assert resumed.outcomes() == {original: "copied"}, resumed.stderr
    assert resumed.report[0]["target_id"] == copy
    assert {i["id"] for i in await m.listing(sandbox, "bill_crm")} == before


async def cut_off_mid_create(
    sandbox: Sandbox, folder: Path, config: Path, url: str, run: str, note: str | None = None
) -> tuple[str, int]:
    """A new crm_v1 invoice's copy to bill_crm killed (SIGKILL) while its create was under way,
    which then landed: the source id, and how many invoices bill_crm held before."""
    body = m.portable_invoice("crm_v1", note=note)
    original = str((await m.create(sandbox, "crm_v1", body))["id"])
    args = args_for(folder, "crm_v1", "bill_crm", [original], run)
    made = await killed_in_create(sandbox, config, url, args, folder / f"{run}-cut.jsonl")
    assert len(made) == 1
    before = len(await m.listing(sandbox, "bill_crm")) - 1
    [entry] = await m.crosswalk(url, run)
    assert (entry.state, entry.target_id) == ("pending", None)
    return original, before


async def test_a_create_cut_off_then_resumed_with_another_map_is_not_made_twice(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Cut off in its create, then run with another map (another customer) while its key was
    kept: the key refused the other request, the row became "failed" naming no copy (so verify
    and revert no longer named it), and the refusal said to send a new key. Once the keys were
    gone, the next run sent the create again, looking for the first by the new customer. The
    row stays "pending", the reason says what to do, and the copy is found as it was sent."""
    url = sqlite_url()
    config = m.config_for(tmp_path, sandbox, url)
    original, before = await cut_off_mid_create(sandbox, tmp_path, config, url, "cut")
    other_map = tmp_path / "other-customer.yaml"
    other_map.write_text('customers:\n  "*": "2"\n', encoding="utf-8")
    args = args_for(tmp_path, "crm_v1", "bill_crm", [original], "other")
    args[args.index("--map") + 1] = str(other_map)

    refused = m.run(config, "run", *args, report=tmp_path / "refused.jsonl")

    assert refused.outcomes() == {original: "failed"}, refused.stderr
    assert refused.report[0]["reason"] == (
        "its create was sent by run cut as the map and the source were then, and what this run "
        "would send differs (the map or the source changed since): that create's outcome is "
        "not settled yet. Run the migration again as that run was (its map) to settle it, "
        "then this one"
    )
    [entry] = await m.crosswalk(url, "cut")
    assert (entry.state, entry.target_id) == ("pending", None)
    forget_keys(url, reaped=True)
    resumed = m.run(config, "run", *args, report=tmp_path / "resumed.jsonl")
    assert resumed.outcomes() == {original: "copied"}, resumed.stderr
    assert {"field": "", "reason": EARLIER_COPY} in resumed.report[0]["warnings"]
    after = await m.listing(sandbox, "bill_crm")
    assert len(after) == before + 1
    copy = next(i for i in after if i["id"] == resumed.report[0]["target_id"])
    assert copy["customer"]["id"] == "1"  # as the first run's map sent it


async def test_a_create_claimed_under_a_shorter_key_lifetime_is_looked_for(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Cut off in its create under a key lifetime of 36 s, its key gone a minute later, and
    resumed under 24 h: taken for a key never claimed (younger than the lifetime now), the
    create was sent again. The row keeps the lifetime its key had."""
    url = sqlite_url()
    short = m.config_for(tmp_path, sandbox, url, "short.yaml")
    data = yaml.safe_load(short.read_text(encoding="utf-8"))
    data["store"]["idempotency_ttl_hours"] = 0.01
    short.write_text(yaml.safe_dump(data), encoding="utf-8")
    original, before = await cut_off_mid_create(sandbox, tmp_path, short, url, "short")
    forget_keys(url, reaped=True, later_s=60)
    config = m.config_for(tmp_path, sandbox, url)

    args = args_for(tmp_path, "crm_v1", "bill_crm", [original], "short")
    resumed = m.run(config, "run", *args, report=tmp_path / "resumed.jsonl")

    assert resumed.outcomes() == {original: "copied"}, resumed.stderr
    assert len(await m.listing(sandbox, "bill_crm")) == before + 1


async def test_a_create_with_no_room_for_a_marker_is_looked_for_by_its_notes(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """At item_envelope, an invoice listed without notes (a copy whose marker they hold, an
    original with none) read as "like it", so the failure named every invoice of the customer
    on that day, originals among them, and said to delete "the copy". Only those carrying the
    notes the copy was sent with are named now: the copy itself."""
    note = "Leave with the porter"
    body = {**m.portable_invoice("crm_v1", note=note), "issue_date": "2026-03-18"}
    body.pop("due_date", None)
    copies, url, config = await copied(sandbox, tmp_path, "item_envelope", "porter", [body])
    [(original, copy)] = copies.items()
    # Invoices of the customer on that day made there, with no notes: no copies.
    plain = {**m.portable_invoice("item_envelope"), "issue_date": "2026-03-18"}
    made = [str((await m.create(sandbox, "item_envelope", plain))["id"]) for _ in range(2)]
    as_cut_off_after_the_create(url, original)
    forget_keys(url, reaped=True)
    args = args_for(tmp_path, "crm_v1", "item_envelope", [original], "porter")

    stuck = m.run(config, "run", *args, report=tmp_path / "stuck.jsonl")

    assert stuck.outcomes().get(original) == "failed", (stuck.stderr, stuck.report)
    reason = next(e["reason"] for e in stuck.report if e["source_id"] == original)
    assert f"item_envelope has an invoice like it: invoice {copy}, and nothing tells" in reason
    assert not any(f" {other}," in reason or f" {other} " in reason for other in made), reason


async def test_a_create_with_no_room_for_a_marker_is_looked_for_as_it_was_sent(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Cut off in its create, its notes filling the marker's field, its key reaped, and its
    source's notes corrected before the resume: looked for as the source reads now, the copy
    made was not found, the create was sent again, and the crosswalk named only the second.
    The row keeps what was sent: the copy is found as that, and nothing is sent."""
    url = sqlite_url()
    config = m.config_for(tmp_path, sandbox, url)
    note = "Thank you for your business"
    original, before = await cut_off_mid_create(sandbox, tmp_path, config, url, "typo", note)
    forget_keys(url, reaped=True)
    source = await m.read(sandbox, "crm_v1", original)
    path = f"/v1/connections/crm_v1/invoices/{original}"
    await m.api(sandbox, "PUT", path, {**source, "notes": note + "!"})
    args = args_for(tmp_path, "crm_v1", "bill_crm", [original], "typo")

    resumed = m.run(config, "run", *args, report=tmp_path / "resumed.jsonl")

    assert resumed.outcomes() == {original: "failed"}, resumed.stderr
    [made] = [i for i in await m.listing(sandbox, "bill_crm") if i.get("notes") == note]
    assert f"bill_crm invoice {made['id']} looks like the one sent" in resumed.report[0]["reason"]
    assert len(await m.listing(sandbox, "bill_crm")) == before + 1
    [entry] = await m.crosswalk(url, "typo")
    assert (entry.state, entry.target_id) == ("pending", None)


async def test_a_create_begun_stays_named_when_its_resume_skips_the_invoice(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Cut off in its create, its key reaped, and its source moved to a customer the map does
    not name before the resume: the resume skipped it and wrote "skipped" over the row, the only
    record of the copy made, so verify said nothing was made, and once the customer was moved
    back the next run made a second copy. The row stays "pending" (verify names it), and the
    next run finds the copy."""
    url = sqlite_url()
    config = m.config_for(tmp_path, sandbox, url)
    named = tmp_path / "named.yaml"
    named.write_text('customers:\n  "10": "1"\n', encoding="utf-8")
    body = m.portable_invoice("crm_v1")
    original = str((await m.create(sandbox, "crm_v1", body))["id"])
    args = args_for(tmp_path, "crm_v1", "bill_crm", [original], "moved")
    args[args.index("--map") + 1] = str(named)
    [made] = await killed_in_create(sandbox, config, url, args, tmp_path / "cut.jsonl")
    before = len(await m.listing(sandbox, "bill_crm")) - 1
    forget_keys(url, reaped=True)
    source = await m.read(sandbox, "crm_v1", original)
    path = f"/v1/connections/crm_v1/invoices/{original}"
    await m.api(sandbox, "PUT", path, {**source, "customer": {"id": "2"}})

    skipped = m.run(config, "run", *args, report=tmp_path / "skipped.jsonl")
    checked = m.run(config, "verify", "--run", "moved", report=tmp_path / "verify.jsonl")

    assert skipped.outcomes() == {original: "skipped"}, skipped.stderr
    [entry] = await m.crosswalk(url, "moved")
    assert (entry.state, entry.target_id) == ("pending", None)
    assert [e["outcome"] for e in checked.report] == ["failed"], checked.stderr
    assert "the copy may exist at the target" in checked.report[0]["reason"]
    assert skipped.report[0]["reason"] in checked.report[0]["reason"]  # the last run's word
    await m.api(sandbox, "PUT", path, source)
    resumed = m.run(config, "run", *args, report=tmp_path / "resumed.jsonl")
    assert resumed.outcomes() == {original: "copied"}, resumed.stderr
    assert resumed.report[0]["target_id"] == made
    assert len(await m.listing(sandbox, "bill_crm")) == before + 1


async def test_a_look_for_a_copy_with_no_marker_that_fails_says_to_look_again(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The look for a copy with no room for a marker failed (bill_crm's list answering 503):
    the reason said to delete the copy if it is there, as for a look-alike found; a passing
    failure says to run again, which looks again."""
    url = sqlite_url()
    config = m.config_for(tmp_path, sandbox, url)
    note = "Invoice as agreed on the phone"
    original, before = await cut_off_mid_create(sandbox, tmp_path, config, url, "outage", note)
    forget_keys(url, reaped=True)
    args = args_for(tmp_path, "crm_v1", "bill_crm", [original], "outage")
    listing = {
        "error_rate": 1,
        "error_status": 503,
        "methods": ["GET"],
        "path_regex": "^/api/v1/invoices$",
    }
    async with faulty(sandbox, "bill_crm", listing):
        failed = m.run(config, "run", *args, report=tmp_path / "failed.jsonl")

    assert failed.outcomes() == {original: "failed"}, failed.stderr
    reason = failed.report[0]["reason"]
    assert "looking for the invoice failed" in reason, reason
    assert reason.endswith("Run the migration again with the same --run to look again"), reason
    assert len(await m.listing(sandbox, "bill_crm")) == before + 1
