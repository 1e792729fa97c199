"""What the gateway adds on top of the network, measured beside its two floors; prints JSON.

    .venv/bin/python bench/overhead.py                          # order_linked, every scenario
    .venv/bin/python bench/overhead.py --provider draft_publish --seconds 5 --rounds 3
    .venv/bin/python bench/overhead.py --workers 2              # the gateway with two workers
    .venv/bin/python bench/overhead.py --provider crm_v1 --scenarios list25 list25summary
    .venv/bin/python bench/overhead.py --generator aiohttp     # this file's client, not wrk

Three servers run as processes of their own: one emulator (``invoice-gateway emulate``), a
minimal pass-through proxy written here (one shared client session, no translation: the Python
floor) and the gateway (``invoice-gateway serve`` on a SQLite store, its default logging). Each
is driven in turn, rounds interleaved, by a load generator in a process of its own: ``wrk``
where it is installed (``bench/wrk_load.py``; Debian's package ``wrk``), else the bounded aiohttp
client of this file (``--load``). Either's own CPU share is reported, so that a saturated
generator shows.

Scenarios: GET one invoice, list 25 (full, and ``view=summary``: the same for a provider whose
rows are whole invoices), create with 5 lines; each with 0 ms and 20 ms of upstream
latency (the emulator's fault control), at ``--concurrency`` callers (50). The floors are sent
what the gateway itself sent to the emulator for that call (taken from the emulator's request
log after one call through the gateway): the provider's GET, its list of 25, its create.

For each scenario and target: requests/s, p50/p90/p99 in ms, errors, and CPU-seconds per 1,000
requests of the gateway and of the proxy (from ``/proc/<pid>/stat``, workers included), and the
ratios gateway/proxy and the added latency over direct.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import wrk_load
from processes import (
    bench_connection,
    five_line_create,
    free_port,
    gateway_command,
    write_gateway_config,
)

from gateway.jsonwire import dumps
from gateway.sandbox import default_token, sandbox_connection

API_KEY = "sk_bench_overhead"
_TICKS = os.sysconf("SC_CLK_TCK")
SCENARIOS = ("get", "list25", "list25summary", "create5")


# -- processes ----------------------------------------------------------------------------------


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its living children (the gateway's workers)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(entry) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


@dataclass
class Server:
    name: str
    command: list[str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log}")
            try:
                with urllib.request.urlopen(self.url + ready_path, timeout=5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not come up; see {self.log}")

    def cpu(self) -> float:
        assert self.process is not None
        return tree_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def emulator_server(work: Path, provider: str, name: str, *, seed: int) -> Server:
    """``invoice-gateway emulate provider`` on a free port, seeded with ``seed`` invoices."""
    port = free_port()
    command = [*gateway_command(), "emulate", provider, "--port", str(port)]
    return Server(name, [*command, "--seed-invoices", str(seed)], port, work / f"{name}.log")


def gateway_server(work: Path, config: Path, workers: int, name: str) -> Server:
    """``invoice-gateway serve`` on ``config`` and a free port, with ``workers`` workers."""
    port = free_port()
    command = [*gateway_command(), "serve", "--config", str(config), "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    return Server(name, command, port, work / f"{name}.log")


def write_config(path: Path, provider: str, emulator_url: str, store_url: str) -> None:
    write_gateway_config(
        path,
        [bench_connection(provider, provider, emulator_url)],
        store_url,
        level="info",  # the gateway's default logging: its access log is part of its cost
        api_key=API_KEY,
        scopes=("invoices:read", "invoices:write"),
    )


# -- the pass-through proxy (``--proxy UPSTREAM PORT``) -----------------------------------------


def serve_proxy(upstream: str, port: int) -> None:
    import aiohttp
    from aiohttp import web

    hop = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}

    async def forward(request: web.Request) -> web.Response:
        session: aiohttp.ClientSession = request.app["session"]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in hop}
        async with session.request(
            request.method,
            upstream + request.rel_url.raw_path_qs,
            headers=headers,
            data=await request.read() if request.body_exists else None,
        ) as answer:
            body = await answer.read()
            kind = answer.headers.get("Content-Type", "application/json")
            return web.Response(status=answer.status, body=body, headers={"Content-Type": kind})

    async def session_context(app: web.Application) -> Any:
        connector = aiohttp.TCPConnector(limit=0)
        app["session"] = aiohttp.ClientSession(connector=connector)
        yield
        await app["session"].close()

    app = web.Application(client_max_size=16 * 2**20)
    app.cleanup_ctx.append(session_context)
    app.router.add_route("*", "/{tail:.*}", forward)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# -- the load generator (``--load SPEC``): a process of its own ---------------------------------


async def load(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec``: url, method, headers, body (text or None), concurrency, seconds; a ``{n}`` in
    a header value or the body becomes text unique to the request, in this run and across runs
    (``<run>-<count>``: an ``Idempotency-Key`` of an earlier run is never sent again)."""
    import aiohttp

    latencies: list[float] = []
    errors: dict[str, int] = {}
    samples: dict[str, str] = {}  # the first answer of each error status
    counter = itertools.count()
    run = secrets.token_hex(6)
    deadline = time.perf_counter() + spec["seconds"]
    body_template: str | None = spec["body"]

    async def caller(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            n = f"{run}-{next(counter)}"
            headers = {k: v.replace("{n}", n) for k, v in spec["headers"].items()}
            data = body_template.replace("{n}", n).encode() if body_template else None
            began = time.perf_counter()
            try:
                async with session.request(
                    spec["method"], spec["url"], headers=headers, data=data
                ) as answer:
                    text = await answer.read()
                    status = answer.status
                    if not 200 <= status <= 299 and str(status) not in samples:
                        samples[str(status)] = text[:300].decode(errors="replace")
            except aiohttp.ClientError as exc:
                status = type(exc).__name__  # type: ignore[assignment]
            latencies.append(time.perf_counter() - began)
            if not (isinstance(status, int) and 200 <= status <= 299):  # 202: accepted
                errors[str(status)] = errors.get(str(status), 0) + 1

    started_cpu = time.process_time()
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(caller(session) for _ in range(spec["concurrency"])))
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "wall_s": wall,
        "errors": errors,
        "error_samples": samples,
        "latencies": latencies,
        "generator_cpu_share": round((time.process_time() - started_cpu) / wall, 2),
    }


def percentile(ordered: list[float], share: float) -> float:
    """Nearest rank: a latency some request really had."""
    if not ordered:
        return math.nan
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def weighted_percentile(ordered: list[tuple[float, float]], share: float) -> float:
    """Nearest rank over ``(latency, weight)`` pairs in order of latency (the aiohttp client's
    every request weighs 1; wrk's quantiles weigh the requests each stands for)."""
    total = sum(weight for _, weight in ordered)
    if not total:
        return math.nan
    rank = share * total
    seen = 0.0
    for latency, weight in ordered:
        seen += weight
        if seen >= rank:
            return latency
    return ordered[-1][0]


def run_load(spec: dict[str, Any], wrk: str | None) -> dict[str, Any]:
    """One run of ``spec`` by wrk at ``wrk`` (``bench/wrk_load.py``), or by this file's aiohttp
    client when None, each a process of its own; latencies as ``[seconds, weight]`` pairs."""
    if wrk is not None:
        return wrk_load.run(spec, wrk)
    command = [sys.executable, str(Path(__file__).resolve()), "--load", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, check=True, timeout=spec["seconds"] + 120)
    result: dict[str, Any] = json.loads(done.stdout)
    result["latencies"] = [[seconds, 1.0] for seconds in result["latencies"]]
    return result


def add_generator_option(parser: argparse.ArgumentParser) -> None:
    """``--generator``: which load generator drives the runs (``wrk_for``)."""
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "aiohttp"),
        default="auto",
        help="the load generator: wrk where installed (auto), else bench/overhead.py's client",
    )


def wrk_for(asked: str) -> str | None:
    """The wrk to drive the runs with: the installed one unless the aiohttp client is asked for
    (None); ``wrk`` asked for and missing is an error, not a silent change of instrument."""
    wrk = None if asked == "aiohttp" else wrk_load.wrk_path()
    if asked == "wrk" and wrk is None:
        raise SystemExit("--generator wrk: wrk is not installed (Debian: apt-get install wrk)")
    return wrk


# -- the scenarios ------------------------------------------------------------------------------


@dataclass
class Call:
    method: str
    path: str  # with the query
    headers: dict[str, str]
    body: str | None = None


@dataclass
class Scenario:
    name: str
    gateway: Call
    provider: Call | None  # what the gateway sent the provider for it (None: not measured)
    skipped: str | None = None
    upstream_calls: int | None = None  # provider calls the gateway made for one call


def request_json(url: str, method: str = "GET", body: Any = None, headers: Any = None) -> Any:
    data = dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as answer:
        # Exact numbers: a provider's request body is sent again as the floors' call.
        return json.loads(answer.read(), parse_float=Decimal)


def native(entry: dict[str, Any], provider: str) -> Call:
    """The provider request the gateway made, with the credential the log redacts put back."""
    query = "&".join(f"{k}={v}" for k, v in (entry.get("query") or {}).items())
    dropped = {"host", "content-length", "x-request-id", "idempotency-key", "authorization"}
    auth = sandbox_connection(provider, "http://127.0.0.1").auth
    dropped.add(auth.sent_in.lower())
    headers = {k: v for k, v in entry["headers"].items() if k.lower() not in dropped}
    token = default_token(provider)
    if auth.type == "bearer":
        headers["Authorization"] = f"Bearer {token}"
    else:
        headers[auth.sent_in] = token
    body = entry.get("body")
    text = body if isinstance(body, str) or body is None else dumps(body)
    return Call(entry["method"], entry["path"] + (f"?{query}" if query else ""), headers, text)


def scenarios(provider: str, gateway: Server, emulator: Server) -> list[Scenario]:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    base = f"/v1/connections/{provider}/invoices"

    def provider_calls(make: Any) -> list[dict[str, Any]]:
        before = len(request_json(emulator.url + "/_emulator/requests")["requests"])
        make()
        return list(request_json(emulator.url + "/_emulator/requests")["requests"][before:])

    page = request_json(gateway.url + base + "?limit=25", headers=auth)
    first = page["data"][0]
    found: list[Scenario] = []
    log = provider_calls(lambda: request_json(gateway.url + f"{base}/{first['id']}", headers=auth))
    get = native(log[-1], provider)
    found.append(Scenario("get", Call("GET", f"{base}/{first['id']}", auth), get))
    log = provider_calls(lambda: request_json(gateway.url + base + "?limit=25", headers=auth))
    for name, query in (("list25", "?limit=25"), ("list25summary", "?limit=25&view=summary")):
        log = provider_calls(lambda q=query: request_json(gateway.url + base + q, headers=auth))
        # The floors are sent the provider's list call alone (its first), as in list25.
        found.append(
            Scenario(
                name, Call("GET", base + query, auth), native(log[0], provider), None, len(log)
            )
        )
    body = five_line_create(first)
    create = Call(
        "POST",
        base,
        {
            **auth,
            "Content-Type": "application/json",
            "Prefer": "handling=lenient",
            "Idempotency-Key": "bench-{n}-" + str(time.time()),
        },
        dumps(body),
    )
    try:
        log = provider_calls(
            lambda: request_json(
                gateway.url + base,
                "POST",
                body,
                {
                    **auth,
                    "Prefer": "handling=lenient",
                    "Idempotency-Key": f"bench-probe-{time.time()}",
                },
            )
        )
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        found.append(Scenario("create5", create, None, skipped=f"{exc.code}: {detail}"))
        return found
    posts = [e for e in log if e["method"] == "POST"]
    found.append(Scenario("create5", create, native(posts[-1], provider) if posts else None))
    return found


# -- the bench ----------------------------------------------------------------------------------


@dataclass
class Figures:
    runs: list[dict[str, Any]] = field(default_factory=list)

    def add(self, result: dict[str, Any], cpu: float | None) -> None:
        self.runs.append({**result, "cpu_s": cpu})

    def summary(self) -> dict[str, Any]:
        latencies = sorted(
            (seconds, weight) for run in self.runs for seconds, weight in run["latencies"]
        )
        requests = sum(run["requests"] for run in self.runs)
        wall = sum(run["wall_s"] for run in self.runs)
        cpu = [run["cpu_s"] for run in self.runs if run["cpu_s"] is not None]
        errors: dict[str, int] = {}
        samples: dict[str, str] = {}
        for run in self.runs:
            for status, count in run["errors"].items():
                errors[status] = errors.get(status, 0) + count
            samples.update(run["error_samples"])
        return {
            "requests_per_s": round(requests / wall, 1) if wall else None,
            "p50_ms": round(weighted_percentile(latencies, 0.50) * 1000, 2),
            "p90_ms": round(weighted_percentile(latencies, 0.90) * 1000, 2),
            "p99_ms": round(weighted_percentile(latencies, 0.99) * 1000, 2),
            "requests": requests,
            "errors": errors,
            **({"error_samples": samples} if samples else {}),
            "cpu_s_per_1000": round(1000 * sum(cpu) / requests, 3) if cpu and requests else None,
            "generator_cpu_share": max(run["generator_cpu_share"] for run in self.runs),
        }


def bench(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="invoice-gateway-overhead-"))
    provider = args.provider
    emulator = emulator_server(work, provider, "emulator", seed=200)
    proxy_port = free_port()
    proxy = Server(
        "proxy",
        [sys.executable, str(Path(__file__).resolve()), "--proxy", emulator.url, str(proxy_port)],
        proxy_port,
        work / "proxy.log",
    )
    config = work / "config.yaml"
    gateway = gateway_server(work, config, args.workers, "gateway")
    results: dict[str, Any] = {}
    try:
        emulator.start("/_emulator/faults")
        write_config(config, provider, emulator.url, f"sqlite:///{work / 'store.db'}")
        proxy.start("/_emulator/faults")
        gateway.start("/healthz")
        wanted = [s for s in scenarios(provider, gateway, emulator) if s.name in args.scenarios]
        for latency in args.latencies:
            request_json(emulator.url + "/_emulator/faults", "POST", {"latency_ms": latency})
            for scenario in wanted:
                key = f"{scenario.name} @{latency}ms"
                if scenario.provider is None:
                    results[key] = {"skipped": scenario.skipped or "no provider call seen"}
                    continue
                results[key] = measure(args, scenario, emulator, proxy, gateway)
                print(json.dumps({key: results[key]["ratios"]}), file=sys.stderr)
    finally:
        for server in (gateway, proxy, emulator):
            server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "provider": provider,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "seconds_per_run": args.seconds,
        "rounds": args.rounds,
        "load_generator": "wrk" if args.wrk else "aiohttp (this file, --load)",
        "cores": os.cpu_count(),
        "scenarios": results,
        **({"kept": str(work)} if args.keep else {}),
    }


def measure(
    args: argparse.Namespace, scenario: Scenario, emulator: Server, proxy: Server, gateway: Server
) -> dict[str, Any]:
    assert scenario.provider is not None
    targets = {
        "direct": (emulator, scenario.provider, None),
        "proxy": (proxy, scenario.provider, proxy),
        "gateway": (gateway, scenario.gateway, gateway),
    }
    figures = {name: Figures() for name in targets}
    order = list(targets)
    for round_ in range(args.rounds):
        for name in order[round_ % 3 :] + order[: round_ % 3]:  # interleaved, rotating
            server, call, watched = targets[name]
            spec = {
                "url": server.url + call.path,
                "method": call.method,
                "headers": call.headers,
                "body": call.body,
                "concurrency": args.concurrency,
                "seconds": args.seconds,
            }
            cpu_before = watched.cpu() if watched else None
            result = run_load(spec, args.wrk)
            cpu = watched.cpu() - cpu_before if watched and cpu_before is not None else None
            figures[name].add(result, cpu)
    summary = {name: figures[name].summary() for name in targets}
    g, p, d = summary["gateway"], summary["proxy"], summary["direct"]
    ratios = {
        "cpu_per_request_gateway_over_proxy": _ratio(g["cpu_s_per_1000"], p["cpu_s_per_1000"]),
        "throughput_gateway_over_proxy": _ratio(g["requests_per_s"], p["requests_per_s"]),
        "added_p50_ms_over_direct": round(g["p50_ms"] - d["p50_ms"], 2),
        "added_p99_ms_over_direct": round(g["p99_ms"] - d["p99_ms"], 2),
    }
    calls = (
        {"upstream_calls_per_request": scenario.upstream_calls} if scenario.upstream_calls else {}
    )
    return {**summary, "ratios": ratios, **calls}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", default="order_linked")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0, help="per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per scenario")
    parser.add_argument("--latencies", type=int, nargs="+", default=[0, 20], metavar="MS")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    add_generator_option(parser)
    parser.add_argument("--proxy", nargs=2, metavar=("UPSTREAM", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--load", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.proxy:
        serve_proxy(args.proxy[0], int(args.proxy[1]))
        return
    if args.load:
        print(json.dumps(asyncio.run(load(json.loads(args.load)))))
        return
    args.wrk = wrk_for(args.generator)
    print(json.dumps(bench(args), indent=2))


if __name__ == "__main__":
    main()
