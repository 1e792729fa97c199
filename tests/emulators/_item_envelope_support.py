"""What the item_envelope emulator tests share: the app on loopback, requests, JSON reading."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from emulators.item_envelope import create_app
from tests.emulators._exact_json import dumps, loads

TOKEN = "sandbox-item_envelope"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SEED_COUNT = 56
FIRST_SEED_ID = 124 - SEED_COUNT

# The provider's example request body, byte for byte as its page shows it.
DOC_BODY = """{
"Invoice": {
"client_id": 15,
"store_id": 1,
"currency_code": "USD",
"date": "2023-03-23",
"draft": 0,
"notes": "Invoice for March services",
"InvoiceItem": [
{
"product_id": 1,
"quantity": 2,
"unit_price": 100
},
{
"product_id": 3,
"quantity": 1,
"unit_price": 50,
"discount": 10,
"discount_type": 1
}
]
}
}"""

# The seeded tax table (id → rate), as docs/providers/item_envelope.md lists it.
TAX_RATES = {
    1: Decimal("5"),
    2: Decimal("9.975"),
    3: Decimal("20"),
    4: Decimal("10"),
    5: Decimal("8.25"),
    6: Decimal("0"),
    7: Decimal("19"),
}

INVOICE_READ_FIELDS = {
    "id": int,
    "no": str,
    "client_id": int,
    "store_id": int,
    "currency_code": str,
    "date": str,
    "draft": int,
    "discount": Decimal,
    "discount_amount": Decimal,
    "notes": (str, type(None)),
    "po_number": (str, type(None)),
    "is_offline": int,
    "summary_subtotal": Decimal,
    "summary_discount": Decimal,
    "summary_tax1": Decimal,
    "summary_tax2": Decimal,
    "summary_total": Decimal,
    "summary_paid": Decimal,
    "summary_unpaid": Decimal,
    "payment_status": int,
}
ITEM_READ_FIELDS = {
    "id": int,
    "product_id": int,
    "item": str,
    "quantity": Decimal,
    "unit_price": Decimal,
    "discount": Decimal,
    "discount_type": int,
    "tax1": (int, type(None)),
    "tax2": (int, type(None)),
    "col_3": (str, type(None)),
    "col_4": (str, type(None)),
    "col_5": (str, type(None)),
    "subtotal": Decimal,
}


async def start(aiohttp_client: AiohttpClient, **options: Any) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(**options))


async def call(
    client: TestClient[Any, Any],
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One request with the sandbox credential; answers the status and the parsed JSON body."""
    data = raw if raw is not None else (None if body is None else dumps(body))
    response = await client.request(
        method,
        path,
        data=None if data is None else data.encode(),
        headers=headers if headers is not None else {**AUTH, "Content-Type": "text/plain"},
    )
    assert response.content_type == "application/json"
    return response.status, loads(await response.text())


def invoice_path(invoice_id: int) -> str:
    return f"/api2/api2/invoices/{invoice_id}.json"


async def update(
    client: TestClient[Any, Any], invoice_id: int, fields: dict[str, Any]
) -> tuple[int, Any]:
    """PUT ``{"Invoice": fields}`` to the invoice; answers the status and the parsed body."""
    return await call(client, "PUT", invoice_path(invoice_id), {"Invoice": fields})


def invoice_body(**fields: Any) -> dict[str, Any]:
    """A valid create body (client 15, store 1, one line of product 1); ``fields`` override."""
    invoice: dict[str, Any] = {
        "client_id": 15,
        "store_id": 1,
        "date": "2025-06-01",
        "InvoiceItem": [{"product_id": 1, "quantity": 1, "unit_price": Decimal("100.00")}],
    }
    invoice.update(fields)
    return {"Invoice": invoice}


async def create(client: TestClient[Any, Any], **fields: Any) -> dict[str, Any]:
    """Create an invoice and read it back: answers the ``data`` of the get."""
    status, answer = await call(client, "POST", "/api2/api2/invoices.json", invoice_body(**fields))
    assert status == 202, answer
    return await read(client, answer["id"])


async def read(client: TestClient[Any, Any], invoice_id: int) -> dict[str, Any]:
    status, answer = await call(client, "GET", invoice_path(invoice_id))
    assert status == 200, answer
    data: dict[str, Any] = answer["data"]
    return data


async def all_invoices(client: TestClient[Any, Any], query: str = "") -> list[dict[str, Any]]:
    status, answer = await call(client, "GET", f"/api2/api2/invoices.json?limit=100{query}")
    assert status == 200, answer
    assert answer["pagination"]["page_count"] <= 1
    rows: list[dict[str, Any]] = answer["data"]
    return rows


def assert_failed(status: int, body: Any, expected_status: int) -> None:
    """The provider's failure envelope, with the body's ``code`` equal to the HTTP status."""
    assert status == expected_status, body
    assert set(body) == {"code", "result", "message", "errors"}
    assert body["code"] == expected_status
    assert body["result"] == "failed"
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["errors"], dict)


def assert_types(record: dict[str, Any], fields: dict[str, Any]) -> None:
    """Exactly ``fields``' keys, each of the JSON type named (a Decimal is a non-integer number)."""
    assert set(record) == set(fields)
    for name, expected in fields.items():
        value = record[name]
        if expected is Decimal:
            assert isinstance(value, int | Decimal) and not isinstance(value, bool), name
        else:
            assert isinstance(value, expected) and not isinstance(value, bool), (name, value)
