"""``serve --workers N``: several processes on one port and one store; cursors that every
worker honours, and that outlive a restart when ``server.cursor_secret`` is set."""

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
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from gateway.sandbox.serve import Sandbox
from tests.e2e.processes import GatewayProcess, gateway_process, start_gateway, write_config
from tests.e2e.sandbox import sandbox_in_thread
from tests.stores import sqlite_url

KEY = "k-workers"
CLIENTS = [
    {
        "name": "ops",
        "key_sha256": hashlib.sha256(KEY.encode()).hexdigest(),
        "connections": ["*"],
        "scopes": ["invoices:read", "invoices:write"],
    }
]
SEEDED = 12


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=SEEDED) as running:
        yield running


def config(tmp_path: Path, sandbox: Sandbox, **server: Any) -> Path:
    path = write_config(tmp_path / "config.yaml", sandbox, store_url=sqlite_url(), clients=CLIENTS)
    data = yaml.safe_load(path.read_text())
    data["logging"] = {"level": "info", "format": "json"}
    if server:
        data["server"] = server
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


async def get(url: str) -> tuple[int, Any]:
    """One request on a connection of its own, so the kernel may hand it to any worker."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(url, headers={"Authorization": f"Bearer {KEY}"}) as response,
    ):
        return response.status, await response.json()


async def walk(base: str, limit: int = 1) -> list[str]:
    ids: list[str] = []
    path = f"/v1/connections/crm_v1/invoices?limit={limit}"
    for _ in range(SEEDED + 2):
        status, page = await get(base + path)
        assert status == 200, page
        ids += [invoice["id"] for invoice in page["data"]]
        if not page["has_more"]:
            return ids
        path = f"/v1/connections/crm_v1/invoices?limit={limit}&cursor={page['next_cursor']}"
    raise AssertionError("the walk did not end")


def pids_serving(gateway: GatewayProcess) -> set[int]:
    pids = set()
    for line in list(gateway.output):
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == "request" and entry.get("route", "").startswith("/v1/"):
                pids.add(entry["pid"])
    return pids


async def served_by(gateway: GatewayProcess, *, at_least: int) -> set[int]:
    """The pids in the request lines, once ``at_least`` have shown (log lines are written in
    batches, at most half a second after the request), or after 5 s."""
    for _ in range(50):
        served = pids_serving(gateway)
        if len(served) >= at_least:
            break
        await asyncio.sleep(0.1)
    return served


async def test_workers_share_the_port_and_honour_each_others_cursors(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    with gateway_process(config(tmp_path, sandbox), "--workers", "3") as gateway:
        assert "(3 workers)" in gateway.output[0]
        workers = gateway.wait_for_workers(3)
        ids = await walk(gateway.url)
        assert sorted(ids, key=int) == [str(n) for n in range(1, SEEDED + 1)]
        # A burst on connections of their own: more than one worker takes them.
        burst = [get(gateway.url + "/v1/connections/crm_v1/invoices?limit=5") for _ in range(40)]
        assert {status for status, _ in await asyncio.gather(*burst)} == {200}
        served = await served_by(gateway, at_least=2)
        assert len(served) >= 2 and served <= set(workers), (served, workers)


async def test_a_dead_worker_is_replaced_and_the_port_keeps_answering(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    with gateway_process(config(tmp_path, sandbox), "--workers", "2") as gateway:
        first = gateway.wait_for_workers(2)
        os.kill(first[0], signal.SIGKILL)
        now = gateway.wait_for_workers(2, gone=first[0])
        assert first[1] in now
        answers = [await get(gateway.url + "/v1/connections/crm_v1/invoices/1") for _ in range(8)]
        assert {status for status, _ in answers} == {200}
        # Said in the log too (JSON, for what collects it), not only as stderr's plain line.
        events = [json.loads(line) for line in gateway.output if line.startswith("{")]
        replaced = [e for e in events if e["event"] == "worker_replaced"]
        assert [(e["worker"], e["level"]) for e in replaced] == [(first[0], "warning")]
        assert replaced[0]["exit"] == f"signal {signal.SIGKILL.value}"


def listeners(port: int) -> int:
    """How many sockets listen on ``port`` (IPv4, this machine), from ``/proc/net/tcp``."""
    count = 0
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = row.split()[1], row.split()[3]
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
            count += 1
    return count


def test_the_gateway_says_it_listens_once_every_worker_listens(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A client told the port (a deploy script waiting for the line) is never refused: the
    line comes once each worker's socket listens, not when the workers are only started."""
    with gateway_process(config(tmp_path, sandbox), "--workers", "3") as gateway:
        port = int(gateway.url.rsplit(":", 1)[1])
        assert listeners(port) == 3
        for _ in range(12):  # connections of their own, spread over the workers
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass


@contextmanager
def first_connection_only(port: int) -> Iterator[int]:
    """A TCP proxy to ``127.0.0.1:port`` that passes its first connection and closes every
    later one at once: a store the supervisor's check reaches and its workers do not."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def serve() -> None:
        first = True
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if not first:
                client.close()
                continue
            first = False
            upstream = socket.create_connection(("127.0.0.1", port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def test_workers_that_cannot_start_are_said_so_and_the_gateway_exits_2(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The supervisor's check reaches the store, its workers do not: no "listening" line (a
    client waiting for it would be refused), no workers started again for ever, but the
    workers' errors and one line saying the gateway stops, with exit status 2."""
    with first_connection_only(5432) as port:
        path = config(tmp_path, sandbox)
        data = yaml.safe_load(path.read_text())
        schema = f"t_{uuid.uuid4().hex[:16]}"
        data["store"]["url"] = f"postgresql://postgres@127.0.0.1:{port}/test?schema={schema}"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        command = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)]
        done = subprocess.run(
            [*command, "--port", "0", "--workers", "2"],
            capture_output=True,
            text=True,
            timeout=60,
            start_new_session=True,
        )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "listening" not in done.stdout
    assert "workers exited before they could serve" in done.stderr
    # Each worker's error is one log line, as the gateway's logs are, not a traceback.
    failed = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    said = [line["error"] for line in failed if line["event"] == "worker_could_not_start"]
    assert len(said) >= 3 and all("cannot connect" in error for error in said), done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_workers_stop_when_their_supervisor_is_killed_outright(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL of the supervisor (as the OOM killer does): no handler runs, yet its workers
    stop within a few seconds instead of serving an old configuration on a port that a
    restarted gateway then cannot take."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # its metrics directory is left behind
    with gateway_process(config(tmp_path, sandbox), "--workers", "2") as gateway:
        workers = gateway.wait_for_workers(2)
        os.kill(gateway.process.pid, signal.SIGKILL)
        gateway.process.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), workers
        # Each worker's last line is in the pipe by now, but the thread reading it may not have
        # taken it yet (a CI run once saw one of the two lines only).
        # And each says so in the log (JSON, for what collects it), with its pid.
        while True:
            said = "".join(gateway.output)
            logged = [json.loads(line) for line in list(gateway.output) if line.startswith("{")]
            gone = {e["pid"] for e in logged if e["event"] == "supervisor_gone"}
            if all(f"worker {pid}: its supervisor" in said for pid in workers) and gone == set(
                workers
            ):
                break
            assert time.monotonic() < deadline + 5, said
            time.sleep(0.05)
        # The port is free again for a restarted gateway (a listener there would refuse this).
        port = int(gateway.url.rsplit(":", 1)[1])
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
            probe.listen()


def test_workers_stop_when_their_supervisor_is_killed_with_the_reader_of_their_output(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve --workers 2 2>&1 | logger``, the whole pipeline killed: each worker's saying
    that its supervisor is gone met a pipe with no reader (BrokenPipeError), and it went on
    serving, holding the port, for good."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # its metrics directory is left behind
    command = [sys.executable, "-m", "gateway.cli", "serve", "--config"]
    process = subprocess.Popen(
        [*command, str(config(tmp_path, sandbox)), "--port", "0", "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    running = GatewayProcess(process, "")
    try:
        while "listening on" not in (line := process.stdout.readline()):
            assert line, "the gateway did not start"
        port = int(line.split("listening on ", 1)[1].split()[0].rsplit(":", 1)[1])
        workers = running.wait_for_workers(2)
        process.stdout.close()  # the reader of their output goes, with the supervisor
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), workers
        with socket.socket() as probe:  # the port is free for a restarted gateway
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
            probe.listen()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by init, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


async def test_cursors_survive_a_restart_only_with_a_configured_secret(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = "/v1/connections/crm_v1/invoices?limit=2"
    secret = config(tmp_path, sandbox, cursor_secret="s" * 40)
    with gateway_process(secret) as first:
        _, page = await get(first.url + path)
    with gateway_process(secret) as second:
        status, following = await get(second.url + f"{path}&cursor={page['next_cursor']}")
    assert status == 200, following
    assert [i["id"] for i in following["data"]] == ["3", "4"]
    plain = config(tmp_path, sandbox)
    with gateway_process(plain) as first:
        _, page = await get(first.url + path)
    with gateway_process(plain) as second:
        status, refused = await get(second.url + f"{path}&cursor={page['next_cursor']}")
    assert status == 400 and refused["code"] == "bad_request"
    # What the operator can do about it is said: the restart, and the setting that survives it.
    assert "restarted without a server.cursor_secret" in refused["detail"], refused


@pytest.mark.parametrize("workers", [(), ("--workers", "2")], ids=["one process", "workers"])
async def test_log_lines_still_waiting_are_written_when_the_gateway_stops(
    sandbox: Sandbox, tmp_path: Path, workers: tuple[str, ...]
) -> None:
    """``serve`` writes its log lines in batches, up to half a second late: stopped at once
    after a request, a single process (at exit) and a worker (before ``os._exit``) still write
    that request's line."""
    request_id = f"stop-{os.getpid()}-{len(workers)}"
    with gateway_process(config(tmp_path, sandbox), *workers) as gateway:
        if workers:
            gateway.wait_for_workers(2)
        headers = {"Authorization": f"Bearer {KEY}", "X-Request-ID": request_id}
        async with (
            aiohttp.ClientSession() as session,
            session.get(gateway.url + "/v1/connections/crm_v1/invoices/1", headers=headers) as r,
        ):
            assert r.status == 200
        gateway.kill(signal.SIGTERM)  # well within the half second the line may wait
        # The output is read by a thread: let it reach the end (on a loaded machine a worker's
        # last lines can come a few seconds after the signal; lost lines fail after 10 s).
        for _ in range(200):
            if any(request_id in line for line in gateway.output):
                break
            await asyncio.sleep(0.05)
    [line] = [json.loads(line) for line in gateway.output if request_id in line]
    assert line["event"] == "request" and line["status"] == 200


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_a_hangup_of_the_whole_group_stops_the_gateway_as_sigterm_does(
    sandbox: Sandbox, tmp_path: Path, workers: str
) -> None:
    """The terminal that started it closes: SIGHUP to every process of the group. The gateway
    stops as on SIGTERM: a request in flight (the provider taking a second) is answered, and
    the gateway exits 0; no worker dies of the signal mid-request."""
    emulator = sandbox.emulator_urls["crm_v1"] + "/_emulator/faults"
    async with aiohttp.ClientSession() as session:
        await (await session.post(emulator, json={"latency_ms": 1000})).read()
    try:
        with gateway_process(config(tmp_path, sandbox), "--workers", workers) as gateway:
            status, _ = await get(gateway.url + "/healthz")  # serving, its handlers set
            assert status == 200
            slow = asyncio.ensure_future(get(gateway.url + "/v1/connections/crm_v1/invoices/1"))
            await asyncio.sleep(0.5)  # the request is in flight, waiting on the provider
            os.killpg(gateway.process.pid, signal.SIGHUP)
            status, body = await slow
            assert status == 200, body
            assert gateway.process.wait(20) == 0
    finally:
        async with aiohttp.ClientSession() as session:
            await (await session.post(emulator, json={"latency_ms": 0})).read()


@pytest.mark.parametrize("round_", range(3))
async def test_ctrl_c_to_the_whole_group_stops_the_workers_without_a_traceback(
    sandbox: Sandbox, tmp_path: Path, round_: int
) -> None:
    """A terminal's Ctrl-C: SIGINT to every process of the group, and the supervisor's SIGTERM
    to each worker behind it. The worker, having turned its signals to SIG_IGN on the first,
    met the second already arrived, and CPython raised it as "OSError: Signal 15 ignored due
    to race condition", a traceback per worker on every Ctrl-C."""
    with gateway_process(config(tmp_path, sandbox), "--workers", "2") as gateway:
        gateway.wait_for_workers(2)
        status, _ = await get(gateway.url + "/healthz")
        assert status == 200
        os.killpg(gateway.process.pid, signal.SIGINT)
        assert gateway.process.wait(20) == 0
        seen = -1
        while seen != len(gateway.output):  # the output's reader reaches its end
            seen = len(gateway.output)
            await asyncio.sleep(0.2)
    output = "".join(gateway.output)
    assert "Traceback" not in output and "race condition" not in output, output


async def _sent_to(emulator: str, path_end: str) -> int:
    """How many requests whose path ends with ``path_end`` the emulator has been sent."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(emulator + "/_emulator/requests") as answer,
    ):
        log = (await answer.json())["requests"]
    return sum(1 for entry in log if entry["path"].endswith(path_end))


async def _at_the_provider(emulator: str, path_end: str, before: int) -> None:
    """Until the emulator has been sent a request whose path ends with ``path_end`` beyond the
    ``before`` it had (the module's other tests read the same invoices of the same emulator)."""
    for _ in range(200):
        if await _sent_to(emulator, path_end) > before:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no request for …{path_end} reached the provider")


def _parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_a_gateway_told_to_stop_again_while_stopping_goes_on_stopping_as_it_was(
    sandbox: Sandbox, tmp_path: Path, workers: str
) -> None:
    """SIGTERM to the whole group (systemd's default, a terminal's Ctrl-C) reaches each worker
    twice: from the sender, and again from the supervisor, at any moment of the worker's own
    stopping; a single gateway may be sent it twice as well. Neither that second signal nor any
    later one may cut the stop short: the request in flight is answered, every request's log
    line is written, no process dies of it (no traceback), and the gateway exits 0."""
    emulator = sandbox.emulator_urls["crm_v1"] + "/_emulator/faults"
    async with aiohttp.ClientSession() as session:
        await (await session.post(emulator, json={"latency_ms": 800, "path_regex": "/2$"})).read()
    ids = [f"again-{os.getpid()}-{workers}-{n}" for n in range(8)]
    try:
        with gateway_process(config(tmp_path, sandbox), "--workers", workers) as gateway:
            serving = gateway.wait_for_workers(2) if workers == "2" else [gateway.process.pid]
            # A connection each, so that the kernel spreads them over the workers.
            connector = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=connector) as session:
                for request_id in ids:
                    headers = {"Authorization": f"Bearer {KEY}", "X-Request-ID": request_id}
                    url = gateway.url + "/v1/connections/crm_v1/invoices/1"
                    async with session.get(url, headers=headers) as answer:
                        assert answer.status == 200
            before = await _sent_to(sandbox.emulator_urls["crm_v1"], "/2")
            slow = asyncio.ensure_future(get(gateway.url + "/v1/connections/crm_v1/invoices/2"))
            await _at_the_provider(sandbox.emulator_urls["crm_v1"], "/2", before)  # in flight
            os.killpg(gateway.process.pid, signal.SIGTERM)
            while gateway.process.poll() is None:  # the signal again, through the stopping
                for pid in serving:
                    # A worker while it is still this gateway's; the gateway itself until reaped.
                    if pid == gateway.process.pid or _parent_of(pid) == gateway.process.pid:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGTERM)
                await asyncio.sleep(0.005)
            status, body = await slow
            assert status == 200, body
            assert gateway.process.wait(20) == 0
            for _ in range(100):  # the output's reader reaches its end
                if all(any(i in line for line in gateway.output) for i in ids):
                    break
                await asyncio.sleep(0.05)
    finally:
        async with aiohttp.ClientSession() as session:
            await (await session.post(emulator, json={})).read()
    output = "".join(gateway.output)
    assert "Traceback" not in output, output
    lines = [json.loads(line) for line in gateway.output if '"request_id"' in line]
    logged = {line["request_id"] for line in lines if line.get("event") == "request"}
    assert set(ids) <= logged, (sorted(set(ids) - logged), output[-3000:])


def test_a_single_gateway_stopped_right_after_it_says_it_listens_exits_0(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """SIGTERM as soon as the line is read (a supervisor that restarts it at once, say), before
    the app has started: a graceful stop, status 0, not death by the signal. At moments spread
    over the start-up: a stop raised where the signal landed once broke an import (status 1)
    or left the store's thread behind (no exit)."""
    for delay in (0, 0, 0.02, 0.05, 0.1, 0.2):
        gateway = start_gateway(config(tmp_path, sandbox))
        time.sleep(delay)
        gateway.process.send_signal(signal.SIGTERM)
        assert gateway.process.wait(20) == 0, "".join(gateway.output)
        seen = -1
        while seen != len(gateway.output):  # the output's reader reaches its end
            seen = len(gateway.output)
            time.sleep(0.1)
        # Its clean-up ran (the store closed, the provider sessions too): stopped inside its
        # start-up, run_app skipped it, and the interpreter's finalization met them open.
        output = "".join(gateway.output)
        for said in ("Traceback", "an error occurred during closing", "RuntimeError"):
            assert said not in output, (delay, output)
