"""The draft_publish emulator answers the provider doc's own examples as documented.

Each example body is the doc's text byte for byte. The doc only shows placeholders for reference
ids (``customer-uuid``, ``tax-uuid``); those are swapped for seeded ids in the same bytes, and
the placeholder version is shown to fail the way an unknown id fails.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from emulators.draft_publish import create_app
from emulators.draft_publish.reference import (
    CUSTOMERS,
    DEFAULT_TEMPLATE,
    PRODUCTS,
    TAX_STANDARD,
    TEMPLATES,
    reference_data,
)
from emulators.registry import create_app as registry_create_app
from emulators.registry import default_token
from tests.emulators._draft_publish_support import BASE, Client, MakeClient, act, read

TOKEN = default_token("draft_publish")
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON_AUTH = {**AUTH, "Content-Type": "application/json"}
# The day of the doc's payment example, so the doc's invoice (due 2026-02-15) is not overdue yet.
NOW = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

# The doc's request examples, exactly as printed (it prints them without indentation).
CREATE_EXAMPLE = b"""{
"customer_id": "customer-uuid",
"issue_date": "2026-01-15",
"due_date": "2026-02-15",
"currency": "USD",
"notes": "Thank you for your business",
"payment_terms": "Net 30",
"discount_type": "percentage",
"discount_value": 10,
"template_id": "template-uuid",
"items": [
{
"product_id": "product-uuid",
"description": "Web Development",
"quantity": 40,
"unit_price": 150,
"unit": "hour",
"tax_id": "tax-uuid"
}
]
}"""
PAYMENT_EXAMPLE = b"""{
"amount": 500.00,
"method": "bank_transfer",
"reference": "TXN-12345",
"date": "2026-01-20"
}"""
BATCH_EXAMPLE = b"""{
"action": "delete",
"ids": ["uuid-1", "uuid-2"]
}"""

CUSTOMER = next(iter(CUSTOMERS.values()))
PRODUCT = next(p for p in PRODUCTS.values() if p.name == "Web Development")
PLACEHOLDERS = {
    b'"customer-uuid"': f'"{CUSTOMER.id}"'.encode(),
    b'"template-uuid"': f'"{DEFAULT_TEMPLATE}"'.encode(),
    b'"product-uuid"': f'"{PRODUCT.id}"'.encode(),
    b'"tax-uuid"': f'"{TAX_STANDARD}"'.encode(),
}


def with_seeded_ids(body: bytes) -> bytes:
    for placeholder, seeded in PLACEHOLDERS.items():
        body = body.replace(placeholder, seeded)
    return body


@pytest.fixture
async def client(aiohttp_client: MakeClient) -> Client:
    return await aiohttp_client(create_app(clock=lambda: NOW))


async def seeded(client: Client, status: str) -> dict[str, Any]:
    response = await client.get(BASE, params={"status": status, "limit": "100"}, headers=AUTH)
    invoices: list[dict[str, Any]] = (await read(response))["data"]
    return invoices[0]


async def create_example(client: Client) -> dict[str, Any]:
    response = await client.post(BASE, data=with_seeded_ids(CREATE_EXAMPLE), headers=JSON_AUTH)
    assert response.status == 201
    data: dict[str, Any] = (await read(response))["data"]
    return data


def assert_invoice_shape(invoice: dict[str, Any]) -> None:
    """Every field of the invoice object with its JSON type (strings vs numbers)."""
    strings = ("id", "number", "status", "customer_id", "issue_date", "due_date", "currency")
    for name in strings:
        assert isinstance(invoice[name], str), name
    assert UUID.match(invoice["id"])
    assert invoice["status"] in {"draft", "sent", "paid", "overdue", "voided"}
    assert isinstance(invoice["template_id"], str)
    for name in ("notes", "payment_terms", "discount_type", "share_token"):
        assert invoice[name] is None or isinstance(invoice[name], str), name
    assert invoice["discount_value"] is None or isinstance(invoice["discount_value"], int | Decimal)
    customer = invoice["customer"]
    assert set(customer) == {"id", "name", "email"}
    assert customer["id"] == invoice["customer_id"]
    assert all(isinstance(customer[k], str) for k in customer)
    for name in ("subtotal", "discount_amount", "tax_amount", "total", "amount_paid"):
        assert isinstance(invoice[name], int | Decimal), name
    assert isinstance(invoice["balance_due"], int | Decimal)
    assert invoice["items"], "an invoice has at least one item"
    for item in invoice["items"]:
        assert set(item) == {
            "id",
            "product_id",
            "description",
            "quantity",
            "unit_price",
            "unit",
            "tax_id",
            "tax_rate",
            "amount",
        }
        assert UUID.match(item["id"])
        for name in ("quantity", "unit_price", "amount"):
            assert isinstance(item[name], int | Decimal), name
        assert item["tax_rate"] is None or isinstance(item["tax_rate"], int | Decimal)
    for payment in invoice["payments"]:
        assert_payment_shape(payment, invoice["id"])
    assert TIMESTAMP.match(invoice["created_at"])
    assert TIMESTAMP.match(invoice["updated_at"])


def assert_payment_shape(payment: dict[str, Any], invoice_id: str) -> None:
    assert set(payment) == {
        "id",
        "invoice_id",
        "amount",
        "method",
        "reference",
        "date",
        "created_at",
    }
    assert UUID.match(payment["id"])
    assert payment["invoice_id"] == invoice_id
    assert isinstance(payment["amount"], int | Decimal)
    assert isinstance(payment["method"], str)
    assert payment["reference"] is None or isinstance(payment["reference"], str)
    assert re.match(r"^\d{4}-\d{2}-\d{2}$", payment["date"])
    assert TIMESTAMP.match(payment["created_at"])


def assert_error(body: Any, code: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], list)


# -- Create / Get / Update / Delete -------------------------------------------------------------


async def test_create_example_is_a_draft_with_server_computed_totals(client: Client) -> None:
    response = await client.post(BASE, data=with_seeded_ids(CREATE_EXAMPLE), headers=JSON_AUTH)

    assert response.status == 201
    body = await read(response)
    assert set(body) == {"data"}
    invoice = body["data"]
    assert_invoice_shape(invoice)
    assert response.headers["Location"] == f"{BASE}/{invoice['id']}"
    assert invoice["status"] == "draft"
    assert invoice["customer"] == {
        "id": CUSTOMER.id,
        "name": CUSTOMER.name,
        "email": CUSTOMER.email,
    }
    assert (invoice["issue_date"], invoice["due_date"]) == ("2026-01-15", "2026-02-15")
    assert (invoice["currency"], invoice["payment_terms"]) == ("USD", "Net 30")
    assert invoice["notes"] == "Thank you for your business"
    assert (invoice["discount_type"], invoice["discount_value"]) == ("percentage", 10)
    assert invoice["template_id"] == DEFAULT_TEMPLATE
    [item] = invoice["items"]
    assert item["product_id"] == PRODUCT.id
    assert (item["description"], item["quantity"], item["unit_price"]) == (
        "Web Development",
        40,
        150,
    )
    assert (item["unit"], item["tax_id"], item["tax_rate"]) == ("hour", TAX_STANDARD, 20)
    # 40 × 150 = 6000; 10 % off before tax = 600; 20 % VAT on 5400 = 1080.
    assert item["amount"] == Decimal("6000.00")
    assert invoice["subtotal"] == Decimal("6000.00")
    assert invoice["discount_amount"] == Decimal("600.00")
    assert invoice["tax_amount"] == Decimal("1080.00")
    assert invoice["total"] == Decimal("6480.00")
    assert invoice["amount_paid"] == Decimal("0.00")
    assert invoice["balance_due"] == Decimal("6480.00")
    assert invoice["share_token"] is None
    assert invoice["payments"] == []
    assert invoice["created_at"] == invoice["updated_at"] == "2026-01-20T12:00:00.000Z"


async def test_amounts_are_json_numbers_with_the_currency_decimals(client: Client) -> None:
    response = await client.post(BASE, data=with_seeded_ids(CREATE_EXAMPLE), headers=JSON_AUTH)
    text = await response.text()

    assert '"total": 6480.00' in text
    assert '"quantity": 40' in text
    assert '"unit_price": 150' in text
    assert '"tax_rate": 20' in text


async def test_create_example_with_its_placeholders_names_each_unknown_reference(
    client: Client,
) -> None:
    response = await client.post(BASE, data=CREATE_EXAMPLE, headers=JSON_AUTH)

    assert response.status == 422
    body = await response.json()
    assert_error(body, "validation_error")
    assert [d["field"] for d in body["error"]["details"]] == [
        "customer_id",
        "template_id",
        "items[0].product_id",
        "items[0].tax_id",
    ]


async def test_get_returns_items_customer_details_and_payment_history(client: Client) -> None:
    listed = await client.get(BASE, params={"status": "sent", "limit": "100"}, headers=AUTH)
    partially_paid = next(i for i in (await read(listed))["data"] if i["payments"])

    response = await client.get(f"{BASE}/{partially_paid['id']}", headers=AUTH)

    assert response.status == 200
    invoice = (await read(response))["data"]
    assert invoice == partially_paid
    assert_invoice_shape(invoice)
    assert invoice["amount_paid"] == sum(p["amount"] for p in invoice["payments"]) > 0
    assert invoice["balance_due"] == invoice["total"] - invoice["amount_paid"] > 0


async def test_update_takes_the_create_body_and_recomputes(client: Client) -> None:
    draft = await create_example(client)
    body = with_seeded_ids(CREATE_EXAMPLE).replace(b'"quantity": 40', b'"quantity": 10')

    response = await client.put(f"{BASE}/{draft['id']}", data=body, headers=JSON_AUTH)

    assert response.status == 200
    invoice = (await read(response))["data"]
    assert_invoice_shape(invoice)
    assert (invoice["id"], invoice["number"]) == (draft["id"], draft["number"])
    assert invoice["items"][0]["quantity"] == 10
    assert invoice["total"] == Decimal("1620.00")  # 1500 − 150 + 270


async def test_delete_moves_a_draft_to_the_trash(client: Client) -> None:
    draft = await create_example(client)

    response = await client.delete(f"{BASE}/{draft['id']}", headers=AUTH)

    assert response.status == 200
    trashed = (await read(response))["data"]
    assert trashed["id"] == draft["id"]
    assert TIMESTAMP.match(trashed["deleted_at"])
    assert (await client.get(f"{BASE}/{draft['id']}", headers=AUTH)).status == 404
    trash = await read(await client.get(f"{BASE}/trash/list", headers=AUTH))
    assert draft["id"] in [row["id"] for row in trash["data"]]


# -- Actions ------------------------------------------------------------------------------------


async def test_publish_generates_a_share_token_and_sends(client: Client) -> None:
    draft = await create_example(client)

    response = await act(client, draft["id"], "publish")

    assert response.status == 200
    invoice = (await read(response))["data"]
    assert invoice["status"] == "sent"
    assert re.match(r"^[0-9a-f]{32}$", invoice["share_token"])


async def test_unpublish_revokes_the_token_and_returns_to_draft(client: Client) -> None:
    draft = await create_example(client)
    await act(client, draft["id"], "publish")

    response = await act(client, draft["id"], "unpublish")

    assert response.status == 200
    invoice = (await read(response))["data"]
    assert (invoice["status"], invoice["share_token"]) == ("draft", None)


async def test_void_voids(client: Client) -> None:
    sent = await seeded(client, "sent")

    response = await act(client, sent["id"], "void")

    assert response.status == 200
    assert (await read(response))["data"]["status"] == "voided"


async def test_mark_paid_settles_the_whole_balance(client: Client) -> None:
    sent = await seeded(client, "sent")

    response = await act(client, sent["id"], "mark-paid")

    assert response.status == 200
    invoice = (await read(response))["data"]
    assert invoice["status"] == "paid"
    assert invoice["amount_paid"] == invoice["total"]
    assert invoice["balance_due"] == 0


async def test_mark_sent_sends_a_draft_without_a_share_token(client: Client) -> None:
    draft = await create_example(client)

    response = await act(client, draft["id"], "mark-sent")

    assert response.status == 200
    invoice = (await read(response))["data"]
    assert (invoice["status"], invoice["share_token"]) == ("sent", None)


async def test_send_emails_and_publishes_a_draft(client: Client) -> None:
    draft = await create_example(client)

    response = await act(client, draft["id"], "send")

    assert response.status == 200
    invoice = (await read(response))["data"]
    assert invoice["status"] == "sent"
    assert isinstance(invoice["share_token"], str)


async def test_send_without_smtp_is_422(aiohttp_client: MakeClient) -> None:
    client = await aiohttp_client(create_app(smtp_configured=False, clock=lambda: NOW))
    draft = await create_example(client)

    response = await act(client, draft["id"], "send")

    assert response.status == 422
    body = await response.json()
    assert_error(body, "smtp_not_configured")
    assert body["error"]["details"] == [{"field": "smtp", "message": "not configured"}]
    after = await read(await client.get(f"{BASE}/{draft['id']}", headers=AUTH))
    assert after["data"]["status"] == "draft"


async def test_duplicate_creates_a_draft_with_the_same_customer_and_items(client: Client) -> None:
    paid = await seeded(client, "paid")

    response = await act(client, paid["id"], "duplicate")

    assert response.status == 201
    copy = (await read(response))["data"]
    assert_invoice_shape(copy)
    assert copy["id"] != paid["id"] and copy["number"] != paid["number"]
    assert (copy["status"], copy["payments"], copy["share_token"]) == ("draft", [], None)
    assert copy["customer_id"] == paid["customer_id"]
    line = ("product_id", "description", "quantity", "unit_price", "unit", "tax_id", "amount")
    assert [[i[k] for k in line] for i in copy["items"]] == [
        [i[k] for k in line] for i in paid["items"]
    ]
    assert copy["total"] == paid["total"]


async def test_credit_note_is_generated_from_the_invoice(client: Client) -> None:
    paid = await seeded(client, "paid")

    response = await act(client, paid["id"], "credit-note")

    assert response.status == 201
    note = (await read(response))["data"]
    assert_invoice_shape(note)
    assert (note["type"], note["original_invoice_id"]) == ("credit_note", paid["id"])
    assert note["number"] == "CN-0001"
    assert note["status"] == "draft"
    assert (note["customer_id"], note["total"]) == (paid["customer_id"], paid["total"])
    fetched = await read(await client.get(f"{BASE}/{note['id']}", headers=AUTH))
    assert fetched["data"] == note


# -- Payments -----------------------------------------------------------------------------------


async def test_record_payment_example(client: Client) -> None:
    draft = await create_example(client)
    await act(client, draft["id"], "publish")

    response = await client.post(
        f"{BASE}/{draft['id']}/payments", data=PAYMENT_EXAMPLE, headers=JSON_AUTH
    )

    assert response.status == 201
    payment = (await read(response))["data"]
    assert_payment_shape(payment, draft["id"])
    assert payment["amount"] == Decimal("500.00")
    assert (payment["method"], payment["reference"], payment["date"]) == (
        "bank_transfer",
        "TXN-12345",
        "2026-01-20",
    )
    assert '"amount": 500.00' in await response.text()
    invoice = (await read(await client.get(f"{BASE}/{draft['id']}", headers=AUTH)))["data"]
    assert (invoice["amount_paid"], invoice["balance_due"]) == (
        Decimal("500.00"),
        Decimal("5980.00"),
    )
    assert invoice["payments"] == [payment]


async def test_list_payments(client: Client) -> None:
    paid = await seeded(client, "paid")

    response = await client.get(f"{BASE}/{paid['id']}/payments", headers=AUTH)

    assert response.status == 200
    body = await read(response)
    assert body["data"] == paid["payments"]
    assert body["meta"] == {
        "page": 1,
        "limit": 20,
        "total": len(paid["payments"]),
        "total_pages": 1,
    }


async def test_delete_payment_reopens_a_paid_invoice(client: Client) -> None:
    paid = await seeded(client, "paid")
    payment = paid["payments"][-1]

    response = await client.delete(f"{BASE}/{paid['id']}/payments/{payment['id']}", headers=AUTH)

    assert response.status == 200
    invoice = (await read(response))["data"]
    assert invoice["status"] in {"sent", "overdue"}
    assert payment["id"] not in [p["id"] for p in invoice["payments"]]
    assert invoice["balance_due"] == payment["amount"]


# -- Numbering, export, batch, trash ------------------------------------------------------------


async def test_next_number_is_the_number_the_next_invoice_gets(client: Client) -> None:
    response = await client.get(f"{BASE}/next-number", headers=AUTH)

    assert response.status == 200
    body = await read(response)
    assert body == {"data": {"number": "INV-0059"}}  # 56 live + 2 trashed seeded invoices
    assert (await create_example(client))["number"] == "INV-0059"


async def test_export_csv_has_a_header_and_one_row_per_invoice(client: Client) -> None:
    response = await client.get(f"{BASE}/export/csv", headers=AUTH)

    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    lines = (await response.text()).splitlines()
    assert lines[0].startswith("id,number,type,status,customer_id,customer_name")
    assert len(lines) == 1 + 56


async def test_batch_example_reports_each_unknown_id(client: Client) -> None:
    response = await client.post(f"{BASE}/batch", data=BATCH_EXAMPLE, headers=JSON_AUTH)

    assert response.status == 200
    body = await read(response)
    assert body["data"]["action"] == "delete"
    assert body["data"]["succeeded"] == []
    assert [(f["id"], f["code"]) for f in body["data"]["failed"]] == [
        ("uuid-1", "not_found"),
        ("uuid-2", "not_found"),
    ]


async def test_batch_example_with_real_drafts_deletes_them(client: Client) -> None:
    first, second = await create_example(client), await create_example(client)
    body = BATCH_EXAMPLE.replace(b"uuid-1", first["id"].encode()).replace(
        b"uuid-2", second["id"].encode()
    )

    response = await client.post(f"{BASE}/batch", data=body, headers=JSON_AUTH)

    assert response.status == 200
    result = (await read(response))["data"]
    assert (result["succeeded"], result["failed"]) == ([first["id"], second["id"]], [])


async def test_trash_list_and_trash_batch(client: Client) -> None:
    trash = await read(await client.get(f"{BASE}/trash/list", headers=AUTH))
    assert trash["meta"] == {"page": 1, "limit": 20, "total": 2, "total_pages": 1}
    ids = [row["id"] for row in trash["data"]]
    assert all(
        row["status"] == "draft" and TIMESTAMP.match(row["deleted_at"]) for row in trash["data"]
    )

    response = await client.post(
        f"{BASE}/trash/batch", json={"action": "restore", "ids": ids}, headers=AUTH
    )

    assert response.status == 200
    assert (await read(response))["data"] == {
        "action": "restore",
        "succeeded": ids,
        "failed": [],
    }
    restored = await read(await client.get(f"{BASE}/{ids[0]}", headers=AUTH))
    assert restored["data"]["status"] == "draft"


async def test_list_example_parameters(client: Client) -> None:
    response = await client.get(
        BASE,
        params={
            "status": "paid",
            "customer_id": CUSTOMER.id,
            "from_date": "2026-01-01",
            "to_date": "2026-12-31",
            "search": "acme",
            "page": "1",
            "limit": "5",
        },
        headers=AUTH,
    )

    assert response.status == 200
    body = await read(response)
    assert set(body) == {"data", "meta"}
    assert set(body["meta"]) == {"page", "limit", "total", "total_pages"}
    assert all(isinstance(v, int) for v in body["meta"].values())
    assert body["data"], "the seed has paid invoices for Acme"
    for invoice in body["data"]:
        assert_invoice_shape(invoice)
        assert (invoice["status"], invoice["customer_id"]) == ("paid", CUSTOMER.id)


# -- Errors in the provider's envelope ----------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}],
    ids=["missing", "wrong-token", "no-scheme", "basic"],
)
async def test_bad_credentials_are_401(client: Client, headers: dict[str, str]) -> None:
    response = await client.get(BASE, headers=headers)

    assert response.status == 401
    assert_error(await response.json(), "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_malformed_json_is_400(client: Client) -> None:
    response = await client.post(BASE, data=b'{"customer_id": ', headers=JSON_AUTH)

    assert response.status == 400
    body = await response.json()
    assert_error(body, "malformed_json")
    assert body["error"]["details"][0]["field"] == "body"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{BASE}/00000000-0000-4000-8000-000000000000"),
        ("PUT", f"{BASE}/00000000-0000-4000-8000-000000000000"),
        ("DELETE", f"{BASE}/no-such-invoice"),
        ("POST", f"{BASE}/00000000-0000-4000-8000-000000000000/publish"),
        ("GET", f"{BASE}/00000000-0000-4000-8000-000000000000/payments"),
        ("GET", "/api/v1/estimates"),
        ("GET", f"{BASE}/trash"),
    ],
)
async def test_unknown_id_or_path_is_404(client: Client, method: str, path: str) -> None:
    response = await client.request(
        method, path, data=with_seeded_ids(CREATE_EXAMPLE), headers=AUTH
    )

    assert response.status == 404
    assert_error(await response.json(), "not_found")


async def test_unknown_payment_is_404(client: Client) -> None:
    paid = await seeded(client, "paid")

    response = await client.delete(f"{BASE}/{paid['id']}/payments/{paid['id']}", headers=AUTH)

    assert response.status == 404
    assert_error(await response.json(), "not_found")


async def test_wrong_method_is_405_in_the_envelope(client: Client) -> None:
    response = await client.patch(f"{BASE}/next-number", headers=AUTH)

    assert response.status == 405
    assert_error(await response.json(), "method_not_allowed")
    assert "GET" in response.headers["Allow"]


# -- Wiring -------------------------------------------------------------------------------------


async def test_the_registry_builds_this_emulator(aiohttp_client: MakeClient) -> None:
    client = await aiohttp_client(registry_create_app("draft_publish", seed_invoices=3))

    body = await read(await client.get(BASE, headers=AUTH))

    assert body["meta"]["total"] == 3


async def test_a_custom_token_replaces_the_sandbox_one(aiohttp_client: MakeClient) -> None:
    client = await aiohttp_client(create_app(token="s3cret"))

    assert (await client.get(BASE, headers=AUTH)).status == 401
    assert (await client.get(BASE, headers={"Authorization": "Bearer s3cret"})).status == 200


async def test_reference_data_lists_every_seeded_reference_id() -> None:
    data = reference_data()

    assert [c["id"] for c in data["customers"]] == list(CUSTOMERS)
    assert [p["id"] for p in data["products"]] == list(PRODUCTS)
    assert {t["id"]: t["rate"] for t in data["taxes"]}[TAX_STANDARD] == "20"
    assert [t["id"] for t in data["templates"] if t["default"]] == [DEFAULT_TEMPLATE]
    assert set(TEMPLATES) == {t["id"] for t in data["templates"]}
