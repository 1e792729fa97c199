"""What the security suite shares: API keys and clients, gateway settings over given provider
URLs, the route table as data, RFC 9457 checks, the emulators' request logs, and the memory of
this process (the gateways under test run in it, in a thread or on the test's own loop)."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from gateway.config import (
    AuthFailures,
    Client,
    Connection,
    ServerSettings,
    Settings,
    StoreSettings,
)
from gateway.http.auth import PUBLIC, scope_of
from gateway.sandbox import sandbox_connection
from tests.stores import sqlite_url

MiB = 1024 * 1024
READ_WRITE = ("invoices:read", "invoices:write")
# Values for the route table's path parameters (a connection is given per test).
PATH_VALUES = {
    "invoice_id": "1",
    "payment_id": "1",
    "order_id": "SO-1001",
    "action": "issue",
    "note_id": "1",
}


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def client(
    name: str, key: str, *, connections: Iterable[str] = ("*",), scopes: Iterable[str] = READ_WRITE
) -> Client:
    return Client.model_validate(
        {
            "name": name,
            "key_sha256": key_hash(key),
            "connections": list(connections),
            "scopes": list(scopes),
        }
    )


def connection(
    provider: str,
    url: str,
    *,
    name: str | None = None,
    token: str | None = None,
    **changes: Any,
) -> Connection:
    """The sandbox's settings for ``provider`` (taxes, currencies, defaults) at ``url``, named
    ``name`` (the provider id by default), with ``changes`` (retries, breaker, timeout…)."""
    base = sandbox_connection(provider, url, token=token)
    data = {**base.model_dump(exclude={"auth"}), "auth": base.auth, **changes}
    data["name"] = name or provider
    return Connection.model_validate(data)


def settings(
    connections: list[Connection], clients: list[Client], *, store_url: str | None = None
) -> Settings:
    """A gateway whose failed-key throttle never answers 429 here (its own tests are in
    test_auth_abuse.py): every refusal below is the 401 or 403 under test."""
    return Settings(
        server=ServerSettings(auth_failures=AuthFailures(per_minute=1_000_000)),
        store=StoreSettings(url=store_url or sqlite_url()),
        clients=clients,
        connections=connections,
    )


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # e.g. /v1/connections/{connection}/invoices/{invoice_id}
    scope: str  # invoices:read, invoices:write, admin or public

    @property
    def per_connection(self) -> bool:
        return "{connection}" in self.template

    def path(self, connection: str = "crm_v1", **values: str) -> str:
        given = {**PATH_VALUES, "connection": connection, **values}
        return re.sub(r"\{(\w+)\}", lambda m: given[m.group(1)], self.template)

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def route_table(app: web.Application) -> list[Route]:
    """Every route the application serves (HEAD aside), with the scope its handler declares:
    a route added tomorrow is in every test that iterates this."""
    found = []
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        scope = scope_of(route.handler)
        assert scope is not None, f"{route.method} {route.resource.canonical} declares no scope"
        found.append(Route(route.method, route.resource.canonical, scope))
    return found


def is_public(route: Route) -> bool:
    return route.scope == PUBLIC


def check_problem(status: int, headers: Any, body: Any, expected: int, code: str) -> None:
    """An RFC 9457 answer with ``expected`` status and ``code``, that names its request."""
    assert (status, body.get("code") if isinstance(body, dict) else body) == (expected, code), (
        status,
        body,
    )
    assert headers["Content-Type"].startswith("application/problem+json")
    assert body["type"] == f"/problems/{code}" and body["status"] == expected
    assert body["request_id"] == headers["X-Request-ID"]
    assert body["detail"] and "Traceback" not in body["detail"]


async def request_counts(
    session: aiohttp.ClientSession, urls: dict[str, str], *, writes_only: bool = False
) -> dict[str, int]:
    """How many requests (or only writes: not GET) each emulator (name → base URL) has logged."""
    counts = {}
    for name, url in urls.items():
        async with session.get(url + "/_emulator/requests") as response:
            logged = (await response.json())["requests"]
            counts[name] = sum(1 for r in logged if not writes_only or r["method"] != "GET")
    return counts


def rss_bytes() -> int:
    """This process's resident set (the gateways under test run in it)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class Peak:
    """The highest resident set seen while it runs, sampled every few milliseconds."""

    def __init__(self) -> None:
        gc.collect()
        self.before = rss_bytes()
        self.peak = self.before

    @property
    def growth(self) -> int:
        return self.peak - self.before

    def sample(self) -> None:
        self.peak = max(self.peak, rss_bytes())


@asynccontextmanager
async def peak_memory() -> AsyncIterator[Peak]:
    peak = Peak()

    async def sampler() -> None:
        while True:
            peak.sample()
            await asyncio.sleep(0.005)

    task = asyncio.create_task(sampler())
    try:
        yield peak
    finally:
        task.cancel()
        peak.sample()
