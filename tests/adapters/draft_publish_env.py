"""The draft_publish adapter wired to its emulator on loopback, with a fixed clock.

"Today" is the same for the emulator (overdue, default payment dates) and the adapter
(reconciliation), so overdue readings do not depend on when the tests run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.draft_publish.adapter import DraftPublishAdapter
from adapters.mapping import load_mapping
from emulators.draft_publish import create_app
from emulators.draft_publish.app import STORE
from emulators.draft_publish.store import Store
from gateway import jsonwire
from gateway.canonical.model import Invoice
from gateway.sandbox import default_token, sandbox_connection
from gateway.upstream import UpstreamClient
from tests.contract.profiles.draft_publish import sample

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
BASE = "/api/v1/invoices"


@dataclass
class Env:
    adapter: DraftPublishAdapter
    app: web.Application
    base_url: str
    session: aiohttp.ClientSession

    @property
    def store(self) -> Store:
        return self.app[STORE]

    def adapter_with(self, today: date = TODAY, **connection_changes: Any) -> DraftPublishAdapter:
        connection = self.adapter.connection.model_copy(update=connection_changes)
        return DraftPublishAdapter(
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

    async def raw(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call the provider directly (as another client of the same account would)."""
        headers = {"Authorization": f"Bearer {default_token('draft_publish')}"}
        data = jsonwire.dumps(body) if body is not None else None
        async with self.session.request(
            method, self.base_url + path, data=data, headers=headers
        ) as response:
            return response.status, jsonwire.loads(await response.text())

    async def faults(self, **config: Any) -> None:
        async with self.session.post(f"{self.base_url}/_emulator/faults", json=config) as r:
            assert r.status == 200, await r.text()

    async def draft(self, invoice: Invoice | None = None) -> str:
        created = await self.adapter.create(invoice or due_later(sample(0)))
        assert created.invoice.id is not None
        return created.invoice.id


def due_later(invoice: Invoice, due: date = date(2026, 7, 15)) -> Invoice:
    """The invoice due after the fixed today, so it never reads overdue."""
    return invoice.model_copy(update={"issue_date": date(2026, 6, 1), "due_date": due})


async def start(aiohttp_server: Any, **options: Any) -> AsyncIterator[Env]:
    """For a fixture: ``async for env in start(aiohttp_server): yield env``."""
    app = create_app(clock=lambda: NOW, **{"seed_invoices": 23, **options})
    server: TestServer = await aiohttp_server(app)
    base_url = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as session:
        connection = sandbox_connection("draft_publish", base_url)
        adapter = DraftPublishAdapter(
            UpstreamClient(session, connection),
            connection,
            load_mapping("draft_publish"),
            today=lambda: TODAY,
        )
        yield Env(adapter, app, base_url, session)
