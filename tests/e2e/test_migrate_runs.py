"""``migrate`` as an operator runs it: killed and resumed, shared by two workers, a crash between
the target's create and the crosswalk, dry runs, samples, unmapped references, status and
payments, verification catching an altered copy, revert, and the exit statuses.

Invoices are made for each test through the gateway and named with ``--ids``, so the tests share
the sandbox but not their invoices. bill_crm tags each copy ``migrated-from:<connection>:<id>``,
which lets a test count the copies of each source invoice at the target by listing it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
import yaml

from gateway import cli
from gateway.migration.copy import Copier
from gateway.migration.plan import Plan
from gateway.migration.references import ReferenceMap, rate_key
from gateway.runtime import gateway_runtime
from gateway.sandbox.serve import Sandbox
from gateway.store import CrosswalkEntry, Store, StoreError
from gateway.store.sqlite import SqliteStore
from tests.e2e import migrating as m
from tests.e2e.sandbox import sandbox_in_thread
from tests.stores import postgres_url, sqlite_url

SEEDED_INVOICES = 110  # crm_v1's seeds: paid ones to carry, and more than a progress step
DRAFT_PUBLISH_METHODS = {"bank_transfer", "cash", "check", "credit_card", "paypal", "other"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=SEEDED_INVOICES) as running:
        yield running


async def make(sandbox: Sandbox, connection: str, count: int) -> list[str]:
    """``count`` portable invoices at ``connection``, made 8 at a time; their ids in order.

    Without notes: bill_crm keeps a create's dedupe marker there, and a copy with notes of its
    own would have each create list the customer's invoices first (slow, and beside the point).
    """
    gate = asyncio.Semaphore(8)

    async def one() -> str:
        async with gate:
            body = m.portable_invoice(connection)
            return str((await m.create(sandbox, connection, body))["id"])

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def copies_at_bill_crm(sandbox: Sandbox, source: str) -> Counter[str]:
    """How many bill_crm invoices are copies of each ``source`` invoice (by their tag)."""
    prefix = f"migrated-from:{source}:"
    return Counter(
        tag.removeprefix(prefix)
        for invoice in await m.listing(sandbox, "bill_crm")
        for tag in invoice["tags"]
        if tag.startswith(prefix)
    )


@asynccontextmanager
async def faulty(sandbox: Sandbox, provider: str, faults: dict[str, Any]) -> AsyncIterator[None]:
    """``provider``'s emulator with ``faults`` (``/_emulator/faults``) while the block runs."""
    await m.emulator(sandbox, provider, "POST", "/_emulator/faults", faults)
    try:
        yield
    finally:
        await m.emulator(sandbox, provider, "DELETE", "/_emulator/faults")


@asynccontextmanager
async def slow_writes(sandbox: Sandbox, provider: str, ms: int) -> AsyncIterator[None]:
    """Every write to ``provider`` takes ``ms``: a run is mid-way for a while."""
    slow = {"latency_ms": ms, "methods": ["POST"]}
    await m.emulator(sandbox, provider, "POST", "/_emulator/faults", slow)
    try:
        yield
    finally:
        await m.emulator(sandbox, provider, "DELETE", "/_emulator/faults")


async def signalled_mid_run(
    sandbox: Sandbox,
    config: Path,
    url: str,
    args: list[str],
    report: Path,
    *,
    slow_ms: int,
    ready: Callable[[Counter[str]], bool],
    sig: int = signal.SIGKILL,
    background: bool = False,
) -> m.Process:
    """``migrate run`` started with every bill_crm write ``slow_ms`` slow, sent ``sig`` once the
    run's crosswalk states (counted) are ``ready``."""
    run = args[args.index("--run") + 1]
    async with slow_writes(sandbox, "bill_crm", slow_ms):
        process = m.start(config, "run", *args, report=report, background=background)

        async def is_ready() -> bool:
            return ready(Counter(e.state for e in await m.crosswalk(url, run)))

        await m.wait_until(is_ready, "the run mid-way")
        process.kill(sig)
    return process


def _create_sent(db: str) -> bool:
    """Whether the SQLite store ``db`` holds a migration create sent and not answered."""
    if not os.path.exists(db):
        return False  # not opened yet (connecting would make the file)
    with sqlite3.connect(db) as store:
        known = "SELECT 1 FROM sqlite_master WHERE name = 'idempotency_keys'"
        if store.execute(known).fetchone() is None:
            return False  # not migrated yet
        (count,) = store.execute(
            "SELECT count(*) FROM idempotency_keys WHERE operation = 'migrate create' "
            "AND recovery_point <> 'claimed' AND state <> 'done'"
        ).fetchone()
    return bool(count)


async def killed_in_create(
    sandbox: Sandbox, config: Path, url: str, args: list[str], report: Path
) -> set[str]:
    """``migrate run`` (crm_v1 → bill_crm) killed (SIGKILL) once a create was sent and not
    answered (its key past "claimed", every bill_crm write 400 ms slow), then that create
    landed at bill_crm: the ids bill_crm holds that it did not before (at least one)."""
    before = {str(i["id"]) for i in await m.listing(sandbox, "bill_crm")}
    db = url.removeprefix("sqlite:///")

    async def sent() -> bool:
        return _create_sent(db)

    async with slow_writes(sandbox, "bill_crm", 400):
        process = m.start(config, "run", *args, report=report)
        try:
            await m.wait_until(sent, "the create sent")
            await asyncio.sleep(0.1)  # on its way to bill_crm
        finally:
            process.kill(signal.SIGKILL)

    async def landed() -> set[str]:
        return {str(i["id"]) for i in await m.listing(sandbox, "bill_crm")} - before

    made: set[str] = await m.wait_until(landed, "the create landed at bill_crm")
    return made


async def copied_run(
    sandbox: Sandbox, folder: Path, source: str, target: str, count: int, run: str
) -> tuple[list[str], Path]:
    """``count`` new invoices at ``source`` copied to ``target`` by a run named ``run`` on a
    store of the test's own; their ids and the configuration."""
    ids = await make(sandbox, source, count)
    config = m.config_for(folder, sandbox, sqlite_url())
    copied = m.run(config, "run", *args_for(folder, source, target, ids, run))
    assert copied.code == 0, copied.stderr
    return ids, config


def args_for(
    folder: Path, source: str, target: str, ids: list[str], run: str, *more: str
) -> list[str]:
    return [
        "--from",
        source,
        "--to",
        target,
        "--ids",
        str(m.ids_file(folder, ids, f"{run}.ids")),
        "--map",
        str(m.map_file(folder, target)),
        "--lenient",
        "--run",
        run,
        *more,
    ]


# -- once, whatever happens --------------------------------------------------------------------


async def test_a_run_killed_mid_way_resumes_and_copies_every_invoice_once(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ids = await make(sandbox, "crm_v1", 24)
    url = sqlite_url()
    config = m.config_for(tmp_path, sandbox, url)
    args = args_for(tmp_path, "crm_v1", "bill_crm", ids, "killed", "--concurrency", "2")
    # Every bill_crm write takes 150 ms: the run is mid-way for a few seconds.
    first = await signalled_mid_run(
        sandbox, config, url, args, tmp_path / "first.jsonl", slow_ms=150,
        ready=lambda states: states["verified"] >= 6,
    )  # fmt: skip
    assert first.process.returncode == -9
    states = Counter(e.state for e in await m.crosswalk(url, "killed"))
    assert 6 <= states["verified"] < 24, states  # killed mid-way, not at the end
    assert '"summary"' not in first.ran().stdout

    started = time.monotonic()
    resumed = m.run(config, "run", *args, report=tmp_path / "resumed.jsonl")

    # The dead worker's chunk is free once the store's lease (2 s here) runs out, not minutes.
    assert time.monotonic() - started < 15
    assert resumed.code == 0, resumed.stderr
    summary = resumed.summary()
    assert summary["copied"] + summary["already_copied"] == 24
    assert summary["already_copied"] >= states["verified"]
    assert (summary["failed"], summary["skipped"]) == (0, 0)
    assert sorted(resumed.outcomes()) == sorted(ids)
    entries = await m.crosswalk(url, "killed")
    assert sorted(e.source_id for e in entries) == sorted(ids)
    assert {e.state for e in entries} == {"verified"}
    assert len({e.target_id for e in entries}) == 24
    copies = await copies_at_bill_crm(sandbox, "crm_v1")
    assert {i: copies[i] for i in ids} == dict.fromkeys(ids, 1)  # listed: each exactly once


async def test_a_revert_after_a_run_killed_mid_create_names_the_unsettled_copies(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A copy whose create was under way when its run was killed may exist at the target with
    no record of where: a revert says so for each one (failed, exit 1) instead of reporting the
    run undone; once a resume has settled them, the revert leaves no copy behind."""
    ids = await make(sandbox, "crm_v1", 12)
    url = sqlite_url()
    config = m.config_for(tmp_path, sandbox, url)
    args = args_for(tmp_path, "crm_v1", "bill_crm", ids, "cut", "--concurrency", "2")
    await signalled_mid_run(
        sandbox, config, url, args, tmp_path / "first.jsonl", slow_ms=300,
        ready=lambda states: states["verified"] >= 2 and states["pending"] >= 1,
    )  # fmt: skip
    unsettled = {e.source_id for e in await m.crosswalk(url, "cut") if e.state == "pending"}
    assert unsettled

    reverted = m.run(config, "revert", "--run", "cut", report=tmp_path / "revert.jsonl")

    assert reverted.code == 1, reverted.stderr
    failed = {e["source_id"]: e["reason"] for e in reverted.report if e["outcome"] == "failed"}
    assert set(failed) == unsettled
    assert all("may exist at the target" in reason for reason in failed.values())
    assert "Run the migration again with the same --run" in reverted.stderr

    resumed = m.run(config, "run", *args, report=tmp_path / "resumed.jsonl")
    assert resumed.code == 0, resumed.stderr
    again = m.run(config, "revert", "--run", "cut", report=tmp_path / "again.jsonl")
    assert again.code == 0, again.stderr
    left = {
        tag
        for invoice in await m.listing(sandbox, "bill_crm")
        if invoice["status"] != "void"
        for tag in invoice["tags"]
        if tag.removeprefix("migrated-from:crm_v1:") in ids
    }
    assert left == set()


async def test_a_copy_whose_create_the_run_could_not_tell_is_named_by_verify_and_revert(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The target stored the create and answered 503, and its list failed too, so the run
    could not tell whether the copy was made: recorded "failed" with no copy, verify left it
    out of its report and revert said it had undone the run (exit 0), the copy left at the
    target. Both name it now, until a resumed run settles it."""
    ids = await make(sandbox, "crm_v1", 1)
    url = sqlite_url()
    config = m.config_for(tmp_path, sandbox, url)
    args = args_for(tmp_path, "crm_v1", "bill_crm", ids, "untold")
    before = await copies_at_bill_crm(sandbox, "crm_v1")
    failing = {
        "error_rate": 1,
        "error_status": 503,
        "after_commit": True,
        "methods": ["POST", "GET"],
        "path_regex": "^/api/v1/invoices$",
    }
    async with faulty(sandbox, "bill_crm", failing):
        ran = m.run(config, "run", *args, report=tmp_path / "run.jsonl")
    assert ran.code == 1, ran.stderr
    assert [e["outcome"] for e in ran.report] == ["failed"]
    # A command's advice, not an HTTP caller's (it has no Idempotency-Key to send).
    assert "Run the migration again with the same --run" in ran.report[0]["reason"]
    assert "Idempotency-Key" not in ran.report[0]["reason"]
    assert [e.state for e in await m.crosswalk(url, "untold")] == ["pending"]

    verified = m.run(config, "verify", "--run", "untold", report=tmp_path / "verify.jsonl")
    reverted = m.run(config, "revert", "--run", "untold", report=tmp_path / "revert.jsonl")
    for answer in (verified, reverted):
        assert answer.code == 1, answer.stderr
        assert [(e["source_id"], e["outcome"]) for e in answer.report] == [(ids[0], "failed")]
        assert "may exist at the target" in answer.report[0]["reason"]

    resumed = m.run(config, "run", *args, report=tmp_path / "resumed.jsonl")
    assert resumed.code == 0, resumed.stderr
    made = await copies_at_bill_crm(sandbox, "crm_v1")
    assert made[ids[0]] - before[ids[0]] == 1  # the stored header finished, never a second
    again = m.run(config, "revert", "--run", "untold", report=tmp_path / "again.jsonl")
    assert again.code == 0, again.stderr
    assert [e["outcome"] for e in again.report] == ["reverted"]


async def test_a_copy_failed_for_a_passing_reason_says_to_run_again(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The target rate-limiting every create past the retries: the reason said only "is
    rate-limiting the gateway", with no next step (a later step's failure said to run again)."""
    ids = await make(sandbox, "crm_v1", 1)
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    args = args_for(tmp_path, "crm_v1", "bill_crm", ids, "limited")
    limited = {"rate_limit_rate": 1, "methods": ["POST"], "path_regex": "^/api/v1/invoices$"}
    async with faulty(sandbox, "bill_crm", limited):
        ran = m.run(config, "run", *args, report=tmp_path / "run.jsonl")
    assert ran.code == 1, ran.stderr
    assert [e["outcome"] for e in ran.report] == ["failed"]
    assert ran.report[0]["reason"].endswith(
        "; run the migration again with the same --run to copy it"
    )
    resumed = m.run(config, "run", *args, report=tmp_path / "resumed.jsonl")
    assert [e["outcome"] for e in resumed.report] == ["copied"], resumed.stderr


async def test_a_run_stopped_by_the_targets_credentials_leaves_no_maybe_copy(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A 401 to the create stops the run (every copy would fail so): the provider processed
    nothing, yet the copy stayed "pending", and verify and revert said it may exist."""
    ids = await make(sandbox, "crm_v1", 1)
    url = sqlite_url()
    config = m.config_for(tmp_path, sandbox, url)
    args = args_for(tmp_path, "crm_v1", "bill_crm", ids, "badtoken")
    refused = {
        "error_rate": 1,
        "error_status": 401,
        "methods": ["POST"],
        "path_regex": "^/api/v1/invoices$",
    }
    async with faulty(sandbox, "bill_crm", refused):
        ran = m.run(config, "run", *args)
    assert ran.code != 0 and "credentials" in ran.stderr, ran.stderr
    assert [e.state for e in await m.crosswalk(url, "badtoken")] == ["failed"]
    reverted = m.run(config, "revert", "--run", "badtoken", report=tmp_path / "revert.jsonl")
    assert reverted.code == 0 and reverted.report == [], reverted.stderr


async def test_a_revert_killed_mid_write_and_run_again_at_once_waits_for_its_key(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The revert killed while the target held its delete: run again at once, it finds the
    dead revert's key still leased, waits it out and finishes (it ended in a traceback, the
    other copies untouched and no summary)."""
    ids, config = await copied_run(sandbox, tmp_path, "crm_v1", "bill_crm", 3, "twice")
    hang = {"timeout_rate": 1, "methods": ["POST", "DELETE"]}
    writes_before = len(await _writes(sandbox))
    await m.emulator(sandbox, "bill_crm", "POST", "/_emulator/faults", hang)
    try:
        killed = m.start(config, "revert", "--run", "twice")

        async def deleting() -> bool:
            return len(await _writes(sandbox)) > writes_before

        await m.wait_until(deleting, "the revert's first write")
        killed.kill()
    finally:
        await m.emulator(sandbox, "bill_crm", "DELETE", "/_emulator/faults")

    again = m.run(config, "revert", "--run", "twice", report=tmp_path / "again.jsonl")

    assert again.code == 0, again.stderr
    assert "Traceback" not in again.stderr
    assert again.summary()["reverted"] == 3
    assert sorted(e["source_id"] for e in again.report) == sorted(ids)
    left = {
        tag.removeprefix("migrated-from:crm_v1:")
        for invoice in await m.listing(sandbox, "bill_crm")
        if invoice["status"] != "void"
        for tag in invoice["tags"]
    }
    assert left & set(ids) == set()


async def test_a_revert_stopped_by_ctrl_c_finishes_its_undo_and_says_what_it_did(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Ctrl-C cancelled a revert at once: no summary, only "interrupted", and an undo cut off
    between the provider's delete and its record was missing from the report (39 copies
    deleted, 38 listed). It now stops as a run does: the undo under way is finished and
    recorded, the summary says what was done, and the same command finishes the rest."""
    ids, config = await copied_run(sandbox, tmp_path, "crm_v1", "bill_crm", 6, "undone")
    writes_before = len(await _writes(sandbox))

    async def undoing() -> bool:
        return len(await _writes(sandbox)) > writes_before + 1

    stopped = await _ctrl_c_once(
        sandbox, config, ("revert", "undone", tmp_path / "first.jsonl"), ["POST", "DELETE"], undoing
    )

    assert stopped.code == 1, stopped.stderr
    assert "stopping: finishing what is under way" in stopped.stderr
    assert (
        "migrate revert --run undone stopped: the undo under way was finished and recorded, no "
        "other was started" in stopped.stderr
    )
    said = json.loads(stopped.stdout)
    assert said["stopped"] is True
    reverted = said["summary"]["reverted"]
    assert 1 <= reverted < 6, said
    assert [e["outcome"] for e in stopped.report] == ["reverted"] * reverted
    still_open = {
        tag.removeprefix("migrated-from:crm_v1:")
        for invoice in await m.listing(sandbox, "bill_crm")
        if invoice["status"] != "void"
        for tag in invoice["tags"]
    } & set(ids)
    undone = set(ids) - still_open
    assert undone == {e["source_id"] for e in stopped.report}  # none undone unrecorded

    again = m.run(config, "revert", "--run", "undone", report=tmp_path / "again.jsonl")
    assert again.code == 0, again.stderr
    assert sorted(e["source_id"] for e in again.report) == sorted(ids)
    assert not {
        tag
        for invoice in await m.listing(sandbox, "bill_crm")
        if invoice["status"] != "void"
        for tag in invoice["tags"]
        if tag.removeprefix("migrated-from:crm_v1:") in ids
    }


async def _ctrl_c_once(
    sandbox: Sandbox,
    config: Path,
    step: tuple[str, str, Path],
    slowed: list[str],
    until: Callable[[], Awaitable[bool]],
) -> m.Ran:
    """``migrate STEP --run RUN --report FILE`` (``step``) with bill_crm's ``slowed`` methods
    taking 400 ms, sent Ctrl-C once ``until()`` holds: how it ended."""
    name, run, report = step
    slow = {"latency_ms": 400, "methods": slowed}
    await m.emulator(sandbox, "bill_crm", "POST", "/_emulator/faults", slow)
    try:
        process = m.start(config, name, "--run", run, report=report)
        await m.wait_until(until, f"{name} under way")
        process.kill(signal.SIGINT)
        return process.ran()
    finally:
        await m.emulator(sandbox, "bill_crm", "DELETE", "/_emulator/faults")


async def test_a_verify_stopped_by_ctrl_c_says_what_it_read_and_finishes_when_run_again(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Ctrl-C cancelled a verify at once, with no summary: it stops as a run does, the copy
    under way read, its summary saying ``"stopped": true``, exit 1."""
    ids, config = await copied_run(sandbox, tmp_path, "crm_v1", "bill_crm", 6, "checked")
    report = tmp_path / "first.jsonl"

    async def reading() -> bool:
        return report.exists() and len(report.read_text().splitlines()) >= 1

    stopped = await _ctrl_c_once(sandbox, config, ("verify", "checked", report), ["GET"], reading)

    assert stopped.code == 1, stopped.stderr
    assert (
        "migrate verify --run checked stopped: the copy under way was read, no other was "
        "started" in stopped.stderr
    )
    said = json.loads(stopped.stdout)
    assert said["stopped"] is True
    assert 1 <= said["summary"]["verified"] < 6, said
    assert len(stopped.report) == said["summary"]["verified"]

    again = m.run(config, "verify", "--run", "checked", report=tmp_path / "again.jsonl")
    assert "Traceback" not in again.stderr
    assert sorted(e["source_id"] for e in again.report) == sorted(ids)


async def _writes(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [r for r in await m.requests_log(sandbox, "bill_crm") if r["method"] != "GET"]


@pytest.mark.parametrize("step", ["run", "revert"])
async def test_a_report_to_a_named_pipe_without_its_reader_stops_on_one_signal(
    sandbox: Sandbox, tmp_path: Path, step: str
) -> None:
    """``--report`` a named pipe (a reader not started yet): opening it waits for its reader,
    and that wait held the event loop, so Ctrl-C and SIGTERM were not heard."""
    ids, config = await copied_run(sandbox, tmp_path, "crm_v1", "bill_crm", 1, "piped")
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    args = (
        args_for(tmp_path, "crm_v1", "bill_crm", ids, "piped")
        if step == "run"
        else ["--run", "piped"]
    )
    waiting = m.start(config, step, *args, "--report", str(pipe))  # not read back: a pipe
    await asyncio.sleep(2)  # started, and waiting at the pipe
    assert waiting.process.poll() is None
    waiting.process.send_signal(signal.SIGTERM)
    ran = waiting.wait(10)
    assert ran.code != 0 and "Traceback" not in ran.stderr, ran.stderr


@pytest.mark.parametrize(
    ("sig", "background"),
    [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGTERM, True)],
    ids=["ctrl-c", "sigterm", "sigterm-to-a-background-job"],
)
async def test_a_run_stopped_by_ctrl_c_or_sigterm_says_so_and_resumes(
    sandbox: Sandbox, tmp_path: Path, sig: int, background: bool
) -> None:
    """Ctrl-C and SIGTERM (``kill``, systemd, a job's time limit) stop a run the same way: no
    copy is started after it, the copies under way are finished and recorded (none is left
    ``pending``, made at the target where only a resume would find it, out of a revert's
    sight), what was done is summed up on stdout, stderr says how to resume, exit 1; the same
    command then finishes, every invoice once. A job a shell started with ``&`` ignores
    SIGINT: SIGTERM stops it all the same."""
    ids = await make(sandbox, "crm_v1", 16)
    url = sqlite_url()
    # A store lease of 30 s: a chunk the stop left claimed would hold the resume that long.
    config = m.config_for(tmp_path, sandbox, url, lease_s=30)
    run = f"stopped-{sig}-{background}"
    args = args_for(tmp_path, "crm_v1", "bill_crm", ids, run, "--concurrency", "2")
    # Writes slow enough that the twelve copies left take seconds, not one: the signal, sent
    # once four are verified, lands mid-run on a loaded machine too (at 150 ms a fresh-clone
    # run finished first, exit 0).
    first = await signalled_mid_run(
        sandbox, config, url, args, tmp_path / "first.jsonl", slow_ms=400,
        ready=lambda states: states["verified"] >= 4, sig=sig, background=background,
    )  # fmt: skip
    stopped = first.ran()
    assert stopped.code == 1, stopped.stderr
    assert "stopping: finishing what is under way" in stopped.stderr
    assert "the copies under way were finished and recorded" in stopped.stderr
    assert f"Run the same command again (same --run {run})" in stopped.stderr
    said = json.loads(stopped.stdout)
    assert said["stopped"] is True
    assert 4 <= said["summary"]["copied"] < 16, said
    entries = await m.crosswalk(url, run)
    assert {e.state for e in entries} == {"verified"}  # nothing cut off in the middle
    assert len(entries) == said["summary"]["copied"]
    reported = [json.loads(line) for line in (tmp_path / "first.jsonl").read_text().splitlines()]
    assert sorted(e["source_id"] for e in reported) == sorted(e.source_id for e in entries)

    started = time.monotonic()
    resumed = m.run(config, "run", *args, report=tmp_path / "resumed.jsonl")
    assert time.monotonic() - started < 15  # the stop gave its chunks back
    assert resumed.code == 0, resumed.stderr
    summary = resumed.summary()
    assert summary["copied"] + summary["already_copied"] == 16
    copies = await copies_at_bill_crm(sandbox, "crm_v1")
    assert {i: copies[i] for i in ids} == dict.fromkeys(ids, 1)


async def test_a_ctrl_c_just_after_the_summary_keeps_the_commands_exit_status(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A Ctrl-C in the moments after a run had printed its summary (the interpreter shutting
    down puts Python's handlers back to the default) killed the process, saying nothing:
    exit 130 for a run that had done all it was asked."""
    ids = await make(sandbox, "crm_v1", 2)
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    args = args_for(tmp_path, "crm_v1", "bill_crm", ids, "late-ctrl-c")
    assert m.run(config, "run", *args).code == 0
    command = [m.SCRIPT, "migrate", "run", "--config", str(config), *args]
    for _ in range(3):  # every invoice already copied: the run reads, says so and ends
        code, summary, stderr = await asyncio.to_thread(_ctrl_c_after_summary, command)
        assert code == 0, stderr
        assert summary["already_copied"] == 2


def _ctrl_c_after_summary(command: list[str]) -> tuple[int, dict[str, Any], str]:
    """``command`` sent Ctrl-C 10 ms after it has printed its summary: its exit status, the
    summary and its stderr."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    assert process.stdout is not None
    summary = json.loads(process.stdout.readline())["summary"]
    time.sleep(0.01)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal sends it, to the group
    _, stderr = process.communicate(timeout=30)
    return process.returncode, summary, stderr.decode()


async def test_two_workers_on_one_postgresql_store_share_a_run(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ids = await make(sandbox, "draft_publish", 120)  # three chunks of 50
    url = postgres_url()
    config = m.config_for(tmp_path, sandbox, url)
    args = args_for(tmp_path, "draft_publish", "bill_crm", ids, "shared")
    # Slow enough that the first worker is still on its two chunks (CHUNKS_AHEAD) when the
    # second has started, on a loaded machine too: at 60 ms it had finished one and taken the
    # third before the second worker's process was up (a CI run: 120 and 0 copied).
    await m.emulator(
        sandbox, "bill_crm", "POST", "/_emulator/faults", {"latency_ms": 250, "methods": ["POST"]}
    )
    try:
        workers = [
            m.start(config, "run", *args, report=tmp_path / f"worker{n}.jsonl") for n in (1, 2)
        ]
        done = [worker.wait(90) for worker in workers]
    finally:
        await m.emulator(sandbox, "bill_crm", "DELETE", "/_emulator/faults")

    for ran in done:
        assert ran.code == 0, ran.stderr
    copied = [{e["source_id"] for e in ran.report if e["outcome"] == "copied"} for ran in done]
    assert all(copied), [len(c) for c in copied]  # each worker copied some
    assert not copied[0] & copied[1]
    assert copied[0] | copied[1] == set(ids)
    entries = await m.crosswalk(url, "shared")
    assert sorted(e.source_id for e in entries) == sorted(ids)
    assert len({e.target_id for e in entries}) == 120
    copies = await copies_at_bill_crm(sandbox, "draft_publish")
    assert {i: copies[i] for i in ids} == dict.fromkeys(ids, 1)


async def test_a_create_whose_answer_is_lost_with_its_process_is_not_made_twice(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """crm_v1 stores the create and never answers; the process is killed while it waits. The
    crosswalk says ``pending`` with no target id: the resumed run asks crm_v1 (the key's lost
    answer) and finds the invoice instead of creating a second one."""
    [source_id] = await make(sandbox, "bill_crm", 1)
    url = sqlite_url()
    config = m.config_for(tmp_path, sandbox, url)
    args = args_for(tmp_path, "bill_crm", "crm_v1", [source_id], "lost")
    key = f"bill_crm:{source_id}:create"
    before = {i["id"] for i in await m.listing(sandbox, "crm_v1")}

    async def creates() -> list[dict[str, Any]]:
        log = await m.requests_log(sandbox, "crm_v1")
        return [e for e in log if e["method"] == "POST" and key in m.migrated_keys([e])]

    faults = {"timeout_rate": 1, "after_commit": True, "methods": ["POST"]}
    await m.emulator(
        sandbox, "crm_v1", "POST", "/_emulator/faults", {**faults, "path_regex": "^/v1/invoices$"}
    )
    try:
        first = m.start(config, "run", *args)
        await m.wait_until(creates, "the create to reach crm_v1")
        await asyncio.sleep(0.2)
        first.kill()
    finally:
        await m.emulator(sandbox, "crm_v1", "DELETE", "/_emulator/faults")
    made = {i["id"] for i in await m.listing(sandbox, "crm_v1")} - before
    assert len(made) == 1  # crm_v1 holds it; the crosswalk does not know where
    [pending] = await m.crosswalk(url, "lost")
    assert (pending.state, pending.target_id) == ("pending", None)

    resumed = m.run(config, "run", *args, report=tmp_path / "resumed.jsonl")

    assert resumed.code == 0, resumed.stderr
    assert resumed.only()["outcome"] == "copied"
    assert {resumed.only()["target_id"]} == made
    assert {i["id"] for i in await m.listing(sandbox, "crm_v1")} - before == made
    assert len(await creates()) == 1  # asked, not sent again
    [entry] = await m.crosswalk(url, "lost")
    assert (entry.state, {entry.target_id}) == ("verified", made)


class _DiesAfterTheCreate:
    """A store whose process dies right after the target's create, before the crosswalk says
    where the copy is (everything else is the real store)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def crosswalk_put(self, entry: CrosswalkEntry) -> None:
        if entry.state == "created":
            raise StoreError("the process died here")
        await self._store.crosswalk_put(entry)


async def test_a_crash_between_the_create_and_the_crosswalk_write_resumes_to_that_copy(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    [source_id] = await make(sandbox, "crm_v1", 1)
    settings = m.migration_settings(sandbox, sqlite_url())
    plan = Plan(
        run="crash", source="crm_v1", target="item_envelope", ids=(source_id,), handling="lenient"
    )
    refs = m.map_to("item_envelope")
    before = {i["id"] for i in await m.listing(sandbox, "item_envelope")}
    async with gateway_runtime(settings) as runtime:
        assert runtime.store is not None
        source, target = runtime.adapters["crm_v1"], runtime.adapters["item_envelope"]
        store: Any = _DiesAfterTheCreate(runtime.store)
        copier = Copier(plan, source, target, runtime.service, store, refs)
        with pytest.raises(StoreError):
            await copier.copy(await source.get(source_id))
    made = {i["id"] for i in await m.listing(sandbox, "item_envelope")} - before
    assert len(made) == 1

    resumed = await m.migrate_here(settings, plan, refs, tmp_path)

    assert resumed.code == 0, resumed.stderr
    assert (resumed.only()["outcome"], {resumed.only()["target_id"]}) == ("copied", made)
    assert {i["id"] for i in await m.listing(sandbox, "item_envelope")} - before == made
    log = await m.requests_log(sandbox, "item_envelope")
    assert m.migrated_keys(log).count(f"crm_v1:{source_id}:create") == 1  # replayed, not sent


def test_a_store_that_fails_mid_run_stops_the_command_saying_so(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The store failing in the middle of the copies (each runs in a task of its own) stops the
    run with the store's own message and exit status 2, not a task group's traceback."""
    ids = asyncio.run(make(sandbox, "crm_v1", 3))
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    real = SqliteStore.crosswalk_put

    async def fails_at_the_verdict(store: SqliteStore, entry: CrosswalkEntry) -> None:
        if entry.state in ("verified", "differs"):
            raise StoreError("SQLite store: disk I/O error")
        await real(store, entry)

    monkeypatch.setattr(SqliteStore, "crosswalk_put", fails_at_the_verdict)
    args = args_for(tmp_path, "crm_v1", "item_envelope", ids, "store-fails")

    saved = structlog.get_config()  # the command configures logging to the captured stderr
    try:
        code = cli.main(["migrate", "run", "--config", str(config), *args])
    finally:
        structlog.configure(**saved)

    assert code == 2
    err = capsys.readouterr().err
    assert "invoice-gateway migrate: the store failed: SQLite store: disk I/O error" in err
    assert "ExceptionGroup" not in err and "Traceback" not in err


class _DiesBeforeTheVerdict:
    """A store whose process dies once the copy's steps are done, before the crosswalk says
    ``verified`` (everything else is the real store)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def crosswalk_put(self, entry: CrosswalkEntry) -> None:
        if entry.state in ("verified", "differs"):
            raise StoreError("the process died here")
        await self._store.crosswalk_put(entry)


def _calls_on(log: list[dict[str, Any]], source_id: str, target_id: str) -> list[str]:
    """The methods item_envelope was sent for one copy, in order: its create, then every call
    on the copy itself."""
    path = f"/api2/api2/invoices/{target_id}.json"
    create_key = f"crm_v1:{source_id}:create"
    return [
        e["method"]
        for e in log
        if e["path"] == path or e["headers"].get("Idempotency-Key") == create_key
    ]


async def test_a_copy_is_verified_by_its_fresh_read_back_and_after_a_resume_by_a_new_read(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    [source_id] = await make(sandbox, "crm_v1", 1)
    settings = m.migration_settings(sandbox, sqlite_url())
    plan = Plan(
        run="read-back",
        source="crm_v1",
        target="item_envelope",
        ids=(source_id,),
        handling="lenient",
    )
    refs = m.map_to("item_envelope")
    async with gateway_runtime(settings) as runtime:
        assert runtime.store is not None
        source, target = runtime.adapters["crm_v1"], runtime.adapters["item_envelope"]
        copier = Copier(
            plan, source, target, runtime.service, _DiesBeforeTheVerdict(runtime.store), refs
        )
        with pytest.raises(StoreError):
            await copier.copy(await source.get(source_id))
    [entry] = [e for e in await m.crosswalk(settings.store.url, "read-back")]
    assert entry.target_id is not None and entry.state == "created"
    sent = _calls_on(await m.requests_log(sandbox, "item_envelope"), source_id, entry.target_id)
    # created issued at once (capabilities.create_issued) and read back: the verification took
    # that read-back, sent after the last write, instead of reading again
    assert sent == ["POST", "GET"]

    resumed = await m.migrate_here(settings, plan, refs, tmp_path)

    assert resumed.code == 0, resumed.stderr
    assert resumed.only()["outcome"] == "copied"
    after = _calls_on(await m.requests_log(sandbox, "item_envelope"), source_id, entry.target_id)
    # the copy read to see it is still there (a copy gone since is made again, checked first),
    # every step replayed from its key (nothing sent), and the verification read the copy itself
    assert after == [*sent, "GET", "GET"]
    [entry] = await m.crosswalk(settings.store.url, "read-back")
    assert entry.state == "verified"


# -- looking before copying --------------------------------------------------------------------


async def test_a_dry_run_writes_nothing_and_says_what_it_would_do(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    store = tmp_path / "never" / "store.db"
    store.parent.mkdir()  # the folder must exist (check-config); the file is never made
    config = m.config_for(tmp_path, sandbox, f"sqlite:///{store}")
    listed = await m.listing(sandbox, "crm_v1")
    assert len(listed) > 100
    logs_before = {p: len(await m.requests_log(sandbox, p)) for p in ("crm_v1", "item_envelope")}
    map_file = m.map_file(tmp_path, "item_envelope")
    command = ["--from", "crm_v1", "--to", "item_envelope", "--map", str(map_file)]

    ran = m.run(
        config, "run", *command, "--lenient", "--dry-run", "--run", "look",
        report=tmp_path / "dry.jsonl",
    )  # fmt: skip

    assert ran.code in (0, 1), ran.stderr
    assert f"dry run look: crm_v1 → item_envelope, {len(listed)} invoice(s) match" in ran.stderr
    progress = [e for e in ran.events() if e.get("event") == "progress"]  # one every 100
    assert len(progress) == len(listed) // 100
    for n, line in enumerate(progress, start=1):
        assert (line["total"], line["would_copy"] + line["skipped"]) == (len(listed), 100 * n)
    assert sorted(ran.outcomes()) == sorted(i["id"] for i in listed)
    outcomes = Counter(ran.outcomes().values())
    assert set(outcomes) <= {"would_copy", "skipped"} and outcomes["would_copy"] > 0
    assert ran.code == (1 if outcomes["skipped"] else 0)
    previewed = next(e for e in ran.report if e["outcome"] == "would_copy")
    assert previewed["target_id"] is None and previewed["verification"] is not None
    read = (await m.requests_log(sandbox, "crm_v1"))[logs_before["crm_v1"] :]
    assert {e["method"] for e in read} == {"GET"}  # it read the source, and wrote nothing
    assert (await m.requests_log(sandbox, "item_envelope"))[logs_before["item_envelope"] :] == []
    assert not store.exists()  # not even the store was opened


async def test_a_sample_copies_exactly_n_and_the_run_then_copies_the_rest(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ids = await make(sandbox, "order_linked", 5)
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    args = args_for(tmp_path, "order_linked", "bill_crm", ids, "tasting")

    sample = m.run(config, "run", *args, "--sample", "2", report=tmp_path / "sample.jsonl")

    assert sample.code == 0, sample.stderr
    assert "sample tasting: order_linked → bill_crm, 5 invoice(s) match" in sample.stderr
    assert list(sample.outcomes().items()) == [(i, "copied") for i in ids[:2]]
    assert (
        "sampled the first 2 invoice(s) for bill_crm: 2 copied. Compare the copies there (the "
        "report lists their ids), then run again with --run tasting and without --sample"
        in sample.stderr
    )
    copies = await copies_at_bill_crm(sandbox, "order_linked")
    assert {i: copies[i] for i in ids} == {**dict.fromkeys(ids[:2], 1), **dict.fromkeys(ids[2:], 0)}

    # A dry run now says what the run would do: the sampled two are copied already.
    look = m.run(config, "run", *args, "--dry-run", report=tmp_path / "look.jsonl")
    assert look.code == 0, look.stderr
    assert look.outcomes() == {
        **dict.fromkeys(ids[:2], "already_copied"),
        **dict.fromkeys(ids[2:], "would_copy"),
    }
    assert await copies_at_bill_crm(sandbox, "order_linked") == copies

    rest = m.run(config, "run", *args, report=tmp_path / "rest.jsonl")

    assert rest.code == 0, rest.stderr
    assert rest.outcomes() == {
        **dict.fromkeys(ids[:2], "already_copied"),
        **dict.fromkeys(ids[2:], "copied"),
    }
    copies = await copies_at_bill_crm(sandbox, "order_linked")
    assert {i: copies[i] for i in ids} == dict.fromkeys(ids, 1)


async def test_a_sample_is_held_to_its_runs_source_and_target_and_the_run_to_its_samples(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A ``--sample`` under the name of a run between two other connections was taken, and
    its copies mixed into that run's crosswalk for its verify and revert to act on."""
    ids = await make(sandbox, "order_linked", 3)
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    first = m.run(config, "run", *args_for(tmp_path, "order_linked", "bill_crm", ids, "one"))
    assert first.code == 0, first.stderr
    before = await copies_at_bill_crm(sandbox, "order_linked")

    other = m.run(
        config,
        "run",
        *args_for(tmp_path, "order_linked", "draft_publish", ids, "one", "--sample", "1"),
    )

    assert other.code == 2, other.stderr
    assert "run 'one' was started with other options (map_digest, target)" in other.stderr
    # A sample first holds the run after it to the sample's target, not to its choice.
    sample = m.run(
        config,
        "run",
        *args_for(tmp_path, "order_linked", "bill_crm", ids[:1], "two", "--sample", "1"),
    )
    assert sample.code == 0, sample.stderr
    elsewhere = m.run(
        config, "run", *args_for(tmp_path, "order_linked", "draft_publish", ids, "two")
    )
    assert elsewhere.code == 2, elsewhere.stderr
    assert "run 'two' was started with other options (map_digest, target)" in elsewhere.stderr
    rest = m.run(
        config,
        "run",
        *args_for(tmp_path, "order_linked", "bill_crm", ids, "two"),
        report=tmp_path / "rest.jsonl",
    )
    assert rest.code == 0, rest.stderr
    assert rest.outcomes() == dict.fromkeys(ids, "already_copied")  # run "one" copied them
    assert await copies_at_bill_crm(sandbox, "order_linked") == before


async def test_a_dry_run_needs_no_store_it_cannot_reach(sandbox: Sandbox, tmp_path: Path) -> None:
    """A dry run reads the store for what earlier runs copied; one that cannot be reached
    (here, a PostgreSQL server that is not there) is said once, and the dry run goes on."""
    ids = await make(sandbox, "order_linked", 2)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens
    config = m.config_for(tmp_path, sandbox, f"postgresql://postgres@127.0.0.1:{port}/none")
    args = args_for(tmp_path, "order_linked", "bill_crm", ids, "unreachable")
    look = m.run(config, "run", *args, "--dry-run", report=tmp_path / "look.jsonl")
    assert look.code == 0, look.stderr
    assert look.outcomes() == dict.fromkeys(ids, "would_copy")
    assert "the store cannot be read (" in look.stderr
    assert "says every invoice would be copied" in look.stderr


async def test_an_unmapped_customer_is_skipped_with_its_reason(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    [mapped] = await make(sandbox, "crm_v1", 1)
    stranger = m.portable_invoice("crm_v1", note="unmapped")
    stranger["customer"] = {"id": "3"}
    unmapped = (await m.create(sandbox, "crm_v1", stranger))["id"]
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    map_file = tmp_path / "only-10.yaml"
    map_file.write_text('customers:\n  "10": "1"\n', encoding="utf-8")
    ids = m.ids_file(tmp_path, [mapped, unmapped])
    command = ["--from", "crm_v1", "--to", "bill_crm", "--ids", str(ids), "--map", str(map_file)]

    ran = m.run(config, "run", *command, "--lenient", "--run", "who", report=tmp_path / "r.jsonl")

    assert ran.code == 1, ran.stderr
    assert ran.outcomes() == {mapped: "copied", unmapped: "skipped"}
    [skipped] = [e for e in ran.report if e["outcome"] == "skipped"]
    reason = "customer 3 has no mapping in the map's customers"
    assert (skipped["reason"], skipped["target_id"]) == (reason, None)
    assert f"skipped: {unmapped}: {reason}" in ran.stderr
    assert (ran.summary()["copied"], ran.summary()["skipped"]) == (1, 1)
    copies = await copies_at_bill_crm(sandbox, "crm_v1")
    assert (copies[mapped], copies[unmapped]) == (1, 0)
    written = m.migrated_keys(await m.requests_log(sandbox, "bill_crm"))
    assert not [k for k in written if k.startswith(f"crm_v1:{unmapped}:")]


# -- status and payments -----------------------------------------------------------------------


async def test_paid_and_void_invoices_are_carried_where_the_target_can_and_said_where_not(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    base = "/v1/connections/draft_publish/invoices"
    paid, void = await make(sandbox, "draft_publish", 2)
    for invoice_id in (paid, void):
        await m.api(sandbox, "POST", f"{base}/{invoice_id}/issue")
    for amount, date, method in (("20.00", "2026-05-10", "cash"), ("37.50", "2026-05-12", "check")):
        payment = {"amount": amount, "date": date, "method": method}
        await m.api(sandbox, "POST", f"{base}/{paid}/payments", payment)
    await m.api(sandbox, "POST", f"{base}/{void}/void")
    assert (await m.read(sandbox, "draft_publish", paid))["status"] == "paid"
    settings = m.migration_settings(sandbox, sqlite_url())
    # A paid invoice whose copy shows it owed differs, whatever the warnings say: the customer
    # would be asked to pay it again.
    owed = [
        {"field": "paid", "source": "57.50", "target": "0.00"},
        {"field": "due", "source": "0.00", "target": "57.50"},
    ]
    wanted = {
        # target: (paid copy's status, its warnings, its differences), (the void copy's)
        "bill_crm": (
            ("paid", ["bill_crm cannot record payments; not carried"], []),
            ("void", [], []),
        ),
        "item_envelope": (
            (
                "open",
                [
                    "item_envelope cannot record payments; not carried",
                    "item_envelope cannot mark it paid",
                ],
                owed,
            ),
            # A cancelled invoice become one to pay differs too, though its figures agree.
            (
                "open",
                ["item_envelope cannot void an invoice"],
                [{"field": "status", "source": "void", "target": "open"}],
            ),
        ),
        "order_linked": (
            (
                "open",
                [
                    "order_linked cannot record payments; not carried",
                    "order_linked cannot mark it paid",
                ],
                owed,
            ),
            ("void", [], []),
        ),
    }
    for target, expected in wanted.items():
        plan = Plan(
            run=f"status-{target}",
            source="draft_publish",
            target=target,
            ids=(paid, void),
            handling="lenient",
        )
        ran = await m.migrate_here(settings, plan, m.map_to(target), tmp_path)
        assert ran.code == 0, ran.stderr  # a difference is reported, not a failure
        differs = sum(1 for _, _, differences in expected if differences)
        assert ran.summary()["differences"] == differs, ran.stderr
        # The report's lines come as each copy is done (migration.md), not in the ids' order.
        entries = {entry["source_id"]: entry for entry in ran.report}
        assert sorted(entries) == sorted((paid, void)), ran.report
        for source_id, (status, reasons, differences) in zip((paid, void), expected, strict=True):
            entry = entries[source_id]
            copy = await m.read(sandbox, target, entry["target_id"])
            assert copy["status"] == status, (target, entry)
            said = [
                w["reason"] for w in entry["warnings"] if w["field"] in ("/status", "/payments")
            ]
            assert said == reasons, (target, entry)
            assert entry["totals_differences"] == differences, entry
            assert entry["verification"] == ("differs" if differences else "exact"), entry


async def copy_seeded(
    sandbox: Sandbox,
    tmp_path: Path,
    run: str,
    route: tuple[str, str],
    invoices: list[dict[str, Any]],
    taxes: dict[str, str] | None = None,
    *,
    dry_run: bool = False,
) -> tuple[int, dict[str, dict[str, Any]]]:
    """``invoices`` copied along ``route`` (source, target) under --lenient (or a dry run of
    it), every customer and item the target's seeded one, taxes by ``taxes`` where given (else
    by rate): the command's exit code and its report's entries by source id, one for each."""
    source, target = route
    plan = Plan(
        run=run,
        source=source,
        target=target,
        ids=tuple(i["id"] for i in invoices),
        handling="lenient",
    )
    refs = ReferenceMap(
        customers={"*": m.SEEDED[target].customer},
        items={"*": m.SEEDED[target].item or ""},
        taxes=taxes or {},
    )
    settings = m.migration_settings(sandbox, sqlite_url())
    ran = await m.migrate_here(settings, plan, refs, tmp_path, dry_run=dry_run)
    by_id = {entry["source_id"]: entry for entry in ran.report}
    assert set(by_id) == {invoice["id"] for invoice in invoices}, ran.stderr
    return ran.code, by_id


async def test_payments_are_carried_to_a_target_that_records_them(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """crm_v1's seeded invoices with payments whose every figure draft_publish can take."""
    rates = {Decimal(0), Decimal(5), Decimal(20), Decimal("8.875")}
    candidates = [
        invoice
        for invoice in await m.listing(sandbox, "crm_v1")
        if invoice["payments"]
        and invoice["currency"] == "USD"
        and {p["method"] for p in invoice["payments"]} <= DRAFT_PUBLISH_METHODS
        and all(
            not line.get("discount") and {Decimal(t["rate"]) for t in line["taxes"]} <= rates
            for line in invoice["lines"]
        )
    ]
    assert candidates, "the seed changed: no paid crm_v1 invoice draft_publish can take"

    code, by_id = await copy_seeded(
        sandbox, tmp_path, "payments", ("crm_v1", "draft_publish"), candidates
    )

    assert code == 0
    for source in candidates:
        entry = by_id[source["id"]]
        assert (entry["outcome"], entry["verification"]) == ("copied", "exact"), entry
        assert not [w for w in entry["warnings"] if w["field"].startswith(("/payments", "/status"))]
        copy = await m.read(sandbox, "draft_publish", entry["target_id"])
        carried = [(p["amount"], p["date"], p["method"], p["reference"]) for p in copy["payments"]]
        assert carried == [
            (p["amount"], p["date"], p["method"], p["reference"]) for p in source["payments"]
        ]
        assert (copy["status"], copy["payment_status"]) == (
            source["status"],
            source["payment_status"],
        )
        assert (copy["totals"]["paid"], copy["totals"]["due"]) == (
            source["totals"]["paid"],
            source["totals"]["due"],
        )


async def test_a_paid_copy_whose_total_differs_is_not_marked_paid_with_a_payment_made_up(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """crm_v1's paid invoices with a line discount draft_publish cannot take: under --lenient
    the copy's total is larger than what was paid. Its payments are the source's, and it is
    not marked paid, which would record the rest as paid today: a warning says so."""
    rates = {Decimal(0), Decimal(5), Decimal(20), Decimal("8.875")}  # draft_publish's taxes
    candidates = [
        invoice
        for invoice in await m.listing(sandbox, "crm_v1")
        if invoice["status"] == "paid"
        and invoice["payments"]
        and invoice["currency"] == "USD"
        and {p["method"] for p in invoice["payments"]} <= DRAFT_PUBLISH_METHODS
        and any(line.get("discount") for line in invoice["lines"])
        and all({Decimal(t["rate"]) for t in line["taxes"]} <= rates for line in invoice["lines"])
    ][:3]
    assert candidates, "the seed changed: no paid crm_v1 invoice with a line discount"

    code, by_id = await copy_seeded(
        sandbox, tmp_path, "paid-differs", ("crm_v1", "draft_publish"), candidates
    )

    assert code in (0, 1)  # 1: a copy differs, which this test makes sure of
    for source in candidates:
        entry = by_id[source["id"]]
        assert entry["outcome"] == "copied", entry
        copy = await m.read(sandbox, "draft_publish", entry["target_id"])
        assert Decimal(copy["totals"]["total"]) > Decimal(source["totals"]["paid"]), copy
        carried = [(p["amount"], p["date"], p["method"]) for p in copy["payments"]]
        assert carried == [(p["amount"], p["date"], p["method"]) for p in source["payments"]]
        assert copy["totals"]["paid"] == source["totals"]["paid"]
        assert copy["status"] == "open"
        said = [w["reason"] for w in entry["warnings"] if w["field"] == "/status"]
        assert len(said) == 1 and said[0].startswith("not marked paid: the source was paid ")


async def test_payments_beyond_a_smaller_copys_total_are_left_out_and_said_not_failed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """crm_v1's paid invoices with tax and several payments, their taxes mapped to
    draft_publish's 0%: each copy's total is below what the source was paid. The payments that
    fit are recorded, the one that would pay more than the copy has due is not (draft_publish
    would refuse it, leaving a half-made copy failing the same step on every run): a warning
    names it, and the copy is finished, its verification saying it differs. A dry run warns."""
    candidates = [
        invoice
        for invoice in await m.listing(sandbox, "crm_v1")
        if invoice["status"] == "paid"
        and len(invoice["payments"]) >= 2
        and invoice["currency"] == "USD"
        and {p["method"] for p in invoice["payments"]} <= DRAFT_PUBLISH_METHODS
        and Decimal(invoice["totals"]["tax"]) > 0
        and Decimal(invoice["totals"]["discount"]) == 0
        and not any(line.get("discount") for line in invoice["lines"])
    ][:3]
    assert candidates, "the seed changed: no paid crm_v1 invoice with tax and two payments"
    zero = _every_rate_to_zero(candidates, "draft_publish")
    route = ("crm_v1", "draft_publish")
    _, dry = await copy_seeded(
        sandbox, tmp_path, "beyond-dry", route, candidates, zero, dry_run=True
    )
    for entry in dry.values():
        said = [w["reason"] for w in entry["warnings"] if w["field"].startswith("/payments/")]
        assert said and all("more than the copy has due" in r for r in said), entry

    code, by_id = await copy_seeded(
        sandbox, tmp_path, "beyond", ("crm_v1", "draft_publish"), candidates, taxes=zero
    )

    assert code == 0  # finished: differing copies are no failure (verify says so)
    for source in candidates:
        entry = by_id[source["id"]]
        assert (entry["outcome"], entry["verification"]) == ("copied", "differs"), entry
        copy = await m.read(sandbox, "draft_publish", entry["target_id"])
        total = Decimal(copy["totals"]["total"])
        assert total < Decimal(source["totals"]["paid"])
        left_out = [w for w in entry["warnings"] if w["field"].startswith("/payments/")]
        assert left_out and all("more than the copy has due" in w["reason"] for w in left_out)
        recorded = [p["amount"] for p in copy["payments"]]
        skipped = {int(w["field"].rsplit("/", 1)[1]) for w in left_out}
        wanted = [p["amount"] for n, p in enumerate(source["payments"]) if n not in skipped]
        assert recorded == wanted
        assert Decimal(copy["totals"]["paid"]) <= total
        assert copy["status"] != "paid"
        assert _carried(dry[source["id"]]) == _carried(entry)  # the dry run said as much


def _carried(entry: dict[str, Any]) -> set[tuple[str, str]]:
    """A report entry's warnings about the payments and the status it carried."""
    fields = ("/payments", "/status", "/totals/paid")
    return {(w["field"], w["reason"]) for w in entry["warnings"] if w["field"].startswith(fields)}


async def test_a_copy_the_target_needs_a_due_date_for_says_the_maps_due_days_gives_one(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """item_envelope keeps no due date; draft_publish requires one: the reason names the fix."""
    made = await m.create(sandbox, "item_envelope", m.portable_invoice("item_envelope"))
    source = await m.read(sandbox, "item_envelope", made["id"])
    assert source["due_date"] is None
    route = ("item_envelope", "draft_publish")
    taxes = {rate_key(Decimal(0)): m.SEEDED["draft_publish"].zero_tax}

    _, dry = await copy_seeded(sandbox, tmp_path, "undue-dry", route, [source], taxes, dry_run=True)
    _, ran = await copy_seeded(sandbox, tmp_path, "undue", route, [source], taxes)

    for entry in (dry[made["id"]], ran[made["id"]]):
        assert entry["outcome"] == "failed", entry
        assert "due_date" in entry["reason"]
        assert (
            "give the map a due_days: a copy whose source has no due date then gets one"
            in entry["reason"]
        )
    assert dry[made["id"]]["reason"] == ran[made["id"]]["reason"]


async def test_a_dry_run_says_a_draft_copied_where_there_are_no_drafts_is_issued(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """crm_v1 keeps no drafts: a draft copied there is open, which the run says and its dry
    run did not."""
    made = await m.create(sandbox, "draft_publish", m.portable_invoice("draft_publish"))
    source = await m.read(sandbox, "draft_publish", made["id"])
    assert source["status"] == "draft"
    route = ("draft_publish", "crm_v1")
    taxes = {rate_key(Decimal(0)): m.SEEDED["crm_v1"].zero_tax}

    _, dry = await copy_seeded(
        sandbox, tmp_path, "drafts-dry", route, [source], taxes, dry_run=True
    )
    _, ran = await copy_seeded(sandbox, tmp_path, "drafts", route, [source], taxes)

    assert dry[made["id"]]["outcome"] == "would_copy"
    assert ran[made["id"]]["outcome"] == "copied"
    assert _carried(dry[made["id"]]) == _carried(ran[made["id"]])
    assert ("/status", "crm_v1 keeps no drafts: the copy is open") in _carried(dry[made["id"]])


async def test_a_dry_run_says_a_paid_copy_would_not_be_paid_where_its_rounding_differs(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Three lines of 0.10 at 5%: draft_publish rounds each line's tax (0.33), bill_crm the
    rate's once (0.32). The source was paid 0.33; bill_crm records no payments and the copy is
    not marked paid, which would say 0.32 was paid. The dry run said nothing of it: a copy
    that would show a paying customer owing was a clean ``would_copy``."""
    vat5 = "3799745b-0aa4-55b0-a0aa-ee78a0ac057a"  # draft_publish's Reduced VAT 5%
    body = m.portable_invoice("draft_publish")
    body["lines"] = [
        {**body["lines"][0], "quantity": "1", "unit_price": "0.10", "taxes": [{"id": vat5}]}
    ] * 3
    made = await m.create(sandbox, "draft_publish", body)
    path = f"/v1/connections/draft_publish/invoices/{made['id']}"
    await m.api(sandbox, "POST", f"{path}/mark_sent")
    payment = {"amount": "0.33", "date": "2026-05-02", "method": "bank_transfer"}
    await m.api(sandbox, "POST", f"{path}/payments", payment)
    source = await m.read(sandbox, "draft_publish", made["id"])
    assert (source["status"], source["totals"]["paid"]) == ("paid", "0.33")
    route = ("draft_publish", "bill_crm")
    taxes = {rate_key(Decimal(5)): "5"}  # bill_crm's GST 5%

    _, dry = await copy_seeded(
        sandbox, tmp_path, "rounded-dry", route, [source], taxes, dry_run=True
    )
    _, ran = await copy_seeded(sandbox, tmp_path, "rounded", route, [source], taxes)

    forecast, done = dry[made["id"]], ran[made["id"]]
    copy = await m.read(sandbox, "bill_crm", done["target_id"])
    assert (copy["totals"]["total"], copy["status"]) == ("0.32", "open")
    assert _carried(forecast) == _carried(done)
    said = dict(_carried(forecast))
    assert said["/payments"] == "bill_crm cannot record payments; not carried"
    assert said["/status"] == (
        "not marked paid: the source was paid 0.33 and the copy's total is 0.32: marked paid, "
        "the copy would show 0.32 paid, not 0.33"
    )


def _every_rate_to_zero(candidates: list[dict[str, Any]], target: str) -> dict[str, str]:
    """A map's taxes: every rate of ``candidates``' lines to the target's zero tax."""
    rates = {
        rate_key(Decimal(t["rate"]))
        for invoice in candidates
        for line in invoice["lines"]
        for t in line["taxes"]
    }
    return dict.fromkeys(rates, m.SEEDED[target].zero_tax)


async def _bill_crm_to_crm_v1(
    sandbox: Sandbox, tmp_path: Path, run: str, candidates: list[dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """``candidates`` copied from bill_crm to crm_v1 (every rate to crm_v1's zero tax), a dry
    run first: each run's report entries by source id."""
    taxes = _every_rate_to_zero(candidates, "crm_v1")
    route = ("bill_crm", "crm_v1")
    _, dry = await copy_seeded(
        sandbox, tmp_path, f"{run}-dry", route, candidates, taxes, dry_run=True
    )
    _, ran = await copy_seeded(sandbox, tmp_path, run, route, candidates, taxes)
    return dry, ran


async def test_an_amount_paid_without_payment_records_is_said_where_the_copy_lacks_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """bill_crm's open invoices with something paid and no payment records (its own figure):
    crm_v1 records no payments, so the copy shows nothing paid, and the report says so."""
    candidates = [
        invoice
        for invoice in await m.listing(sandbox, "bill_crm")
        if invoice["status"] == "open"
        and not invoice["payments"]
        and Decimal(invoice["totals"]["paid"]) > 0
    ][:3]
    assert candidates, "the seed changed: no partly paid bill_crm invoice"
    dry, by_id = await _bill_crm_to_crm_v1(sandbox, tmp_path, "paid-unrecorded", candidates)

    for source in candidates:
        entry = by_id[source["id"]]
        assert entry["outcome"] == "copied", entry
        assert _carried(dry[source["id"]]) == _carried(entry)  # the same words, "0.00" too
        copy = await m.read(sandbox, "crm_v1", entry["target_id"])
        assert Decimal(copy["totals"]["paid"]) < Decimal(source["totals"]["paid"])
        said = [w["reason"] for w in entry["warnings"] if w["field"] == "/totals/paid"]
        assert said == [
            f"the source shows {source['totals']['paid']} paid, with no payment records to "
            f"carry; the copy shows {copy['totals']['paid']} paid"
        ], entry


async def test_a_source_partly_paid_by_its_providers_word_alone_is_said_where_the_copy_owes_all(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """bill_crm's Part Paid states no amount: the copy was unpaid, owing the whole total, and
    the dry run, the run and verify all said exact, no warning, exit 0. Nothing told the user
    the customer had paid part. The report says so, the dry run first."""
    unpaid = [
        invoice
        for invoice in await m.listing(sandbox, "bill_crm")
        if (invoice["status"], invoice["payment_status"]) == ("open", "unpaid")
        and not invoice["payments"]
        and invoice["currency"] == "USD"
    ][:2]
    assert unpaid, "the seed changed: no open unpaid bill_crm invoice"
    candidates = []
    for invoice in unpaid:  # Part Paid, as bill_crm's own status says, with no amount
        one = f"/v1/connections/bill_crm/invoices/{invoice['id']}"
        await m.api(sandbox, "POST", f"{one}/mark_partially_paid")
        candidates.append(await m.read(sandbox, "bill_crm", invoice["id"]))
    assert {(c["payment_status"], c["totals"]["paid"]) for c in candidates} == {
        ("partially_paid", "0.00")
    }
    dry, by_id = await _bill_crm_to_crm_v1(sandbox, tmp_path, "part-paid", candidates)
    said = (
        "the source is partially paid by its provider's word, with no amount or payment records "
        "to carry; the copy shows nothing paid: record at the target what was paid"
    )
    for source in candidates:
        entry = by_id[source["id"]]
        assert entry["outcome"] == "copied", entry
        copy = await m.read(sandbox, "crm_v1", entry["target_id"])
        assert copy["payment_status"] == "unpaid"
        for reported in (entry, dry[source["id"]]):
            warned = [w["reason"] for w in reported["warnings"] if w["field"] == "/payment_status"]
            assert warned == [said], reported


async def test_a_dry_run_fails_what_the_targets_own_checks_would_refuse(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """bill_crm's create takes invoices in the account's currency only, a check it makes before
    sending anything: the dry run fails the same invoices the run fails, for the same reason,
    and says it would copy the rest."""
    invoices = await m.listing(sandbox, "draft_publish")
    foreign = [i for i in invoices if i["currency"] != "USD"][:2]
    usd = [i for i in invoices if i["currency"] == "USD"][:2]
    assert len(foreign) == 2 and len(usd) == 2, "the seed changed"
    chosen = foreign + usd
    rates = {
        rate_key(Decimal(t["rate"]))
        for invoice in chosen
        for line in invoice["lines"]
        for t in line["taxes"]
    }
    taxes = dict.fromkeys(rates, m.SEEDED["bill_crm"].zero_tax)
    route = ("draft_publish", "bill_crm")
    outcomes = {}
    for dry_run in (True, False):
        plan = Plan(
            run=f"checks-{dry_run}",
            source=route[0],
            target=route[1],
            ids=tuple(i["id"] for i in chosen),
            handling="lenient",
        )
        refs = ReferenceMap(customers={"*": m.SEEDED["bill_crm"].customer}, taxes=taxes)
        settings = m.migration_settings(sandbox, sqlite_url())
        ran = await m.migrate_here(settings, plan, refs, tmp_path, dry_run=dry_run)
        outcomes[dry_run] = {e["source_id"]: (e["outcome"], e["reason"]) for e in ran.report}
    for invoice in foreign:
        reason = (
            f"bill_crm invoices are in the account's currency (USD) only, not {invoice['currency']}"
        )
        assert outcomes[True][invoice["id"]] == ("failed", reason), outcomes[True]
        assert outcomes[False][invoice["id"]] == ("failed", reason), outcomes[False]
    for invoice in usd:
        assert outcomes[True][invoice["id"]][0] == "would_copy", outcomes[True]
        assert outcomes[False][invoice["id"]][0] == "copied", outcomes[False]


# -- afterwards: verify and revert -------------------------------------------------------------


async def test_verification_catches_a_copy_whose_total_was_altered(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ids, config = await copied_run(sandbox, tmp_path, "bill_crm", "crm_v1", 2, "checked")
    clean = m.run(config, "verify", "--run", "checked", report=tmp_path / "clean.jsonl")
    assert clean.code == 0, clean.stderr
    assert [(e["outcome"], e["totals_differences"]) for e in clean.report] == [("verified", [])] * 2
    # Someone edits the first copy at crm_v1: 4 widgets instead of 3 on its first line.
    altered = (await m.crosswalk(config_store(config), "checked"))[0]
    copy = await m.read(sandbox, "crm_v1", str(altered.target_id))
    body = {
        k: v for k, v in copy.items() if k in ("customer", "issue_date", "due_date", "currency")
    }
    body["lines"] = [
        {k: line[k] for k in ("item_id", "name", "description", "quantity", "unit_price", "taxes")}
        for line in copy["lines"]
    ]
    body["lines"][0]["quantity"] = "4"
    path = f"/v1/connections/crm_v1/invoices/{altered.target_id}"
    assert (await m.api(sandbox, "PUT", path, body))["totals"]["total"] == "70.00"

    checked = m.run(config, "verify", "--run", "checked", report=tmp_path / "verify.jsonl")

    assert checked.code == 1, checked.stderr
    assert checked.summary()["differences"] == 1
    by_source = {e["source_id"]: e for e in checked.report}
    assert by_source[altered.source_id]["verification"] == "differs"
    assert by_source[altered.source_id]["totals_differences"] == [
        {"field": "subtotal", "source": "57.50", "target": "70.00"},
        {"field": "total", "source": "57.50", "target": "70.00"},
        {"field": "due", "source": "57.50", "target": "70.00"},  # the customer is asked for it
    ]
    [other] = [i for i in ids if i != altered.source_id]
    assert (by_source[other]["verification"], by_source[other]["totals_differences"]) == (
        "exact",
        [],
    )


def config_store(config: Path) -> str:
    url: str = yaml.safe_load(config.read_text(encoding="utf-8"))["store"]["url"]
    return url


async def test_a_map_that_changes_the_money_is_a_difference_in_the_report(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    [source_id] = await make(sandbox, "crm_v1", 1)
    settings = m.migration_settings(sandbox, sqlite_url())
    plan = Plan(
        run="retaxed", source="crm_v1", target="bill_crm", ids=(source_id,), handling="lenient"
    )
    refs = ReferenceMap(customers={"*": "1"}, taxes={"0": "1"})  # crm_v1 Exempt → VAT 20%

    ran = await m.migrate_here(settings, plan, refs, tmp_path)

    entry = ran.only()
    assert (entry["outcome"], entry["verification"]) == ("copied", "differs")
    assert entry["totals_differences"] == [
        {"field": "tax", "source": "0.00", "target": "11.50"},
        {"field": "total", "source": "57.50", "target": "69.00"},
        {"field": "due", "source": "57.50", "target": "69.00"},
    ]
    assert ran.summary()["differences"] == 1
    [crosswalk] = await m.crosswalk(settings.store.url, "retaxed")
    assert crosswalk.state == "differs"
    assert crosswalk.detail["totals_differences"] == entry["totals_differences"]


async def test_revert_deletes_or_voids_each_copy_once_and_a_later_run_copies_again(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    draft, issued, voided = await make(sandbox, "bill_crm", 3)
    for invoice_id in (issued, voided):
        await m.api(sandbox, "POST", f"/v1/connections/bill_crm/invoices/{invoice_id}/issue")
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    args = args_for(tmp_path, "bill_crm", "draft_publish", [draft, issued, voided], "undo")
    copied = m.run(config, "run", *args, report=tmp_path / "copied.jsonl")
    assert copied.code == 0, copied.stderr
    targets = {e["source_id"]: e["target_id"] for e in copied.report}
    assert (await m.read(sandbox, "draft_publish", targets[issued]))["status"] == "open"
    # One copy is voided at the target before the revert: it has nothing left to undo.
    await m.api(sandbox, "POST", f"/v1/connections/draft_publish/invoices/{targets[voided]}/void")

    reverted = m.run(config, "revert", "--run", "undo", report=tmp_path / "revert.jsonl")

    assert reverted.code == 0, reverted.stderr
    assert reverted.summary()["reverted"] == 3
    how = {e["source_id"]: (e["outcome"], e["reason"]) for e in reverted.report}
    assert how == {
        draft: ("reverted", "deleted"),
        issued: ("reverted", "voided"),
        voided: ("reverted", "already void"),
    }
    remaining = {i["id"]: i["status"] for i in await m.listing(sandbox, "draft_publish")}
    assert targets[draft] not in remaining
    assert remaining[targets[issued]] == remaining[targets[voided]] == "void"

    again = m.run(config, "revert", "--run", "undo", report=tmp_path / "again.jsonl")

    assert again.code == 0, again.stderr
    assert {e["reason"] for e in again.report} == {"already"}
    assert {i["id"]: i["status"] for i in await m.listing(sandbox, "draft_publish")} == remaining
    # Verified after the revert, nothing differs: each copy is skipped as reverted, and the
    # status is 0 (it was 1, as for copies that differ).
    checked = m.run(config, "verify", "--run", "undo", report=tmp_path / "verify.jsonl")
    assert checked.code == 0, checked.stderr
    assert {(e["outcome"], e["reason"]) for e in checked.report} == {("skipped", "reverted")}
    assert checked.stderr.count(": reverted\n") == 3

    recopied = m.run(config, "run", *args, report=tmp_path / "recopied.jsonl")

    assert recopied.code == 0, recopied.stderr
    assert recopied.outcomes() == {draft: "copied", issued: "copied", voided: "copied"}
    assert not {e["target_id"] for e in recopied.report} & set(targets.values())


# -- exit statuses -----------------------------------------------------------------------------

BAD_MAP = """customers:
  "*": "1"
items:
  "12": 12.5
"""
# (what is wrong, the arguments that say it, what the message says): "{file}" is a file below
USAGE_ERRORS = [
    (
        "unknown connection",
        ["--to", "billing"],
        "no connection named 'billing' in the configuration (known: crm_v1,",
    ),
    (
        "bad date",
        ["--issued-from", "2026-02-30"],
        "--issued-from '2026-02-30' names no day of the calendar: 2026-02 has 28 days",
    ),
    (
        "map type",
        ["--map", "{bad.yaml}"],
        "bad.yaml: line 4: items.12: 12.5 is not of type 'string', 'integer'",
    ),
    (
        "map syntax",
        ["--map", "{broken.yaml}"],
        "broken.yaml: line 3, column 1: not valid YAML (expected ',' or ']'",
    ),
    ("no ids", ["--ids", "{empty.txt}"], "empty.txt: holds no invoice id"),
    # As export refuses it: a binary file given by mistake, not a 5 MB "id" echoed back.
    (
        "a line no id is",
        ["--ids", "{long.txt}"],
        "long.txt: line 2 is longer than 4,096 characters, longer than any invoice id",
    ),
    ("same connection", ["--to", "crm_v1"], "--from and --to name the same connection"),
    (
        "ids and a filter",
        ["--ids", "{ids.txt}", "--status", "paid"],
        "--ids copies the invoices it lists: give it without --status, --customer,",
    ),
    (
        "dates the wrong way round",
        ["--issued-from", "2026-06-01", "--issued-to", "2026-01-01"],
        "--issued-from 2026-06-01 is after --issued-to 2026-01-01",
    ),
]


def test_usage_errors_exit_2_naming_what_to_change(sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BAD_MAP, encoding="utf-8")
    (tmp_path / "broken.yaml").write_text('customers:\n  "*": [1\n', encoding="utf-8")
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    (tmp_path / "long.txt").write_text("7\n" + "9" * 100_000 + "\n", encoding="utf-8")
    (tmp_path / "ids.txt").write_text("1\n2\n", encoding="utf-8")
    store = tmp_path / "store" / "store.db"
    store.parent.mkdir()  # the folder must exist (check-config); the file is never made
    config = m.config_for(tmp_path, sandbox, f"sqlite:///{store}")
    started = []
    for case, extra, _ in USAGE_ERRORS:  # all at once: each is a process start, no more
        given = [str(tmp_path / x.strip("{}")) if x.startswith("{") else x for x in extra]
        target = [] if "--to" in given else ["--to", "bill_crm"]
        started.append(m.start(config, "run", "--from", "crm_v1", *target, "--run", case, *given))
    for (case, _, message), process in zip(USAGE_ERRORS, started, strict=True):
        ran = process.wait()
        assert ran.code == 2, (case, ran.stderr)
        assert message in ran.stderr, case
        assert ran.stderr.count("\n") <= 3, ran.stderr  # a message, not a traceback
        assert "Traceback" not in ran.stderr
    assert not store.exists()  # refused before anything was opened


def test_a_report_that_cannot_be_written_and_a_source_that_refuses_are_said_not_raised(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Neither is a traceback: a --report path that cannot be written is a usage error naming
    it (exit 2); a source whose credentials are refused stops the run before it starts, saying
    so (exit 1), and no provider token is shown."""
    config = m.config_for(tmp_path, sandbox, f"sqlite:///{tmp_path / 'store.db'}")
    args = ("--from", "crm_v1", "--to", "bill_crm", "--map", str(m.map_file(tmp_path, "bill_crm")))
    for report in (tmp_path, tmp_path / "missing" / "r.jsonl"):  # a folder; no such folder
        ran = m.run(config, "run", *args, "--run", "report", "--report", str(report))
        assert ran.code == 2, ran.stderr
        assert f"--report {report} cannot be written: " in ran.stderr
        assert "Traceback" not in ran.stderr
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    crm = next(c for c in data["connections"] if c["name"] == "crm_v1")
    crm["auth"]["token"] = "not-the-token-0123456789"
    refused = tmp_path / "refused.yaml"
    refused.write_text(yaml.safe_dump(data), encoding="utf-8")
    ran = m.run(refused, "run", *args, "--run", "refused")
    assert ran.code == 1, ran.stderr
    assert "run refused did not start: listing crm_v1 failed: " in ran.stderr
    assert "Traceback" not in ran.stderr
    assert "not-the-token-0123456789" not in ran.stderr
    # A target that refuses the credentials stops the run at its first copy, saying so, instead
    # of failing every invoice in turn.
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    bill = next(c for c in data["connections"] if c["name"] == "bill_crm")
    bill["auth"]["token"] = "not-the-token-0123456789"
    refused.write_text(yaml.safe_dump(data), encoding="utf-8")
    ran = m.run(refused, "run", *args, "--lenient", "--run", "target-refused", "--concurrency", "1")
    assert ran.code == 1, ran.stderr
    assert "run target-refused stopped: " in ran.stderr
    # Not retryable: a plain "run it again" would meet the same refusal.
    assert "Asking again would meet it again: fix what it names" in ran.stderr
    failures = [line for line in ran.stderr.splitlines() if line.startswith("failed: ")]
    assert not [f for f in failures if "credentials" in f], ran.stderr  # stopped, not failed
    assert "Traceback" not in ran.stderr
    assert "not-the-token-0123456789" not in ran.stderr


def test_verify_and_revert_without_a_run_to_work_on_exit_2(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    kept = tmp_path / "earlier-report.jsonl"  # an earlier run's only record of each invoice
    kept.write_text('{"source_id": "1", "outcome": "copied"}\n', encoding="utf-8")
    verify = m.start(config, "verify", "--run", "never-ran", "--report", str(kept))
    revert = m.start(config, "revert")
    ran = verify.wait()
    assert ran.code == 2
    assert "no run named 'never-ran' in the store" in ran.stderr
    assert kept.read_text(encoding="utf-8") == '{"source_id": "1", "outcome": "copied"}\n'
    ran = revert.wait()
    assert ran.code == 2
    assert "migrate revert needs --run NAME (the run to revert)" in ran.stderr
    # A run's own options would be passed over: refused, named.
    ran = m.start(config, "verify", "--run", "never-ran", "--from", "crm_v1", "--lenient").wait()
    assert ran.code == 2
    assert "migrate verify takes --config, --run and --report; --from, --lenient" in ran.stderr


async def test_verify_and_revert_of_a_run_that_copied_nothing_say_so_and_exit_0(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A run that skipped every invoice it met is a run all the same: verify and revert said
    "no copy made by a run named …", exit 2, as for a name that never ran."""
    ids = await make(sandbox, "crm_v1", 2)
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    args = args_for(tmp_path, "crm_v1", "item_envelope", ids, "nothing")
    strict = [a for a in args if a != "--lenient"]  # item_envelope keeps no invoice number
    ran = m.run(config, "run", *strict, report=tmp_path / "run.jsonl")
    assert ran.code == 1, ran.stderr
    assert set(ran.outcomes().values()) == {"skipped"}

    for command in ("verify", "revert"):
        answer = m.start(config, command, "--run", "nothing").wait()
        assert answer.code == 0, (command, answer.stderr)
        assert (
            "run 'nothing' made no copy (it skipped or failed every invoice it met, or met only "
            f"copies that earlier runs made): nothing to {command}" in answer.stderr
        )
    # verify's report accounts for every invoice of the run: the skipped ones, with why (it
    # listed none, and a team reading it as the run's account lost them).
    checked = m.run(config, "verify", "--run", "nothing", report=tmp_path / "verify.jsonl")
    assert checked.code == 0, checked.stderr
    skipped = {e["source_id"]: (e["outcome"], e["reason"]) for e in checked.report}
    said = {e["source_id"]: e["reason"] for e in ran.report}
    assert skipped == {
        source_id: ("skipped", f"not copied: the run skipped it ({said[source_id]})")
        for source_id in ids
    }, checked.report
    assert checked.summary()["skipped"] == 2


async def test_an_invoice_named_twice_in_ids_by_two_spellings_is_copied_once(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """``7`` and ``007`` are one crm_v1 invoice: counted, read and copied once, in a dry run
    and in a run, as export --ids exports it once."""
    [invoice_id] = await make(sandbox, "crm_v1", 1)
    spellings = (invoice_id, f"0{invoice_id}", f"00{invoice_id}")
    refs = ReferenceMap(
        customers={"*": m.SEEDED["bill_crm"].customer},
        items={"*": m.SEEDED["bill_crm"].item or ""},
    )
    settings = m.migration_settings(sandbox, sqlite_url())
    for dry_run in (True, False):
        plan = Plan(
            run="spelled", source="crm_v1", target="bill_crm", ids=spellings, handling="lenient"
        )
        ran = await m.migrate_here(settings, plan, refs, tmp_path, dry_run=dry_run)
        assert "1 invoice(s) match" in ran.stderr, ran.stderr
        assert [e["source_id"] for e in ran.report] == [invoice_id], ran.report
        assert ran.report[0]["outcome"] == ("would_copy" if dry_run else "copied"), ran.report
    assert (await copies_at_bill_crm(sandbox, "crm_v1"))[invoice_id] == 1


async def test_a_run_again_says_which_copied_sources_changed_since(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A copy is made once; a source changed after it is not copied again, but the run says
    so for that invoice (in the report and on stderr) instead of reporting it copied as it is."""
    ids = await make(sandbox, "crm_v1", 2)
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    args = args_for(tmp_path, "crm_v1", "bill_crm", ids, "changed")
    first = m.run(config, "run", *args, report=tmp_path / "first.jsonl")
    assert first.code == 0, first.stderr
    changed = ids[0]
    source = await m.read(sandbox, "crm_v1", changed)
    replacement = {
        name: source[name]
        for name in ("customer", "currency", "issue_date", "due_date", "lines")
        if source.get(name) is not None
    }
    path = f"/v1/connections/crm_v1/invoices/{changed}"
    await m.api(sandbox, "PUT", path, {**replacement, "notes": "changed after the copy"})

    again = m.run(config, "run", *args, report=tmp_path / "again.jsonl")

    assert again.code == 0, again.stderr
    reasons = {e["source_id"]: (e["outcome"], e["reason"]) for e in again.report}
    assert reasons[ids[1]] == ("already_copied", None)
    assert reasons[changed][0] == "already_copied"
    assert "changed since it was copied" in reasons[changed][1]
    assert f"already_copied: {changed}: the source invoice changed" in again.stderr
    # What each copy lost when it was made stays in the later report, the last word a script
    # keeps on each invoice (it said "warnings": [] there).
    made = {e["source_id"]: e["warnings"] for e in first.report}
    assert [w for warnings in made.values() for w in warnings], made
    assert {e["source_id"]: e["warnings"] for e in again.report} == made


# -- runs after runs ---------------------------------------------------------------------------


async def test_a_create_the_target_refused_is_copied_once_the_map_is_fixed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The create's key kept the target's refusal, and the fixed run sent another request
    under it: refused as a key used with a different request, in every later run."""
    [source] = await make(sandbox, "crm_v1", 1)
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text('customers:\n  "*": "99999"\nitems:\n  "*": "1"\n', encoding="utf-8")
    ids = str(m.ids_file(tmp_path, [source]))
    pair = ["--from", "crm_v1", "--to", "item_envelope", "--ids", ids, "--lenient"]

    refused = m.run(
        config,
        "run",
        *pair,
        "--map",
        str(wrong),
        "--run",
        "wrong-map",
        report=tmp_path / "wrong.jsonl",
    )

    assert refused.code == 1, refused.stderr
    assert refused.only()["outcome"] == "failed"
    # The field the target named, and what it said of it: the id the map gave.
    assert refused.only()["reason"] == (
        "item_envelope rejected the invoice: Validation failed: client_id "
        "(/customer/id: client 99999 does not exist)"
    )
    fixed_map = str(m.map_file(tmp_path, "item_envelope"))

    fixed = m.run(
        config,
        "run",
        *pair,
        "--map",
        fixed_map,
        "--run",
        "fixed-map",
        report=tmp_path / "fixed.jsonl",
    )

    assert fixed.code == 0, fixed.stderr
    assert (fixed.only()["outcome"], fixed.only()["verification"]) == ("copied", "exact")
    copy = await m.read(sandbox, "item_envelope", fixed.only()["target_id"])
    assert copy["customer"]["id"] == m.SEEDED["item_envelope"].customer
    keys = [k for k in m.migrated_keys(await m.requests_log(sandbox, "item_envelope"))]
    creates = [k for k in keys if k.startswith(f"crm_v1:{source}:create")]
    assert creates == [f"crm_v1:{source}:create", f"crm_v1:{source}:create~1"]


async def test_a_run_that_skips_a_reverted_copys_source_makes_it_none_of_its_own(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Its entry kept the reverted copy's id under the new run: that run's verify failed on
    the copy gone, and its revert said it had deleted it."""
    [source] = await make(sandbox, "crm_v1", 1)
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    ids = str(m.ids_file(tmp_path, [source]))
    pair = ["--from", "crm_v1", "--to", "item_envelope", "--ids", ids, "--lenient"]
    to_item = str(m.map_file(tmp_path, "item_envelope"))
    first = m.run(config, "run", *pair, "--map", to_item, "--run", "a", report=tmp_path / "a.jsonl")
    assert first.only()["outcome"] == "copied", first.stderr
    assert m.run(config, "revert", "--run", "a").code == 0
    items_only = tmp_path / "items-only.yaml"
    items_only.write_text('items:\n  "*": "1"\n', encoding="utf-8")

    skipped = m.run(
        config, "run", *pair, "--map", str(items_only), "--run", "b", report=tmp_path / "b.jsonl"
    )

    assert (skipped.only()["outcome"], skipped.only()["target_id"]) == ("skipped", None)
    for step in ("verify", "revert"):
        said = m.run(config, step, "--run", "b", report=tmp_path / f"{step}.jsonl")
        assert said.code == 0, said.stderr
        # verify accounts for the invoice the run skipped, with no copy of its own
        listed = [(e["outcome"], e["target_id"]) for e in said.report]
        assert listed == ([("skipped", None)] if step == "verify" else []), said.report
        assert "run 'b' made no copy" in said.stderr
    # The copy made again later has keys of its own: the reverted one's would replay it.
    again = m.run(config, "run", *pair, "--map", to_item, "--run", "c", report=tmp_path / "c.jsonl")
    assert again.only()["outcome"] == "copied", again.stderr
    assert again.only()["target_id"] != first.only()["target_id"]


async def test_a_run_that_met_only_earlier_copies_is_a_run_with_nothing_to_verify(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ids, config = await copied_run(sandbox, tmp_path, "crm_v1", "bill_crm", 2, "one")
    second = m.run(
        config,
        "run",
        *args_for(tmp_path, "crm_v1", "bill_crm", ids, "two"),
        report=tmp_path / "two.jsonl",
    )
    assert set(second.outcomes().values()) == {"already_copied"}

    for step in ("verify", "revert"):
        said = m.run(config, step, "--run", "two")
        assert said.code == 0, said.stderr
        assert "met only copies that earlier runs made" in said.stderr
    unknown = m.run(config, "verify", "--run", "three")
    assert unknown.code == 2
    assert "no run named 'three' in the store" in unknown.stderr
    assert (await copies_at_bill_crm(sandbox, "crm_v1"))[ids[0]] == 1  # revert two undid none


async def test_a_copy_voided_at_the_target_while_its_source_is_owed_differs(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Verify called it exact: the same figures, but the target had written off what the
    source says is owed."""
    draft, issued = await make(sandbox, "bill_crm", 2)
    await m.api(sandbox, "POST", f"/v1/connections/bill_crm/invoices/{issued}/issue")
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    args = args_for(tmp_path, "bill_crm", "draft_publish", [draft, issued], "written-off")
    copied = m.run(config, "run", *args, report=tmp_path / "copied.jsonl")
    assert copied.code == 0, copied.stderr
    target = {e["source_id"]: e["target_id"] for e in copied.report}
    await m.api(sandbox, "POST", f"/v1/connections/draft_publish/invoices/{target[issued]}/void")

    checked = m.run(config, "verify", "--run", "written-off", report=tmp_path / "v.jsonl")

    assert checked.code == 1, checked.stderr
    by_source = {e["source_id"]: e for e in checked.report}
    assert by_source[issued]["verification"] == "differs"
    assert by_source[issued]["totals_differences"] == [
        {"field": "status", "source": "open", "target": "void"}
    ]
    assert by_source[draft]["verification"] == "exact"


async def test_a_sample_that_copied_nothing_says_so(sandbox: Sandbox, tmp_path: Path) -> None:
    ids = await make(sandbox, "crm_v1", 3)
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    items_only = tmp_path / "items-only.yaml"
    items_only.write_text('items:\n  "*": "1"\n', encoding="utf-8")
    pair = ["--from", "crm_v1", "--to", "item_envelope", "--lenient", "--run", "tasting-none"]
    pair += ["--ids", str(m.ids_file(tmp_path, ids))]

    sample = m.run(
        config,
        "run",
        *pair,
        "--map",
        str(items_only),
        "--sample",
        "2",
        report=tmp_path / "sample.jsonl",
    )

    assert list(sample.outcomes().values()) == ["skipped", "skipped"]
    assert (
        "sampled the first 2 invoice(s) for item_envelope: 0 copied, 2 skipped: nothing to "
        "compare yet" in sample.stderr
    )
    assert "into item_envelope" not in sample.stderr


async def test_verify_of_a_copy_deleted_at_the_target_says_how_to_copy_it_anew(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A finished copy is not read again by later runs (they say `already_copied`); one deleted
    at the target since is found by verify, which said only the target's 404. It says what to
    do: the revert records it gone, and the next run copies it anew."""
    ids = await make(sandbox, "crm_v1", 2)
    store = sqlite_url()
    config = m.config_for(tmp_path, sandbox, store)
    copied = m.run(config, "run", *args_for(tmp_path, "crm_v1", "bill_crm", ids, "gone"))
    assert copied.code == 0, copied.stderr
    copies = {e.source_id: e.target_id for e in await m.crosswalk(store, "gone")}
    gone_id, kept_id = ids
    async with aiohttp.ClientSession() as session:
        deleted = await session.delete(
            f"{sandbox.gateway_url}/v1/connections/bill_crm/invoices/{copies[gone_id]}",
            headers={"Authorization": f"Bearer {sandbox.api_key}"},
        )
        assert deleted.status == 204

    checked = m.run(config, "verify", "--run", "gone", report=tmp_path / "verify.jsonl")
    assert checked.code == 1, checked.stderr
    said = {e["source_id"]: (e["outcome"], e.get("reason")) for e in checked.report}
    assert said[kept_id][0] == "verified"
    outcome, reason = said[gone_id]
    assert outcome == "failed"
    assert reason.endswith(
        "the target no longer holds this copy; `migrate revert --run gone` records it undone "
        "(already gone), and a run then copies it anew"
    ), reason

    reverted = m.run(config, "revert", "--run", "gone", report=tmp_path / "revert.jsonl")
    assert reverted.code == 0, reverted.stderr
    args = args_for(tmp_path, "crm_v1", "bill_crm", [gone_id], "anew")
    again = m.run(config, "run", *args, report=tmp_path / "anew.jsonl")
    assert again.code == 0, again.stderr
    assert again.outcomes() == {gone_id: "copied"}
    [entry] = again.report
    assert entry["target_id"] != copies[gone_id]
    assert (await m.read(sandbox, "bill_crm", entry["target_id"]))["id"] == entry["target_id"]


async def test_a_dry_run_says_the_target_will_give_a_due_date_as_the_run_does(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """item_envelope keeps no due date; bill_crm gives an invoice sent without one its own
    default. The run warned of it (`/due_date`), the dry run did not: its warnings are the
    run's, but for the date, which only the target chooses."""
    [source_id] = await make(sandbox, "item_envelope", 1)
    assert (await m.read(sandbox, "item_envelope", source_id))["due_date"] is None
    config = m.config_for(tmp_path, sandbox, sqlite_url())
    args = args_for(tmp_path, "item_envelope", "bill_crm", [source_id], "due")
    dry = m.run(config, "run", *args, "--dry-run", report=tmp_path / "dry.jsonl")
    assert dry.code == 0, dry.stderr
    [planned] = [w for w in dry.only()["warnings"] if w["field"] == "/due_date"]
    assert planned["reason"] == (
        "the source has none; bill_crm will give the copy one by its own default (the map's "
        "due_days sets one of your choosing)"
    )
    ran = m.run(config, "run", *args, report=tmp_path / "run.jsonl")
    assert ran.code == 0, ran.stderr
    [given] = [w for w in ran.only()["warnings"] if w["field"] == "/due_date"]
    assert given["reason"].startswith("the source has none; bill_crm gave the copy ")
    assert [w["field"] for w in dry.only()["warnings"]] == [
        w["field"] for w in ran.only()["warnings"]
    ]
