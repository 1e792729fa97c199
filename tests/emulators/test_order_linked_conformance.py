"""order_linked conformance: each example of the provider's doc, sent verbatim, answered as
documented (status, envelope, every documented field, strings where the doc shows strings).

The doc's examples are copied below byte for byte. Their ``{{placeholders}}`` stand for ids
and values the doc leaves to the reader; the tests replace each with a seeded value and leave
every other byte alone. The unfilled example is sent too: it must fail as a 422 naming the
first field a placeholder cannot fill.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import pytest

from tests.emulators._order_linked_support import AUTH, JSON_HEADERS, Client
from tests.emulators._order_linked_support import client as client  # pytest fixture, used by name

# "Create Invoice: /invoices", Request Body, verbatim.
DOC_CREATE_REQUEST = """\
{
"invoice": {
"type": "NOT_LINKED_WITH_ORDER",
"currency": "{{currency_code}}",
"issue_date": "{{issue_date}}",
"due_date": "{{due_date}}",
"price_tax_inclusive": "{{price_tax_inclusive}}",
"invoice_note": "{{invoice_note}}",
"account_id": "{{account_id}}",
"lines": [
{
"item_id": "{{item_id}}",
"item_quantity": "{{item_quantity}}",
"package_name": "{{package_name}}",
"item_price_snapshot": {
"pricing_rule": {
"price": "{{item_price}}"
}
}
}
]
}
}"""

# "Create Invoice", Response Body, verbatim.
DOC_CREATE_RESPONSE = """\
{
"invoice": {
"status": "{{status}}",
"id": "{{invoice_id}}",
"type": "{{invoice_type}}",
"custom_form": {
"uuid": "{{form_uuid}}",
"name": "{{form_name}}"
},
"currency": {
"uuid": "{{currency_uuid}}",
"name": "{{currency_name}}",
"link": "{{currency_link}}"
},
"customer_purchase_order_id": "{{customer_purchase_order_id}}",
"billing_start_date": "{{billing_start_date}}",
"alternate_billing_start_date": "{{alternate_billing_start_date}}",
"billing_end_date": "{{billing_end_date}}",
"alternate_billing_end_date": "{{alternate_billing_end_date}}",
"issue_date": "{{issue_date}}",
"alternate_issue_date": "{{alternate_issue_date}}",
"due_date": "{{due_date}}",
"alternate_due_date": "{{alternate_due_date}}",
"origin": "{{origin}}",
"subtotal": "{{subtotal}}",
"tax": "{{tax}}",
"total": "{{total}}",
"paid": "{{paid}}",
"due": "{{due}}",
"shipping_cost": "{{shipping_cost}}",
"payment_status": "{{payment_status}}",
"last_payment": "{{last_payment}}",
"discount_amount": "{{discount_amount}}",
"price_tax_inclusive": "{{price_tax_inclusive}}",
"invoice_note": "{{invoice_note}}",
"account_id": "{{account_id}}",
"account_name": "{{account_name}}",
"order_id": "{{order_id}}",
"kpis": {
"outstanding": "{{outstanding}}",
"overdue": "{{overdue}}",
"last_payment_date": "{{last_payment_date}}",
"payment_applied": "{{payment_applied}}",
"credit_applied": "{{credit_applied}}",
"credit_issued": "{{credit_issued}}",
"last_reactivated_on": "{{last_reactivated_on}}",
"last_cancelled_on": "{{last_cancelled_on}}",
"last_amended_on": "{{last_amended_on}}",
"voided_on": "{{voided_on}}",
"deleted_on": "{{deleted_on}}"
},
"created_by": "{{created_by}}",
"created_on": "{{created_on}}",
"last_updated_by": "{{last_updated_by}}",
"last_updated_on": "{{last_updated_on}}",
"uuid": "{{uuid}}",
"version": "{{version}}",
"custom_attributes": [],
"custom_objects": [],
"lines": [
{
"item_serial_or_batch_number": "{{item_serial_or_batch_number}}",
"subtotal": "{{line_subtotal}}",
"total": "{{line_total}}",
"tax": {
"amount": "{{line_tax_amount}}",
"uuid": "{{line_tax_uuid}}",
"code": "{{line_tax_code}}",
"rate": "{{line_tax_rate}}",
"link": "{{line_tax_link}}"
},
"accounting_code": {
"sales_revenue": "{{sales_revenue_code}}"
},
"item_uuid": "{{item_uuid}}",
"item_id": "{{item_id}}",
"item_name": "{{item_name}}",
"item_order_quantity": "{{item_order_quantity}}",
"item_uom": "{{item_uom}}",
"item_warehouse": "{{item_warehouse}}",
"pricing_snapshot_uuid": "{{pricing_snapshot_uuid}}",
"uuid": "{{line_uuid}}",
"version": "{{line_version}}"
}
]
}
}"""

# "Create an Invoice for an Specific Order", Request Body, verbatim.
DOC_ORDER_REQUEST = """\
{
"invoice":
{
"invoice_note": "INVOICE_NOTE"
}
}"""

# "Create an Invoice for an Specific Order", Response Body, verbatim.
DOC_ORDER_RESPONSE = """\
{
"invoice": {
"status": "STATUS",
"id": "INVOICE_ID",
"type": "INVOICE_TYPE",
"custom_form": {
"uuid": "FORM_UUID",
"name": "FORM_NAME"
},
"currency": {
"uuid": "CURRENCY_UUID",
"name": "CURRENCY_NAME",
"link": "CURRENCY_LINK"
},
"customer_purchase_order_id": "PURCHASE_ORDER_ID",
"billing_start_date": "BILLING_START_DATE",
"alternate_billing_start_date": "ALTERNATE_BILLING_START_DATE",
"billing_end_date": "BILLING_END_DATE",
"alternate_billing_end_date": "ALTERNATE_BILLING_END_DATE",
"issue_date": "ISSUE_DATE",
"alternate_issue_date": "ALTERNATE_ISSUE_DATE",
"due_date": "DUE_DATE",
"alternate_due_date": "ALTERNATE_DUE_DATE",
"subtotal": "SUBTOTAL",
"tax": "TAX",
"total": "TOTAL",
"paid": "PAID_AMOUNT",
"due": "DUE_AMOUNT",
"payment_status": "PAYMENT_STATUS",
"last_payment": "LAST_PAYMENT",
"discount_amount": "DISCOUNT_AMOUNT",
"price_tax_inclusive": "TAX_INCLUSIVE",
"invoice_note": "INVOICE_NOTE",
"account_id": "ACCOUNT_ID",
"order_id": "ORDER_ID",
"kpis": {
"outstanding": "OUTSTANDING",
"overdue": "OVERDUE",
"last_payment_date": "LAST_PAYMENT_DATE",
"payment_applied": "PAYMENT_APPLIED",
"credit_applied": "CREDIT_APPLIED",
"credit_issued": "CREDIT_ISSUED",
"last_reactivated_on": "LAST_REACTIVATED_DATE",
"last_cancelled_on": "LAST_CANCELLED_DATE",
"last_amended_on": "LAST_AMENDED_DATE",
"voided_on": "VOIDED_DATE",
"deleted_on": "DELETED_DATE"
},
"created_by": "CREATED_BY",
"created_on": "CREATED_ON",
"last_updated_by": "LAST_UPDATED_BY",
"last_updated_on": "LAST_UPDATED_ON",
"uuid": "INVOICE_UUID",
"version": "VERSION",
"custom_attributes": [
{
"name": "ATTRIBUTE_NAME",
"value": "ATTRIBUTE_VALUE"
}
],
"custom_objects": [],
"lines": [
{
"subtotal": "LINE_SUBTOTAL",
"total": "LINE_TOTAL",
"tax": {
"amount": "TAX_AMOUNT",
"uuid": "TAX_UUID",
"code": "TAX_CODE",
"rate": "TAX_RATE",
"link": "TAX_LINK"
},
"accounting_code": {
"sales_revenue": "ACCOUNTING_CODE"
},
"item_uuid": "ITEM_UUID",
"item_id": "ITEM_ID",
"item_order_quantity": "ORDER_QUANTITY",
"item_uom": "UNIT_OF_MEASURE",
"item_warehouse": "WAREHOUSE_NAME",
"pricing_snapshot_uuid": "PRICING_SNAPSHOT_UUID",
"charging_start_date": "CHARGING_START_DATE",
"alternate_charging_start_date": "ALTERNATE_CHARGING_START_DATE",
"charging_end_date": "CHARGING_END_DATE",
"alternate_charging_end_date": "ALTERNATE_CHARGING_END_DATE",
"uuid": "LINE_UUID",
"version": "LINE_VERSION"
}
]
}
}"""

# "Cancel an Invoice" (and, identically, "Reactivate an Invoice"), Response Body, verbatim.
DOC_CANCEL_RESPONSE = """\
{
"invoice": {
"status": "STATUS",
"id": "INVOICE_ID",
"type": "INVOICE_TYPE",
"custom_form": {
"uuid": "CUSTOM_FORM_UUID",
"name": "CUSTOM_FORM_NAME"
},
"currency": {
"uuid": "CURRENCY_UUID",
"name": "CURRENCY_NAME",
"link": "CURRENCY_LINK"
},
"customer_purchase_order_id": "CUSTOMER_PURCHASE_ORDER_ID",
"billing_start_date": "BILLING_START_DATE",
"alternate_billing_start_date": "ALTERNATE_BILLING_START_DATE",
"billing_end_date": "BILLING_END_DATE",
"alternate_billing_end_date": "ALTERNATE_BILLING_END_DATE",
"issue_date": "ISSUE_DATE",
"alternate_issue_date": "ALTERNATE_ISSUE_DATE",
"due_date": "DUE_DATE",
"alternate_due_date": "ALTERNATE_DUE_DATE",
"subtotal": "SUBTOTAL",
"tax": "TAX",
"total": "TOTAL",
"paid": "PAID",
"due": "DUE",
"shipping_cost": "SHIPPING_COST",
"payment_status": "PAYMENT_STATUS",
"last_payment": "LAST_PAYMENT",
"discount_amount": "DISCOUNT_AMOUNT",
"price_tax_inclusive": "PRICE_TAX_INCLUSIVE",
"invoice_note": "INVOICE_NOTE",
"account_id": "ACCOUNT_ID",
"account_name": "ACCOUNT_NAME",
"order_id": "ORDER_ID",
"kpis": {
"outstanding": "KPI_OUTSTANDING",
"overdue": "KPI_OVERDUE",
"last_payment_date": "KPI_LAST_PAYMENT_DATE",
"payment_applied": "KPI_PAYMENT_APPLIED",
"credit_applied": "KPI_CREDIT_APPLIED",
"credit_issued": "KPI_CREDIT_ISSUED",
"last_reactivated_on": "KPI_LAST_REACTIVATED_ON",
"last_cancelled_on": "KPI_LAST_CANCELLED_ON",
"last_amended_on": "KPI_LAST_AMENDED_ON",
"voided_on": "KPI_VOIDED_ON",
"deleted_on": "KPI_DELETED_ON"
},
"created_by": "CREATED_BY",
"created_on": "CREATED_ON",
"last_updated_by": "LAST_UPDATED_BY",
"last_updated_on": "LAST_UPDATED_ON",
"uuid": "UUID",
"version": "VERSION",
"custom_attributes": [],
"custom_objects": [],
"lines": []
}
}"""

# "Create a Note for an Invoice", Response Body, verbatim.
DOC_NOTE_RESPONSE = """\
{
"invoice": {
"notes": {
"uuid": "uuid"
}
}
}"""

# "Create Note with Attachments to an Invoice", Response Body, verbatim.
DOC_NOTE_FILES_RESPONSE = """\
{
"invoice": {
"notes": {
"content": "<note_content>",
"files": [
{
"name": "<file_name>"
}
]
}
}
}"""

# Values for the create example's placeholders: seeded reference ids and ordinary inputs.
CREATE_VALUES = {
    "{{currency_code}}": "AUD",
    "{{issue_date}}": "2026-07-01",
    "{{due_date}}": "2026-07-31",
    "{{price_tax_inclusive}}": "false",
    "{{invoice_note}}": "Deliver to loading dock 2",
    "{{account_id}}": "ACC-1001",
    "{{item_id}}": "ITM-1001",
    "{{item_quantity}}": "2",
    "{{package_name}}": "Flat pack",
    "{{item_price}}": "749.00",
}

DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Fields the doc types as "String (Decimal)" (or shows as amounts): never numbers, never null.
MONEY = ("subtotal", "tax", "tax_total", "total", "paid", "due", "shipping_cost", "discount_amount")
KPI_MONEY = (
    "outstanding",
    "overdue",
    "payment_applied",
    "credit_applied",
    "credit_issued",
    "total_discount",
    "average_item_cost",
)
# Documented only in the attribute tables, not in the JSON examples.
TABLE_ONLY = {"tax_total"}
TABLE_ONLY_KPIS = {"total_items", "total_discount", "average_item_cost"}


def fill(template: str, values: dict[str, str]) -> bytes:
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    assert "{{" not in template, "every placeholder has a value"
    return template.encode()


def assert_documented_shape(invoice: dict[str, Any], documented: dict[str, Any]) -> None:
    """Every key the doc's example shows is present (with the table-only ones), typed as the
    doc types it."""
    assert set(documented) | TABLE_ONLY <= set(invoice)
    assert set(documented["kpis"]) | TABLE_ONLY_KPIS <= set(invoice["kpis"])
    for name in ("custom_form", "currency"):
        assert set(documented[name]) <= set(invoice[name])
        assert all(isinstance(v, str) for v in invoice[name].values())
    assert invoice["status"] in ("ACTIVE", "INACTIVE")
    assert invoice["type"] in ("LINKED_WITH_ORDER", "NOT_LINKED_WITH_ORDER")
    assert invoice["payment_status"] in ("UNPAID", "PARTIALLY_PAID", "PAID")
    assert invoice["price_tax_inclusive"] in ("true", "false")
    assert isinstance(invoice["id"], str) and invoice["id"]
    assert UUID.match(invoice["uuid"])
    assert isinstance(invoice["version"], str) and invoice["version"].isdigit()
    for name in MONEY:
        assert isinstance(invoice[name], str) and DECIMAL.match(invoice[name]), name
    for name in KPI_MONEY:
        assert isinstance(invoice["kpis"][name], str) and DECIMAL.match(invoice["kpis"][name])
    total_items = invoice["kpis"]["total_items"]
    assert isinstance(total_items, int) and not isinstance(total_items, bool)
    assert total_items == len(invoice["lines"])
    assert DATE.match(invoice["issue_date"]) and DATE.match(invoice["due_date"])
    for name in ("created_on", "last_updated_on"):
        assert TIMESTAMP.match(invoice[name]), name
    for name in ("created_by", "last_updated_by", "account_id", "account_name", "origin"):
        assert isinstance(invoice[name], str) and invoice[name], name
    for name in ("customer_purchase_order_id", "invoice_note", "order_id"):
        assert invoice[name] is None or isinstance(invoice[name], str), name
    for name in ("billing_start_date", "billing_end_date"):
        assert invoice[name] is None or DATE.match(invoice[name]), name
    assert invoice["last_payment"] is None or isinstance(invoice["last_payment"], dict)
    assert isinstance(invoice["custom_objects"], list)
    for attribute in invoice["custom_attributes"]:
        assert set(attribute) == {"name", "value"} and isinstance(attribute["name"], str)


async def documented_invoice(
    response: aiohttp.ClientResponse, status: int, documented_example: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The invoice answered and the doc's example of it, once the status, the ``{"invoice"}``
    envelope and the documented shape are checked."""
    assert response.status == status
    payload = await response.json()
    assert set(payload) == {"invoice"}
    invoice: dict[str, Any] = payload["invoice"]
    documented: dict[str, Any] = json.loads(documented_example)["invoice"]
    assert_documented_shape(invoice, documented)
    return invoice, documented


def assert_documented_line(line: dict[str, Any], documented: dict[str, Any]) -> None:
    assert set(documented) <= set(line)
    assert set(documented["tax"]) <= set(line["tax"])
    assert set(documented["accounting_code"]) <= set(line["accounting_code"])
    for name in ("subtotal", "total"):
        assert isinstance(line[name], str) and DECIMAL.match(line[name]), name
    assert DECIMAL.match(line["tax"]["amount"]) and DECIMAL.match(line["tax"]["rate"])
    assert isinstance(line["tax"]["code"], str) and UUID.match(line["tax"]["uuid"])
    assert isinstance(line["item_order_quantity"], str) and DECIMAL.match(
        line["item_order_quantity"]
    )
    for name in ("item_uuid", "pricing_snapshot_uuid", "uuid"):
        assert UUID.match(line[name]), name
    assert isinstance(line["version"], str) and line["version"].isdigit()


async def test_create_invoice_example(client: Client) -> None:
    body = fill(DOC_CREATE_REQUEST, CREATE_VALUES)
    response = await client.post("/invoices", data=body, headers=JSON_HEADERS)
    invoice, documented = await documented_invoice(response, 201, DOC_CREATE_RESPONSE)
    assert_documented_line(invoice["lines"][0], documented["lines"][0])
    # The request's values come back, and the server computed the money: 2 × 749.00 + 10% GST.
    assert invoice["status"] == "ACTIVE"
    assert invoice["type"] == "NOT_LINKED_WITH_ORDER"
    assert invoice["currency"]["name"] == "Australian Dollar"
    assert (invoice["issue_date"], invoice["due_date"]) == ("2026-07-01", "2026-07-31")
    assert invoice["price_tax_inclusive"] == "false"
    assert invoice["invoice_note"] == "Deliver to loading dock 2"
    assert invoice["account_id"] == "ACC-1001"
    assert invoice["account_name"] == "Harbour Office Supplies Pty Ltd"
    assert invoice["order_id"] is None
    amounts = {k: invoice[k] for k in ("subtotal", "tax", "total", "paid", "due")}
    assert amounts == {
        "subtotal": "1498.00",
        "tax": "149.80",
        "total": "1647.80",
        "paid": "0.00",
        "due": "1647.80",
    }
    assert invoice["payment_status"] == "UNPAID"
    assert invoice["last_payment"] is None
    assert invoice["version"] == "1"
    line = invoice["lines"][0]
    assert line["item_id"] == "ITM-1001" and line["item_name"] == "Standing Desk"
    assert line["item_order_quantity"] == "2"
    assert line["package_name"] == "Flat pack"
    assert (line["subtotal"], line["total"]) == ("1498.00", "1647.80")
    assert line["tax"]["code"] == "GST" and line["tax"]["rate"] == "10.00"
    assert line["tax"]["amount"] == "149.80"


async def test_create_invoice_example_is_readable_afterwards(client: Client) -> None:
    created = await client.post(
        "/invoices", data=fill(DOC_CREATE_REQUEST, CREATE_VALUES), headers=JSON_HEADERS
    )
    invoice = (await created.json())["invoice"]
    response = await client.get(f"/invoices/{invoice['id']}", headers=AUTH)
    assert response.status == 200
    assert await response.json() == {"invoice": invoice}


async def test_create_invoice_example_unfilled_names_first_bad_field(client: Client) -> None:
    # Sent exactly as printed: "{{currency_code}}" is not a currency the provider knows.
    response = await client.post("/invoices", data=DOC_CREATE_REQUEST, headers=JSON_HEADERS)
    assert response.status == 422
    assert await response.json() == {
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "invoice.currency: unknown currency code '{{currency_code}}'; "
            "known: AUD, NZD, USD, GBP, EUR, JPY",
        }
    }


async def test_create_invoice_for_order_example(client: Client) -> None:
    response = await client.post(
        "/orders/SO-1001/invoices", data=DOC_ORDER_REQUEST.encode(), headers=JSON_HEADERS
    )
    invoice, documented = await documented_invoice(response, 201, DOC_ORDER_RESPONSE)
    for line in invoice["lines"]:
        assert_documented_line(line, documented["lines"][0])
    assert invoice["type"] == "LINKED_WITH_ORDER"
    assert invoice["order_id"] == "SO-1001"
    assert invoice["invoice_note"] == "INVOICE_NOTE"
    assert invoice["account_id"] == "ACC-1001"
    assert invoice["customer_purchase_order_id"] == "PO-7781"
    assert invoice["custom_attributes"] == [
        {"name": "Sales Channel", "value": "Online"},
        {"name": "Sales Rep", "value": "Jade Nguyen"},
    ]
    # The order's lines: 2 desks at 749.00 and 3 hours of installation at 95.00, 10% GST,
    # plus the order's 49.95 shipping (untaxed).
    assert [(ln["item_id"], ln["item_order_quantity"]) for ln in invoice["lines"]] == [
        ("ITM-1001", "2"),
        ("ITM-1005", "3"),
    ]
    amounts = {k: invoice[k] for k in ("subtotal", "tax", "shipping_cost", "total", "due")}
    assert amounts == {
        "subtotal": "1783.00",
        "tax": "178.30",
        "shipping_cost": "49.95",
        "total": "2011.25",
        "due": "2011.25",
    }


@pytest.mark.parametrize(("action", "status"), [("cancel", "INACTIVE"), ("reactivate", "ACTIVE")])
async def test_cancel_and_reactivate_examples(client: Client, action: str, status: str) -> None:
    if action == "reactivate":
        cancelled = await client.post("/invoices/INV-00001/cancel", headers=AUTH)
        assert cancelled.status == 200
    # The doc sends no body for either action.
    response = await client.post(f"/invoices/INV-00001/{action}", headers=AUTH)
    invoice, _ = await documented_invoice(response, 200, DOC_CANCEL_RESPONSE)
    assert invoice["id"] == "INV-00001"
    assert invoice["status"] == status
    stamp = "last_cancelled_on" if action == "cancel" else "last_reactivated_on"
    assert TIMESTAMP.match(invoice["kpis"][stamp])


async def test_create_note_example(client: Client) -> None:
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("note", "<p>Proof of delivery <b>attached</b></p>")
    form.add_field("file", b"%PDF-1.4 pod", filename="pod.pdf", content_type="application/pdf")
    response = await client.post("/invoices/INV-00002/notes", data=form, headers=AUTH)
    assert response.status == 201
    payload = await response.json()
    documented = json.loads(DOC_NOTE_RESPONSE)
    assert set(payload) == set(documented) == {"invoice"}
    assert set(payload["invoice"]) == set(documented["invoice"]) == {"notes"}
    assert set(payload["invoice"]["notes"]) == set(documented["invoice"]["notes"]) == {"uuid"}
    assert UUID.match(payload["invoice"]["notes"]["uuid"])


async def test_note_with_attachments_example(client: Client) -> None:
    created = aiohttp.FormData(default_to_multipart=True)
    created.add_field("note", "Delivery")
    response = await client.post("/invoices/INV-00002/notes", data=created, headers=AUTH)
    note_uuid = (await response.json())["invoice"]["notes"]["uuid"]

    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("text", "Proof of delivery attached")
    form.add_field("file", b"\x89PNG...", filename="receipt.png", content_type="image/png")
    form.add_field("file", b"%PDF-1.4", filename="signed.pdf", content_type="application/pdf")
    response = await client.post(f"/invoices/INV-00002/notes/{note_uuid}", data=form, headers=AUTH)
    assert response.status == 200
    payload = await response.json()
    documented = json.loads(DOC_NOTE_FILES_RESPONSE)
    assert set(payload["invoice"]["notes"]) == set(documented["invoice"]["notes"])
    assert payload == {
        "invoice": {
            "notes": {
                "content": "Proof of delivery attached",
                "files": [{"name": "receipt.png"}, {"name": "signed.pdf"}],
            }
        }
    }
