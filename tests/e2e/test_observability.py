"""Request logs and metrics, as an operator reads them."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from gateway.config import Client, LoggingSettings, Settings, StoreSettings
from gateway.http.app import create_app
from gateway.logging_setup import configure_logging
from gateway.sandbox import sandbox_connection
from gateway.sandbox.serve import Sandbox
from gateway.store.migrations import LATEST
from tests.e2e.sandbox import sandbox_in_thread
from tests.stores import sqlite_url


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=3) as running:
        yield running


def client(name: str, key: str, scopes: list[str]) -> Client:
    return Client.model_validate(
        {
            "name": name,
            "key_sha256": hashlib.sha256(key.encode()).hexdigest(),
            "connections": ["*"],
            "scopes": scopes,
        }
    )


def settings(sandbox: Sandbox) -> Settings:
    return Settings(
        store=StoreSettings(url=sqlite_url()),
        clients=[client("ops", "k-ops", ["admin"]), client("app", "k-app", ["invoices:read"])],
        connections=[sandbox_connection("crm_v1", sandbox.emulator_urls["crm_v1"])],
    )


def json_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The JSON log lines written to stdout since the last read."""
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.fixture
async def gateway(sandbox: Sandbox, aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(settings(sandbox)))


async def test_metrics_need_admin_and_count_requests_and_provider_calls(gateway: Any) -> None:
    assert (await gateway.get("/metrics", headers={"Authorization": "Bearer k-app"})).status == 403
    read = await gateway.get(
        "/v1/connections/crm_v1/invoices/1", headers={"Authorization": "Bearer k-app"}
    )
    assert read.status == 200
    response = await gateway.get("/metrics", headers={"Authorization": "Bearer k-ops"})
    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    route = "/v1/connections/{connection}/invoices/{invoice_id}"
    assert f'gateway_requests_total{{method="GET",route="{route}",status="200"}} 1.0' in text
    assert (
        'gateway_upstream_calls_total{connection="crm_v1",outcome="200",provider="crm_v1"} 1.0'
        in text
    )
    assert (
        'gateway_request_seconds_count{method="GET",route="' + route + '",status="200"} 1.0' in text
    )


async def test_apps_in_one_process_count_apart(sandbox: Sandbox, aiohttp_client: Any) -> None:
    """Without ``--workers`` an app keeps its own counts in memory: two apps in one process
    share none, and the gauges are read at the scrape, with no ``pid`` label."""
    first = await aiohttp_client(create_app(settings(sandbox)))
    second = await aiohttp_client(create_app(settings(sandbox)))
    for gateway, requests in ((first, 3), (second, 1)):
        for _ in range(requests):
            assert (await gateway.get("/healthz")).status == 200
    for gateway, counted in ((first, 3), (second, 1)):
        response = await gateway.get("/metrics", headers={"Authorization": "Bearer k-ops"})
        text = await response.text()
        assert (
            f'gateway_requests_total{{method="GET",route="/healthz",status="200"}} {counted}.0'
            in text
        )
        assert 'gateway_upstream_circuit_state{connection="crm_v1"} 0.0' in text
        assert "gateway_auth_failure_addresses 0.0" in text
        assert "pid=" not in text
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


async def test_one_json_log_line_per_request_with_the_promised_fields(
    gateway: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(LoggingSettings(level="info", format="json"))
    try:
        capsys.readouterr()
        headers = {"Authorization": "Bearer k-app", "X-Request-ID": "req-log-1"}
        await gateway.get("/v1/connections/crm_v1/invoices/2", headers=headers)
        across = {"Authorization": "Bearer k-app", "X-Request-ID": "req-log-2"}
        listed = await gateway.get("/v1/invoices?connection=crm_v1&limit=1", headers=across)
        assert listed.status == 200, await listed.text()
        lines = json_lines(capsys)
    finally:
        structlog.reset_defaults()
    [entry, fanned] = [line for line in lines if line.get("event") == "request"]
    # A list across connections names the connections it read.
    assert (fanned["request_id"], fanned["route"]) == ("req-log-2", "/v1/invoices")
    assert fanned["connection"] == "crm_v1"
    assert entry["request_id"] == "req-log-1"
    assert entry["client"] == "app"
    assert entry["connection"] == "crm_v1"
    assert entry["route"] == "/v1/connections/{connection}/invoices/{invoice_id}"
    assert entry["status"] == 200
    assert entry["upstream_calls"] == 1 and entry["upstream_retries"] == 0
    assert entry["latency_ms"] > 0
    assert "k-app" not in json.dumps(lines) and "sandbox-crm_v1" not in json.dumps(lines)


async def test_a_request_its_key_may_not_make_names_the_keys_client_in_its_log_line(
    sandbox: Sandbox, aiohttp_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused for its key's scope (403) or rate limit (429), a request is still that client's:
    its log line names it, or an operator cannot tell whose calls are being refused. So does a
    public route that reads the key. A key not known names no client."""
    limited = Client.model_validate(
        {
            **client("slow", "k-slow", ["invoices:read"]).model_dump(),
            "rate_limit": {"per_second": 0.01, "burst": 1},
        }
    )
    config = settings(sandbox)
    config = config.model_copy(update={"clients": [*config.clients, limited]})
    gateway = await aiohttp_client(create_app(config))
    configure_logging(LoggingSettings(level="info", format="json"))
    try:
        capsys.readouterr()
        sent = [
            ("k-slow", "/v1/connections"),
            ("k-slow", "/v1/connections"),
            ("k-app", "/metrics"),
            ("k-unknown", "/v1/connections"),
            ("k-ops", "/readyz"),  # public, and what the key's client may see told
        ]
        statuses = []
        for key, path in sent:
            answer = await gateway.get(path, headers={"Authorization": f"Bearer {key}"})
            statuses.append(answer.status)
        lines = json_lines(capsys)
    finally:
        structlog.reset_defaults()
    logged = [(line["status"], line["client"]) for line in lines if line.get("event") == "request"]
    assert statuses == [200, 429, 403, 401, 200]
    assert logged == [(200, "slow"), (429, "slow"), (403, "app"), (401, None), (200, "ops")]


@pytest.mark.parametrize("format", ["json", "console"])
async def test_a_connection_segment_that_would_break_a_log_line_is_written_escaped(
    gateway: Any, capsys: pytest.CaptureFixture[str], format: str
) -> None:
    """The path's ``{connection}``, a caller's before any key is checked, went into the request
    line as it was: an escape sequence, U+2028 or NEL (which a JSON line keeps raw) broke the
    line for a reader that splits on them, or coloured a terminal. Written escaped."""
    configure_logging(LoggingSettings(level="info", format=format))
    try:
        capsys.readouterr()
        answer = await gateway.get("/v1/connections/x%1B%5B31mRED%0BF%E2%80%A8L%C2%85/invoices")
        assert answer.status == 401
        out = capsys.readouterr().out
    finally:
        structlog.reset_defaults()
    lines = [line for line in out.splitlines() if "request" in line]
    assert len(lines) == 1, out  # one line, whatever splits it
    assert not any(c in out for c in "\x1b\x0b\u2028\x85"), out
    assert "x\\x1b[31mRED\\x0bF\\u2028L\\x85" in lines[0].replace("\\\\", "\\"), lines[0]


async def test_a_caller_who_hangs_up_while_the_provider_answers_is_counted_499(
    sandbox: Sandbox,
) -> None:
    """``serve`` runs a handler to its end when its caller leaves (no cancellation): one who
    hung up while the provider took its time was logged and counted as a 200 it never got."""
    import asyncio

    import aiohttp
    from aiohttp import web

    faults = sandbox.emulator_urls["crm_v1"] + "/_emulator/faults"
    runner = web.AppRunner(create_app(settings(sandbox)), handler_cancellation=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            await (await session.post(faults, json={"latency_ms": 600})).read()
            before = await _reads_of_invoice_1(session, sandbox.emulator_urls["crm_v1"])
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"GET /v1/connections/crm_v1/invoices/1 HTTP/1.1\r\nHost: gateway\r\n"
                b"Authorization: Bearer k-app\r\n\r\n"
            )
            await writer.drain()
            await _until_the_provider_has_it(session, sandbox.emulator_urls["crm_v1"], before)
            writer.close()  # hung up while the provider takes its time
            read: list[str] = []
            for _ in range(100):  # until the handler has ended and counted it
                metrics = await session.get(
                    f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer k-ops"}
                )
                read = [
                    line
                    for line in (await metrics.text()).splitlines()
                    if line.startswith("gateway_requests_total{")
                    and "/v1/connections/{connection}/invoices/{invoice_id}" in line
                ]
                if read:
                    break
                await asyncio.sleep(0.05)
            await (await session.post(faults, json={})).read()
    finally:
        await runner.cleanup()
    assert len(read) == 1 and 'status="499"' in read[0], read


async def _reads_of_invoice_1(session: Any, emulator: str) -> int:
    async with session.get(emulator + "/_emulator/requests") as answer:
        log = (await answer.json())["requests"]
    return sum(1 for entry in log if entry["path"].endswith("/invoices/1"))


async def _until_the_provider_has_it(session: Any, emulator: str, before: int) -> None:
    """Until the emulator has logged one more read of invoice 1 than ``before`` (the provider
    is working on it)."""
    import asyncio

    for _ in range(200):
        if await _reads_of_invoice_1(session, emulator) > before:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the read never reached the provider")


async def test_the_request_id_travels_to_the_provider(gateway: Any, sandbox: Sandbox) -> None:
    import aiohttp

    await gateway.get(
        "/v1/connections/crm_v1/invoices/3",
        headers={"Authorization": "Bearer k-app", "X-Request-ID": "req-upstream-7"},
    )
    async with (
        aiohttp.ClientSession() as session,
        session.get(sandbox.emulator_urls["crm_v1"] + "/_emulator/requests") as response,
    ):
        log = (await response.json())["requests"]
    assert any(entry["headers"].get("X-Request-ID") == "req-upstream-7" for entry in log)


async def test_readyz_names_the_connections_and_the_store_to_an_admin_key(gateway: Any) -> None:
    response = await gateway.get("/readyz", headers={"Authorization": "Bearer k-ops"})
    assert response.status == 200
    assert await response.json() == {
        "status": "ready",
        "connections": ["crm_v1"],
        "store": {"backend": "sqlite", "schema_version": LATEST, "status": "ok"},
    }
    # Anyone else learns that it is ready, and nothing more (tests/security/test_disclosure.py).
    for headers in ({}, {"Authorization": "Bearer k-app"}):
        response = await gateway.get("/readyz", headers=headers)
        assert (response.status, await response.json()) == (200, {"status": "ready"})
