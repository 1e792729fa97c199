"""``invoice-gateway migrate`` over 10,000 invoices, emulator to emulator; prints JSON.

    .venv/bin/python bench/migrate.py                       # bill_crm → item_envelope, 10,000
    .venv/bin/python bench/migrate.py --invoices 2000       # smaller (checkpoint at 200)
    .venv/bin/python bench/migrate.py --source crm_v1 --target item_envelope --concurrency 8

Two emulators run as processes of their own, with no latency and no faults: the source seeded
with ``--invoices`` invoices, the target with none. A configuration names them ``source`` and
``target`` (the sandbox's connection settings, no rate limit) over a SQLite store in a scratch
folder. One ``invoice-gateway migrate --from source --to target --map FILE --lenient`` runs as
a child process over the whole listing (the command's real path: chunks of source pages in the
store), and is measured twice while it runs:

- at the checkpoint (1,000 of 10,000; a tenth of a smaller run): from its progress line
  (stderr, one every 100 invoices) the invoices done and the rate so far, and its peak RSS
  (``VmHWM`` of /proc/<pid>/status) read when that line arrives;
- at the end: the rate of its final summary (stdout) and its peak RSS (polled every 5 ms; the
  ``ru_maxrss`` of a forked child would also count this process's pages).

Also reported: the CPU seconds of the migrate process and of each emulator over the run (where
the time goes); the provider calls by kind, per invoice read at the source and per invoice
copied to the target, counted from the emulators' request logs (each keeps its last 10,000
requests: the target's figures are those of that window, the end of the run, per create there,
times the run's creates per copied invoice); and the store: its size, and its idempotency keys
per copied invoice by operation (one per write sent to the target, three transactions each).

Why bill_crm → item_envelope: moving invoices out of a CRM's billing module into an invoicing
application, a common migration; and of the twenty pairs the one where the emulators' seeded
data goes across best (about 88% copied). The map sends each of bill_crm's eight clients to its
own item_envelope client (not all to one: the target's lookup for a create's twin then reads
that client's invoices only, as in a real migration) and lines to product 1 (bill_crm lines name
no product). What is left out: invoices with PST 7% (item_envelope has no 7% tax: mapping it to
another rate would change the money) and the empty drafts bill_crm seeds (item_envelope's create
needs a line: skipped before anything is sent). Both are ``skipped`` in the report, so the exit
code is 1. Other pairs use ``docs/examples/maps/to-<target>.yaml``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml
from processes import bench_connection, free_port, gateway_command, write_gateway_config

PROVIDERS = ("crm_v1", "draft_publish", "bill_crm", "item_envelope", "order_linked")
ROOT = Path(__file__).resolve().parent.parent
# bill_crm's clients 1–8, each to the item_envelope client with the same id; every line to
# product 1 (bill_crm lines name none).
MAPS: dict[tuple[str, str], dict[str, Any]] = {
    ("bill_crm", "item_envelope"): {
        "customers": {str(n): str(n) for n in range(1, 9)},
        "items": {"*": "1"},
    },
}
_TICKS = os.sysconf("SC_CLK_TCK")


# -- processes ----------------------------------------------------------------------------------


def high_water_kb(pid: int) -> int:
    """``VmHWM``: the peak resident set of the process itself (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time the process has used so far (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15)


@dataclass
class Emulator:
    provider: str
    invoices: int
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log: Path) -> None:
        command = [
            *gateway_command(),
            "emulate",
            self.provider,
            "--port",
            str(self.port),
            "--seed-invoices",
            str(self.invoices),
        ]
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_until_up(self, seconds: float = 300) -> None:
        """Up once its control endpoint answers (seeding 10,000 invoices takes a while)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the {self.provider} emulator exited")
            try:
                with urllib.request.urlopen(self.url + "/_emulator/faults", timeout=5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the {self.provider} emulator did not come up in {seconds} s")

    def cpu(self) -> float | None:
        return cpu_seconds(self.process.pid) if self.process is not None else None

    def requests(self) -> list[dict[str, Any]]:
        """Its request log: the last 10,000 requests, oldest first."""
        with urllib.request.urlopen(self.url + "/_emulator/requests", timeout=120) as response:
            log: list[dict[str, Any]] = json.loads(response.read())["requests"]
            return log

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(20)


def write_config(
    path: Path, source: Emulator, target: Emulator, store_url: str, rate: float | None = None
) -> None:
    """Connections named ``source`` and ``target``, as the sandbox configures each provider
    (no rate limit, unless ``rate`` a second), over ``store_url``."""
    connections = [
        bench_connection(name, emulator.provider, emulator.url)
        for name, emulator in (("source", source), ("target", target))
    ]
    if rate is not None:  # migrate paces each by a token bucket in the store
        for connection in connections:
            connection["rate_limit"] = {"per_second": rate}
    write_gateway_config(path, connections, store_url)


def map_file(args: argparse.Namespace, folder: Path) -> Path:
    if args.map:
        return Path(args.map).resolve()
    wanted = MAPS.get((args.source, args.target))
    if wanted is None:
        return ROOT / "docs" / "examples" / "maps" / f"to-{args.target}.yaml"
    path = folder / f"to-{args.target}.yaml"
    path.write_text(yaml.safe_dump(wanted, sort_keys=False), encoding="utf-8")
    return path


# -- the migrate process, watched ---------------------------------------------------------------


@dataclass
class Watch:
    """What was seen of the migrate process while it ran."""

    checkpoint: int
    at_checkpoint: dict[str, Any] | None = None  # its progress line, and the peak RSS then
    last_progress: dict[str, Any] | None = None
    peak_kb: int = 0
    cpu_s: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read_stderr(self, pid: int, stream: IO[bytes], log: IO[bytes]) -> None:
        for raw in stream:
            log.write(raw)
            if not raw.startswith(b'{"event": "progress"'):
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            done = sum(line.get(k, 0) for k in ("copied", "already_copied", "skipped", "failed"))
            line["done"] = done
            with self.lock:
                self.last_progress = line
                if self.at_checkpoint is None and done >= self.checkpoint:
                    self.peak_kb = max(self.peak_kb, high_water_kb(pid))
                    self.at_checkpoint = {**line, "peak_kb": self.peak_kb}


@dataclass
class Finished:
    returncode: int
    summary: dict[str, Any]
    wall_s: float
    watch: Watch


def run_migrate(command: list[str], folder: Path, checkpoint: int, timeout: float) -> Finished:
    """Run ``command``, polling its peak RSS and CPU time until it exits (reaped here with
    ``wait4``, whose rusage is the child's own CPU time)."""
    watch = Watch(checkpoint)
    stdout_path = folder / "migrate.stdout"
    with stdout_path.open("wb") as out, (folder / "migrate.stderr").open("wb") as err_log:
        started = time.monotonic()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE)
        assert process.stderr is not None
        reader = threading.Thread(
            target=watch.read_stderr, args=(process.pid, process.stderr, err_log), daemon=True
        )
        reader.start()
        status = 0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                watch.cpu_s = usage.ru_utime + usage.ru_stime
                break
            with watch.lock:
                watch.peak_kb = max(watch.peak_kb, high_water_kb(process.pid))
            if time.monotonic() - started > timeout:
                process.kill()
                raise RuntimeError(f"migrate did not finish within {timeout} s")
            time.sleep(0.005)
        wall = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        reader.join(30)
    summary: dict[str, Any] = {}
    for line in stdout_path.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            summary = json.loads(line).get("summary", summary)
    return Finished(process.returncode, summary, wall, watch)


# -- provider calls -----------------------------------------------------------------------------

_ID = re.compile(r"/(?:\d+|[0-9a-f]{8}-[0-9a-f-]{27}|[A-Z]+-\d+)(?=/|\.json|$)")


def kind(request: dict[str, Any]) -> str:
    """``GET /v1/invoices/{id}``; a listing adds its query's names (``?limit,page``)."""
    path = _ID.sub("/{id}", request["path"])
    query = ",".join(sorted(request.get("query") or {}))
    return f"{request['method']} {path}" + (f"?{query}" if query else "")


def calls_per(requests: list[dict[str, Any]], per: int) -> dict[str, float]:
    counts = Counter(kind(r) for r in requests)
    return {k: round(v / per, 3) for k, v in counts.most_common()} if per else {}


def creates_in(requests: list[dict[str, Any]]) -> int:
    """Creates in the log: POSTs to a collection (a path that ends in no id)."""
    return sum(1 for r in requests if r["method"] == "POST" and "{id}" not in kind(r))


# -- the bench ----------------------------------------------------------------------------------


def default_checkpoint(invoices: int) -> int:
    """A tenth of the run, in whole hundreds (progress comes every 100): 1,000 of 10,000."""
    return max(100, min(1000, invoices // 10 // 100 * 100))


@dataclass
class Measured:
    """Everything one bench run saw, for the report."""

    checkpoint: int
    finished: Finished
    seeding_s: float
    cpu_before: dict[str, float | None]
    cpu_after: dict[str, float | None]
    source_log: list[dict[str, Any]]
    target_log: list[dict[str, Any]]
    store: dict[str, Any]
    work: Path


def store_figures(path: Path) -> dict[str, Any]:
    """The store's size (with its WAL) and its idempotency keys by operation: one key for each
    write the copies sent to the target (three store transactions each)."""
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        keys = dict(
            db.execute("SELECT operation, count(*) FROM idempotency_keys GROUP BY operation")
        )
        crosswalk = db.execute("SELECT count(*) FROM crosswalk").fetchone()[0]
    return {"mb": round(size / 2**20, 1), "keys": keys, "crosswalk_rows": crosswalk}


def bench(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="invoice-gateway-migrate-"))
    source = Emulator(args.source, args.invoices)
    target = Emulator(args.target, 0)
    checkpoint = args.checkpoint or default_checkpoint(args.invoices)
    try:
        source.start(work / "source.log")
        target.start(work / "target.log")
        started = time.monotonic()
        source.wait_until_up()
        target.wait_until_up()
        seeding = time.monotonic() - started
        config = work / "config.yaml"
        write_config(config, source, target, f"sqlite:///{work}/store.db", args.rate_limit)
        runner = gateway_command()
        if args.profile:  # where the migrate process spends its time (cProfile's stats file)
            runner = [sys.executable, "-m", "cProfile", "-o", args.profile, "-m", "gateway.cli"]
        command = [
            *runner,
            "migrate",
            "--config",
            str(config),
            "--from",
            "source",
            "--to",
            "target",
            "--map",
            str(map_file(args, work)),
            "--lenient",
            "--run",
            "bench",
            "--report",
            str(work / "report.jsonl"),
        ]
        if args.concurrency is not None:
            command += ["--concurrency", str(args.concurrency)]
        cpu_before = {"source": source.cpu(), "target": target.cpu()}
        finished = run_migrate(command, work, checkpoint, args.timeout)
        if not finished.summary:  # refused before it copied (a usage or configuration error)
            said = (work / "migrate.stderr").read_text(encoding="utf-8", errors="replace")
            raise SystemExit(
                f"migrate exited {finished.returncode} with no summary:\n{said.strip()}"
            )
        cpu_after = {"source": source.cpu(), "target": target.cpu()}
        measured = Measured(
            checkpoint,
            finished,
            seeding,
            cpu_before,
            cpu_after,
            source.requests(),
            target.requests(),
            store_figures(work / "store.db"),
            work,
        )
    finally:
        target.stop()
        source.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return report(args, measured)


def report(args: argparse.Namespace, m: Measured) -> dict[str, Any]:
    summary, watch = m.finished.summary, m.finished.watch
    done = sum(summary.get(k, 0) for k in ("copied", "already_copied", "skipped", "failed"))
    early = watch.at_checkpoint or {}
    at = str(early.get("done", m.checkpoint))
    seconds = summary.get("seconds")
    copied = summary.get("copied", 0)
    creates = m.store["keys"].get("migrate create", 0)  # every create sent, refused ones too

    def mb(kb: int | None) -> float | None:
        return round(kb / 1024, 1) if kb else None

    def used(name: str) -> float | None:
        before, after = m.cpu_before[name], m.cpu_after[name]
        return round(after - before, 1) if before is not None and after is not None else None

    # The target's log holds its last 10,000 requests: calls per create in that window, times
    # the creates per copied invoice of the whole run.
    per_create = calls_per(m.target_log, creates_in(m.target_log))
    scale = creates / copied if copied else 0
    result: dict[str, Any] = {
        "pair": f"{args.source} → {args.target}",
        "invoices": args.invoices,
        "concurrency": args.concurrency or "default (4)",
        "exit_code": m.finished.returncode,
        "done": done,
        "copied": copied,
        "skipped": summary.get("skipped"),
        "failed": summary.get("failed"),
        "already_copied": summary.get("already_copied"),
        "totals_differences": summary.get("differences"),
        "per_second": {at: early.get("per_second"), str(done): summary.get("per_second")},
        "copied_per_second": {
            at: round(early["copied"] / early["seconds"], 1) if early.get("seconds") else None,
            str(done): round(copied / seconds, 1) if seconds else None,
        },
        "peak_rss_mb": {at: mb(early.get("peak_kb")), str(done): mb(watch.peak_kb)},
        "rss_growth_mb": (
            round((watch.peak_kb - early["peak_kb"]) / 1024, 1) if early.get("peak_kb") else None
        ),
        "run_time_s": seconds,  # the command's own figure, from its start to its summary
        "process_wall_s": round(m.finished.wall_s, 1),  # with interpreter start and imports
        "cpu_s": {
            "migrate": round(watch.cpu_s, 1) if watch.cpu_s is not None else None,
            "source_emulator": used("source"),
            "target_emulator": used("target"),
        },
        "provider_calls": {
            "source_per_invoice": calls_per(m.source_log, done),
            "target_per_copied": {k: round(v * scale, 2) for k, v in per_create.items()},
            "target_requests_seen": len(m.target_log),
        },
        "store": {
            "mb": m.store["mb"],
            "keyed_writes_per_copied": {
                k: round(v / copied, 2) for k, v in m.store["keys"].items() if copied
            },
            "crosswalk_rows": m.store["crosswalk_rows"],
        },
        "seeding_s": round(m.seeding_s, 1),
    }
    if args.keep:
        result["kept"] = str(m.work)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--invoices", type=int, default=10_000, help="seeded at the source")
    parser.add_argument("--source", choices=PROVIDERS, default="bill_crm")
    parser.add_argument("--target", choices=PROVIDERS, default="item_envelope")
    parser.add_argument("--map", metavar="FILE", help="instead of the pair's map")
    parser.add_argument("--concurrency", type=int, help="migrate's --concurrency (default 4)")
    parser.add_argument(
        "--checkpoint", type=int, help="also measure at this many invoices (default: a tenth)"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds for the migrate")
    parser.add_argument(
        "--rate-limit",
        type=float,
        metavar="PER_SECOND",
        help="each connection's rate limit: migrate then takes a token from the store for "
        "every provider call (a high rate measures that cost without the pacing)",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="run migrate under cProfile, its stats in FILE"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the scratch folder (config, map, store, logs)"
    )
    args = parser.parse_args()
    if args.source == args.target:
        parser.error("--source and --target must differ")
    if args.invoices < 100:
        parser.error("--invoices must be 100 or more")
    print(json.dumps(bench(args), ensure_ascii=False))


if __name__ == "__main__":
    main()
