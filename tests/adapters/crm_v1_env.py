"""The crm_v1 adapter wired to its emulator on loopback, with a fixed "today".

The emulator's store is reachable too, so a test can put a provider value the seed never makes
(an unknown status, an unconfigured currency) into a real record and read it over real HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

from adapters.crm_v1.adapter import CrmV1Adapter
from emulators.crm_v1.app import STORE
from emulators.crm_v1.store import Store
from tests.adapters import env as shared
from tests.adapters.env import ServerFactory

TODAY = date(2026, 7, 15)  # after every seeded due date but the doc example's (2026-07-31)
INVOICES = "/v1/invoices"
SEED_INVOICES = 56


class Env(shared.Env[CrmV1Adapter, Store]):
    raw = shared.Env.call  # (method, path, body) → (status, body), to set a scene or see it


def start(aiohttp_server: ServerFactory) -> AsyncIterator[Env]:
    """For a fixture: ``async for env in start(aiohttp_server): yield env``."""
    return shared.start(
        Env, aiohttp_server, "crm_v1", today=TODAY, store_key=STORE, seed_invoices=SEED_INVOICES
    )
