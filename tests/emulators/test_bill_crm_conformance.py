"""bill_crm emulator: every documented endpoint, its envelope, and the JSON type of every field.

The provider's page shows no example payloads, only parameter tables, so each request here
sends every documented parameter as raw JSON bytes and checks the documented answer.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.emulators._bill_crm_support import BASE, KEY
from tests.emulators._bill_crm_support import client as client  # pytest fixture, used by name
from tests.emulators._exact_json import loads

HEADERS = {**KEY, "Content-Type": "application/json"}
TOTALS_KEYS = {
    "subtotal",
    "discount_amount",
    "amount_before_tax",
    "tax_amount",
    "adjustment_amount",
    "final_amount",
    "paid_amount",
    "balance_due",
}
INVOICE_KEYS = {
    "id",
    "status",
    "client",
    "project_id",
    "category",
    "dates",
    "tax_type",
    "discount",
    "adjustment",
    "notes",
    "terms",
    "totals",
    "line_items",
    "taxes",
    "tags",
}

CREATE_BODY = (
    b'{"bill_clientid": 1, "bill_categoryid": 2, "bill_date": "2026-07-01", '
    b'"bill_due_date": "2026-07-31", "bill_projectid": 2, "bill_tax_type": "summary", '
    b'"bill_notes": "Thank you.", "bill_terms": "Net 30"}'
)
SUMMARY_ITEMS_BODY = (
    b'{"items": [{"description": "Consulting", "quantity": 10, "rate": 500.00, "unit": "hour", '
    b'"long_description": "Senior consultant"}, {"description": "Hosting", "quantity": "3", '
    b'"rate": "19.99", "unit": "month"}], "tax_rate_ids": [1, 7]}'
)
UPDATE_BODY = (
    b'{"bill_categoryid": 3, "bill_date": "2026-07-02", "bill_due_date": "2026-08-01", '
    b'"bill_projectid": 1, "bill_notes": "Updated notes", "bill_terms": "Net 30", '
    b'"bill_tax_type": "summary", "bill_discount_type": "percentage", '
    b'"bill_discount_percentage": 10, "bill_discount_amount": 0, '
    b'"bill_adjustment_description": "Rounding", "bill_adjustment_amount": -0.41}'
)


async def send(
    client: TestClient[Any, Any],
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    response = await client.request(method, path, data=body, headers=headers or HEADERS)
    assert response.content_type == "application/json"
    return response.status, loads(await response.text())


def is_amount(value: Any) -> bool:
    """A JSON number written with exactly two decimals (never a string)."""
    return isinstance(value, Decimal) and value.as_tuple().exponent == -2


def check_error(body: Any, message_part: str = "") -> None:
    assert set(body) == {"success", "message", "errors"}
    assert body["success"] is False
    assert isinstance(body["message"], str) and message_part in body["message"]
    assert isinstance(body["errors"], dict)


def check_totals(totals: Any) -> None:
    assert set(totals) == TOTALS_KEYS
    assert all(is_amount(value) for value in totals.values()), totals


def check_invoice(invoice: Any) -> None:
    assert set(invoice) == INVOICE_KEYS
    assert type(invoice["id"]) is int
    status = invoice["status"]
    assert set(status) == {"id", "title", "color"}
    assert type(status["id"]) is int and isinstance(status["title"], str)
    assert isinstance(status["color"], str) and status["color"].startswith("#")
    assert set(invoice["client"]) == {"id", "name", "email"}
    assert type(invoice["client"]["id"]) is int and isinstance(invoice["client"]["name"], str)
    assert invoice["project_id"] is None or type(invoice["project_id"]) is int
    assert set(invoice["category"]) == {"id", "name"} and type(invoice["category"]["id"]) is int
    assert set(invoice["dates"]) == {"date", "due_date", "created"}
    assert len(invoice["dates"]["date"]) == 10 and len(invoice["dates"]["due_date"]) == 10
    assert invoice["dates"]["created"].endswith("Z")
    assert invoice["tax_type"] in ("summary", "inline")
    assert invoice["discount"]["type"] in ("none", "fixed", "percentage")
    assert is_amount(invoice["discount"]["percentage"]) and is_amount(invoice["discount"]["amount"])
    assert is_amount(invoice["adjustment"]["amount"])
    check_totals(invoice["totals"])
    for line in invoice["line_items"]:
        assert type(line["id"]) is int and isinstance(line["description"], str)
        assert isinstance(line["quantity"], int | Decimal) and is_amount(line["amount"])
        assert isinstance(line["rate"], Decimal) and is_amount(line["total"])
        assert is_amount(line["discount_amount"]) and line["discount_type"] in (
            "none",
            "fixed",
            "percentage",
        )
    line_ids = {line["id"] for line in invoice["line_items"]}
    for tax in invoice["taxes"]:
        assert set(tax) == {"id", "taxrate_id", "name", "rate", "lineitem_id", "amount"}
        assert type(tax["taxrate_id"]) is int and is_amount(tax["amount"])
        if invoice["tax_type"] == "summary":
            assert tax["lineitem_id"] is None
        else:
            assert tax["lineitem_id"] in line_ids
    assert all(isinstance(tag, str) for tag in invoice["tags"])


async def created_summary_invoice(client: TestClient[Any, Any]) -> int:
    status, body = await send(client, "POST", BASE, CREATE_BODY)
    assert status == 201
    invoice_id: int = body["data"]["id"]
    status, _ = await send(client, "PUT", f"{BASE}/{invoice_id}/line-items", SUMMARY_ITEMS_BODY)
    assert status == 200
    return invoice_id


async def test_create_answers_201_with_a_draft_without_lines(client: TestClient[Any, Any]) -> None:
    status, body = await send(client, "POST", BASE, CREATE_BODY)

    assert status == 201
    assert set(body) == {"success", "data"} and body["success"] is True
    invoice = body["data"]
    check_invoice(invoice)
    assert invoice["id"] == 57  # the next id after the 56 seeded invoices
    assert invoice["status"] == {"id": 1, "title": "Draft", "color": "#9E9E9E"}
    assert invoice["client"]["id"] == 1 and invoice["category"] == {"id": 2, "name": "Consulting"}
    assert invoice["project_id"] == 2
    assert invoice["dates"]["date"] == "2026-07-01" and invoice["dates"]["due_date"] == "2026-07-31"
    assert invoice["tax_type"] == "summary"
    assert (invoice["notes"], invoice["terms"]) == ("Thank you.", "Net 30")
    assert invoice["line_items"] == [] and invoice["taxes"] == [] and invoice["tags"] == []
    assert all(value == 0 for value in invoice["totals"].values())


async def test_set_line_items_answers_the_recalculated_totals(
    client: TestClient[Any, Any],
) -> None:
    status, body = await send(client, "POST", BASE, CREATE_BODY)
    invoice_id = body["data"]["id"]

    status, body = await send(client, "PUT", f"{BASE}/{invoice_id}/line-items", SUMMARY_ITEMS_BODY)

    assert status == 200 and body["success"] is True
    check_totals(body["data"])
    # 5000.00 + 59.97; VAT 20% 1011.994 → 1011.99; sales tax 8.25% 417.447525 → 417.45.
    assert body["data"] == {
        "subtotal": Decimal("5059.97"),
        "discount_amount": Decimal("0.00"),
        "amount_before_tax": Decimal("5059.97"),
        "tax_amount": Decimal("1429.44"),
        "adjustment_amount": Decimal("0.00"),
        "final_amount": Decimal("6489.41"),
        "paid_amount": Decimal("0.00"),
        "balance_due": Decimal("6489.41"),
    }


async def test_get_shows_lines_and_summary_tax_records(client: TestClient[Any, Any]) -> None:
    invoice_id = await created_summary_invoice(client)

    status, body = await send(client, "GET", f"{BASE}/{invoice_id}")

    assert status == 200
    invoice = body["data"]
    check_invoice(invoice)
    first, second = invoice["line_items"]
    assert first["description"] == "Consulting" and first["long_description"] == "Senior consultant"
    assert (first["quantity"], first["rate"], first["unit"]) == (10, Decimal("500.00"), "hour")
    assert (second["quantity"], second["rate"], second["amount"]) == (
        3,
        Decimal("19.99"),
        Decimal("59.97"),
    )
    assert [(tax["taxrate_id"], tax["lineitem_id"], tax["amount"]) for tax in invoice["taxes"]] == [
        (1, None, Decimal("1011.99")),
        (7, None, Decimal("417.45")),
    ]
    assert invoice["taxes"][1]["name"] == "Sales Tax 8.25%"
    assert invoice["taxes"][1]["rate"] == Decimal("8.25")


async def test_inline_line_items_carry_their_own_tax_and_discount(
    client: TestClient[Any, Any],
) -> None:
    status, body = await send(
        client,
        "POST",
        BASE,
        b'{"bill_clientid": 3, "bill_categoryid": 1, "bill_date": "2026-07-01", '
        b'"bill_tax_type": "inline"}',
    )
    invoice_id = body["data"]["id"]
    items = (
        b'{"items": [{"description": "Design", "quantity": 2, "rate": 150, "tax_rate_id": 1, '
        b'"discount_type": "percentage", "discount_value": 10}, {"description": "Domain", '
        b'"quantity": 1, "rate": 14.99, "tax_rate_id": 3, "discount_type": "fixed", '
        b'"discount_value": 4.99}, {"description": "Advice", "quantity": 1, "rate": 80}]}'
    )

    status, totals = await send(client, "PUT", f"{BASE}/{invoice_id}/line-items", items)
    _, body = await send(client, "GET", f"{BASE}/{invoice_id}")

    assert status == 200
    # 300 − 30 = 270 taxed 20% → 54.00; 14.99 − 4.99 = 10 at 0%; 80 untaxed.
    assert totals["data"]["subtotal"] == Decimal("360.00")
    assert totals["data"]["tax_amount"] == Decimal("54.00")
    assert totals["data"]["final_amount"] == Decimal("414.00")
    invoice = body["data"]
    check_invoice(invoice)
    lines = invoice["line_items"]
    assert [line["discount_amount"] for line in lines] == [
        Decimal("30.00"),
        Decimal("4.99"),
        Decimal("0.00"),
    ]
    assert [line["tax_rate_id"] for line in lines] == [1, 3, None]
    assert [(tax["lineitem_id"], tax["amount"]) for tax in invoice["taxes"]] == [
        (lines[0]["id"], Decimal("54.00")),
        (lines[1]["id"], Decimal("0.00")),
    ]


async def test_update_header_recalculates(client: TestClient[Any, Any]) -> None:
    invoice_id = await created_summary_invoice(client)

    status, body = await send(client, "PUT", f"{BASE}/{invoice_id}", UPDATE_BODY)

    assert status == 200 and body["success"] is True
    invoice = body["data"]
    check_invoice(invoice)
    assert invoice["category"]["id"] == 3 and invoice["project_id"] == 1
    assert invoice["dates"]["date"] == "2026-07-02" and invoice["dates"]["due_date"] == "2026-08-01"
    assert invoice["notes"] == "Updated notes"
    assert invoice["discount"] == {
        "type": "percentage",
        "percentage": Decimal("10.00"),
        "amount": Decimal("0.00"),
    }
    assert invoice["adjustment"] == {"description": "Rounding", "amount": Decimal("-0.41")}
    # Shares 500.00 + 6.00 (5.997); taxes on 4553.97: 910.79 and 375.70; then −0.41.
    assert invoice["totals"]["discount_amount"] == Decimal("506.00")
    assert invoice["totals"]["amount_before_tax"] == Decimal("4553.97")
    assert invoice["totals"]["tax_amount"] == Decimal("1286.49")
    assert invoice["totals"]["final_amount"] == Decimal("5840.05")
    assert invoice["totals"]["balance_due"] == Decimal("5840.05")


async def test_list_answers_data_and_meta(client: TestClient[Any, Any]) -> None:
    status, body = await send(client, "GET", f"{BASE}?limit=5&page=2")

    assert status == 200
    assert set(body) == {"success", "data", "meta"} and body["success"] is True
    assert body["meta"] == {"current_page": 2, "per_page": 5, "total": 56}
    assert len(body["data"]) == 5
    for invoice in body["data"]:
        check_invoice(invoice)


async def test_status_change_answers_the_invoice(client: TestClient[Any, Any]) -> None:
    invoice_id = await created_summary_invoice(client)

    status, body = await send(client, "POST", f"{BASE}/{invoice_id}/status", b'{"status": 20}')

    assert status == 200
    check_invoice(body["data"])
    assert body["data"]["status"] == {"id": 20, "title": "Cancelled", "color": "#607D8B"}


async def test_set_tags_answers_the_invoice(client: TestClient[Any, Any]) -> None:
    invoice_id = await created_summary_invoice(client)

    status, body = await send(
        client, "PUT", f"{BASE}/{invoice_id}/tags", b'{"tags": ["priority", "web"]}'
    )

    assert status == 200
    check_invoice(body["data"])
    assert body["data"]["tags"] == ["priority", "web"]


async def test_clone_answers_201_with_a_new_draft(client: TestClient[Any, Any]) -> None:
    invoice_id = await created_summary_invoice(client)

    status, body = await send(
        client,
        "POST",
        f"{BASE}/{invoice_id}/clone",
        b'{"bill_clientid": 2, "bill_date": "2026-08-01", "bill_due_date": "2026-08-15", '
        b'"bill_projectid": 3}',
    )

    assert status == 201
    clone = body["data"]
    check_invoice(clone)
    assert clone["id"] == invoice_id + 1 and clone["status"]["id"] == 1
    assert clone["client"]["id"] == 2 and clone["project_id"] == 3
    assert clone["dates"]["date"] == "2026-08-01" and clone["dates"]["due_date"] == "2026-08-15"
    assert clone["totals"]["final_amount"] == Decimal("6489.41")


async def test_publish_then_email(client: TestClient[Any, Any]) -> None:
    invoice_id = await created_summary_invoice(client)

    published_status, published = await send(client, "POST", f"{BASE}/{invoice_id}/publish")
    emailed_status, emailed = await send(client, "POST", f"{BASE}/{invoice_id}/email")

    assert published_status == 200
    check_invoice(published["data"])
    assert published["data"]["status"] == {"id": 2, "title": "Due", "color": "#2196F3"}
    assert emailed_status == 200 and emailed["success"] is True
    assert emailed["message"] == f"Invoice {invoice_id} emailed to billing@acme.example."
    check_invoice(emailed["data"])


async def test_delete_answers_the_id_then_the_invoice_is_gone(
    client: TestClient[Any, Any],
) -> None:
    status, body = await send(client, "DELETE", f"{BASE}/7")
    gone_status, gone = await send(client, "GET", f"{BASE}/7")

    assert status == 200 and body["success"] is True and body["data"] == {"id": 7}
    assert gone_status == 404
    check_error(gone, "Invoice 7 not found")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "wrong"},
        {"X-API-Key": ""},
        {"Authorization": "Bearer sandbox-bill_crm"},
    ],
    ids=["missing", "wrong", "empty", "bearer-instead"],
)
async def test_a_missing_or_wrong_api_key_is_401(
    client: TestClient[Any, Any], headers: dict[str, str]
) -> None:
    status, body = await send(client, "GET", f"{BASE}/1", headers=headers or {"Accept": "*/*"})

    assert status == 401
    check_error(body, "Unauthenticated")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", BASE),
        ("PUT", f"{BASE}/1"),
        ("PUT", f"{BASE}/1/line-items"),
        ("POST", f"{BASE}/1/status"),
        ("PUT", f"{BASE}/1/tags"),
        ("POST", f"{BASE}/1/clone"),
    ],
)
@pytest.mark.parametrize(
    "raw", [b'{"bill_clientid": 1,', b"", b"[1, 2]"], ids=["cut", "empty", "array"]
)
async def test_a_malformed_body_is_400(
    client: TestClient[Any, Any], method: str, path: str, raw: bytes
) -> None:
    status, body = await send(client, method, path, raw)

    assert status == 400
    check_error(body, "Malformed request body: ")


@pytest.mark.parametrize(
    ("method", "suffix", "raw"),
    [
        ("GET", "", None),
        ("PUT", "", b'{"bill_categoryid": 1, "bill_date": "2026-07-01"}'),
        ("DELETE", "", None),
        ("PUT", "/line-items", b'{"items": [{"description": "x", "quantity": 1, "rate": 1}]}'),
        ("POST", "/status", b'{"status": 2}'),
        ("PUT", "/tags", b'{"tags": []}'),
        (
            "POST",
            "/clone",
            b'{"bill_clientid": 1, "bill_date": "2026-07-01", "bill_due_date": "2026-07-02"}',
        ),
        ("POST", "/publish", None),
        ("POST", "/email", None),
    ],
)
async def test_an_unknown_invoice_id_is_404(
    client: TestClient[Any, Any], method: str, suffix: str, raw: bytes | None
) -> None:
    status, body = await send(client, method, f"{BASE}/999{suffix}", raw)

    assert status == 404
    check_error(body, "Invoice 999 not found")


@pytest.mark.parametrize(
    "path", ["/api/v1/clients", f"{BASE}/abc", f"{BASE}/1/payments", "/api/v2/invoices"]
)
async def test_an_unknown_path_is_404_in_the_envelope(
    client: TestClient[Any, Any], path: str
) -> None:
    status, body = await send(client, "GET", path)

    assert status == 404
    check_error(body, "No route")


async def test_an_unsupported_method_is_405_in_the_envelope(client: TestClient[Any, Any]) -> None:
    response = await client.patch(f"{BASE}/1", data=b"{}", headers=HEADERS)
    body = await response.json()

    assert response.status == 405
    assert set(response.headers["Allow"].split(",")) == {"GET", "HEAD", "PUT", "DELETE"}
    check_error(body, "Method Not Allowed")


async def test_a_validation_error_is_422_naming_the_field(client: TestClient[Any, Any]) -> None:
    status, body = await send(
        client, "POST", BASE, b'{"bill_clientid": 1, "bill_date": "2026-07-01"}'
    )

    assert status == 422
    check_error(body)
    assert body["message"] == "The bill_categoryid field is required."
    assert body["errors"] == {"bill_categoryid": ["The bill_categoryid field is required."]}
