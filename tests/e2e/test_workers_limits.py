"""``serve --workers 2`` counts its limits once for the gateway, not once per worker: an API
key's rate limit, an address's failed authentications, and a connection's rate limit towards
its provider (each worker alone would allow the whole limit: twice it in all)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from gateway.sandbox.serve import Sandbox
from tests.e2e.processes import GatewayProcess, gateway_process, write_config
from tests.e2e.sandbox import sandbox_in_thread
from tests.stores import sqlite_url

KEY = "k-limited"
WRONG = "k-wrong"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=4) as running:
        yield running


def config(
    tmp_path: Path,
    sandbox: Sandbox,
    *,
    rate_limit: dict[str, Any] | None = None,
    per_minute: int = 20,
    connections: dict[str, dict[str, Any]] | None = None,
) -> Path:
    client: dict[str, Any] = {
        "name": "sync",
        "key_sha256": hashlib.sha256(KEY.encode()).hexdigest(),
        "connections": ["*"],
        "scopes": ["invoices:read"],
    }
    if rate_limit is not None:
        client["rate_limit"] = rate_limit
    path = write_config(
        tmp_path / "config.yaml",
        sandbox,
        store_url=sqlite_url(),
        clients=[client],
        connections=connections,
    )
    data = yaml.safe_load(path.read_text())
    data["logging"] = {"level": "info", "format": "json"}  # the request lines say the worker
    data["server"] = {"auth_failures": {"per_minute": per_minute}}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


async def status(url: str, key: str) -> int:
    """One request on a connection of its own, so that the kernel may hand it to any worker."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(url, headers={"Authorization": f"Bearer {key}"}) as response,
    ):
        await response.read()
        return response.status


def logged(gateway: GatewayProcess, prefix: str) -> list[dict[str, Any]]:
    """The access log's lines of requests to routes starting with ``prefix``."""
    lines = []
    for line in list(gateway.output):
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == "request" and entry.get("route", "").startswith(prefix):
                lines.append(entry)
    return lines


async def request_lines(gateway: GatewayProcess, count: int) -> list[dict[str, Any]]:
    """The access log's lines of ``/v1/`` requests, once ``count`` have been written (lines are
    written in batches, at most half a second after their request)."""
    for _ in range(50):
        if len(lines := logged(gateway, "/v1/")) >= count:
            return lines
        await asyncio.sleep(0.1)
    return logged(gateway, "/v1/")


async def test_an_api_keys_rate_limit_is_the_gateways_not_each_workers(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # A burst of 6 that refills once a minute: only the burst passes during the test.
    limited = config(tmp_path, sandbox, rate_limit={"per_second": 1 / 60, "burst": 6})
    with gateway_process(limited, "--workers", "2") as gateway:
        workers = gateway.wait_for_workers(2)
        statuses = [await status(gateway.url + "/v1/connections", KEY) for _ in range(20)]
        lines = await request_lines(gateway, 20)
    assert statuses == [200] * 6 + [429] * 14
    # Both workers answered (each alone would have let 6 through: 12 in all).
    assert {line["pid"] for line in lines} == set(workers)


async def test_an_addresss_failed_authentications_are_counted_once_for_all_workers(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    with gateway_process(config(tmp_path, sandbox, per_minute=5), "--workers", "2") as gateway:
        workers = gateway.wait_for_workers(2)
        statuses = [await status(gateway.url + "/v1/connections", WRONG) for _ in range(16)]
        lines = await request_lines(gateway, 16)
        # A valid key from the same address is never refused by the throttle.
        assert await status(gateway.url + "/v1/connections", KEY) == 200
    assert statuses == [401] * 5 + [429] * 11
    assert {line["pid"] for line in lines} == set(workers)


async def test_a_connections_rate_limit_paces_both_workers_together(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    rate = 5.0
    paced = config(
        tmp_path,
        sandbox,
        connections={"order_linked": {"rate_limit": {"per_second": rate, "burst": 1}}},
    )
    with gateway_process(paced, "--workers", "2") as gateway:
        workers = gateway.wait_for_workers(2)
        url = gateway.url + "/v1/connections/order_linked/invoices?limit=1"
        started = time.monotonic()
        statuses = await asyncio.gather(*(status(url, KEY) for _ in range(16)))
        elapsed = time.monotonic() - started
        lines = await request_lines(gateway, 16)
    assert set(statuses) == {200}
    assert {line["pid"] for line in lines} == set(workers)
    calls = sum(line["upstream_calls"] for line in lines)
    assert calls >= 16
    # One quota: after the first call, one call every 1/rate seconds, whichever worker makes
    # it (two quotas would take about half the time).
    assert elapsed >= (calls - 1) / rate - 0.05, (elapsed, calls)
