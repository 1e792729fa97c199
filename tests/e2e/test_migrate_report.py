"""A migration's ``--report`` that stops taking lines mid-run (a full disk): the run stops
saying so, with its summary and how to resume, and the resumed run copies nothing twice."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.sandbox.serve import Sandbox
from tests.e2e import migrating as m
from tests.e2e.sandbox import sandbox_in_thread
from tests.stores import sqlite_url

FULL = Path("/dev/full")  # every write fails with ENOSPC, as a full disk's does


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=3) as running:
        yield running


async def copies_of(sandbox: Sandbox, ids: list[str]) -> list[str]:
    """The stamps of bill_crm's copies of crm_v1 invoices ``ids``, one per copy."""
    return [
        tag
        for invoice in await m.listing(sandbox, "bill_crm")
        for tag in invoice["tags"]
        if tag.startswith("migrated-from:crm_v1:") and tag.rsplit(":", 1)[1] in ids
    ]


async def a_run(
    sandbox: Sandbox, folder: Path, count: int, run: str
) -> tuple[list[str], Path, list[str]]:
    """``count`` new crm_v1 invoices, a configuration with a store of its own, and the
    arguments of a run named ``run`` copying them to bill_crm."""
    bodies = [m.portable_invoice("crm_v1") for _ in range(count)]
    made = await asyncio.gather(*(m.create(sandbox, "crm_v1", body) for body in bodies))
    ids = [str(invoice["id"]) for invoice in made]
    config = m.config_for(folder, sandbox, sqlite_url())
    args = [
        "--from", "crm_v1", "--to", "bill_crm", "--ids", str(m.ids_file(folder, ids)),
        "--map", str(m.map_file(folder, "bill_crm")), "--lenient", "--run", run,
    ]  # fmt: skip
    return ids, config, args


@pytest.mark.skipif(not FULL.exists(), reason="needs Linux's /dev/full")
async def test_a_report_that_cannot_take_a_line_stops_the_run_saying_how_to_resume(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ids, config, args = await a_run(sandbox, tmp_path, 12, "full")

    # Named in the arguments, not as the helper's report: read back, /dev/full never ends.
    stopped = m.run(config, "run", *args, "--report", str(FULL))

    assert stopped.code == 2, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert (
        "run full stopped: --report /dev/full cannot be written: No space left on device. The "
        "copies under way were finished and recorded in the store, no other was started; run "
        "the same command again (same --run full) with a --report that can be written to "
        "resume where it stopped."
    ) in stopped.stderr
    summary = stopped.summary()
    assert summary["copied"] >= 1  # the first copy is made before its line fails
    # Stopped as Ctrl-C stops a run: the copies under way finished and were counted, none cut
    # off between its create and its record (the summary said 6 where 9 were made).
    assert len(await copies_of(sandbox, ids)) == summary["copied"]

    resumed = m.run(config, "run", *args, report=tmp_path / "resumed.jsonl")

    assert resumed.code == 0, resumed.stderr
    assert sorted(resumed.outcomes()) == sorted(ids)
    copies = await copies_of(sandbox, ids)
    assert sorted(copies) == sorted(f"migrated-from:crm_v1:{i}" for i in ids)  # each once


@pytest.mark.skipif(not FULL.exists(), reason="needs Linux's /dev/full")
async def test_a_revert_whose_report_fills_says_what_it_undid_and_finishes_when_run_again(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ids, config, args = await a_run(sandbox, tmp_path, 3, "undo")
    copied = m.run(config, "run", *args)
    assert copied.code == 0, copied.stderr

    stopped = m.run(config, "revert", "--run", "undo", "--report", str(FULL))

    assert stopped.code == 2, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert (
        "migrate revert --run undo stopped: --report /dev/full cannot be written: No space left "
        "on device. What it did is in the summary below; run the same command again with a "
        "--report that can be written to finish it."
    ) in stopped.stderr
    assert stopped.summary()["reverted"] == 1  # the first copy was deleted before its line failed
    again = m.run(config, "revert", "--run", "undo", report=tmp_path / "again.jsonl")
    assert again.code == 0, again.stderr
    assert sorted(again.outcomes()) == sorted(ids)
    assert set(again.outcomes().values()) == {"reverted"}
    assert await copies_of(sandbox, ids) == []  # every copy undone


@pytest.mark.skipif(not FULL.exists(), reason="needs Linux's /dev/full")
async def test_a_dry_run_whose_report_fills_says_nothing_was_written(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    _, config, args = await a_run(sandbox, tmp_path, 2, "look")
    stopped = m.run(config, "run", *args, "--dry-run", "--report", str(FULL))
    assert stopped.code == 2, stopped.stderr
    assert (
        "dry run look stopped: --report /dev/full cannot be written: No space left on device. "
        "Nothing was written; run it again with a --report that can be written."
    ) in stopped.stderr
    assert "resume" not in stopped.stderr
