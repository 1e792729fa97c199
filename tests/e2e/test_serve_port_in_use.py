"""``serve`` on a port already in use: one line on stderr, exit 2, no traceback, whichever way
it is started (one process, ``--workers``, ``--sandbox``), and even when the port is held by
another ``--workers`` gateway, which ``SO_REUSEPORT`` alone would have let it share."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.processes import gateway_process
from tests.stores import sqlite_url

SCRIPT = str(Path(sys.executable).with_name("invoice-gateway"))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f'store: {{url: "{sqlite_url()}"}}\nlogging: {{level: warning}}\nconnections: []\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def taken() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``serve``; one that starts after all (a regression) is stopped with its workers."""
    process = subprocess.Popen(
        [SCRIPT, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        raise AssertionError(f"serve started on a port in use:\n{out}{err}") from None
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def assert_refused(result: subprocess.CompletedProcess[str], port: int, whose: str = "") -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"invoice-gateway serve: cannot listen on 127.0.0.1:{port}{whose}: Address already in use"
    ]
    assert "Traceback" not in result.stdout + result.stderr
    assert "listening on" not in result.stdout


@pytest.mark.parametrize("workers", ["1", "3"])
def test_a_port_in_use_is_one_line_and_exit_2(config: Path, taken: int, workers: str) -> None:
    assert_refused(
        serve("--config", str(config), "--port", str(taken), "--workers", workers), taken
    )


def test_the_sandbox_on_a_port_in_use_is_one_line_and_exit_2(taken: int) -> None:
    assert_refused(serve("--sandbox", "--port", str(taken), "--seed-invoices", "1"), taken)


def test_the_sandbox_names_the_emulator_whose_port_is_in_use() -> None:
    """The emulators take the five ports after ``--port``: the line says whose it was."""
    with _held_two_after_a_free_pair() as taken:
        result = serve("--sandbox", "--port", str(taken - 2), "--seed-invoices", "1")
    whose = " (the draft_publish emulator's: the sandbox takes --port and the five after it)"
    assert_refused(result, taken, whose)


@contextmanager
def _held_two_after_a_free_pair() -> Iterator[int]:
    """A port held here whose two ports before it are free (the sandbox's gateway and its
    first emulator), tried until one is found: other tests hold ports of their own."""
    for _ in range(100):
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            taken = holder.getsockname()[1]
            if all(_free(port) for port in (taken - 2, taken - 1)):
                yield taken
                return
    raise AssertionError("no port with two free ports before it")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_a_second_workers_gateway_does_not_share_the_first_ones_port(config: Path) -> None:
    with gateway_process(config, "--workers", "2") as first:
        first.wait_for_workers(2)
        port = int(first.url.rsplit(":", 1)[1])
        assert_refused(serve("--config", str(config), "--port", str(port), "--workers", "2"), port)
        assert first.process.poll() is None  # the first one is untouched
