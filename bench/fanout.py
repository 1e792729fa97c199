"""One list across five connections beside each connection listed alone; prints JSON.

    .venv/bin/python bench/fanout.py                      # 0 and 20 ms upstream, limit 25
    .venv/bin/python bench/fanout.py --latencies 0 --rounds 5 --calls 20 --sort=-issue_date
    .venv/bin/python bench/fanout.py --view summary         # the rows as listed, everywhere

Five emulators (``invoice-gateway emulate``, each seeded differently, 200 invoices) and the
gateway (``invoice-gateway serve`` on a SQLite store) run as processes of their own. The five
connections are of the providers that sort by issue date (``--providers``: crm_v1, bill_crm and
item_envelope; two of them twice, as two accounts); draft_publish and order_linked may be named
too (the merge reads their whole listing on every call; alone, they list in their own order).
Then, one call at a time, rounds interleaved: ``GET /v1/invoices?connection=…`` over the five,
and ``GET /v1/connections/<c>/invoices?sort=issue_date`` on each alone, with the same limit; and
each of them again with the cursor its first page answered (`` (page 2)``), where the merge
goes on from every connection's own position.

For each target: the median and p90 wall time of a call, and the CPU per call of the gateway
and of the five emulators together (from ``/proc/<pid>/stat`` over each batch of calls; the
emulators share this machine's cores with the gateway, as real providers would not). The ratios
compare the fan-out with the slowest connection alone, by median wall time (target: at most
1.3) and by the gateway's CPU. ``--view summary`` lists every target with ``view=summary``:
crm_v1's rows are then its list's summaries, one provider call a page instead of one more per
row.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from overhead import Server, percentile, request_json
from processes import (
    bench_connection,
    free_port,
    gateway_command,
    positive,
    write_gateway_config,
)

from emulators.registry import PROVIDERS as KNOWN

API_KEY = "sk_bench_fanout"
PROVIDERS = ("crm_v1", "crm_v1", "bill_crm", "bill_crm", "item_envelope")
NEXT = " (page 2)"


def emulators(providers: list[str], work: Path, invoices: int) -> dict[str, Server]:
    """One emulator process per connection, named ``<provider>_<n>``, each with its own seed."""
    servers: dict[str, Server] = {}
    counts: Counter[str] = Counter()
    for seed, provider in enumerate(providers, start=1):
        counts[provider] += 1
        name = f"{provider}_{counts[provider]}"
        port = free_port()
        command = [
            *gateway_command(),
            "emulate",
            provider,
            "--port",
            str(port),
            "--seed",
            str(seed),
            "--seed-invoices",
            str(invoices),
        ]
        servers[name] = Server(name, command, port, work / f"{name}.log")
    return servers


def write_config(path: Path, servers: dict[str, Server], store: Path) -> None:
    connections = [
        bench_connection(name, name.rsplit("_", 1)[0], server.url)
        for name, server in servers.items()
    ]
    write_gateway_config(path, connections, f"sqlite:///{store}", api_key=API_KEY)


def timed_call(url: str) -> float:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {API_KEY}"})
    began = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as answer:
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{url}: {answer.status}")
    return time.perf_counter() - began


def measure(
    args: argparse.Namespace, gateway: Server, emulators: list[Server], targets: dict[str, str]
) -> dict[str, dict[str, Any]]:
    walls: dict[str, list[float]] = {name: [] for name in targets}
    cpu: dict[str, float] = dict.fromkeys(targets, 0.0)
    upstream_cpu: dict[str, float] = dict.fromkeys(targets, 0.0)
    names = list(targets)
    for name in names:  # warm up: connections opened, code paths taken
        for _ in range(3):
            timed_call(gateway.url + targets[name])
    for round_ in range(args.rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:  # interleaved, rotating
            before = gateway.cpu()
            upstream_before = sum(server.cpu() for server in emulators)
            for _ in range(args.calls):
                walls[name].append(timed_call(gateway.url + targets[name]))
            cpu[name] += gateway.cpu() - before
            upstream_cpu[name] += sum(server.cpu() for server in emulators) - upstream_before
    figures = {}
    for name in names:
        ordered = sorted(walls[name])
        figures[name] = {
            "median_ms": round(statistics.median(ordered) * 1000, 2),
            "p90_ms": round(percentile(ordered, 0.90) * 1000, 2),
            "gateway_cpu_ms_per_call": round(1000 * cpu[name] / len(ordered), 2),
            "emulators_cpu_ms_per_call": round(1000 * upstream_cpu[name] / len(ordered), 2),
            "calls": len(ordered),
        }
    return figures


def summary(figures: dict[str, dict[str, Any]], suffix: str = "") -> dict[str, Any]:
    """The fan-out beside the connections alone, for the first pages (or, with ``suffix``,
    the pages their cursors lead to)."""
    alone = {
        name: f
        for name, f in figures.items()
        if name.endswith(NEXT) == bool(suffix) and not name.startswith("fanout")
    }
    slowest = max(alone, key=lambda name: alone[name]["median_ms"])
    costliest = max(alone, key=lambda name: alone[name]["gateway_cpu_ms_per_call"])
    fan = figures["fanout" + suffix]
    return {
        "slowest_alone": slowest,
        "fanout_over_slowest_median": round(fan["median_ms"] / alone[slowest]["median_ms"], 2),
        "fanout_over_slowest_p90": round(fan["p90_ms"] / alone[slowest]["p90_ms"], 2),
        "fanout_cpu_over_costliest_alone": _ratio(
            fan["gateway_cpu_ms_per_call"], alone[costliest]["gateway_cpu_ms_per_call"]
        ),
        "fanout_cpu_over_sum_alone": _ratio(
            fan["gateway_cpu_ms_per_call"],
            sum(f["gateway_cpu_ms_per_call"] for f in alone.values()),
        ),
    }


def _ratio(part: float, whole: float) -> float | None:
    """``part / whole``, or None (no figure) where either is nothing: the CPU is read in the
    kernel's ticks of 10 ms, so a run of few calls can measure none (give more ``--calls``)."""
    return round(part / whole, 2) if part > 0 and whole > 0 else None


def page_limit(text: str) -> int:
    """An argparse type: a list's ``limit``, 1 to 100, as the API takes it."""
    value = positive(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"{value} is more than 100, the API's largest page")
    return value


def bench(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="invoice-gateway-fanout-"))
    servers = emulators(args.providers, work, args.invoices)
    config = work / "config.yaml"
    port = free_port()
    serve = [*gateway_command(), "serve", "--config", str(config), "--port", str(port)]
    gateway = Server("gateway", serve, port, work / "gateway.log")
    results: dict[str, Any] = {}
    try:
        for server in servers.values():
            server.start("/_emulator/faults")
        write_config(config, servers, work / "store.db")
        gateway.start("/healthz")
        limit = str(args.limit)
        view = {"view": args.view} if args.view != "full" else {}
        fanout = [("connection", name) for name in servers]
        fanout += [("sort", args.sort), ("limit", limit), *view.items()]
        targets = {"fanout": "/v1/invoices?" + urlencode(fanout)}
        auth = {"Authorization": f"Bearer {API_KEY}"}
        for name in servers:
            # A provider with no issue-date sort is listed alone in its own order; the merge
            # reads its whole listing (docs/facade.md, "Lists across connections").
            described = request_json(gateway.url + f"/v1/connections/{name}", headers=auth)
            sorts = args.sort if "issue_date" in described["capabilities"]["sorts"] else None
            query = urlencode({**({"sort": sorts} if sorts else {}), "limit": limit, **view})
            targets[name] = f"/v1/connections/{name}/invoices?{query}"
        contributed: Counter[str] = Counter()
        for name, path in list(targets.items()):  # each one's second page, by its cursor
            page = request_json(gateway.url + path, headers=auth)
            if name == "fanout":
                contributed.update(invoice["connection"] for invoice in page["data"])
            targets[name + NEXT] = path + "&" + urlencode({"cursor": page["next_cursor"]})
        for latency in args.latencies:
            for server in servers.values():
                request_json(server.url + "/_emulator/faults", "POST", {"latency_ms": latency})
            figures = measure(args, gateway, list(servers.values()), targets)
            ratios = {"first_page": summary(figures), "second_page": summary(figures, NEXT)}
            results[f"{latency}ms"] = {"ratios": ratios, **figures}
            print(json.dumps({f"{latency}ms": ratios}), file=sys.stderr)
    finally:
        gateway.stop()
        for server in servers.values():
            server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "connections": list(servers),
        "limit": args.limit,
        "sort": args.sort,
        "view": args.view,
        "fanout_first_page_by_connection": dict(contributed),
        "rounds": args.rounds,
        "calls_per_batch": args.calls,
        "cores": os.cpu_count(),
        "results": results,
        **({"kept": str(work)} if args.keep else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--providers",
        nargs="+",
        default=list(PROVIDERS),
        choices=KNOWN,
        metavar="PROVIDER",
        help="the connections merged, one emulator each, a provider named again for another "
        "connection (default: crm_v1 crm_v1 bill_crm bill_crm item_envelope)",
    )
    parser.add_argument(
        "--limit", type=page_limit, default=25, help="the page asked for, 1 to 100 (25)"
    )
    parser.add_argument(
        "--sort",
        default="issue_date",
        choices=["issue_date", "-issue_date"],
        help="oldest first (default) or newest first",
    )
    parser.add_argument(
        "--view", default="full", choices=["full", "summary"], help="whole invoices or rows"
    )
    parser.add_argument("--invoices", type=positive, default=200, help="seeded per emulator")
    parser.add_argument("--rounds", type=positive, default=5, help="interleaved rounds")
    parser.add_argument("--calls", type=positive, default=10, help="calls per target and round")
    parser.add_argument("--latencies", type=int, nargs="+", default=[0, 20], metavar="MS")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    print(json.dumps(bench(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
