"""Load one emulator with concurrent GETs of a single invoice and print the figures as JSON.

    .venv/bin/python bench/emulator.py --provider crm_v1 --requests 5000 --concurrency 16

The emulator runs in this process on a loopback port, built through the registry exactly as the
sandbox builds it; the invoice fetched is the first one its list endpoint returns. Client and
server share one event loop, so the figures are the cost of both sides together on one core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from emulators.registry import PROVIDERS, create_app, default_token


@dataclass(frozen=True)
class Target:
    """Where a provider lists invoices and fetches one, and how it wants its credential."""

    list_path: str
    get_path: str  # with "{id}"
    first_id: Callable[[Any], object]
    api_key_header: bool = False

    def headers(self, token: str) -> dict[str, str]:
        if self.api_key_header:
            return {"X-API-Key": token}
        return {"Authorization": f"Bearer {token}"}


# The list envelopes of providers.md, one per provider.
TARGETS: dict[str, Target] = {
    "crm_v1": Target(
        "/v1/invoices", "/v1/invoices/{id}", lambda body: body["data"]["data"][0]["inv_id"]
    ),
    "draft_publish": Target(
        "/api/v1/invoices", "/api/v1/invoices/{id}", lambda body: body["data"][0]["id"]
    ),
    "bill_crm": Target(
        "/api/v1/invoices",
        "/api/v1/invoices/{id}",
        lambda body: body["data"][0]["id"],
        api_key_header=True,
    ),
    "item_envelope": Target(
        "/api2/api2/invoices.json",
        "/api2/api2/invoices/{id}.json",
        lambda body: body["data"][0]["Invoice"]["id"],
    ),
    "order_linked": Target("/invoices", "/invoices/{id}", lambda body: body["invoices"][0]["id"]),
}


@dataclass
class Tally:
    latencies: list[float]
    errors: int = 0
    started: int = 0


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile: a latency some request really had, never an interpolation."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


async def first_invoice_id(session: aiohttp.ClientSession, target: Target, token: str) -> str:
    async with session.get(target.list_path, headers=target.headers(token)) as response:
        body = await response.json()
        if response.status != 200:
            raise RuntimeError(f"listing {target.list_path} answered {response.status}: {body}")
    return str(target.first_id(body))


async def worker(
    session: aiohttp.ClientSession,
    path: str,
    headers: dict[str, str],
    total: int,
    deadline: float,
    tally: Tally,
) -> None:
    while tally.started < total and time.perf_counter() < deadline:
        tally.started += 1
        began = time.perf_counter()
        try:
            async with session.get(path, headers=headers) as response:
                await response.read()
                ok = response.status == 200
        except aiohttp.ClientError:
            ok = False
        tally.latencies.append(time.perf_counter() - began)
        if not ok:
            tally.errors += 1


async def run(provider: str, requests: int, concurrency: int, max_seconds: float) -> dict[str, Any]:
    target = TARGETS[provider]
    token = default_token(provider)
    app: web.Application = create_app(provider, token=token)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(
            f"http://127.0.0.1:{port}", connector=connector
        ) as session:
            invoice_id = await first_invoice_id(session, target, token)
            path = target.get_path.format(id=invoice_id)
            tally = Tally(latencies=[])
            started = time.perf_counter()
            deadline = started + max_seconds
            await asyncio.gather(
                *(
                    worker(session, path, target.headers(token), requests, deadline, tally)
                    for _ in range(concurrency)
                )
            )
            seconds = time.perf_counter() - started
    finally:
        await runner.cleanup()

    done = len(tally.latencies)
    ordered = sorted(tally.latencies)
    return {
        "provider": provider,
        "path": path,
        "requests": done,
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "requests_per_second": round(done / seconds, 1) if seconds > 0 else None,
        "p50_ms": round(percentile(ordered, 50) * 1000, 3),
        "p95_ms": round(percentile(ordered, 95) * 1000, 3),
        "p99_ms": round(percentile(ordered, 99) * 1000, 3),
        "errors": tally.errors,
        "capped_by_time": done < requests,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--provider", choices=PROVIDERS, default="crm_v1")
    parser.add_argument("--requests", type=int, default=5000, help="total GETs (default 5000)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument(
        "--max-seconds", type=float, default=60.0, help="stop early after this long (default 60)"
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1 or args.max_seconds <= 0:
        parser.error("--requests, --concurrency and --max-seconds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = asyncio.run(run(args.provider, args.requests, args.concurrency, args.max_seconds))
    except ModuleNotFoundError as exc:
        if exc.name != f"emulators.{args.provider}":
            raise
        print(
            f"no emulator for {args.provider} yet (emulators/{args.provider}.py)", file=sys.stderr
        )
        return 2
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
