"""Gateway processes for tests: started from a configuration file, killed with real signals."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.sandbox import default_token
from gateway.sandbox.serve import Sandbox

_LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass
class GatewayProcess:
    process: subprocess.Popen[str]
    url: str
    output: list[str] = field(default_factory=list)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the gateway (and, with workers, the whole group) with a real signal; a group
        that outlives a gentler signal is killed outright, so no test leaves one behind."""
        with contextlib.suppress(ProcessLookupError):  # workers may outlive their parent
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(20)
            raise

    def children(self) -> list[int]:
        """The worker processes of a ``--workers`` gateway."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def wait_for_workers(self, count: int, *, gone: int | None = None) -> list[int]:
        """The workers, once there are ``count`` of them (and ``gone`` is not among them)."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            workers = self.children()
            if len(workers) == count and gone not in workers:
                return workers
            time.sleep(0.05)
        raise AssertionError(f"expected {count} workers, found {self.children()}")


def write_config(
    path: Path,
    sandbox: Sandbox,
    *,
    store_url: str,
    clients: list[dict[str, Any]],
    lease_seconds: float = 2,
    connections: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """A ``config.yaml`` over the sandbox's emulators, with its own store and clients."""
    data: dict[str, Any] = sandbox.settings.model_dump(mode="json", exclude_none=True)
    data.pop("server", None)
    for connection in data["connections"]:
        connection["auth"]["token"] = default_token(connection["provider"])
        connection.update((connections or {}).get(connection["name"], {}))
    data["store"] = {"url": store_url, "lease_seconds": lease_seconds}
    data["clients"] = clients
    data["logging"] = {"level": "warning", "format": "json"}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def start_gateway(config: Path, *args: str, timeout: float = 30) -> GatewayProcess:
    """``invoice-gateway serve --config FILE --port 0 …`` in its own process group."""
    command = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)]
    process = subprocess.Popen(
        [*command, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        match = _LISTENING.search(line)
        if match:
            url = match.group(1)
            break
    if url is None:
        process.kill()
        raise RuntimeError("the gateway did not start:\n" + "".join(output))
    running = GatewayProcess(process, url, output)
    # Keep reading its output, so a chatty gateway never blocks on a full pipe.
    threading.Thread(target=_drain, args=(process, output), daemon=True).start()
    return running


def _drain(process: subprocess.Popen[str], output: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)


@contextmanager
def gateway_process(config: Path, *args: str) -> Iterator[GatewayProcess]:
    running = start_gateway(config, *args)
    try:
        yield running
    finally:
        running.kill(signal.SIGTERM if running.process.poll() is None else signal.SIGKILL)


def wait_at_a_named_pipe(process: subprocess.Popen[Any], seconds: float = 30) -> None:
    """Returns once one of ``process``'s threads waits at a named pipe for its other end
    (Linux's ``wait_for_partner``): started, its modules loaded, however busy the machine (a
    fixed sleep was too short for a command still loading under a loaded CI run)."""
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, "the command ended before it waited at the pipe"
        waits = set()
        for task in Path(f"/proc/{process.pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread ended meanwhile
                waits.add((task / "wchan").read_text())
        if "wait_for_partner" in waits:
            return
        assert time.monotonic() < deadline, f"not waiting at the pipe: {sorted(waits)}"
        time.sleep(0.02)
