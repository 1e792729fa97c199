"""``invoice-gateway serve --sandbox``: the five emulators and the gateway, in one process."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from aiohttp import web

from emulators.registry import PROVIDERS
from emulators.registry import create_app as create_emulator
from gateway.config import (
    AuthFailures,
    Client,
    ServerSettings,
    Settings,
    StoreSettings,
    http_origin,
)
from gateway.sandbox import default_token, sandbox_connection
from gateway.settings_secrets import SANDBOX_KEY
from gateway.workers import ignored


@dataclass(frozen=True)
class Sandbox:
    settings: Settings
    gateway_url: str
    emulator_urls: dict[str, str]
    api_key: str


def sandbox_settings(
    host: str,
    port: int,
    emulator_urls: dict[str, str],
    api_key: str = SANDBOX_KEY,
    *,
    store_url: str | None = None,
) -> Settings:
    client = Client(
        name="sandbox",
        key_sha256=hashlib.sha256(api_key.encode()).hexdigest(),
        connections=["*"],
        scopes=frozenset({"invoices:read", "invoices:write", "admin"}),
    )
    return Settings(
        # The sandbox holds only emulated data, and the tools pointed at it (Schemathesis) send
        # hundreds of requests without a key on purpose: failed keys are not throttled here.
        server=ServerSettings(
            host=host, port=port, auth_failures=AuthFailures(per_minute=1_000_000)
        ),
        store=StoreSettings(url=store_url) if store_url else StoreSettings(),
        clients=[client],
        connections=[sandbox_connection(p, url) for p, url in emulator_urls.items()],
    )


@contextlib.asynccontextmanager
async def running_sandbox(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    seed_invoices: int = 56,
    api_key: str = SANDBOX_KEY,
    store_url: str | None = None,
) -> AsyncIterator[Sandbox]:
    """Start the emulators on the next five ports and the gateway on ``port``; stop them after.

    The gateway's store is a SQLite file in a directory of its own, removed at the end (the
    emulators forget everything too), unless ``store_url`` names one.
    """
    from gateway.http.app import create_app

    if port:
        _check_free(host, port)  # the port asked for is named first, before the emulators'
    runners: list[web.AppRunner] = []
    scratch = tempfile.TemporaryDirectory(prefix="invoice-gateway-sandbox-")
    store_url = store_url or f"sqlite:///{scratch.name}/store.db"
    try:
        urls = {}
        for offset, provider in enumerate(PROVIDERS, start=1):
            emulator = create_emulator(
                provider, token=default_token(provider), seed_invoices=seed_invoices
            )
            whose = f" (the {provider} emulator's: the sandbox takes --port and the five after it)"
            actual = await _start(emulator, host, port + offset if port else 0, runners, what=whose)
            urls[provider] = http_origin(host, actual)
        settings = sandbox_settings(host, port, urls, api_key, store_url=store_url)
        idle = settings.server.idle_timeout_s
        actual = await _start(create_app(settings), host, port, runners, keepalive_timeout=idle)
        settings = settings.model_copy(
            update={"server": settings.server.model_copy(update={"port": actual})}
        )
        yield Sandbox(settings, http_origin(host, actual), urls, api_key)
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        scratch.cleanup()


class SandboxError(Exception):
    """What stops the sandbox from starting (a port in use, a file it cannot write), in one
    line for the command line."""


def _check_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise SandboxError(f"cannot listen on {host}:{port}: {reason}") from None


async def _start(
    app: web.Application,
    host: str,
    port: int,
    runners: list[web.AppRunner],
    keepalive_timeout: float | None = None,
    *,
    what: str = "",
) -> int:
    """``app`` listening on ``host:port``; the gateway with its ``keepalive_timeout`` (as
    ``workers.serve`` gives it), the emulators with aiohttp's own. ``what``: whose port it is,
    for the line that says it is taken."""
    runner = (
        web.AppRunner(app, access_log=None)
        if keepalive_timeout is None
        else web.AppRunner(app, access_log=None, keepalive_timeout=keepalive_timeout)
    )
    await runner.setup()
    runners.append(runner)
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise SandboxError(f"cannot listen on {host}:{port}{what}: {reason}") from None
    bound: int = runner.addresses[0][1]
    return bound


WRITTEN_STORE = "invoice-gateway-sandbox.db"


def config_yaml(sandbox: Sandbox) -> str:
    """The sandbox's configuration as a ``config.yaml`` other commands can use."""
    data: dict[str, Any] = sandbox.settings.model_dump(mode="json", exclude_none=True)
    for connection in data["connections"]:
        connection["auth"]["token"] = default_token(connection["provider"])
    # Not the sandbox's own port, store or lifted throttle: a second `serve` needs a port of its
    # own, and the sandbox's store goes with it when it stops; this file's store is a file
    # beside it (a relative SQLite path is read from the configuration's folder), kept.
    data["server"] = {k: v for k, v in data["server"].items() if k not in ("port", "auth_failures")}
    data["store"] = {**data["store"], "url": f"sqlite:///./{WRITTEN_STORE}"}
    header = (
        "# Written by `invoice-gateway serve --sandbox --write-config`: the running sandbox's\n"
        f"# emulators and their tokens. API key: {sandbox.api_key}\n"
        f"# A second gateway over them: serve --config FILE --port N (the sandbox is at\n"
        f"# {sandbox.gateway_url}).\n"
        f"# The store ({WRITTEN_STORE}, beside this file) is this file's, not the sandbox's.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False)


def welcome(sandbox: Sandbox) -> str:
    url, key = sandbox.gateway_url, sandbox.api_key
    emulators = "\n".join(
        f"  {name:<14} {u}  (token {default_token(name)})"
        for name, u in sandbox.emulator_urls.items()
    )
    return f"""invoice-gateway sandbox is running
  gateway        {url}   (API key: {key})
  docs           {url}/docs
{emulators}

Try:
  curl -s {url}/v1/connections -H 'Authorization: Bearer {key}'
  curl -s '{url}/v1/connections/crm_v1/invoices?limit=2' -H 'Authorization: Bearer {key}'
"""


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600, whatever the umask):
    it holds provider tokens. Written beside it and renamed over it, so an existing file (or a
    link in its place) is replaced, never followed or left with its old mode."""
    fd, scratch = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(scratch)
        raise


def serve_sandbox(
    host: str, port: int, seed_invoices: int, api_key: str, write_config: Path | None
) -> int:
    """Run the sandbox until stopped: 0; 2 when a port is taken or the config cannot be written."""

    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def asked(signum: int, frame: FrameType | None) -> None:
            # The first stops it; the later ones (a second Ctrl-C, the group's SIGTERM behind
            # a terminal's SIGINT) meet a handler that does nothing. The loop's own handlers
            # were put back to the default as it closed, and one close behind the first then
            # killed the sandbox (status 130 or 143) in the middle of its clean-up.
            for sig in stops:
                signal.signal(sig, ignored)
            loop.call_soon_threadsafe(stop.set)

        # As serve without --sandbox: SIGHUP too (the terminal that runs it closing), so that
        # the request in flight is answered and the scratch store removed.
        for sig in stops:
            signal.signal(sig, asked)
        async with running_sandbox(host, port, seed_invoices=seed_invoices, api_key=api_key) as box:
            if write_config is not None:
                try:
                    await asyncio.to_thread(write_private, write_config, config_yaml(box))
                except OSError as exc:
                    raise SandboxError(f"cannot write {write_config}: {exc.strerror}") from None
            print(welcome(box), flush=True)
            await stop.wait()

    try:
        asyncio.run(main())
    except SandboxError as exc:
        print(f"invoice-gateway serve: {exc}", file=sys.stderr)
        return 2
    finally:
        # Python puts its handlers back to the default as the interpreter finalizes.
        for sig in stops:
            signal.signal(sig, signal.SIG_IGN)
    return 0
