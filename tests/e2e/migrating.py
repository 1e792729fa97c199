"""For the migration tests: a portable invoice per sandbox connection, maps to each target, the
command run in this process or as a real one, the gateway's API and the emulators' controls."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import yaml

from adapters.mapping import load_mapping
from gateway.config import Settings, StoreSettings
from gateway.migration.commands import MigrateOptions, migrate
from gateway.migration.plan import Plan
from gateway.migration.references import ReferenceMap, parse_map
from gateway.sandbox.serve import Sandbox
from gateway.store import CrosswalkEntry, open_store
from tests.e2e.processes import write_config

SCRIPT = str(Path(sys.executable).with_name("invoice-gateway"))


@dataclass(frozen=True)
class Seeded:
    """A connection's seeded reference data a portable invoice names (docs/providers/*.md)."""

    customer: str
    item: str | None  # None: the provider's lines name no item records (bill_crm)
    zero_tax: str  # the id of its 0% tax


SEEDED: dict[str, Seeded] = {
    "crm_v1": Seeded("10", "12", "0"),
    "draft_publish": Seeded(
        "775c7344-d127-54d6-accd-5c36ca844254",
        "9847124a-4a34-5b3b-b047-b11014b044a8",
        "6b58c27d-d916-5470-8f01-16c42064c40e",
    ),
    "bill_crm": Seeded("1", None, "3"),
    "item_envelope": Seeded("15", "1", "6"),
    "order_linked": Seeded("ACC-1001", "ITM-1006", "GST_FREE"),  # ITM-1006 is GST free
}
# Two lines whose money every provider computes the same way (no rounding involved).
LINES = (("3", "12.50"), ("2.5", "8.00"))
ISSUED, DUE = "2026-05-01", "2026-05-31"


def keeps(connection: str, path: str) -> bool:
    return path in load_mapping(connection).capabilities.fields


def portable_invoice(connection: str, *, note: str | None = None) -> dict[str, Any]:
    """An invoice ``connection`` holds and every other sandbox connection can take: its
    seeded customer and item, a line name and description (where it keeps them), a due date
    (where it keeps one), USD, the 0% tax every sandbox connection has."""
    seeded = SEEDED[connection]
    lines = []
    for quantity, price in LINES:
        line: dict[str, Any] = {
            "quantity": quantity,
            "unit_price": price,
            "taxes": [{"id": seeded.zero_tax, "rate": "0"}],
        }
        if seeded.item is not None:
            line["item_id"] = seeded.item
        if keeps(connection, "lines.name"):
            line["name"] = "Widget"
        if keeps(connection, "lines.description"):
            line["description"] = "Blue widget, boxed"
        lines.append(line)
    invoice: dict[str, Any] = {
        "customer": {"id": seeded.customer},
        "issue_date": ISSUED,
        "currency": "USD",
        "lines": lines,
    }
    if keeps(connection, "due_date"):
        invoice["due_date"] = DUE
    if note is not None:
        invoice["notes"] = note
    return invoice


def map_text(target: str) -> str:
    """A ``--map`` file to ``target``: every customer and item becomes its seeded one."""
    seeded = SEEDED[target]
    data: dict[str, Any] = {"customers": {"*": seeded.customer}}
    if seeded.item is not None:
        data["items"] = {"*": seeded.item}
    return yaml.safe_dump(data)


def map_to(target: str) -> ReferenceMap:
    return parse_map(map_text(target), f"to-{target}.yaml")


def map_file(folder: Path, target: str) -> Path:
    path = folder / f"to-{target}.yaml"
    path.write_text(map_text(target), encoding="utf-8")
    return path


def ids_file(folder: Path, ids: list[str], name: str = "ids.txt") -> Path:
    path = folder / name
    path.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    return path


# -- the gateway's API and the emulators' controls ---------------------------------------------


async def api(sandbox: Sandbox, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, sandbox.gateway_url + path, json=body, headers=headers) as r,
    ):
        answer = await r.json()
        assert r.status < 300, (method, path, r.status, answer)
        return answer


async def create(sandbox: Sandbox, connection: str, body: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = await api(
        sandbox, "POST", f"/v1/connections/{connection}/invoices", body
    )
    return created


async def read(sandbox: Sandbox, connection: str, invoice_id: str) -> dict[str, Any]:
    found: dict[str, Any] = await api(
        sandbox, "GET", f"/v1/connections/{connection}/invoices/{invoice_id}"
    )
    return found


async def listing(sandbox: Sandbox, connection: str) -> list[dict[str, Any]]:
    """Every invoice the gateway lists at ``connection``."""
    found: list[dict[str, Any]] = []
    path = f"/v1/connections/{connection}/invoices?limit=100"
    while True:
        page = await api(sandbox, "GET", path)
        found += page["data"]
        if not page["has_more"]:
            return found
        path = f"/v1/connections/{connection}/invoices?limit=100&cursor={page['next_cursor']}"


async def emulator(
    sandbox: Sandbox, provider: str, method: str, path: str, body: Any = None
) -> Any:
    url = sandbox.emulator_urls[provider] + path
    async with aiohttp.ClientSession() as session, session.request(method, url, json=body) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def requests_log(sandbox: Sandbox, provider: str) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = (await emulator(sandbox, provider, "GET", "/_emulator/requests"))[
        "requests"
    ]
    return log


def migrated_keys(log: list[dict[str, Any]]) -> list[str]:
    """The Idempotency-Keys of the writes the migration sent (``<source>:<id>:<step>``)."""
    return [
        e["headers"]["Idempotency-Key"]
        for e in log
        if e["method"] != "GET" and "Idempotency-Key" in e["headers"]
    ]


# -- running the command -----------------------------------------------------------------------


def migration_settings(sandbox: Sandbox, store_url: str) -> Settings:
    """The sandbox's connections with a store of the test's own."""
    return sandbox.settings.model_copy(update={"store": StoreSettings(url=store_url)})


@dataclass
class Ran:
    code: int
    report: list[dict[str, Any]]
    stderr: str
    stdout: str = ""

    def only(self) -> dict[str, Any]:
        [entry] = self.report
        return entry

    def outcomes(self) -> dict[str, str]:
        return {e["source_id"]: e["outcome"] for e in self.report}

    def summary(self) -> dict[str, Any]:
        [line] = [json.loads(x) for x in self.stdout.splitlines() if x.startswith('{"summary"')]
        summary: dict[str, Any] = line["summary"]
        return summary

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.stderr.splitlines() if x.startswith("{")]


async def migrate_here(
    settings: Settings,
    plan: Plan,
    refs: ReferenceMap,
    folder: Path,
    **options: Any,
) -> Ran:
    """``gateway.migration.commands.migrate`` in this process, its report and stderr read back."""
    report = Path(tempfile.mkstemp(suffix=".jsonl", dir=folder)[1])
    err, out = io.StringIO(), io.StringIO()
    real_stdout = sys.stdout
    sys.stdout = out  # the summary line
    try:
        code = await migrate(
            settings, MigrateOptions(plan=plan, refs=refs, report=report, **options), err
        )
    finally:
        sys.stdout = real_stdout
    return Ran(code, _report(report), err.getvalue(), out.getvalue())


def _report(path: Path) -> list[dict[str, Any]]:
    """A report's lines (a line still being written by a killed process is left out)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


def config_for(
    folder: Path,
    sandbox: Sandbox,
    store_url: str,
    name: str = "config.yaml",
    *,
    settle_s: float = 1,
    lease_s: float = 2,
) -> Path:
    """A ``config.yaml`` over the sandbox's emulators with the test's store (lease ``lease_s``).
    A write whose answer never came (a process killed while it waited) is believed unwritten
    after ``settle_s`` (``write_settle_s``), not the default minute: the emulators answer at
    once unless a test slows them."""
    settle = {name: {"write_settle_s": settle_s} for name in sandbox.emulator_urls}
    return write_config(
        folder / name,
        sandbox,
        store_url=store_url,
        clients=[],
        connections=settle,
        lease_seconds=lease_s,
    )


@dataclass
class Process:
    """``invoice-gateway migrate …`` running, its output in files (never a full pipe)."""

    process: subprocess.Popen[bytes]
    out: IO[str]
    err: IO[str]
    report: Path | None
    started: float = field(default_factory=time.monotonic)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
        self.process.wait(20)

    def wait(self, timeout: float = 60) -> Ran:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"migrate did not finish within {timeout} s:\n{self.text()}"
            ) from None
        return self.ran()

    def text(self) -> str:
        self.err.seek(0)
        return self.err.read()

    def ran(self) -> Ran:
        self.out.seek(0)
        report = _report(self.report) if self.report is not None else []
        code = self.process.returncode if self.process.returncode is not None else -1
        ran = Ran(code, report, self.text(), self.out.read())
        self.out.close()
        self.err.close()
        return ran


def start(
    config: Path,
    step: str,
    *args: str,
    report: Path | None = None,
    background: bool = False,
) -> Process:
    """``invoice-gateway migrate STEP --config FILE args…`` (STEP: run, verify, revert);
    ``background``: as a shell starts a job with ``&``, SIGINT ignored."""
    command = [SCRIPT, "migrate", step, "--config", str(config), *args]
    if report is not None:
        command += ["--report", str(report)]
    # The Process reads them once the command has ended, then closes them (``ran``).
    out = tempfile.TemporaryFile("w+")  # noqa: SIM115
    err = tempfile.TemporaryFile("w+")  # noqa: SIM115
    ignoring = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if background else None
    process = subprocess.Popen(command, stdout=out, stderr=err, preexec_fn=ignoring)
    return Process(process, out, err, report)


def run(
    config: Path, step: str, *args: str, report: Path | None = None, timeout: float = 60
) -> Ran:
    """``invoice-gateway migrate STEP …`` as a process, to its end."""
    return start(config, step, *args, report=report).wait(timeout)


async def wait_until(check: Callable[[], Any], what: str, within: float = 20) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def crosswalk(store_url: str, run_name: str) -> list[CrosswalkEntry]:
    """Every crosswalk entry of a run, read from the store."""
    store = open_store(store_url)
    await store.open()
    try:
        entries: list[CrosswalkEntry] = []
        after: tuple[str, str] | None = None
        while batch := await store.crosswalk_by_run(run_name, after=after):
            entries += batch
            after = (batch[-1].source_connection, batch[-1].source_id)
        return entries
    finally:
        await store.close()
