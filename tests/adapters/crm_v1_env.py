"""The crm_v1 adapter wired to its emulator on loopback, with a fixed "today".

The emulator's store is reachable too, so a test can put a provider value the seed never makes
(an unknown status, an unconfigured currency) into a real record and read it over real HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.crm_v1.adapter import CrmV1Adapter
from adapters.mapping import load_mapping
from emulators.crm_v1 import create_app
from emulators.crm_v1.app import STORE
from emulators.crm_v1.store import Store
from gateway import jsonwire
from gateway.sandbox import default_token, sandbox_connection
from gateway.upstream import UpstreamClient

TODAY = date(2026, 7, 15)  # after every seeded due date but the doc example's (2026-07-31)
INVOICES = "/v1/invoices"
SEED_INVOICES = 56


@dataclass
class Env:
    adapter: CrmV1Adapter
    app: web.Application
    base_url: str
    session: aiohttp.ClientSession

    @property
    def store(self) -> Store:
        return self.app[STORE]

    def adapter_with(self, **connection_changes: Any) -> CrmV1Adapter:
        connection = self.adapter.connection.model_copy(update=connection_changes)
        return CrmV1Adapter(
            UpstreamClient(self.session, connection),
            connection,
            self.adapter.mapping,
            today=lambda: TODAY,
        )

    async def log(self) -> list[dict[str, Any]]:
        """Every request the provider received, oldest first."""
        async with self.session.get(f"{self.base_url}/_emulator/requests") as response:
            requests: list[dict[str, Any]] = jsonwire.loads(await response.text())["requests"]
            return requests

    async def raw(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call the provider directly (to set a scene or to see what it holds)."""
        headers = {"Authorization": f"Bearer {default_token('crm_v1')}"}
        data = jsonwire.dumps(body) if body is not None else None
        async with self.session.request(
            method, self.base_url + path, data=data, headers=headers
        ) as response:
            return response.status, jsonwire.loads(await response.text())

    async def faults(self, **settings: Any) -> None:
        async with self.session.post(f"{self.base_url}/_emulator/faults", json=settings) as answer:
            assert answer.status == 200, await answer.text()


async def start(
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> AsyncIterator[Env]:
    app = create_app(seed_invoices=SEED_INVOICES)
    server = await aiohttp_server(app)
    base_url = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as session:
        connection = sandbox_connection("crm_v1", base_url)
        adapter = CrmV1Adapter(
            UpstreamClient(session, connection),
            connection,
            load_mapping("crm_v1"),
            today=lambda: TODAY,
        )
        yield Env(adapter, app, base_url, session)
