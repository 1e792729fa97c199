"""Exactly-once creates under provider faults and a gateway killed mid-run; prints JSON.

    .venv/bin/python bench/chaos.py                                   # SQLite file store
    .venv/bin/python bench/chaos.py --store postgresql://postgres@127.0.0.1/test
    .venv/bin/python bench/chaos.py --store postgresql://postgres@127.0.0.1/test --gateways 2

The five emulators run as processes of their own and stay up throughout; each has faults on
every request: 10% 503, 5% 429, 5% connection resets and 2% hangs past the gateway's timeout,
the 503s, resets and hangs striking *after* the provider stored the write. The gateway (or two,
on one store) runs as its own process. The client sends ``--creates`` invoices spread over the
five connections, each with its own Idempotency-Key, and retries each until it has a final
answer, the way an integration would. Half way through it kills a gateway with SIGKILL and
starts it again on the same store and port. At the end it counts, at each provider, the
invoices that carry each key (written into a field the gateway does not use for its marker):

- ``duplicates``: keys with more than one invoice at the provider;
- ``lost``: keys answered 201 whose invoice the provider does not hold (or holds under another
  id), and keys answered with a final error although the provider holds their invoice;
- ``unresolved``: keys without a final answer within ``--deadline`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from processes import free_port

from gateway.sandbox import default_token, sandbox_connection

PROVIDERS = ("crm_v1", "draft_publish", "bill_crm", "item_envelope", "order_linked")
API_KEY = "sk_chaos"
FAULTS = {
    "error_rate": 0.10,
    "error_status": 503,
    "rate_limit_rate": 0.05,
    "retry_after": 1,
    "reset_rate": 0.05,
    "timeout_rate": 0.02,
    "after_commit": True,
}
# Where each create carries its key, so the provider's invoices can be counted per key: a
# field the connection's dedupe marker never uses (checked at start).
KEY_FIELDS = {
    "crm_v1": "reference",
    "draft_publish": "lines.0.description",
    "bill_crm": "lines.0.description",
    "item_envelope": "reference",
    "order_linked": "lines.0.provider_fields.package_name",
}
_CALLS = re.compile(r'^gateway_upstream_calls_total\{[^}]*outcome="([^"]+)"[^}]*\} (\S+)$', re.M)


def body(provider: str, n: int, key: str) -> dict[str, Any]:
    """A small, valid invoice for ``provider`` (its sandbox's reference data), carrying ``key``.

    Dates vary, so the invoices a lost create is looked for among stay few; free text the
    marker could use is left empty."""
    issued = date(2026, 7, 1) + timedelta(days=n % 28)
    day, due = issued.isoformat(), (issued + timedelta(days=30)).isoformat()
    invoices: dict[str, dict[str, Any]] = {
        "crm_v1": {
            "customer": {"id": "10"},
            "issue_date": day,
            "currency": "USD",
            "provider_fields": {"template_id": 1},
            "lines": [
                {
                    "item_id": "12",
                    "name": "Consulting Services",
                    "quantity": "2",
                    "unit_price": "500.00",
                    "taxes": [{"id": "5", "rate": "5"}],
                },
            ],
        },
        "draft_publish": {
            "customer": {"id": "775c7344-d127-54d6-accd-5c36ca844254"},
            "issue_date": day,
            "due_date": due,
            "currency": "USD",
            "provider_fields": {"template_id": "fc22c8fd-3e9b-54ba-afe4-f34236670d03"},
            "lines": [
                {
                    "item_id": "9847124a-4a34-5b3b-b047-b11014b044a8",
                    "description": "Web",
                    "quantity": "1.5",
                    "unit_price": "150",
                    "taxes": [{"rate": "20"}],
                },
            ],
        },
        "bill_crm": {
            "customer": {"id": "1"},
            "issue_date": day,
            "currency": "USD",
            "provider_fields": {"bill_categoryid": 1},
            "lines": [
                {
                    "name": "Consulting",
                    "description": "Workshop",
                    "quantity": "3",
                    "unit_price": "95.00",
                    "taxes": [{"id": "1", "name": "VAT 20%", "rate": "20"}],
                },
            ],
        },
        "item_envelope": {
            "customer": {"id": "15"},
            "issue_date": day,
            "currency": "USD",
            "lines": [{"item_id": "1", "quantity": "2", "unit_price": "100"}],
        },
        "order_linked": {
            "customer": {"id": "ACC-1001"},
            "issue_date": day,
            "due_date": due,
            "currency": "AUD",
            "lines": [
                {
                    "item_id": "ITM-1001",
                    "quantity": "2",
                    "unit_price": "749.00",
                    "taxes": [{"rate": "10"}],
                    "provider_fields": {"package_name": "Carton"},
                },
            ],
        },
    }
    invoice = invoices[provider]
    _put(invoice, KEY_FIELDS[provider], key)
    return invoice


def _put(data: Any, path: str, value: str) -> None:
    *parents, last = path.split(".")
    for part in parents:
        data = data[int(part)] if part.isdigit() else data.setdefault(part, {})
    data[last] = value


def _get(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


# -- processes ----------------------------------------------------------------------------------


@dataclass
class Process:
    command: list[str]
    process: subprocess.Popen[bytes] | None = None

    def start(self, log: Path) -> None:
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            self.process.wait(30)


async def wait_until_up(url: str, *, path: str = "/healthz", seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(url + path) as response:
                    if response.status < 500:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def write_config(path: Path, emulators: dict[str, str], store_url: str) -> None:
    connections = []
    for provider, url in emulators.items():
        connection = sandbox_connection(provider, url).model_dump(mode="json", exclude_none=True)
        connection["auth"]["token"] = default_token(provider)
        connection["timeout_s"] = 2  # a hang costs this much before the gateway gives up
        connection["breaker"] = {"failures": 8, "open_s": 2}
        connections.append(connection)
    config = {
        "store": {"url": store_url, "lease_seconds": 3},
        "logging": {"level": "warning", "format": "json"},
        "clients": [
            {
                "name": "chaos",
                "key_sha256": hashlib.sha256(API_KEY.encode()).hexdigest(),
                "connections": ["*"],
                "scopes": ["invoices:read", "invoices:write", "admin"],
            }
        ],
        "connections": connections,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


# -- the client ---------------------------------------------------------------------------------


@dataclass
class Result:
    key: str
    provider: str
    status: int | None = None  # the final answer's status; None: none came
    invoice_id: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    answers: Counter[str] = field(default_factory=Counter)


@dataclass
class Run:
    gateways: list[str]
    deadline_s: float
    half: int
    done: int = 0
    halfway: asyncio.Event = field(default_factory=asyncio.Event)
    rng: random.Random = field(default_factory=lambda: random.Random(7))


async def create_once(
    session: aiohttp.ClientSession, run: Run, provider: str, n: int, result: Result
) -> None:
    """Send one create until a final answer: 201, or a refusal that retrying cannot change."""
    started = time.monotonic()
    payload = body(provider, n, result.key)
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": result.key}
    while time.monotonic() - started < run.deadline_s:
        gateway = run.gateways[result.attempts % len(run.gateways)]
        result.attempts += 1
        wait = 0.2 + run.rng.random() * 0.3
        try:
            async with session.post(
                f"{gateway}/v1/connections/{provider}/invoices", json=payload, headers=headers
            ) as response:
                answer = await response.json(content_type=None)
                result.answers[str(response.status)] += 1
                if response.status == 201:
                    result.status, result.invoice_id = 201, str(answer["id"])
                    break
                retryable = response.status in (409, 429) or response.status >= 500
                if not retryable:
                    result.status = response.status
                    result.answers["final:" + str(answer.get("code"))] += 1
                    break
                after = response.headers.get("Retry-After")
                if after is not None:
                    wait = min(float(after), 3.0)
        except (TimeoutError, aiohttp.ClientError, ValueError):
            result.answers["connection_error"] += 1
        await asyncio.sleep(wait)
    result.seconds = time.monotonic() - started
    run.done += 1
    if run.done >= run.half:
        run.halfway.set()


async def invoices_by_key(
    session: aiohttp.ClientSession, gateway: str, provider: str
) -> dict[str, list[str]]:
    """Every invoice the provider holds, by the key it carries."""
    found: dict[str, list[str]] = {}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    url = f"{gateway}/v1/connections/{provider}/invoices?limit=100"
    while True:
        async with session.get(url, headers=headers) as response:
            page = await response.json()
        if response.status != 200:
            raise RuntimeError(f"listing {provider} failed: {page}")
        for invoice in page["data"]:
            key = _get(invoice, KEY_FIELDS[provider])
            found.setdefault(str(key), []).append(str(invoice["id"]))
        if not page["has_more"]:
            return found
        url = f"{gateway}/v1/connections/{provider}/invoices?limit=100&cursor={page['next_cursor']}"


async def scrape(session: aiohttp.ClientSession, gateway: str) -> Counter[str]:
    """The provider calls one gateway made, by outcome (status, or "error": reset, timeout)."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with session.get(f"{gateway}/metrics", headers=headers) as response:
        text = await response.text()
    calls: Counter[str] = Counter()
    for match in _CALLS.finditer(text):
        calls[match.group(1)] += int(float(match.group(2)))
    return calls


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


async def chaos(args: argparse.Namespace) -> dict[str, Any]:
    from adapters.mapping import load_mapping

    for provider, where in KEY_FIELDS.items():
        if load_mapping(provider).dedupe.marker == where.split(".")[0]:
            raise SystemExit(f"{provider}: the key field {where} is the gateway's marker field")
    work = Path(tempfile.mkdtemp(prefix="invoice-gateway-chaos-"))
    store_url = args.store or f"sqlite:///{work}/store.db"
    python = sys.executable
    emulators: dict[str, Process] = {}
    urls: dict[str, str] = {}
    for provider in PROVIDERS:
        port = free_port()
        urls[provider] = f"http://127.0.0.1:{port}"
        emulators[provider] = Process(
            [
                python,
                "-m",
                "gateway.cli",
                "emulate",
                provider,
                "--port",
                str(port),
                "--seed-invoices",
                "0",
            ]
        )
        emulators[provider].start(work / f"{provider}.log")
    config = work / "config.yaml"
    write_config(config, urls, store_url)
    ports = [free_port() for _ in range(args.gateways)]
    gateways = [
        Process([python, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(p)])
        for p in ports
    ]
    gateway_urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for url in urls.values():
            await wait_until_up(url, path="/_emulator/faults")
        for process, url in zip(gateways, gateway_urls, strict=True):
            process.start(work / "gateway.log")
            await wait_until_up(url)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            for i, url in enumerate(urls.values()):
                faults = {**FAULTS, "seed": args.seed + i}
                async with session.post(url + "/_emulator/faults", json=faults) as response:
                    assert response.status == 200, await response.text()
            run = Run(gateway_urls, args.deadline, half=max(1, args.creates // 2))
            results = [
                Result(f"chaos-{uuid.uuid4().hex[:12]}-{n}", PROVIDERS[n % len(PROVIDERS)])
                for n in range(args.creates)
            ]
            gate = asyncio.Semaphore(args.concurrency)

            async def one(n: int, result: Result) -> None:
                async with gate:
                    await create_once(session, run, result.provider, n, result)

            started = time.monotonic()
            tasks = [asyncio.create_task(one(n, r)) for n, r in enumerate(results)]
            kills = 0
            await run.halfway.wait()
            calls: Counter[str] = Counter()
            if not all(t.done() for t in tasks):
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                    calls += await scrape(session, gateway_urls[0])
                gateways[0].kill(signal.SIGKILL)  # mid-run, with writes in flight
                kills += 1
                gateways[0].start(work / "gateway.log")
                await wait_until_up(gateway_urls[0])
            await asyncio.gather(*tasks)
            run_time = time.monotonic() - started
            for url in gateway_urls:
                calls += await scrape(session, url)
            for url in urls.values():
                async with session.delete(url + "/_emulator/faults"):
                    pass
            held: dict[str, dict[str, list[str]]] = {}
            for provider in PROVIDERS:
                held[provider] = await invoices_by_key(session, gateway_urls[0], provider)
    finally:
        for process in [*gateways, *emulators.values()]:
            process.kill(signal.SIGTERM)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return report(args, results, held, run_time, kills, store_url, calls)


def report(
    args: argparse.Namespace,
    results: list[Result],
    held: dict[str, dict[str, list[str]]],
    run_time: float,
    kills: int,
    store_url: str,
    calls: Counter[str],
) -> dict[str, Any]:
    duplicates = lost = unresolved = 0
    answers: Counter[str] = Counter()
    for result in results:
        answers.update(result.answers)
        ids = held[result.provider].get(result.key, [])
        problem = None
        if len(ids) > 1:
            duplicates += 1
            problem = "duplicate"
        if result.status is None:
            unresolved += 1
            problem = "unresolved"
        elif result.status == 201 and ids != [result.invoice_id]:
            lost += 1
            problem = "lost"
        elif result.status != 201 and ids:
            lost += 1  # told it failed, yet the provider holds it
            problem = "lost"
        if problem and args.explain:
            print(
                f"{problem}: {result.provider} {result.key} answered {result.status} "
                f"{result.invoice_id} after {dict(result.answers)}; provider holds {ids}",
                file=sys.stderr,
            )
    keyed = {key for result in results for key in [result.key]}
    strays = sum(
        len(ids) for by_key in held.values() for key, ids in by_key.items() if key not in keyed
    )
    if args.explain:
        for provider, by_key in held.items():
            for key, ids in by_key.items():
                if key not in keyed:
                    print(f"stray: {provider} {ids} carry {key!r}", file=sys.stderr)
    seconds = [r.seconds for r in results if r.status is not None]
    # What the gateways met at the providers (before the kill and after), and what the client
    # met at the gateways before each final answer.
    faults_seen = {k: v for k, v in sorted(calls.items()) if not k.startswith("2")}
    client_saw = {
        k: v for k, v in sorted(answers.items()) if k != "201" and not k.startswith("final:")
    }
    return {
        "store": "postgresql" if store_url.startswith("postgres") else "sqlite",
        "gateways": args.gateways,
        "creates": len(results),
        "created": sum(1 for r in results if r.status == 201),
        "refused": {k: v for k, v in answers.items() if k.startswith("final:")},
        "faults_seen": faults_seen,
        "provider_calls": sum(calls.values()),
        "client_saw": client_saw,
        "attempts": sum(r.attempts for r in results),
        "gateway_kills": kills,
        "duplicates": duplicates,
        "lost": lost,
        "unresolved": unresolved,
        "stray_invoices": strays,
        "p50_ms": round(percentile(seconds, 0.50) * 1000, 1),
        "p99_ms": round(percentile(seconds, 0.99) * 1000, 1),
        "run_time_s": round(run_time, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--store", help="store URL (default: a SQLite file in a scratch folder)")
    parser.add_argument("--gateways", type=int, default=1, choices=(1, 2))
    parser.add_argument("--deadline", type=float, default=180, help="seconds per create")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--explain", action="store_true", help="each problem, on stderr")
    parser.add_argument(
        "--keep", action="store_true", help="keep the scratch folder (logs, store, config)"
    )
    args = parser.parse_args()
    if args.gateways > 1 and not (args.store or "").startswith("postgres"):
        parser.error("--gateways 2 needs a shared --store postgresql://…")
    print(json.dumps(asyncio.run(chaos(args))))


if __name__ == "__main__":
    main()
