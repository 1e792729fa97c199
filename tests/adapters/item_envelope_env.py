"""The item_envelope adapter wired to its emulator on loopback, with a fixed "today"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

from adapters.item_envelope.adapter import ItemEnvelopeAdapter
from emulators.item_envelope.app import STORE
from emulators.item_envelope.store import InvoiceStore
from tests.adapters import env as shared
from tests.adapters.env import ServerFactory

TODAY = date(2026, 7, 15)
INVOICES = "/api2/api2/invoices.json"
SEED_INVOICES = 23  # ids 101–123: 106 a draft, 111 issued and unpaid, 103 paid


class Env(shared.Env[ItemEnvelopeAdapter, InvoiceStore]):
    raw = shared.Env.call  # (method, path, body) → (status, body), as another client would


def start(aiohttp_server: ServerFactory) -> AsyncIterator[Env]:
    """For a fixture: ``async for env in start(aiohttp_server): yield env``."""
    return shared.start(
        Env,
        aiohttp_server,
        "item_envelope",
        today=TODAY,
        store_key=STORE,
        seed_invoices=SEED_INVOICES,
    )
