"""What the draft_publish emulator tests share: the app on a fixed clock, requests, exact JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from emulators.draft_publish import create_app
from emulators.draft_publish.reference import CUSTOMERS
from tests.emulators._exact_json import loads

AUTH = {"Authorization": "Bearer sandbox-draft_publish"}
JSON_AUTH = {**AUTH, "Content-Type": "application/json"}
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
BASE = "/api/v1/invoices"
CUSTOMER_ID = next(iter(CUSTOMERS))

Client = TestClient[Any, Any]
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
async def client(aiohttp_client: MakeClient) -> Client:
    """A fresh draft_publish emulator whose clock stands at ``NOW``; imported by name."""
    return await aiohttp_client(create_app(clock=lambda: NOW))


async def read(response: ClientResponse) -> Any:
    """The body with numbers kept as written, so 6480.00 and "6480.00" stay different."""
    return loads(await response.text())


async def act(client: Client, invoice_id: str, action: str) -> ClientResponse:
    """POST to one of the invoice's actions (publish, void, mark-paid, ...), with no body."""
    return await client.post(f"{BASE}/{invoice_id}/{action}", headers=AUTH)
