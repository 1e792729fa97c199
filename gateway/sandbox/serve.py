"""``invoice-gateway serve --sandbox``: the five emulators and the gateway, in one process."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from emulators.registry import PROVIDERS
from emulators.registry import create_app as create_emulator
from gateway.config import Client, ServerSettings, Settings, StoreSettings
from gateway.sandbox import default_token, sandbox_connection

SANDBOX_KEY = "sk_sandbox"


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
        server=ServerSettings(host=host, port=port),
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

    runners: list[web.AppRunner] = []
    scratch = tempfile.TemporaryDirectory(prefix="invoice-gateway-sandbox-")
    store_url = store_url or f"sqlite:///{scratch.name}/store.db"
    try:
        urls = {}
        for offset, provider in enumerate(PROVIDERS, start=1):
            emulator = create_emulator(
                provider, token=default_token(provider), seed_invoices=seed_invoices
            )
            actual = await _start(emulator, host, port + offset if port else 0, runners)
            urls[provider] = f"http://{host}:{actual}"
        settings = sandbox_settings(host, port, urls, api_key, store_url=store_url)
        actual = await _start(create_app(settings), host, port, runners)
        settings = settings.model_copy(
            update={"server": settings.server.model_copy(update={"port": actual})}
        )
        yield Sandbox(settings, f"http://{host}:{actual}", urls, api_key)
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        scratch.cleanup()


async def _start(app: web.Application, host: str, port: int, runners: list[web.AppRunner]) -> int:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    runners.append(runner)
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound: int = runner.addresses[0][1]
    return bound


def config_yaml(sandbox: Sandbox) -> str:
    """The sandbox's configuration as a ``config.yaml`` other commands can use."""
    data: dict[str, Any] = sandbox.settings.model_dump(mode="json", exclude_none=True)
    for connection in data["connections"]:
        connection["auth"]["token"] = default_token(connection["provider"])
    header = (
        "# Written by `invoice-gateway serve --sandbox --write-config`: the running sandbox's\n"
        f"# emulators and their tokens. API key: {sandbox.api_key}\n"
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


def serve_sandbox(
    host: str, port: int, seed_invoices: int, api_key: str, write_config: Path | None
) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with running_sandbox(host, port, seed_invoices=seed_invoices, api_key=api_key) as box:
            if write_config is not None:
                await asyncio.to_thread(write_config.write_text, config_yaml(box))
            print(welcome(box), flush=True)
            await stop.wait()

    asyncio.run(main())
    return 0
