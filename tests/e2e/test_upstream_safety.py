"""The provider client fails safely, seen through the gateway's HTTP API over real HTTP: the
circuit breaker, the retry budget, redirects, oversized bodies and unreadable JSON.

The gateways here run over the sandbox's emulators (whose request logs count what reached the
provider) or over small aiohttp servers on 127.0.0.1 that misbehave on purpose.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.config import Client, Connection, Settings
from gateway.http.app import create_app
from gateway.http.keys import ADAPTERS
from gateway.sandbox import default_token, sandbox_connection
from gateway.sandbox.serve import Sandbox
from tests.e2e.sandbox import sandbox_in_thread

KEY = "k-ops"
AUTH = {"Authorization": f"Bearer {KEY}"}
MiB = 1024 * 1024

ClientFactory = Callable[..., Awaitable[TestClient]]  # type: ignore[type-arg]
ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=3) as running:
        yield running


@pytest.fixture
async def emulators(sandbox: Sandbox) -> AsyncIterator[Emulators]:
    async with aiohttp.ClientSession() as session:
        control = Emulators(sandbox, session)
        for provider in sandbox.emulator_urls:
            await control.reset(provider)
        yield control
        for provider in sandbox.emulator_urls:
            await control.reset(provider)


class Emulators:
    """The emulators' control endpoints: reset, faults, and the request log."""

    def __init__(self, sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
        self.urls = sandbox.emulator_urls
        self.session = session

    async def reset(self, provider: str) -> None:
        async with self.session.post(self.urls[provider] + "/_emulator/reset") as response:
            assert response.status == 200

    async def faults(self, provider: str, **config: Any) -> None:
        url = self.urls[provider] + "/_emulator/faults"
        async with self.session.post(url, json=config) as response:
            assert response.status == 200, await response.text()

    async def requests(self, provider: str) -> list[dict[str, Any]]:
        async with self.session.get(self.urls[provider] + "/_emulator/requests") as response:
            logged: list[dict[str, Any]] = (await response.json())["requests"]
            return logged


def settings(urls: dict[str, str], **changes: dict[str, Any]) -> Settings:
    """A gateway with one connection per provider in ``urls`` (named after it), each with the
    sandbox's settings plus ``changes[provider]``; one client with every scope."""
    connections = []
    for provider, url in urls.items():
        base = sandbox_connection(provider, url)
        data = {**base.model_dump(exclude={"auth"}), "auth": base.auth, **changes.get(provider, {})}
        connections.append(Connection.model_validate(data))
    client = Client.model_validate(
        {
            "name": "ops",
            "key_sha256": hashlib.sha256(KEY.encode()).hexdigest(),
            "connections": ["*"],
            "scopes": ["invoices:read", "invoices:write", "admin"],
        }
    )
    return Settings(clients=[client], connections=connections)


async def problem(response: aiohttp.ClientResponse, status: int, code: str) -> dict[str, Any]:
    body: dict[str, Any] = await response.json(content_type=None)
    assert (response.status, body.get("code")) == (status, code), body
    return body


async def circuit_gauge(gateway: TestClient, connection: str) -> float:  # type: ignore[type-arg]
    text = await (await gateway.get("/metrics", headers=AUTH)).text()
    found = re.search(
        rf'^gateway_upstream_circuit_state\{{connection="{connection}"\}} (\S+)$', text, re.M
    )
    assert found is not None, text
    return float(found.group(1))


async def circuit(gateway: TestClient, connection: str) -> dict[str, Any]:  # type: ignore[type-arg]
    response = await gateway.get(f"/v1/connections/{connection}", headers=AUTH)
    assert response.status == 200
    described: dict[str, Any] = (await response.json())["health"]["circuit"]
    return described


# -- the circuit breaker --------------------------------------------------------------------------


async def test_the_breaker_opens_answers_503_without_calling_then_a_probe_closes_it(
    sandbox: Sandbox, emulators: Emulators, aiohttp_client: ClientFactory
) -> None:
    gateway = await aiohttp_client(
        create_app(
            settings(
                sandbox.emulator_urls,
                crm_v1={"retries": {"max_attempts": 1}, "breaker": {"failures": 3, "open_s": 30}},
            )
        )
    )
    now = [1000.0]
    gateway.server.app[ADAPTERS]["crm_v1"].client.breaker.clock = lambda: now[0]
    read = "/v1/connections/crm_v1/invoices/1"
    assert await circuit_gauge(gateway, "crm_v1") == 0
    await emulators.faults("crm_v1", error_rate=1, error_status=503, methods=["GET"])
    for _ in range(3):
        await problem(await gateway.get(read, headers=AUTH), 502, "upstream_error")
    assert len(await emulators.requests("crm_v1")) == 3

    for waited in range(5):  # refused at once: the provider hears nothing
        refused = await gateway.get(read, headers=AUTH)
        body = await problem(refused, 503, "upstream_unavailable")
        assert refused.headers["Retry-After"] == str(30 - waited)
        now[0] += 1
        assert "the circuit for connection crm_v1 is open" in body["detail"]
    assert len(await emulators.requests("crm_v1")) == 3
    assert (await circuit(gateway, "crm_v1"))["state"] == "open"
    assert (await circuit(gateway, "crm_v1"))["consecutive_failures"] == 3
    assert await circuit_gauge(gateway, "crm_v1") == 2
    assert await circuit_gauge(gateway, "draft_publish") == 0  # one breaker per connection

    assert (await circuit(gateway, "crm_v1"))["retry_after"] == 25
    await emulators.faults("crm_v1")  # the provider is back
    now[0] += 25  # open_s has passed
    assert await circuit_gauge(gateway, "crm_v1") == 1
    assert await circuit(gateway, "crm_v1") == {
        "state": "half_open",
        "retry_after": None,
        "consecutive_failures": 3,
    }
    assert (await gateway.get(read, headers=AUTH)).status == 200  # the probe
    assert len(await emulators.requests("crm_v1")) == 4
    assert await circuit_gauge(gateway, "crm_v1") == 0
    assert (await circuit(gateway, "crm_v1"))["state"] == "closed"


# -- the retry budget -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        ({}, 36),  # ratio 0.2, min_retries 3: 30 + max(3, 0.2 × 30)
        ({"min_retries": 1000}, 90),  # no budget to speak of: max_attempts × 30
    ],
)
async def test_the_retry_budget_caps_the_load_on_a_failing_provider(
    sandbox: Sandbox,
    emulators: Emulators,
    aiohttp_client: ClientFactory,
    budget: dict[str, Any],
    expected: int,
) -> None:
    gateway = await aiohttp_client(
        create_app(
            settings(
                sandbox.emulator_urls,
                crm_v1={
                    "retries": {"max_attempts": 3, "backoff_base_s": 0.001, "backoff_max_s": 0.002},
                    "retry_budget": budget,
                    "breaker": {"failures": 1000},  # only the budget is measured here
                },
            )
        )
    )
    await emulators.faults("crm_v1", error_rate=1, error_status=503, methods=["GET"])
    reads = 30
    for i in range(reads):
        path = f"/v1/connections/crm_v1/invoices/{i % 3 + 1}"
        await problem(await gateway.get(path, headers=AUTH), 502, "upstream_error")
    sent = len(await emulators.requests("crm_v1"))
    print(f"\nretry budget {budget or 'default'}: {reads} reads -> {sent} provider requests")
    assert sent == expected
    if not budget:
        assert sent <= 1.2 * reads + 3


async def test_retries_are_counted_for_their_connection_on_a_list_across_connections(
    sandbox: Sandbox, emulators: Emulators, aiohttp_client: ClientFactory
) -> None:
    """A list across connections has no connection in its path: its retries were in its log
    line but never in ``gateway_upstream_retries_total``."""
    quick = {"retries": {"max_attempts": 3, "backoff_base_s": 0.001, "backoff_max_s": 0.002}}
    urls = {p: sandbox.emulator_urls[p] for p in ("crm_v1", "draft_publish")}
    gateway = await aiohttp_client(create_app(settings(urls, crm_v1=quick)))
    await emulators.faults("crm_v1", error_rate=1, error_status=503, methods=["GET"])

    listed = await gateway.get(
        "/v1/invoices?connection=crm_v1&connection=draft_publish&limit=1", headers=AUTH
    )

    assert listed.status == 502
    retried = len(await emulators.requests("crm_v1")) - 1  # all but the first try
    assert retried >= 1
    text = await (await gateway.get("/metrics", headers=AUTH)).text()
    assert f'gateway_upstream_retries_total{{connection="crm_v1"}} {retried}.0' in text
    assert 'gateway_upstream_retries_total{connection="draft_publish"}' not in text


# -- misbehaving providers: small servers on 127.0.0.1 ------------------------------------------


class Counter:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    def seen(self, request: web.Request) -> None:
        self.requests.append((request.method, request.raw_path, dict(request.headers)))


async def redirect_target(aiohttp_server: ServerFactory) -> tuple[TestServer, Counter]:
    counter = Counter()

    async def anything(request: web.Request) -> web.Response:
        counter.seen(request)
        return web.json_response({"success": True, "data": {}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    return await aiohttp_server(app), counter


@pytest.mark.parametrize("status", [302, 307])
async def test_a_redirect_is_not_followed_and_its_target_hears_nothing(
    aiohttp_server: ServerFactory, aiohttp_client: ClientFactory, status: int
) -> None:
    target, reached = await redirect_target(aiohttp_server)
    first = Counter()

    async def redirect(request: web.Request) -> web.Response:
        first.seen(request)
        location = str(target.make_url(request.raw_path))
        return web.Response(status=status, headers={"Location": location})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    gateway = await aiohttp_client(create_app(settings({"crm_v1": base, "bill_crm": base})))

    for connection, path in (("crm_v1", "/invoices/1"), ("bill_crm", "/invoices/7")):
        response = await gateway.get(f"/v1/connections/{connection}{path}", headers=AUTH)
        body = await problem(response, 502, "upstream_error")
        assert body["detail"] == (
            f"{connection} (connection {connection}) answered a redirect ({status}); "
            "the gateway follows no redirects"
        )
        text = await response.text()
        assert str(target.port) not in text and "Location" not in text

    assert reached.requests == []  # the redirect's target received nothing
    assert len(first.requests) == 2  # one each: a redirect is not retried
    (_, _, crm_headers), (_, _, bill_headers) = first.requests
    assert crm_headers["Authorization"] == f"Bearer {default_token('crm_v1')}"
    assert bill_headers["X-API-Key"] == default_token("bill_crm")


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def test_a_1_gib_body_is_a_502_in_bounded_memory_and_stalls_nothing(
    sandbox: Sandbox, aiohttp_server: ServerFactory, aiohttp_client: ClientFactory
) -> None:
    chunk = b"[" + b"1," * (MiB // 2 - 1) + b"1"  # 1 MiB, made once, sent over and over
    sent = [0]
    halfway = asyncio.Event()
    proceed = asyncio.Event()

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            while sent[0] < 1024 * MiB:
                await response.write(chunk)
                sent[0] += len(chunk)
                if sent[0] == 4 * MiB:
                    halfway.set()
                    await asyncio.wait_for(proceed.wait(), 10)
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass  # the gateway hung up: what this test wants
        return response

    app = web.Application()
    app.router.add_get("/v1/invoices/{id}", huge)
    server = await aiohttp_server(app)
    urls = {"crm_v1": str(server.make_url("")).rstrip("/")}
    urls["draft_publish"] = sandbox.emulator_urls["draft_publish"]
    gateway = await aiohttp_client(create_app(settings(urls)))

    gc.collect()
    before = rss_bytes()
    peak = [before]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss_bytes())
            await asyncio.sleep(0.002)

    sampler = asyncio.create_task(sample())
    try:
        big = asyncio.create_task(gateway.get("/v1/connections/crm_v1/invoices/1", headers=AUTH))
        await asyncio.wait_for(halfway.wait(), 10)
        started = time.perf_counter()
        other = await gateway.get("/v1/connections/draft_publish/invoices?limit=1", headers=AUTH)
        other_s = time.perf_counter() - started
        assert other.status == 200  # served while the big body was half read
        assert other_s < 1.0
        proceed.set()
        response = await asyncio.wait_for(big, 20)
        body = await problem(response, 502, "upstream_error")
    finally:
        sampler.cancel()
        proceed.set()
    peak[0] = max(peak[0], rss_bytes())
    growth = peak[0] - before
    print(
        f"\n1 GiB body: server sent {sent[0] / MiB:.0f} MiB before the gateway hung up; "
        f"peak RSS growth {growth / MiB:.1f} MiB; other request {other_s * 1000:.0f} ms"
    )
    assert body["detail"] == (
        "crm_v1 (connection crm_v1) answered more than 10485760 bytes, more than the gateway reads"
    )
    assert growth < 50 * MiB
    assert sent[0] < 64 * MiB


async def test_a_declared_1_gib_body_is_refused_before_reading(
    aiohttp_server: ServerFactory, aiohttp_client: ClientFactory
) -> None:
    sent = [0]

    async def declared(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 1024 * MiB
        await response.prepare(request)
        try:
            for _ in range(1024):
                await response.write(b" " * MiB)
                sent[0] += MiB
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass
        return response

    app = web.Application()
    app.router.add_get("/v1/invoices/{id}", declared)
    server = await aiohttp_server(app)
    gateway = await aiohttp_client(
        create_app(settings({"crm_v1": str(server.make_url("")).rstrip("/")}))
    )
    started = time.perf_counter()
    response = await gateway.get("/v1/connections/crm_v1/invoices/1", headers=AUTH)
    body = await problem(response, 502, "upstream_error")
    assert "answered more than 10485760 bytes" in body["detail"]
    assert time.perf_counter() - started < 5
    assert sent[0] < 64 * MiB


@pytest.mark.parametrize(
    ("payload", "content_type", "detail"),
    [
        (b"[" * 100_000, "application/json", "nested deeper than 100 levels"),
        (b'{"success": true, "data": ' * 5000 + b"{}" + b"}" * 5000, "application/json", "deeper"),
        (b'{"success": true, "data": {"inv_id": 1,}}', "application/json", "line 1, column 40"),
        (b'{"success": true, "data": {"note": "\xff\xfe"}}', "application/json", "not UTF-8"),
        (b'{"success": true, "data": {', "text/plain", "Expecting"),
    ],
)
async def test_json_the_gateway_cannot_read_is_a_502_never_a_500(
    aiohttp_server: ServerFactory,
    aiohttp_client: ClientFactory,
    payload: bytes,
    content_type: str,
    detail: str,
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=payload, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/v1/invoices/{id}", answer)
    server = await aiohttp_server(app)
    gateway = await aiohttp_client(
        create_app(settings({"crm_v1": str(server.make_url("")).rstrip("/")}))
    )
    response = await gateway.get("/v1/connections/crm_v1/invoices/1", headers=AUTH)
    body = await problem(response, 502, "upstream_error")
    assert body["detail"].startswith(
        "crm_v1 (connection crm_v1) answered JSON the gateway cannot read: "
    )
    assert detail in body["detail"]
    assert body["retryable"] is False
