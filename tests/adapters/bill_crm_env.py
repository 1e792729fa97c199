"""The bill_crm adapter wired to its emulator on loopback, with the seed's "today".

The emulator's store is reachable too, so a test can see what the CRM holds without going
through the adapter, or put a value the seed never makes into a real record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.base import ListQuery, walk
from adapters.bill_crm.adapter import BillCrmAdapter
from adapters.mapping import load_mapping
from emulators.bill_crm import create_app
from emulators.bill_crm.app import STORE
from emulators.bill_crm.store import Store
from gateway import jsonwire
from gateway.canonical.model import Invoice
from gateway.config import RetrySettings
from gateway.sandbox import default_token, sandbox_connection
from gateway.upstream import UpstreamClient

# The day the seed dates its invoices from: Due invoices are not yet due, Overdue ones are.
TODAY = date(2026, 6, 30)
INVOICES = "/api/v1/invoices"
SEED_INVOICES = 23
# Seed 0 with 23 invoices (see the table printed by the emulator's store for that seed).
BY_STATUS = {1: "11", 2: "14", 3: "7", 4: "6", 5: "12", 20: "4"}
SUMMARY_TWO_RATES = "12"  # paid; taxes 5 (GST 5%) and 6 (PST 7%) on the whole invoice
INLINE_FOUR_LINES = "18"  # paid; taxes 1, 1, 4, 3 on its four lines
CLIENT_6_DRAFT = "11"


@dataclass
class Env:
    adapter: BillCrmAdapter
    app: web.Application
    base_url: str
    session: aiohttp.ClientSession

    @property
    def store(self) -> Store:
        return self.app[STORE]

    def adapter_with(self, **connection_changes: Any) -> BillCrmAdapter:
        connection = self.adapter.connection.model_copy(update=connection_changes)
        return BillCrmAdapter(
            UpstreamClient(self.session, connection),
            connection,
            self.adapter.mapping,
            today=lambda: TODAY,
        )

    def impatient(self) -> BillCrmAdapter:
        """One attempt per call: a fault shows at once instead of after the retries' backoff."""
        return self.adapter_with(retries=RetrySettings(max_attempts=1))

    async def log(self) -> list[dict[str, Any]]:
        """Every request the provider received, oldest first."""
        async with self.session.get(f"{self.base_url}/_emulator/requests") as response:
            requests: list[dict[str, Any]] = jsonwire.loads(await response.text())["requests"]
            return requests

    async def writes_since(self, start: int) -> list[tuple[str, str]]:
        return [
            (r["method"], r["path"]) for r in (await self.log())[start:] if r["method"] != "GET"
        ]

    async def faults(self, **settings: Any) -> None:
        async with self.session.post(f"{self.base_url}/_emulator/faults", json=settings) as answer:
            assert answer.status == 200, await answer.text()

    async def raw(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call the provider directly (to set a scene or to see what it holds)."""
        headers = {"X-API-Key": default_token("bill_crm")}
        data = None if body is None else jsonwire.dumps(body)
        async with self.session.request(
            method, self.base_url + path, data=data, headers=headers
        ) as response:
            return response.status, jsonwire.loads(await response.text())

    async def everything(self, page_size: int = 100) -> list[Invoice]:
        """Every invoice, read page by page through the adapter."""
        found: list[Invoice] = []
        async for page in walk(self.adapter, ListQuery(), page_size):
            found += page.invoices
        return found

    async def count(self) -> int:
        """How many invoices the CRM holds."""
        status, body = await self.raw("GET", f"{INVOICES}?limit=1")
        assert status == 200
        total: int = body["meta"]["total"]
        return total


ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


async def start(aiohttp_server: ServerFactory) -> AsyncIterator[Env]:
    """A fresh seeded emulator and the adapter talking to it; each test module's ``env``."""
    app = create_app(seed_invoices=SEED_INVOICES)
    server = await aiohttp_server(app)
    base_url = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as session:
        connection = sandbox_connection("bill_crm", base_url)
        adapter = BillCrmAdapter(
            UpstreamClient(session, connection),
            connection,
            load_mapping("bill_crm"),
            today=lambda: TODAY,
        )
        yield Env(adapter, app, base_url, session)
