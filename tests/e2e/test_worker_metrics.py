"""``/metrics`` of ``serve --workers N``: every scrape, whichever worker takes it, reports the
counts of all the workers; a killed worker's counts stay; the files behind them are private to
the run and gone when it stops."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.sandbox.serve import Sandbox
from tests.e2e.processes import GatewayProcess, gateway_process, write_config
from tests.e2e.sandbox import sandbox_in_thread
from tests.stores import sqlite_url

ADMIN = "k-metrics-admin"
CLIENTS = [
    {
        "name": "ops",
        "key_sha256": hashlib.sha256(ADMIN.encode()).hexdigest(),
        "connections": ["*"],
        "scopes": ["admin"],
    }
]
# Requests counted before the scrapes: more than any one worker takes.
K = 40


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=1) as running:
        yield running


def config(tmp_path: Path, sandbox: Sandbox) -> Path:
    path = write_config(tmp_path / "config.yaml", sandbox, store_url=sqlite_url(), clients=CLIENTS)
    data = yaml.safe_load(path.read_text())
    data["logging"] = {"level": "info", "format": "json"}  # request lines name their worker
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


async def get(url: str, key: str | None = None) -> tuple[int, str]:
    """One request on a connection of its own, so the kernel may hand it to any worker."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(url, headers=headers) as response,
    ):
        return response.status, await response.text()


class Scrape:
    """One ``/metrics`` answer, read as Prometheus reads it."""

    def __init__(self, text: str) -> None:
        self.samples = [
            sample for family in text_string_to_metric_families(text) for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        found = [
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        assert len(found) == 1, (name, labels, found)
        return found[0]

    def series(self, name: str, **labels: str) -> dict[int, float]:
        """A gauge's value in each worker (its ``pid`` label)."""
        return {
            int(s.labels["pid"]): s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        }


async def scrape(gateway: GatewayProcess) -> Scrape:
    status, text = await get(gateway.url + "/metrics", ADMIN)
    assert status == 200, text
    return Scrape(text)


def served(gateway: GatewayProcess, route: str) -> set[int]:
    """The pids of the workers whose request lines show ``route``."""
    pids = set()
    for line in list(gateway.output):
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == "request" and entry.get("route") == route:
                pids.add(entry["pid"])
    return pids


async def serving(gateway: GatewayProcess, *, gone: int | None = None) -> list[int]:
    """The two workers, once each has answered (a worker started in place of a dead one
    listens a moment after it is forked, and its gauges are written then)."""
    workers = gateway.wait_for_workers(2, gone=gone)
    for _ in range(200):
        with contextlib.suppress(aiohttp.ClientConnectionError):
            await get(gateway.url + "/readyz")
        if served(gateway, "/readyz") >= set(workers):
            return workers
        await asyncio.sleep(0.05)
    raise AssertionError(f"not every worker answered: {served(gateway, '/readyz')}, {workers}")


async def scrapes_by_every_worker(gateway: GatewayProcess, workers: list[int]) -> list[Scrape]:
    """Scrapes, each on a connection of its own, until every worker has answered some (its
    request lines show it; they are written at most half a second late)."""
    answers: list[Scrape] = []
    for _ in range(80):
        answers.append(await scrape(gateway))
        if len(answers) >= 12 and served(gateway, "/metrics") >= set(workers):
            return answers
        await asyncio.sleep(0.05)
    raise AssertionError(f"not every worker answered a scrape: {served(gateway, '/metrics')}")


def healthz_counted(answer: Scrape) -> tuple[float, float]:
    """The requests to ``/healthz`` answered 200, and the observations of their latency."""
    return (
        answer.value("gateway_requests_total", route="/healthz", method="GET", status="200"),
        answer.value("gateway_request_seconds_count", route="/healthz", method="GET", status="200"),
    )


async def test_every_scrape_reports_the_requests_of_all_workers(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    with gateway_process(config(tmp_path, sandbox), "--workers", "2") as gateway:
        workers = await serving(gateway)
        answers = await asyncio.gather(*(get(gateway.url + "/healthz") for _ in range(K)))
        assert {status for status, _ in answers} == {200}
        for answer in await scrapes_by_every_worker(gateway, workers):
            assert healthz_counted(answer) == (K, K)
            # Each live worker's own breaker (closed), one series a worker.
            circuits = answer.series("gateway_upstream_circuit_state", connection="crm_v1")
            assert circuits == {pid: 0 for pid in workers}
        assert served(gateway, "/healthz") == set(workers)  # both counted some


async def test_totals_outlive_a_killed_worker(sandbox: Sandbox, tmp_path: Path) -> None:
    with gateway_process(config(tmp_path, sandbox), "--workers", "2") as gateway:
        first = await serving(gateway)
        answers = await asyncio.gather(*(get(gateway.url + "/healthz") for _ in range(K)))
        assert {status for status, _ in answers} == {200}
        await scrape(gateway)  # counted in the next
        before = await scrape(gateway)
        assert healthz_counted(before) == (K, K)
        scraped = before.value("gateway_requests_total", route="/metrics", method="GET")

        os.kill(first[0], signal.SIGKILL)
        now = await serving(gateway, gone=first[0])
        for answer in await scrapes_by_every_worker(gateway, now):
            assert healthz_counted(answer) == (K, K)
            # Every scrape before this one is counted, the dead worker's included.
            counted = answer.value("gateway_requests_total", route="/metrics", method="GET")
            assert counted > scraped, (counted, scraped)
            scraped = counted
            # The dead worker's gauges left with it; the new one's are there.
            assert set(answer.series("gateway_auth_failure_addresses")) == set(now)


async def test_the_metric_files_are_private_to_the_run_and_removed_when_it_stops(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))  # where the gateway makes its directory
    with gateway_process(config(tmp_path, sandbox), "--workers", "2") as gateway:
        await serving(gateway)
        status, _ = await get(gateway.url + "/healthz")
        assert status == 200
        [files] = list(temporary.glob("invoice-gateway-metrics-*"))
        assert stat.S_IMODE(files.stat().st_mode) == 0o700
        assert any(path.name.startswith("counter_") for path in files.iterdir())
    assert gateway.process.returncode == 0
    assert not files.exists()

    # Started again, it counts from nothing.
    with gateway_process(config(tmp_path, sandbox), "--workers", "2") as again:
        workers = await serving(again)
        for answer in await scrapes_by_every_worker(again, workers):
            assert "/healthz" not in {s.labels.get("route") for s in answer.samples}
    assert list(temporary.glob("invoice-gateway-metrics-*")) == []


async def test_a_hangup_stops_the_gateway_as_sigterm_does_and_removes_its_files(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGHUP (the terminal that started it closed) to the supervisor alone: it stops its
    workers and removes its metrics directory, exit status 0, as on SIGTERM."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    with gateway_process(config(tmp_path, sandbox), "--workers", "2") as gateway:
        workers = await serving(gateway)
        assert len(list(temporary.glob("invoice-gateway-metrics-*"))) == 1
        os.kill(gateway.process.pid, signal.SIGHUP)
        assert gateway.process.wait(20) == 0
        assert [pid for pid in workers if _gone(pid)] == workers
    assert list(temporary.glob("invoice-gateway-metrics-*")) == []


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()
