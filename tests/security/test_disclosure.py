"""Nothing leaks without a key: ``/readyz`` tells anyone whether the gateway is ready, and only
an admin key which connections it serves and what its store says; the sandbox's written
configuration (it holds provider tokens) is readable by its owner only."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
from aiohttp.test_utils import TestClient

from gateway.config import Client, Settings, StoreSettings
from gateway.http.app import create_app
from gateway.http.keys import READINESS, STORE
from gateway.http.openapi import openapi_document
from gateway.sandbox import sandbox_connection
from gateway.store import StoreError
from gateway.store.migrations import LATEST
from tests.stores import sqlite_url

ADMIN = "sk_ops_0123456789abcdef"
READER = "sk_app_0123456789abcdef"
EU_ADMIN = "sk_eu_ops_0123456789abcdef"  # an admin key limited to billing-eu
SECRET_NAMES = ("billing-eu", "crm-internal")


def client(name: str, key: str, scopes: list[str], connections: tuple[str, ...] = ("*",)) -> Client:
    return Client.model_validate(
        {
            "name": name,
            "key_sha256": hashlib.sha256(key.encode()).hexdigest(),
            "connections": list(connections),
            "scopes": scopes,
        }
    )


async def gateway_with_connections(aiohttp_client: Any) -> TestClient:
    connections = [
        sandbox_connection("crm_v1", "http://127.0.0.1:9").model_copy(update={"name": name})
        for name in SECRET_NAMES
    ]
    settings = Settings(
        store=StoreSettings(url=sqlite_url()),
        clients=[
            client("ops", ADMIN, ["admin"]),
            client("app", READER, ["invoices:read"]),
            client("eu-ops", EU_ADMIN, ["admin"], connections=("billing-eu",)),
        ],
        connections=connections,
    )
    gateway: TestClient = await aiohttp_client(create_app(settings))
    return gateway


async def readyz(gateway: TestClient, key: str | None = None) -> tuple[int, Any, str]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with gateway.get("/readyz", headers=headers) as response:
        text = await response.text()
        return response.status, await response.json(), text


async def test_readyz_says_ready_to_anyone_and_nothing_more(aiohttp_client: Any) -> None:
    gateway = await gateway_with_connections(aiohttp_client)
    for key in (None, READER, "sk_not_a_key"):
        status, body, text = await readyz(gateway, key)
        assert (status, body) == (200, {"status": "ready"}), key
        assert not any(name in text for name in SECRET_NAMES)
        assert "sqlite" not in text and "schema_version" not in text


async def test_readyz_names_connections_and_store_to_an_admin_key(aiohttp_client: Any) -> None:
    gateway = await gateway_with_connections(aiohttp_client)
    status, body, _ = await readyz(gateway, ADMIN)
    assert status == 200
    assert body == {
        "status": "ready",
        "connections": sorted(SECRET_NAMES),
        "store": {"backend": "sqlite", "schema_version": LATEST, "status": "ok"},
    }


async def test_an_admin_key_limited_to_some_connections_is_told_of_those_alone(
    aiohttp_client: Any,
) -> None:
    """Such a key is refused the others with a 403 that never says they exist: /readyz listed
    every connection to it, and /metrics every connection's series."""
    gateway = await gateway_with_connections(aiohttp_client)
    status, body, text = await readyz(gateway, EU_ADMIN)
    assert (status, body["connections"]) == (200, ["billing-eu"])
    assert "crm-internal" not in text
    for key in (ADMIN, EU_ADMIN):  # a call on each connection, so that each has its series
        for name in SECRET_NAMES:
            await gateway.get(f"/v1/connections/{name}/invoices/1", headers=_bearer(key))
    every = await (await gateway.get("/metrics", headers=_bearer(ADMIN))).text()
    assert 'connection="crm-internal"' in every and 'connection="billing-eu"' in every
    limited = await gateway.get("/metrics", headers=_bearer(EU_ADMIN))
    assert limited.status == 200
    text = await limited.text()
    assert 'connection="billing-eu"' in text
    assert "crm-internal" not in text
    # Every metric is still described: only the other connections' series are left out.
    assert {line for line in every.splitlines() if line.startswith("#")} == {
        line for line in text.splitlines() if line.startswith("#")
    }


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_readyz_not_ready_says_why_to_an_admin_key_only(aiohttp_client: Any) -> None:
    gateway = await gateway_with_connections(aiohttp_client)
    store = gateway.app[STORE]

    async def down() -> dict[str, Any]:
        raise StoreError("cannot reach db.internal.example:5432 as gateway_user")

    store.ping = down  # type: ignore[method-assign]
    for key in (None, READER, "sk_not_a_key"):
        status, body, text = await readyz(gateway, key)
        assert (status, body) == (503, {"status": "not_ready"}), key
        assert "db.internal" not in text and "billing-eu" not in text
    status, body, _ = await readyz(gateway, ADMIN)
    assert status == 503
    assert body["connections"] == sorted(SECRET_NAMES)
    assert body["store"]["status"] == "unreachable"
    assert "db.internal.example" in body["store"]["detail"]


async def test_a_store_that_does_not_answer_is_said_so_to_an_admin_key(
    aiohttp_client: Any,
) -> None:
    """A timeout's own text is empty: the detail was ``""``."""
    import asyncio

    gateway = await gateway_with_connections(aiohttp_client)
    gateway.app[READINESS].wait_s = 0.05

    async def hangs() -> dict[str, Any]:
        await asyncio.sleep(10)
        return {}

    gateway.app[STORE].ping = hangs
    status, body, _ = await readyz(gateway, ADMIN)
    assert status == 503
    assert body["store"] == {
        "backend": "sqlite",
        "status": "unreachable",
        "detail": "the store gave no answer within 0.05 s",
    }


def test_a_postgresql_timeout_says_what_did_not_answer() -> None:
    """``serve`` said "PostgreSQL store at …: TimeoutError", naming neither what timed out
    nor what to look at."""
    from gateway.store.postgres import PostgresStore
    from gateway.store.urls import postgres_target

    store = PostgresStore(postgres_target("postgresql://gw:pw@db.example:5432/x"))
    said = store._scrub(TimeoutError())
    assert said == (
        "no answer within 10 s (the server is down, unreachable, or busy: held by a lock, or "
        "out of connections)"
    )
    assert store._scrub(OSError("connection refused by pw")) == "connection refused by ***"


async def test_readyz_answers_not_ready_as_its_openapi_description_says(
    aiohttp_client: Any,
) -> None:
    """The description declared the 503 a problem document (with Retry-After): a client that
    checks answers against it failed on the one answer a readiness probe watches for."""
    gateway = await gateway_with_connections(aiohttp_client)

    async def down() -> dict[str, Any]:
        raise StoreError("down")

    gateway.app[STORE].ping = down
    async with gateway.get("/readyz") as response:
        media_type, body = response.content_type, await response.json()

    document = openapi_document()
    declared = document["paths"]["/readyz"]["get"]["responses"]["503"]
    assert list(declared["content"]) == [media_type] == ["application/json"]
    schema = {**declared["content"][media_type]["schema"], "components": document["components"]}
    jsonschema.validate(body, schema)
    assert body == {"status": "not_ready"}
    assert set(declared["headers"]) == {"X-Request-ID"}  # no Retry-After is sent
    assert "Retry-After" not in response.headers and response.headers["X-Request-ID"]


async def test_a_wrong_key_on_readyz_counts_as_a_failed_authentication(
    aiohttp_client: Any,
) -> None:
    """readyz would otherwise be a free way to try keys: a wrong one counts like anywhere."""
    gateway = await gateway_with_connections(aiohttp_client)
    for _ in range(20):
        assert (await readyz(gateway, "sk_not_a_key"))[0] == 200
    async with gateway.get(
        "/v1/connections", headers={"Authorization": "Bearer sk_not_a_key"}
    ) as response:
        assert response.status == 429  # the 20 failures on /readyz used this address's allowance
    async with gateway.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"}) as response:
        text = await response.text()
    assert 'gateway_auth_failures_total{reason="invalid",throttled="false"} 20.0' in text


def _sandbox_writing(path: Path, umask: int) -> subprocess.Popen[str]:
    script = str(Path(sys.executable).with_name("invoice-gateway"))
    command = [script, "serve", "--sandbox", "--port", "0", "--seed-invoices", "1"]
    return subprocess.Popen(
        [*command, "--write-config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        umask=umask,
        start_new_session=True,
    )


def _wait_until_running(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    output = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if "sandbox is running" in line:
            return "".join(output)
    raise AssertionError("the sandbox did not start:\n" + "".join(output))


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    process.wait(20)


def test_the_sandbox_config_file_is_written_0600_whatever_the_umask(tmp_path: Path) -> None:
    fresh = tmp_path / "sandbox.yaml"
    existing = tmp_path / "existing.yaml"
    existing.write_text("# an older one\n")
    existing.chmod(0o644)
    for path, umask in ((fresh, 0o000), (existing, 0o022), (tmp_path / "strict.yaml", 0o277)):
        process = _sandbox_writing(path, umask)
        try:
            _wait_until_running(process)
            mode = stat.S_IMODE(os.stat(path).st_mode)
            assert mode == 0o600, (path.name, oct(umask), oct(mode))
            assert "sandbox-crm_v1" in path.read_text()  # it does hold the tokens
        finally:
            _stop(process)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "existing.yaml",
        "sandbox.yaml",
        "strict.yaml",
    ]  # no scratch file left beside them


async def test_readyz_asked_by_many_at_once_holds_one_store_connection(
    aiohttp_client: Any,
) -> None:
    """Anyone may ask /readyz, and each asking was a store statement of its own: 100 at once
    held up to 100 of PostgreSQL's pooled connections, the writes waiting behind them. Those
    asking while a ping is out share its answer; the next asker after it gets a fresh one."""
    import asyncio

    gateway = await gateway_with_connections(aiohttp_client)
    store = gateway.app[STORE]
    ping = store.ping
    out = most = pings = 0

    async def counted() -> dict[str, Any]:
        nonlocal out, most, pings
        out, pings = out + 1, pings + 1
        most = max(most, out)
        try:
            await asyncio.sleep(0.05)  # a store that takes its time, as a busy one does
            return await ping()
        finally:
            out -= 1

    store.ping = counted  # type: ignore[method-assign]
    answers = await asyncio.gather(*(readyz(gateway, ADMIN) for _ in range(100)))
    assert [status for status, _, _ in answers] == [200] * 100
    assert {body["store"]["backend"] for _, body, _ in answers} == {"sqlite"}
    assert most == 1
    assert pings < 10  # the 100 arrive over a few of its pings, not one each

    async def fails() -> dict[str, Any]:
        raise StoreError("the store went away")

    store.ping = fails  # type: ignore[method-assign]
    status, body, _ = await readyz(gateway, ADMIN)
    assert status == 503 and body["store"]["detail"] == "the store went away"
