"""For the export tests: the command run as a real process (its peak RSS watched), the gateway's
own list and read API to compare with, and one emulator alone in a thread."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml
from aiohttp import web

from emulators.registry import create_app as create_emulator
from gateway.sandbox import default_token, sandbox_connection
from gateway.sandbox.serve import Sandbox

SCRIPT = str(Path(sys.executable).with_name("invoice-gateway"))


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_kb: int  # VmHWM of the export process itself (not of the parent it was forked from)

    def events(self) -> list[dict[str, Any]]:
        """stderr's JSON lines (stderr is not a terminal here)."""
        return [json.loads(line) for line in self.stderr.splitlines() if line.startswith("{")]

    def summary(self) -> dict[str, Any]:
        [summary] = [e for e in self.events() if e.get("event") == "summary"]
        return summary

    def failure(self) -> dict[str, Any]:
        """The one ``failed`` event the export said (an id, or what stopped it)."""
        [failed] = [e for e in self.events() if e.get("event") == "failed"]
        return failed


def run_export(
    config: Path,
    *args: str,
    timeout: float = 60,
    stdout: IO[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Run:
    """``invoice-gateway export --config FILE …`` as a process; stdout and stderr go to files so
    a large export never blocks on a pipe while its memory is polled.

    The peak is ``VmHWM`` from /proc, read every few milliseconds until the process ends: the
    high-water mark of the process's own memory since it started the export program (the
    rusage of a child started with fork or vfork also counts the parent's pages it began with,
    here the whole test process with its emulators). ``stdout``: where its results go instead
    (the run's ``stdout`` is then empty); ``env``: its environment instead of this one's."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            [SCRIPT, "export", "--config", str(config), *args],
            stdout=out if stdout is None else stdout,
            stderr=err,
            env=env,
        )
        peak = 0
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            peak = max(peak, _high_water_kb(process.pid))
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise AssertionError(f"export did not finish within {timeout} s")
            time.sleep(0.005)
        out.seek(0)
        err.seek(0)
        return Run(process.returncode, out.read(), err.read(), peak)


def _high_water_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0  # exited (or a zombie, which has no memory left)


def api(sandbox: Sandbox, path: str) -> Any:
    request = urllib.request.Request(
        sandbox.gateway_url + path, headers={"Authorization": f"Bearer {sandbox.api_key}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def api_list(sandbox: Sandbox, connection: str, **filters: str) -> list[dict[str, Any]]:
    """Every invoice ``GET /v1/connections/{c}/invoices`` gives with these filters, in order."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": "100", **filters, **({"cursor": cursor} if cursor else {})}
        page = api(
            sandbox, f"/v1/connections/{connection}/invoices?{urllib.parse.urlencode(query)}"
        )
        found += page["data"]
        if not page["has_more"]:
            return found
        cursor = page["next_cursor"]


def emulator_faults(sandbox: Sandbox, provider: str, faults: dict[str, Any] | None) -> None:
    """Set (or, with None, clear) the faults of one of the sandbox's emulators."""
    url = sandbox.emulator_urls[provider] + "/_emulator/faults"
    data = json.dumps(faults).encode() if faults is not None else None
    method = "POST" if faults is not None else "DELETE"
    request = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@contextmanager
def emulator_config(provider: str, seed_invoices: int, folder: Path) -> Iterator[Path]:
    """One emulator seeded with ``seed_invoices`` invoices, in a thread of this process, and a
    ``config.yaml`` with one connection (named after the provider) to it."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop: asyncio.Event | None = None
    box: dict[str, Any] = {}

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        app = create_emulator(provider, token=default_token(provider), seed_invoices=seed_invoices)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            box["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
            started.set()
            await stop.wait()
        finally:
            await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not started.wait(30):
        raise RuntimeError(f"the {provider} emulator did not start within 30 s")
    connection = sandbox_connection(provider, box["url"]).model_dump(mode="json", exclude_none=True)
    connection["auth"]["token"] = default_token(provider)
    config = folder / f"{provider}-{seed_invoices}.yaml"
    config.write_text(yaml.safe_dump({"connections": [connection]}), encoding="utf-8")
    try:
        yield config
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(20)
        loop.close()
