"""Real gateway processes, killed with real signals: the write they were doing still happens
exactly once. The emulators run in this test process and outlive every gateway."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import profile
from tests.e2e.processes import gateway_process, start_gateway, write_config
from tests.e2e.sandbox import sandbox_in_thread
from tests.stores import postgres_url, sqlite_url

KEY = "k-crash"
CLIENTS = [
    {
        "name": "sync",
        "key_sha256": hashlib.sha256(KEY.encode()).hexdigest(),
        "connections": ["*"],
        "scopes": ["invoices:read", "invoices:write"],
    }
]
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=2) as running:
        yield running


async def emulator(
    sandbox: Sandbox, provider: str, method: str, path: str, body: Any = None
) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, sandbox.emulator_urls[provider] + path, json=body) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.json()


async def creates_with(sandbox: Sandbox, key: str) -> list[dict[str, Any]]:
    """The create calls that reached crm_v1 carrying ``key``."""
    log = (await emulator(sandbox, "crm_v1", "GET", "/_emulator/requests"))["requests"]
    return [
        e
        for e in log
        if e["method"] == "POST"
        and e["path"] == "/v1/invoices"
        and e["headers"].get("Idempotency-Key") == key
    ]


async def invoice_ids(sandbox: Sandbox) -> set[str]:
    """crm_v1's invoices, read through the sandbox's own gateway."""
    ids: set[str] = set()
    async with aiohttp.ClientSession() as session:
        url = f"{sandbox.gateway_url}/v1/connections/crm_v1/invoices?limit=100"
        headers = {"Authorization": f"Bearer {sandbox.api_key}"}
        async with session.get(url, headers=headers) as response:
            page = await response.json()
    assert not page["has_more"]
    ids |= {invoice["id"] for invoice in page["data"]}
    return ids


def body() -> dict[str, Any]:
    invoice: dict[str, Any] = profile("crm_v1").sample(0).model_dump(mode="json", exclude_none=True)
    return invoice


async def post(url: str, key: str, payload: Any, *, wait: float = 30) -> tuple[int, Any, Any]:
    headers = {**AUTH, "Idempotency-Key": key}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=wait)) as session,
        session.post(url + "/v1/connections/crm_v1/invoices", json=payload, headers=headers) as r,
    ):
        return r.status, await r.json(), r.headers


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
async def test_a_gateway_killed_between_the_providers_commit_and_its_answer(
    sandbox: Sandbox, tmp_path: Path, store: str
) -> None:
    url = sqlite_url() if store == "sqlite" else postgres_url()
    config = write_config(tmp_path / "config.yaml", sandbox, store_url=url, clients=CLIENTS)
    before = await invoice_ids(sandbox)
    key = "crash-" + uuid.uuid4().hex
    # The provider stores the create, then never answers: the gateway waits (timeout_s 10).
    await emulator(
        sandbox,
        "crm_v1",
        "POST",
        "/_emulator/faults",
        {
            "timeout_rate": 1,
            "after_commit": True,
            "methods": ["POST"],
            "path_regex": "^/v1/invoices$",
        },
    )
    first = start_gateway(config)
    try:
        waiting = asyncio.create_task(post(first.url, key, body()))
        for _ in range(100):  # until the provider has committed the create
            if await creates_with(sandbox, key):
                break
            await asyncio.sleep(0.05)
        assert len(await creates_with(sandbox, key)) == 1
        await asyncio.sleep(0.2)
        assert (await invoice_ids(sandbox)) - before, "the provider did not commit the create"
        first.kill(signal.SIGKILL)
        with pytest.raises(aiohttp.ClientError):
            await waiting
    finally:
        first.kill(signal.SIGKILL)
        await emulator(sandbox, "crm_v1", "DELETE", "/_emulator/faults")
    made = (await invoice_ids(sandbox)) - before
    assert len(made) == 1
    with gateway_process(config) as second:
        deadline = time.monotonic() + 15
        statuses = []
        while True:
            status, answer, headers = await post(second.url, key, body())
            statuses.append(status)
            if status != 409:
                break
            assert answer["code"] == "idempotency_in_progress"
            assert int(headers["Retry-After"]) >= 1
            assert time.monotonic() < deadline, statuses
            await asyncio.sleep(0.5)
        assert status == 201, answer
        assert {answer["id"]} == made
        replay_status, replayed, replay_headers = await post(second.url, key, body())
    assert (replay_status, replayed["id"]) == (201, answer["id"])
    assert replay_headers["Idempotent-Replayed"] == "true"
    assert len(await creates_with(sandbox, key)) == 1  # the retry sent nothing
    assert (await invoice_ids(sandbox)) - before == made


async def test_two_gateway_processes_on_one_postgresql_store_race_one_key(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "config.yaml", sandbox, store_url=postgres_url(), clients=CLIENTS
    )
    before = await invoice_ids(sandbox)
    await emulator(
        sandbox, "crm_v1", "POST", "/_emulator/faults", {"latency_ms": 700, "methods": ["POST"]}
    )
    key = "race-" + uuid.uuid4().hex
    try:
        with gateway_process(config) as one, gateway_process(config) as two:
            answers = await asyncio.gather(
                *(post(gateway.url, key, body()) for gateway in (one, two, one, two))
            )
            statuses = sorted(status for status, _, _ in answers)
            assert statuses == [201, 409, 409, 409], answers
            winner = next(answer for status, answer, _ in answers if status == 201)
            await asyncio.sleep(0.8)
            for gateway in (one, two):
                status, again, headers = await post(gateway.url, key, body())
                assert (status, again["id"]) == (201, winner["id"])
                assert headers["Idempotent-Replayed"] == "true"
    finally:
        await emulator(sandbox, "crm_v1", "DELETE", "/_emulator/faults")
    assert len(await creates_with(sandbox, key)) == 1
    assert (await invoice_ids(sandbox)) - before == {winner["id"]}
