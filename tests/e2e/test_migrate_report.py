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


@pytest.mark.skipif(not FULL.exists(), reason="needs Linux's /dev/full")
async def test_a_report_that_cannot_take_a_line_stops_the_run_saying_how_to_resume(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    bodies = [m.portable_invoice("crm_v1") for _ in range(4)]
    made = await asyncio.gather(*(m.create(sandbox, "crm_v1", body) for body in bodies))
    ids = [str(invoice["id"]) for invoice in made]
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    args = [
        "--from", "crm_v1", "--to", "bill_crm", "--ids", str(m.ids_file(tmp_path, ids)),
        "--map", str(m.map_file(tmp_path, "bill_crm")), "--lenient", "--run", "full",
    ]  # fmt: skip

    # Named in the arguments, not as the helper's report: read back, /dev/full never ends.
    stopped = m.run(config, "run", *args, "--report", str(FULL))

    assert stopped.code == 2, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert (
        "run full stopped: --report /dev/full cannot be written: No space left on device. The "
        "copies made so far are recorded in the store; run the same command again (same --run "
        "full) with a --report that can be written to resume where it stopped."
    ) in stopped.stderr
    summary = stopped.summary()
    assert summary["copied"] >= 1  # the first copy is made before its line fails

    resumed = m.run(config, "run", *args, report=tmp_path / "resumed.jsonl")

    assert resumed.code == 0, resumed.stderr
    assert sorted(resumed.outcomes()) == sorted(ids)
    copies = [
        tag
        for invoice in await m.listing(sandbox, "bill_crm")
        for tag in invoice["tags"]
        if tag.startswith("migrated-from:crm_v1:") and tag.rsplit(":", 1)[1] in ids
    ]
    assert sorted(copies) == sorted(f"migrated-from:crm_v1:{i}" for i in ids)  # each once
