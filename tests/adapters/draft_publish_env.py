"""The draft_publish adapter wired to its emulator on loopback, with a fixed clock.

"Today" is the same for the emulator (overdue, default payment dates) and the adapter
(reconciliation), so overdue readings do not depend on when the tests run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

from adapters.draft_publish.adapter import DraftPublishAdapter
from emulators.draft_publish.app import STORE
from emulators.draft_publish.store import Store
from gateway.canonical.model import Invoice
from tests.adapters import env as shared
from tests.adapters.env import ServerFactory
from tests.contract.profiles.draft_publish import sample

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
BASE = "/api/v1/invoices"
SEED_INVOICES = 23


class Env(shared.Env[DraftPublishAdapter, Store]):
    raw = shared.Env.call  # (method, path, body) → (status, body), as another client would

    async def draft(self, invoice: Invoice | None = None) -> str:
        created = await self.adapter.create(invoice or due_later(sample(0)))
        assert created.invoice.id is not None
        return created.invoice.id


def due_later(invoice: Invoice, due: date = date(2026, 7, 15)) -> Invoice:
    """The invoice due after the fixed today, so it never reads overdue."""
    return invoice.model_copy(update={"issue_date": date(2026, 6, 1), "due_date": due})


def start(aiohttp_server: ServerFactory, **options: Any) -> AsyncIterator[Env]:
    """For a fixture: ``async for env in start(aiohttp_server): yield env``; ``options`` go to
    the emulator (``smtp_configured=False``, another ``seed_invoices``)."""
    return shared.start(
        Env,
        aiohttp_server,
        "draft_publish",
        today=TODAY,
        store_key=STORE,
        **{"clock": lambda: NOW, "seed_invoices": SEED_INVOICES, **options},
    )
