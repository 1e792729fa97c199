"""What the bill_crm emulator tests share: the app on loopback, requests, a fresh invoice."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from emulators.bill_crm import create_app
from tests.emulators._exact_json import loads

BASE = "/api/v1/invoices"
KEY = {"X-API-Key": "sandbox-bill_crm"}
# The least a create needs: client 1, category 1, dated 2026-07-01.
CREATE = {"bill_clientid": 1, "bill_categoryid": 1, "bill_date": "2026-07-01"}
# The least an update needs.
HEADER = {"bill_categoryid": 1, "bill_date": "2026-07-01"}


@pytest.fixture
async def client(aiohttp_client: AiohttpClient) -> TestClient[Any, Any]:
    """A fresh bill_crm emulator with its default seed; test modules import it by name."""
    return await aiohttp_client(create_app())


async def call(
    client: TestClient[Any, Any], method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body)
    response = await client.request(method, path, data=data, headers=KEY)
    return response.status, loads(await response.text())


async def everything(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    """Every invoice in the store, in the list's default order."""
    _, body = await call(client, "GET", f"{BASE}?limit=100")
    invoices: list[dict[str, Any]] = body["data"]
    return invoices


async def new_draft(client: TestClient[Any, Any], tax_type: str = "summary") -> int:
    """Create an invoice with ``CREATE`` and the tax type; answers its id."""
    status, body = await call(client, "POST", BASE, {**CREATE, "bill_tax_type": tax_type})
    assert status == 201, body
    invoice_id: int = body["data"]["id"]
    return invoice_id


async def put_lines(client: TestClient[Any, Any], invoice_id: int, payload: Any) -> None:
    """Replace the invoice's lines (and summary taxes) with ``payload``, which must succeed."""
    status, body = await call(client, "PUT", f"{BASE}/{invoice_id}/line-items", payload)
    assert status == 200, body


async def update(
    client: TestClient[Any, Any], invoice_id: int, header: dict[str, Any]
) -> tuple[int, Any]:
    """PUT ``header`` to the invoice; answers the status and the parsed body."""
    return await call(client, "PUT", f"{BASE}/{invoice_id}", header)


async def set_status(
    client: TestClient[Any, Any], invoice_id: int, status_id: int
) -> tuple[int, Any]:
    return await call(client, "POST", f"{BASE}/{invoice_id}/status", {"status": status_id})
