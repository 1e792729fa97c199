"""Whether the gateway's throughput grows with its workers, where the gateway is the one busy
process on the machine; prints JSON.

    .venv/bin/python bench/workers.py                          # GET and create, 1 and 2 workers
    .venv/bin/python bench/workers.py --rounds 4 --seconds 8 --scenarios create5

``bench/overhead.py --workers 2`` measures the gateway beside its floors, with the emulator on
the same two cores. The emulator takes about 0.6 ms of CPU a create, so a second worker finds
no core free, and the figure says more about the emulator than about the workers. Here the
provider is answered by nginx (Debian's ``nginx-light``) with the emulator's own answers,
recorded once through the gateway: order_linked's GET of one invoice and its create of five
lines (one call that answers the whole invoice), byte for byte. Each create's answer carries
an invoice id of its own (nginx's ``sub_filter`` appends the request's id), so that every
create is a new invoice to translate, as with a real provider. nginx costs this machine about
40 µs a request, most of it the kernel's loopback. Where nginx is not installed, the emulator
answers instead (``"upstream"`` says which).

A gateway runs for each number of workers, each on a SQLite store of its own, and the same
load generator as ``bench/overhead.py`` (wrk where installed) drives them in turn, the order
turning each round. For each scenario and number of workers: requests/s, p50/p90/p99, errors,
the gateway's CPU per request and the cores it used (its workers included), the cores of the
upstream and of the load generator; and the throughput over one worker's, pooled and per round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from overhead import (
    Call,
    Figures,
    Server,
    add_generator_option,
    emulator_server,
    gateway_server,
    run_load,
    scenarios,
    write_config,
    wrk_for,
)
from processes import free_port

PROVIDER = "order_linked"
SCENARIOS = ("get", "create5")
_CREATED = "/_created"  # nginx's internal location of the create's answer


@dataclass
class Answer:
    """What the provider answered one call: replayed by nginx for every such call."""

    call: Call
    status: int
    content_type: str
    body: bytes
    unique: str | None = None  # text nginx makes unique per answer (the created invoice's id)


def record(work: Path, names: list[str]) -> tuple[dict[str, Call], dict[str, Answer]]:
    """The gateway's calls of each scenario, and the emulator's answers to the provider calls
    the gateway made for them (sent again to the emulator as the gateway sent them)."""
    emulator = emulator_server(work, PROVIDER, "emulator", seed=20)
    config = work / "record.yaml"
    write_config(config, PROVIDER, emulator.url, f"sqlite:///{work / 'record.db'}")
    gateway = gateway_server(work, config, 1, "record")
    try:
        emulator.start("/_emulator/faults")
        gateway.start("/healthz")
        found = {s.name: s for s in scenarios(PROVIDER, gateway, emulator) if s.name in names}
        calls: dict[str, Call] = {}
        answers: dict[str, Answer] = {}
        for name in names:
            scenario = found.get(name)
            if scenario is None or scenario.provider is None:
                why = scenario.skipped if scenario is not None else "not offered"
                raise SystemExit(f"{name}: no provider call to record ({why})")
            calls[name] = scenario.gateway
            answers[name] = _answer(emulator.url, scenario.provider)
        created = answers.get("create5")
        if created is not None:
            invoice_id = json.loads(created.body)["invoice"]["id"]
            if isinstance(invoice_id, str):  # order_linked's ids are text: "INV-00022"
                created.unique = json.dumps(invoice_id)
        return calls, answers
    finally:
        gateway.stop()
        emulator.stop()


def _answer(base: str, call: Call) -> Answer:
    data = call.body.encode() if call.body is not None else None
    request = urllib.request.Request(
        base + call.path, data=data, method=call.method, headers=call.headers
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        kind = answer.headers.get("Content-Type", "application/json")
        return Answer(call, answer.status, kind, answer.read())


def nginx_config(work: Path, port: int, answers: dict[str, Answer]) -> str:
    """nginx answering each recorded call at its path, and 404 to anything else. A call other
    than GET is answered through ``error_page`` (nginx serves files to GET alone)."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (work / "nginx-temp" / sub).mkdir(parents=True, exist_ok=True)
    locations = []
    for name, answer in answers.items():
        path = answer.call.path.split("?", 1)[0]
        file = work / f"answer-{name}.json"
        file.write_bytes(answer.body)
        kind = answer.content_type.split(";", 1)[0].strip()
        types = f"types {{ }} default_type {kind}; charset utf-8; charset_types {kind};"
        if answer.call.method == "GET":
            locations.append(f"location = {path} {{ {types} alias {file}; }}")
            continue
        unique = ""
        if answer.unique is not None:
            made = answer.unique[:-1] + '-$request_id"'
            unique = (
                f"sub_filter_types {kind}; sub_filter_once on; "
                f"sub_filter {_quoted(answer.unique)} {_quoted(made)};"
            )
        locations += [
            f"location = {path} {{ error_page 405 ={answer.status} {_CREATED}-{name}; "
            "return 405; }",
            f"location = {_CREATED}-{name} {{ internal; {types} {unique} alias {file}; }}",
        ]
    temp = work / "nginx-temp"
    return f"""
master_process off;
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  server_tokens off;
  sendfile on;
  tcp_nodelay on;
  open_file_cache max=16;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path {temp}/body;
  proxy_temp_path {temp}/proxy;
  fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi;
  scgi_temp_path {temp}/scgi;
  server {{
    listen 127.0.0.1:{port};
    {chr(10).join("    " + line for line in locations).strip()}
    location / {{ return 404; }}
  }}
}}
"""


def nginx_server(nginx: str, work: Path, answers: dict[str, Answer]) -> Server:
    """``nginx`` on a free port, answering ``answers`` (``nginx_config``), its files in ``work``."""
    port = free_port()
    config = work / "nginx.conf"
    config.write_text(nginx_config(work, port, answers), encoding="utf-8")
    return Server("nginx", [nginx, "-c", str(config), "-p", str(work)], port, work / "nginx.log")


def _quoted(text: str) -> str:
    """``text`` as an nginx string in single quotes."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def nginx_path() -> str | None:
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"  # Debian's, off a user's PATH
    return found


def store_url(store: str, work: Path, workers: int) -> str:
    """Each gateway's store: a SQLite file of its own, or a schema of its own in the
    PostgreSQL database ``store`` names."""
    if store == "sqlite":
        return f"sqlite:///{work / f'store-{workers}.db'}"
    return f"{store}{'&' if '?' in store else '?'}schema={_schema(workers)}"


def _schema(workers: int) -> str:
    """The PostgreSQL schema of this run's gateway with ``workers`` workers."""
    return f"bench_workers_{os.getpid()}_{workers}"


async def _drop_schemas(database: str, counts: list[int]) -> None:
    """The schemas the gateways' stores made in ``database``, dropped."""
    connection = await asyncpg.connect(database)
    try:
        for count in counts:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{_schema(count)}" CASCADE')
    finally:
        await connection.close()


def bench(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="invoice-gateway-workers-"))
    servers: list[Server] = []
    try:
        calls, answers = record(work, args.scenarios)
        nginx = nginx_path()
        if nginx is not None:
            upstream = nginx_server(nginx, work, answers)
            ready = answers[args.scenarios[0]].call.path  # any recorded call answers 2xx
            upstream_name = "nginx (the emulator's answers, recorded)"
        else:
            upstream = emulator_server(work, PROVIDER, "emulator-upstream", seed=20)
            ready = "/_emulator/faults"
            upstream_name = "the emulator (nginx is not installed)"
        servers.append(upstream)
        upstream.start(ready)
        gateways: dict[int, Server] = {}
        for count in args.workers:
            config = work / f"gateway-{count}.yaml"
            write_config(config, PROVIDER, upstream.url, store_url(args.store, work, count))
            gateways[count] = gateway_server(work, config, count, f"gateway-{count}")
            servers.append(gateways[count])
            gateways[count].start("/healthz")
        results = {name: measure(args, calls[name], upstream, gateways) for name in args.scenarios}
    finally:
        for server in reversed(servers):
            server.stop()
        if args.store != "sqlite":
            asyncio.run(_drop_schemas(args.store, args.workers))
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "provider": PROVIDER,
        "upstream": upstream_name,
        "workers": args.workers,
        "store": "sqlite" if args.store == "sqlite" else "postgresql",
        "concurrency": args.concurrency,
        "seconds_per_run": args.seconds,
        "rounds": args.rounds,
        "load_generator": "wrk" if args.wrk else "aiohttp (bench/overhead.py --load)",
        "cores": os.cpu_count(),
        "scenarios": results,
        **({"kept": str(work)} if args.keep else {}),
    }


def measure(
    args: argparse.Namespace, call: Call, upstream: Server, gateways: dict[int, Server]
) -> dict[str, Any]:
    counts = list(gateways)
    figures = {count: Figures() for count in counts}
    upstream_cpu = {count: 0.0 for count in counts}
    per_round: dict[int, list[float]] = {count: [] for count in counts}
    for round_ in range(args.rounds):
        rates: dict[int, float] = {}
        for count in counts[round_ % len(counts) :] + counts[: round_ % len(counts)]:
            gateway = gateways[count]
            spec = {
                "url": gateway.url + call.path,
                "method": call.method,
                "headers": call.headers,  # each run's keys its own (``{n}``): no create replays
                "body": call.body,
                "concurrency": args.concurrency,
                "seconds": args.seconds,
            }
            run_load({**spec, "seconds": args.warm}, args.wrk)  # warm: connections, caches
            before, upstream_before = gateway.cpu(), upstream.cpu()
            result = run_load(spec, args.wrk)
            figures[count].add(result, gateway.cpu() - before)
            upstream_cpu[count] += upstream.cpu() - upstream_before
            rates[count] = result["requests"] / result["wall_s"]
        for count in counts:
            per_round[count].append(rates[count] / rates[counts[0]])
    out: dict[str, Any] = {}
    for count in counts:
        summary = figures[count].summary()
        wall = sum(run["wall_s"] for run in figures[count].runs)
        cpu = sum(run["cpu_s"] for run in figures[count].runs)
        summary["gateway_cores"] = round(cpu / wall, 2)
        summary["upstream_cores"] = round(upstream_cpu[count] / wall, 2)
        out[str(count)] = summary
    one = out[str(counts[0])]["requests_per_s"]
    out["throughput_over_one_worker"] = {
        str(count): {
            "pooled": round(out[str(count)]["requests_per_s"] / one, 2),
            "each_round": [round(r, 2) for r in per_round[count]],
            "median_of_rounds": round(statistics.median(per_round[count]), 2),
        }
        for count in counts[1:]
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], metavar="N")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8.0, help="per run")
    parser.add_argument("--warm", type=float, default=2.0, help="seconds of load before each run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, the order turning")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument(
        "--store",
        default="sqlite",
        help="sqlite (a file for each gateway, the default) or a PostgreSQL URL (a schema each)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    add_generator_option(parser)
    args = parser.parse_args()
    if args.workers[0] != 1 or len(set(args.workers)) != len(args.workers):
        parser.error("--workers: distinct counts, the first 1 (the others are compared with it)")
    args.wrk = wrk_for(args.generator)
    print(json.dumps(bench(args), indent=2))


if __name__ == "__main__":
    main()
