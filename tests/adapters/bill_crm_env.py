"""The bill_crm adapter wired to its emulator on loopback, with the seed's "today".

The emulator's store is reachable too, so a test can see what the CRM holds without going
through the adapter, or put a value the seed never makes into a real record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

from adapters.bill_crm.adapter import BillCrmAdapter
from emulators.bill_crm.app import STORE
from emulators.bill_crm.store import Store
from tests.adapters import env as shared
from tests.adapters.env import ServerFactory

# The day the seed dates its invoices from: Due invoices are not yet due, Overdue ones are.
TODAY = date(2026, 6, 30)
INVOICES = "/api/v1/invoices"
SEED_INVOICES = 23
# Seed 0 with 23 invoices (see the table printed by the emulator's store for that seed).
BY_STATUS = {1: "11", 2: "14", 3: "7", 4: "6", 5: "12", 20: "4"}
SUMMARY_TWO_RATES = "12"  # paid; taxes 5 (GST 5%) and 6 (PST 7%) on the whole invoice
INLINE_FOUR_LINES = "18"  # paid; taxes 1, 1, 4, 3 on its four lines
CLIENT_6_DRAFT = "11"


class Env(shared.Env[BillCrmAdapter, Store]):
    raw = shared.Env.call  # (method, path, body) → (status, body), to set a scene or see it

    async def count(self) -> int:
        """How many invoices the CRM holds."""
        status, body = await self.raw("GET", f"{INVOICES}?limit=1")
        assert status == 200
        total: int = body["meta"]["total"]
        return total


def start(aiohttp_server: ServerFactory) -> AsyncIterator[Env]:
    """A fresh seeded emulator and the adapter talking to it; each test module's ``env``."""
    return shared.start(
        Env, aiohttp_server, "bill_crm", today=TODAY, store_key=STORE, seed_invoices=SEED_INVOICES
    )
