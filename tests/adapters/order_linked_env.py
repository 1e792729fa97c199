"""The order_linked adapter wired to its emulator on loopback, with the emulator's store at hand.

The store lets a test put the provider in states its API cannot reach (a status value outside
its documents); everything else goes over HTTP as in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

from adapters.order_linked.adapter import OrderLinkedAdapter
from emulators.order_linked.app import STORE_KEY
from emulators.order_linked.store import Store
from tests.adapters import env as shared
from tests.adapters.env import ServerFactory

# Before every seeded due date: an invoice reads overdue only when the provider says so.
TODAY = date(2026, 1, 1)
SEEDED = 23


class Env(shared.Env[OrderLinkedAdapter, Store]):
    async def raw(self, invoice_id: str) -> dict[str, Any]:
        """The provider's own record, read without the adapter."""
        status, body = await self.call("GET", f"/invoices/{invoice_id}")
        assert status == 200
        record: dict[str, Any] = body["invoice"]
        return record


def start(aiohttp_server: ServerFactory) -> AsyncIterator[Env]:
    """For a fixture: ``async for env in start(aiohttp_server): yield env``."""
    return shared.start(
        Env, aiohttp_server, "order_linked", today=TODAY, store_key=STORE_KEY, seed_invoices=SEEDED
    )
