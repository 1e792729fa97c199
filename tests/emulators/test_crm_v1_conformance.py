"""crm_v1 emulator against its doc: each example request sent verbatim, each documented response
checked for status, envelope, shape and JSON types; plus auth, malformed bodies, unknown ids and
the control endpoints."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from emulators import registry
from emulators.crm_v1 import create_app
from tests.emulators._crm_v1_support import (
    AUTH,
    CREATE_EXAMPLE,
    JSON_HEADERS,
    assert_error,
    fetch,
    read,
    snapshot,
)
from tests.emulators._crm_v1_support import client as client  # pytest fixture, used by name
from tests.emulators._exact_json import loads

# The row of the doc's list example, exactly as printed there.
LIST_EXAMPLE_ROW = """{
        "inv_id": 8,
        "inv_number": "INV-0008",
        "customer_id": 10,
        "inv_status": 0,
        "total": 5250.00,
        "amount_due": 5250.00,
        "transaction_date": "2026-07-01",
        "due_date": "2026-07-31"
      }"""

NUMBER = (int, Decimal)
DATE = "date"
OPTIONAL_STR = (str, type(None))
OPTIONAL_INT = (int, type(None))
OPTIONAL_NUMBER = (int, Decimal, type(None))
SUMMARY_TYPES: dict[str, Any] = {
    "inv_id": int,
    "inv_number": str,
    "customer_id": int,
    "inv_status": int,
    "total": NUMBER,
    "amount_due": NUMBER,
    "transaction_date": DATE,
    "due_date": DATE,
}
INVOICE_TYPES: dict[str, Any] = {
    "inv_id": int,
    "inv_number": str,
    "inv_status": int,
    "customer_id": int,
    "template_id": int,
    "transaction_date": DATE,
    "due_date": DATE,
    "reference": OPTIONAL_STR,
    "billing_address": OPTIONAL_STR,
    "shipping_address": OPTIONAL_STR,
    "notes": OPTIONAL_STR,
    "terms_conditions": OPTIONAL_STR,
    "deal_id": OPTIONAL_INT,
    "assigned_to": OPTIONAL_INT,
    "org_currency_id": int,
    "conversion_rate": NUMBER,
    "overall_discount": OPTIONAL_NUMBER,
    "overall_discount_type": OPTIONAL_INT,
    "tag_ids": list,
    "items": list,
    "sub_total": NUMBER,
    "discount_total": NUMBER,
    "tax_total": NUMBER,
    "total": NUMBER,
    "amount_paid": NUMBER,
    "amount_due": NUMBER,
    "payments": list,
}
ITEM_TYPES: dict[str, Any] = {
    "item_id": OPTIONAL_INT,
    "item_name": str,
    "description": OPTIONAL_STR,
    "quantity": OPTIONAL_NUMBER,
    "price": OPTIONAL_NUMBER,
    "type": str,
    "discount": OPTIONAL_NUMBER,
    "discount_type": OPTIONAL_INT,
    "tax_id": OPTIONAL_STR,
    "tax_rate": OPTIONAL_NUMBER,
    "line_total": NUMBER,
}
PAYMENT_TYPES: dict[str, Any] = {
    "payment_id": int,
    "amount": NUMBER,
    "payment_date": DATE,
    "payment_method": str,
    "reference": OPTIONAL_STR,
}
MONEY_FIELDS = ("sub_total", "discount_total", "tax_total", "total", "amount_paid", "amount_due")


def assert_shape(obj: dict[str, Any], types: dict[str, Any], where: str) -> None:
    assert set(obj) == set(types), where
    for key, expected in types.items():
        value = obj[key]
        assert not isinstance(value, bool), f"{where}.{key}"
        if expected == DATE:
            assert isinstance(value, str), f"{where}.{key}"
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value), f"{where}.{key}"
            date.fromisoformat(value)
        else:
            assert isinstance(value, expected), f"{where}.{key} is {type(value).__name__}"


def assert_money_places(invoice: dict[str, Any]) -> None:
    """Amounts carry exactly the currency's minor units: 2 decimals, none for JPY (id 4)."""
    places = 0 if invoice["org_currency_id"] == 4 else 2
    amounts = [invoice[f] for f in MONEY_FIELDS] + [line["line_total"] for line in invoice["items"]]
    amounts += [p["amount"] for p in invoice["payments"]]
    for amount in amounts:
        if places == 0:
            assert isinstance(amount, int), invoice["inv_id"]
        else:
            assert isinstance(amount, Decimal), invoice["inv_id"]
            assert amount.as_tuple().exponent == -places, (invoice["inv_id"], amount)


# -- documented examples ---------------------------------------------------------------------------


async def test_list_example_is_reproduced(client: TestClient[Any, Any]) -> None:
    response = await client.get("/v1/invoices", headers=AUTH)

    assert response.status == 200
    assert response.content_type == "application/json"
    text = await response.text()
    body = loads(text)
    assert set(body) == {"success", "data"}
    assert body["success"] is True
    page = body["data"]
    assert set(page) == {"data", "current_page", "total_records", "total_pages"}
    assert (page["current_page"], page["total_records"], page["total_pages"]) == (1, 56, 6)
    assert len(page["data"]) == 10
    # The newest invoice is the doc's own: the same values, written the same way.
    assert page["data"][0] == loads(LIST_EXAMPLE_ROW)
    assert '"total": 5250.00, "amount_due": 5250.00' in text
    for row in page["data"]:
        assert_shape(row, SUMMARY_TYPES, f"row {row['inv_id']}")


async def test_create_example_verbatim(client: TestClient[Any, Any]) -> None:
    response = await client.post("/v1/invoices", data=CREATE_EXAMPLE, headers=JSON_HEADERS)

    assert response.status == 201
    assert await read(response) == {
        "success": True,
        "message": "Invoice #INV-0057 has been created successfully",
        "data": {"inv_id": 57, "inv_number": "INV-0057"},
    }
    invoice = await fetch(client, 57)
    assert (invoice["sub_total"], invoice["tax_total"], invoice["total"]) == (
        Decimal("5000.00"),
        Decimal("250.00"),
        Decimal("5250.00"),
    )
    assert (invoice["inv_status"], invoice["amount_paid"], invoice["amount_due"]) == (
        0,
        Decimal("0.00"),
        Decimal("5250.00"),
    )
    assert invoice["reference"] == "PO-2026-001"
    assert invoice["items"][0]["tax_id"] is None
    assert invoice["items"][0]["tax_rate"] == 5


async def test_get_example_returns_lines_and_payment_history(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get("/v1/invoices/8", headers=AUTH)

    assert response.status == 200
    body = await read(response)
    assert set(body) == {"success", "data"}
    assert body["success"] is True
    assert body["data"] == {
        "inv_id": 8,
        "inv_number": "INV-0008",
        "inv_status": 0,
        "customer_id": 10,
        "template_id": 1,
        "transaction_date": "2026-07-01",
        "due_date": "2026-07-31",
        "reference": "PO-2026-001",
        "billing_address": None,
        "shipping_address": None,
        "notes": None,
        "terms_conditions": None,
        "deal_id": None,
        "assigned_to": None,
        "org_currency_id": 1,
        "conversion_rate": 1,
        "overall_discount": None,
        "overall_discount_type": None,
        "tag_ids": [],
        "items": [
            {
                "item_id": 12,
                "item_name": "Consulting Services",
                "description": None,
                "quantity": 10,
                "price": Decimal("500.00"),
                "type": "item",
                "discount": None,
                "discount_type": None,
                "tax_id": None,
                "tax_rate": 5,
                "line_total": Decimal("5000.00"),
            }
        ],
        "sub_total": Decimal("5000.00"),
        "discount_total": Decimal("0.00"),
        "tax_total": Decimal("250.00"),
        "total": Decimal("5250.00"),
        "amount_paid": Decimal("0.00"),
        "amount_due": Decimal("5250.00"),
        "payments": [],
    }
    assert_shape(body["data"], INVOICE_TYPES, "invoice 8")
    assert_money_places(body["data"])


async def test_every_seeded_invoice_has_the_documented_shape_and_types(
    client: TestClient[Any, Any],
) -> None:
    listing = await read(await client.get("/v1/invoices?pageSize=100", headers=AUTH))
    ids = [row["inv_id"] for row in listing["data"]["data"]]
    assert sorted(ids) == list(range(1, 57))
    payments_seen = 0
    for inv_id in ids:
        invoice = await fetch(client, inv_id)
        assert_shape(invoice, INVOICE_TYPES, f"invoice {inv_id}")
        assert invoice["inv_number"] == f"INV-{inv_id:04d}"
        assert invoice["inv_status"] in (0, 1, 2)
        assert all(isinstance(tag, int) and not isinstance(tag, bool) for tag in invoice["tag_ids"])
        assert invoice["items"], f"invoice {inv_id} has no lines"
        for index, line in enumerate(invoice["items"]):
            assert_shape(line, ITEM_TYPES, f"invoice {inv_id} items.{index}")
            assert line["type"] in ("item", "header")
        for payment in invoice["payments"]:
            assert_shape(payment, PAYMENT_TYPES, f"invoice {inv_id} payment")
            payments_seen += 1
        assert_money_places(invoice)
    assert payments_seen > 0


async def test_update_example_verbatim(client: TestClient[Any, Any]) -> None:
    response = await client.put("/v1/invoices/8", data=CREATE_EXAMPLE, headers=JSON_HEADERS)

    assert response.status == 200
    assert await read(response) == {
        "success": True,
        "message": "Invoice INV-0008 has been updated successfully",
    }


async def test_delete_example_verbatim(client: TestClient[Any, Any]) -> None:
    response = await client.delete("/v1/invoices/8", headers=AUTH)

    assert response.status == 200
    assert await read(response) == {"success": True, "message": "Invoice deleted successfully"}
    gone = await client.get("/v1/invoices/8", headers=AUTH)
    assert gone.status == 404


# -- errors in the provider's envelope ------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Basic c2FuZGJveC1jcm1fdjE6"},
        {"Authorization": "sandbox-crm_v1"},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "wrong-token", "basic-scheme", "no-scheme", "empty-token"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/invoices"),
        ("GET", "/v1/invoices/8"),
        ("POST", "/v1/invoices"),
        ("PUT", "/v1/invoices/8"),
        ("DELETE", "/v1/invoices/8"),
    ],
)
async def test_bad_credentials_get_401_in_envelope(
    client: TestClient[Any, Any], headers: dict[str, str], method: str, path: str
) -> None:
    response = await client.request(method, path, data=CREATE_EXAMPLE, headers=headers)

    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert_error(await read(response), "Unauthenticated.")


async def test_rejected_credentials_change_nothing(client: TestClient[Any, Any]) -> None:
    await client.delete("/v1/invoices/8", headers={"Authorization": "Bearer nope"})
    still_there = await client.get("/v1/invoices/8", headers=AUTH)
    assert still_there.status == 200


async def test_custom_token_is_the_only_one_accepted(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(create_app(token="tok-123"))
    assert (
        await client.get("/v1/invoices", headers={"Authorization": "Bearer tok-123"})
    ).status == 200
    assert (await client.get("/v1/invoices", headers=AUTH)).status == 401


@pytest.mark.parametrize(
    "payload",
    [b'{"customer_id": 10,', b"", b"   ", b"not json", b'{"customer_id": 10}}'],
    ids=["truncated", "empty", "blank", "text", "trailing-brace"],
)
@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/invoices"), ("PUT", "/v1/invoices/8")])
async def test_malformed_json_gets_400_in_envelope(
    client: TestClient[Any, Any], payload: bytes, method: str, path: str
) -> None:
    response = await client.request(method, path, data=payload, headers=JSON_HEADERS)

    assert response.status == 400
    body = await read(response)
    assert body["success"] is False
    assert body["errors"] == {}
    assert body["message"].startswith("The request body is not valid: ")


async def test_a_failure_of_the_emulator_itself_is_a_500_in_the_envelope(
    aiohttp_client: AiohttpClient,
) -> None:
    """Not aiohttp's plain-text page: a client reads every crm_v1 answer as its envelope."""
    app = create_app()

    async def broken(request: Any) -> Any:
        raise ZeroDivisionError("a bug")

    app.router.add_get("/v1/broken", broken)
    client = await aiohttp_client(app)

    response = await client.get("/v1/broken", headers=AUTH)

    assert response.status == 500
    assert await read(response) == {"success": False, "message": "Server Error", "errors": {}}


@pytest.mark.parametrize("payload", [b"[]", b"[1, 2]", b'"text"', b"42", b"null"])
async def test_body_that_is_not_an_object_gets_400(
    client: TestClient[Any, Any], payload: bytes
) -> None:
    response = await client.post("/v1/invoices", data=payload, headers=JSON_HEADERS)

    assert response.status == 400
    assert_error(
        await read(response),
        "The request body is not valid: the request body must be a JSON object.",
    )


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("inv_id", ["999", "0", "57"])
async def test_unknown_invoice_id_gets_404_in_envelope(
    client: TestClient[Any, Any], method: str, inv_id: str
) -> None:
    response = await client.request(
        method, f"/v1/invoices/{inv_id}", data=CREATE_EXAMPLE, headers=JSON_HEADERS
    )

    assert response.status == 404
    assert_error(await read(response), "Invoice not found.")


@pytest.mark.parametrize(
    "path", ["/v1/invoices/abc", "/v1/invoices/8/items", "/v1/customers", "/v2/invoices", "/"]
)
async def test_unknown_path_gets_404_in_envelope(client: TestClient[Any, Any], path: str) -> None:
    response = await client.get(path, headers=AUTH)

    assert response.status == 404
    assert_error(await read(response), f"The route {path} could not be found.")


async def test_unsupported_method_gets_405_in_envelope(client: TestClient[Any, Any]) -> None:
    response = await client.patch("/v1/invoices/8", data=CREATE_EXAMPLE, headers=JSON_HEADERS)

    assert response.status == 405
    assert response.headers["Allow"] == "DELETE, GET, HEAD, PUT"
    assert_error(
        await read(response),
        "The PATCH method is not supported for route /v1/invoices/8. "
        "Supported methods: DELETE, GET, HEAD, PUT.",
    )


# -- control endpoints and the registry ------------------------------------------------------------


async def test_reset_restores_the_seed_without_credentials(client: TestClient[Any, Any]) -> None:
    before = await snapshot(client)
    await client.post("/v1/invoices", data=CREATE_EXAMPLE, headers=JSON_HEADERS)
    assert (await client.delete("/v1/invoices/1", headers=AUTH)).status == 200
    await client.put("/v1/invoices/8", data=CREATE_EXAMPLE.replace(b"10,", b"2,"), headers=AUTH)
    assert await snapshot(client) != before

    reset = await client.post("/_emulator/reset")

    assert reset.status == 200
    assert await snapshot(client) == before
    created = await read(await client.post("/v1/invoices", data=CREATE_EXAMPLE, headers=AUTH))
    assert created["data"]["inv_id"] == 57


async def test_injected_fault_answers_in_the_provider_envelope(
    client: TestClient[Any, Any],
) -> None:
    configured = await client.post("/_emulator/faults", json={"error_rate": 1, "error_status": 503})
    assert configured.status == 200

    response = await client.get("/v1/invoices", headers=AUTH)

    assert response.status == 503
    body = await read(response)
    assert body["success"] is False
    assert body["errors"] == {}
    assert isinstance(body["message"], str) and body["message"]


async def test_requests_are_logged_with_the_token_redacted(client: TestClient[Any, Any]) -> None:
    await client.post("/v1/invoices?x=1", data=CREATE_EXAMPLE, headers=JSON_HEADERS)

    log = await read(await client.get("/_emulator/requests"))

    (entry,) = log["requests"]
    assert (entry["method"], entry["path"], entry["query"]) == ("POST", "/v1/invoices", {"x": "1"})
    assert entry["headers"]["Authorization"] == "Bearer [redacted]"
    assert entry["body"] == loads(CREATE_EXAMPLE)


async def test_registry_builds_the_same_emulator(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(registry.create_app("crm_v1", seed_invoices=3))
    headers = {"Authorization": f"Bearer {registry.default_token('crm_v1')}"}

    body = await read(await client.get("/v1/invoices", headers=headers))

    assert body["data"]["total_records"] == 3
