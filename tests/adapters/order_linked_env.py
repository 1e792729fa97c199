"""The order_linked adapter wired to its emulator on loopback, with the emulator's store at hand.

The store lets a test put the provider in states its API cannot reach (a status value outside
its documents); everything else goes over HTTP as in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.mapping import load_mapping
from adapters.order_linked.adapter import OrderLinkedAdapter
from emulators.order_linked import create_app
from emulators.order_linked.app import STORE_KEY
from emulators.order_linked.store import Store
from gateway import jsonwire
from gateway.sandbox import default_token, sandbox_connection
from gateway.upstream import UpstreamClient

# Before every seeded due date: an invoice reads overdue only when the provider says so.
TODAY = date(2026, 1, 1)
SEEDED = 23


@dataclass
class Env:
    adapter: OrderLinkedAdapter
    app: web.Application
    base_url: str
    session: aiohttp.ClientSession

    @property
    def store(self) -> Store:
        return self.app[STORE_KEY]

    def adapter_with(self, today: date = TODAY, **connection_changes: Any) -> OrderLinkedAdapter:
        """The adapter with another clock or connection (values as the connection holds them)."""
        connection = self.adapter.connection.model_copy(update=connection_changes)
        return OrderLinkedAdapter(
            UpstreamClient(self.session, connection),
            connection,
            self.adapter.mapping,
            today=lambda: today,
        )

    async def log(self) -> list[dict[str, Any]]:
        """Every request the provider received, oldest first."""
        async with self.session.get(f"{self.base_url}/_emulator/requests") as response:
            requests: list[dict[str, Any]] = jsonwire.loads(await response.text())["requests"]
            return requests

    async def sent_since(self, start: int) -> list[tuple[str, str]]:
        return [(r["method"], r["path"]) for r in (await self.log())[start:]]

    async def raw(self, invoice_id: str) -> dict[str, Any]:
        """The provider's own record, read without the adapter."""
        headers = {"Authorization": f"Bearer {default_token('order_linked')}"}
        async with self.session.get(
            f"{self.base_url}/invoices/{invoice_id}", headers=headers
        ) as response:
            assert response.status == 200
            record: dict[str, Any] = jsonwire.loads(await response.text())["invoice"]
            return record

    async def faults(self, **config: Any) -> None:
        async with self.session.post(f"{self.base_url}/_emulator/faults", json=config) as r:
            assert r.status == 200, await r.text()


async def start(aiohttp_server: Any) -> AsyncIterator[Env]:
    """For a fixture: ``async for env in start(aiohttp_server): yield env``."""
    app = create_app(seed_invoices=SEEDED)
    server: TestServer = await aiohttp_server(app)
    base_url = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as session:
        connection = sandbox_connection("order_linked", base_url)
        adapter = OrderLinkedAdapter(
            UpstreamClient(session, connection),
            connection,
            load_mapping("order_linked"),
            today=lambda: TODAY,
        )
        yield Env(adapter, app, base_url, session)
