"""What the crm_v1 emulator tests share: the app on loopback, the doc's example, requests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from emulators.crm_v1 import create_app
from tests.emulators._exact_json import dumps, loads

AUTH = {"Authorization": "Bearer sandbox-crm_v1"}
JSON_HEADERS = {"Content-Type": "application/json", **AUTH}

# The doc's create example, byte for byte (the doc sends the update example with the same body).
CREATE_EXAMPLE = b"""{
  "customer_id": 10,
  "template_id": 1,
  "transaction_date": "2026-07-01",
  "due_date": "2026-07-31",
  "reference": "PO-2026-001",
  "items": [
    {
      "item_id": 12,
      "item_name": "Consulting Services",
      "quantity": 10,
      "price": 500.00,
      "type": "item",
      "tax_rate": 5
    }
  ]
}"""


@pytest.fixture
async def client(aiohttp_client: AiohttpClient) -> TestClient[Any, Any]:
    """A fresh crm_v1 emulator with its default seed; test modules import it by name."""
    return await aiohttp_client(create_app())


def doc_example() -> dict[str, Any]:
    """The doc's create example as a fresh body to change (its 500.00 as Decimal("500.00"))."""
    body: dict[str, Any] = loads(CREATE_EXAMPLE)
    return body


def line(quantity: Decimal | int | str, price: Decimal | int | str, **extra: Any) -> dict[str, Any]:
    """An item line of Support Hours (item 6); quantity and price go out as exact numbers."""
    return {
        "item_id": 6,
        "item_name": "Support Hours",
        "quantity": Decimal(quantity),
        "price": Decimal(price),
        "type": "item",
        **extra,
    }


async def read(response: ClientResponse) -> Any:
    """The body with every fractional number as the exact Decimal it was written as."""
    return loads(await response.text())


async def write(
    client: TestClient[Any, Any], method: str, path: str, payload: Any
) -> ClientResponse:
    """Send ``payload`` as JSON, its Decimals as number literals, so no amount passes a float."""
    return await client.request(method, path, data=dumps(payload), headers=JSON_HEADERS)


async def fetch(client: TestClient[Any, Any], inv_id: int) -> dict[str, Any]:
    response = await client.get(f"/v1/invoices/{inv_id}", headers=AUTH)
    assert response.status == 200
    invoice: dict[str, Any] = (await read(response))["data"]
    return invoice


async def snapshot(client: TestClient[Any, Any], path: str = "/v1/invoices?pageSize=100") -> str:
    """The answer at ``path`` as raw text, to compare the state before and after."""
    return await (await client.get(path, headers=AUTH)).text()


def assert_error(body: Any, message: str, errors: dict[str, list[str]] | None = None) -> None:
    assert body == {"success": False, "message": message, "errors": errors or {}}
