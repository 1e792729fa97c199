"""Stopping a gateway at the awkward moments an operator meets: while it is still starting,
with a second Ctrl-C close behind the first, and with a store that fails between the check
before it listens and the app's own opening. Real processes, real signals."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from gateway.sandbox.serve import Sandbox
from gateway.store.postgres_database import _lock_id
from tests.contract.profiles.load import profile
from tests.e2e.processes import start_gateway, write_config
from tests.e2e.sandbox import sandbox_in_thread
from tests.stores import POSTGRES, sqlite_url

KEY = "k-stopping"
CLIENTS = [
    {
        "name": "ops",
        "key_sha256": hashlib.sha256(KEY.encode()).hexdigest(),
        "connections": ["*"],
        "scopes": ["admin"],
    }
]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=2) as running:
        yield running


def _serve(*args: str) -> subprocess.Popen[str]:
    """``invoice-gateway serve --port 0 …`` in a process group of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


async def _waiting_for_the_lock(schema: str, within: float = 30) -> None:
    """Until a session waits for the store's migration lock of ``schema`` (the gateway is
    starting, its store check held there)."""
    con = await asyncpg.connect(POSTGRES)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            waiting = await con.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            if waiting:
                return
            await asyncio.sleep(0.05)
    finally:
        await con.close()
    raise AssertionError(f"no gateway waited for the lock of schema {schema}")


@pytest.mark.parametrize(
    ("workers", "again"), [("1", None), ("2", None), ("1", 0.001), ("2", 0.03)]
)
async def test_a_gateway_told_to_stop_while_it_waits_for_its_store_stops_with_status_0(
    sandbox: Sandbox, tmp_path: Path, workers: str, again: float | None
) -> None:
    """The handlers were set once the store was open: a SIGTERM while the store check waited
    (for another instance's migration, which may hold the lock for an hour) killed it, status
    -15, nothing said. Now the wait ends there: one line, status 0, nothing started. A second
    signal close behind (``again`` s) changes nothing: it cut into the store's clean-up (an
    asyncio error line) or, once the line was said, killed the process (status -15)."""
    schema = f"t_stop_{os.getpid()}_{workers}_{again is not None}"
    config = write_config(
        tmp_path / "config.yaml",
        sandbox,
        store_url=f"{POSTGRES}?schema={schema}",
        clients=CLIENTS,
    )
    holder = await asyncpg.connect(POSTGRES)
    try:
        await holder.execute(
            "SELECT pg_advisory_lock($1)", _lock_id(f"invoice-gateway migrations {schema}")
        )
        gateway = _serve("--config", str(config), "--workers", workers)
        try:
            await _waiting_for_the_lock(schema)
            os.killpg(gateway.pid, signal.SIGTERM)
            if again is not None:
                await asyncio.sleep(again)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(gateway.pid, signal.SIGINT)
            status = await asyncio.to_thread(gateway.wait, 15)  # the lock still held
        finally:
            await holder.execute("SELECT pg_advisory_unlock_all()")
        output = gateway.stdout.read() if gateway.stdout else ""
        assert status == 0, output
        assert output.strip() == "invoice-gateway serve: stopped while it waited for its store"
    finally:
        await holder.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await holder.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=str)
def test_a_gateway_told_to_stop_while_its_modules_load_stops_with_status_0(
    sandbox: Sandbox, tmp_path: Path, sig: int
) -> None:
    """The stop signals were recorded once ``serve`` had loaded the modules it runs on, half
    a second in: a SIGTERM before that killed it (status 143, nothing said), a SIGINT said
    "interrupted" (130), a SIGHUP killed it (129). They are recorded from its first step: the
    signal, sent as soon as the process catches SIGTERM, lands while its modules load, and the
    gateway stops there, status 0, saying so (operations.md)."""
    config = write_config(
        tmp_path / "config.yaml", sandbox, store_url=sqlite_url(), clients=CLIENTS
    )
    gateway = _serve("--config", str(config))
    deadline = time.monotonic() + 30
    while not _catches(gateway.pid, signal.SIGTERM):
        assert gateway.poll() is None and time.monotonic() < deadline, "it never took SIGTERM"
        time.sleep(0.002)
    os.kill(gateway.pid, sig)
    status = gateway.wait(30)
    output = gateway.stdout.read() if gateway.stdout else ""
    assert status == 0, output
    assert output.strip() == "invoice-gateway serve: stopped while it was starting", output


def _catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler of its own for ``signum`` (its ``SigCgt`` mask)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signum - 1)))
    return False


@pytest.mark.parametrize("apart", [0.02, 0.05, 0.1])
def test_a_second_ctrl_c_close_behind_the_first_leaves_workers_stopping_with_status_0(
    sandbox: Sandbox, tmp_path: Path, apart: float
) -> None:
    """Python put the supervisor's handler back to the default as it finalized: a second
    signal then killed it (status 130 or 143), after its workers had stopped."""
    config = write_config(
        tmp_path / "config.yaml", sandbox, store_url=sqlite_url(), clients=CLIENTS
    )
    gateway = start_gateway(config, "--workers", "2")
    gateway.wait_for_workers(2)
    os.killpg(gateway.process.pid, signal.SIGINT)
    time.sleep(apart)
    os.killpg(gateway.process.pid, signal.SIGINT)
    assert gateway.process.wait(30) == 0, "".join(gateway.output)


@pytest.mark.parametrize("apart", [0.02, 0.05, 0.1])
def test_a_second_ctrl_c_close_behind_the_first_leaves_the_sandbox_stopping_with_status_0(
    apart: float,
) -> None:
    sandbox = _serve("--sandbox", "--seed-invoices", "1")
    assert sandbox.stdout is not None
    said = []
    for line in sandbox.stdout:
        said.append(line)
        if "is running" in line:
            break
    else:
        raise AssertionError("the sandbox did not start: " + "".join(said))
    os.killpg(sandbox.pid, signal.SIGINT)
    time.sleep(apart)
    os.killpg(sandbox.pid, signal.SIGINT)
    assert sandbox.wait(30) == 0, "".join(said) + sandbox.stdout.read()


def test_one_process_whose_store_fails_to_open_says_why_in_one_line_not_listening(
    tmp_path: Path,
) -> None:
    """It said it listened before its app opened the store: a store that failed in between
    (a failover) ended it with a traceback, status 1, the requests waiting on its port
    dropped. ``serve`` itself, past ``cli``'s check, is given a store that cannot open."""
    script = (
        "import socket, sys\n"
        "from gateway.config import Settings, StoreSettings\n"
        "from gateway.workers import serve\n"
        "sock = socket.socket(); sock.bind(('127.0.0.1', 0))\n"
        f"settings = Settings(store=StoreSettings(url='sqlite:///{tmp_path}/no-such/x.db'))\n"
        "code = serve(settings, sock, 1, lambda: print('listening', flush=True))\n"
        "sys.exit(code)\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "listening" not in ran.stdout
    [line] = ran.stderr.strip().splitlines()
    assert line.startswith("invoice-gateway serve: SQLite store ")
    assert "does not exist; create it first" in line


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_body_still_arriving_when_the_gateway_stops_is_told_at_once_to_send_it_again(
    sandbox: Sandbox, tmp_path: Path, workers: str
) -> None:
    """Stopping, aiohttp reads no more bytes from a connection: a request whose body was still
    arriving waited for the rest, which came and was dropped, until body_timeout_s (a minute),
    then a 408 saying it had not arrived in time; the stop waited as long. It is told at once,
    nothing done (the provider was never called), and the gateway stops with status 0."""
    config = write_config(
        tmp_path / "config.yaml", sandbox, store_url=sqlite_url(), clients=CLIENTS
    )
    gateway = start_gateway(config, "--workers", workers)
    host, port = gateway.url.removeprefix("http://").rsplit(":", 1)
    body = json.dumps(profile("draft_publish").sample(0).model_dump(mode="json")).encode()
    head = (
        f"POST /v1/connections/draft_publish/invoices HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
        f"Idempotency-Key: arriving-{workers}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    created_before = _emulator_invoices(sandbox)
    try:
        with socket.create_connection((host, int(port)), timeout=20) as sock:
            sock.sendall(head + body[:10])
            time.sleep(0.5)  # the head read, the body's wait begun
            started = time.monotonic()
            os.killpg(gateway.process.pid, signal.SIGTERM)
            time.sleep(0.5)
            with contextlib.suppress(OSError):  # the gateway may have closed its side
                sock.sendall(body[10:])
            answer = _whole_answer(sock)
            took = time.monotonic() - started
        status = gateway.process.wait(20)
    finally:
        if gateway.process.poll() is None:
            gateway.kill(signal.SIGKILL)
    head_line, _, rest = answer.partition(b"\r\n")
    problem = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert head_line == b"HTTP/1.1 408 Request Timeout", "".join(gateway.output)
    assert problem["detail"] == (
        "The gateway is stopping and reads no more of a request's body; this one had not "
        "arrived whole, and nothing was done with it: send it again."
    )
    assert problem["retryable"] is True
    assert took < 10, took  # not body_timeout_s (60 s)
    assert status == 0, "".join(gateway.output)
    assert _emulator_invoices(sandbox) == created_before


def _whole_answer(sock: socket.socket) -> bytes:
    """What the gateway answers, read until it closes the connection."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def _emulator_invoices(sandbox: Sandbox) -> list[tuple[str, str]]:
    """Every call but a read the draft_publish emulator has logged: (method, path)."""
    log = sandbox.emulator_urls["draft_publish"] + "/_emulator/requests"
    with urllib.request.urlopen(log, timeout=10) as response:
        entries = json.loads(response.read())["requests"]
    return [(e["method"], e["path"]) for e in entries if e["method"] != "GET"]
