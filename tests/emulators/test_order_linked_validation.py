"""order_linked validation: each rule answers 422 in the provider's envelope, naming the field;
what the doc allows (string or boolean flags, string or number amounts, no price) is accepted."""

from __future__ import annotations

import copy
from typing import Any

import aiohttp
import pytest

from tests.emulators._order_linked_support import AUTH, Client, post
from tests.emulators._order_linked_support import client as client  # pytest fixture, used by name

DELETE = object()

VALID: dict[str, Any] = {
    "invoice": {
        "type": "NOT_LINKED_WITH_ORDER",
        "currency": "AUD",
        "issue_date": "2026-07-01",
        "due_date": "2026-07-31",
        "price_tax_inclusive": "false",
        "invoice_note": "note",
        "account_id": "ACC-1001",
        "lines": [
            {
                "item_id": "ITM-1003",
                "item_quantity": "3",
                "package_name": "Box",
                "item_price_snapshot": {"pricing_rule": {"price": "129.99"}},
            }
        ],
    }
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    """``VALID`` with the value at a dotted path (``lines.0.item_id``) replaced or deleted."""
    body = copy.deepcopy(VALID)
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
    node: Any = body["invoice"]
    for key in keys[:-1]:
        node = node[key]
    if value is DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return body


async def create(client: Client, body: Any) -> tuple[int, Any]:
    return await post(client, "/invoices", body)


def assert_invalid(status: int, body: Any, message: str) -> None:
    assert status == 422
    assert body == {"error": {"code": "VALIDATION_ERROR", "message": message}}


async def assert_rejected(response: Any, message_start: str) -> None:
    """A 422 in the provider's envelope whose message starts with ``message_start``."""
    assert response.status == 422
    payload = await response.json()
    assert payload["error"]["code"] == "VALIDATION_ERROR"
    assert payload["error"]["message"].startswith(message_start)


LINE = "invoice.lines[0]"
PRICE = f"{LINE}.item_price_snapshot.pricing_rule.price"

RULES = [
    ("type", DELETE, "invoice.type: is required"),
    ("type", "LINKED", "invoice.type: must be one of LINKED_WITH_ORDER, "
     "NOT_LINKED_WITH_ORDER; got 'LINKED'"),
    ("currency", DELETE, "invoice.currency: is required"),
    ("currency", "aud", "invoice.currency: unknown currency code 'aud'; "
     "known: AUD, NZD, USD, GBP, EUR, JPY"),
    ("currency", 36, "invoice.currency: must be a non-empty string"),
    ("customer_purchase_order_id", 1001, "invoice.customer_purchase_order_id: must be a string"),
    ("issue_date", DELETE, "invoice.issue_date: is required"),
    ("issue_date", "01/07/2026", "invoice.issue_date: must be a date as YYYY-MM-DD; "
     "got '01/07/2026'"),
    ("issue_date", "2026-02-30", "invoice.issue_date: must be a date as YYYY-MM-DD; "
     "got '2026-02-30'"),
    ("due_date", DELETE, "invoice.due_date: is required"),
    ("due_date", "2026-06-30", "invoice.due_date: must not be before issue_date 2026-07-01"),
    ("price_tax_inclusive", DELETE, "invoice.price_tax_inclusive: is required"),
    ("price_tax_inclusive", "yes", "invoice.price_tax_inclusive: must be true or false "
     "(a boolean or a string); got 'yes'"),
    ("price_tax_inclusive", 1, "invoice.price_tax_inclusive: must be true or false "
     "(a boolean or a string); got 1"),
    ("invoice_note", ["a"], "invoice.invoice_note: must be a string"),
    ("account_id", DELETE, "invoice.account_id: is required"),
    ("account_id", "", "invoice.account_id: must be a non-empty string"),
    ("account_id", "ACC-9999", "invoice.account_id: account 'ACC-9999' does not exist"),
    ("lines", DELETE, "invoice.lines: is required"),
    ("lines", [], "invoice.lines: must have at least 1 line"),
    ("lines", {"item_id": "ITM-1001"}, "invoice.lines: must be an array of line objects"),
    ("lines.0", "ITM-1001", f"{LINE}: must be an object"),
    ("lines.0.item_id", DELETE, f"{LINE}.item_id: is required"),
    ("lines.0.item_id", "ITM-0000", f"{LINE}.item_id: item 'ITM-0000' does not exist"),
    ("lines.0.item_quantity", DELETE, f"{LINE}.item_quantity: is required"),
    ("lines.0.item_quantity", "0", f"{LINE}.item_quantity: must be greater than 0"),
    ("lines.0.item_quantity", -2, f"{LINE}.item_quantity: must be greater than 0"),
    ("lines.0.item_quantity", "two", f"{LINE}.item_quantity: must be a decimal number or a "
     "string holding one; got 'two'"),
    ("lines.0.item_quantity", True, f"{LINE}.item_quantity: must be a decimal number or a "
     "string holding one; got True"),
    ("lines.0.item_quantity", "1.0000001", f"{LINE}.item_quantity: must have at most 6 "
     "decimal places; got 1.0000001"),
    ("lines.0.package_name", 6, f"{LINE}.package_name: must be a string"),
    ("lines.0.item_price_snapshot", "129.99", f"{LINE}.item_price_snapshot: must be an object"),
    ("lines.0.item_price_snapshot.pricing_rule", 1, f"{LINE}.item_price_snapshot.pricing_rule: "
     "must be an object"),
    ("lines.0.item_price_snapshot.pricing_rule.price", "-0.01", f"{PRICE}: must not be negative"),
    ("lines.0.item_price_snapshot.pricing_rule.price", "12,50", f"{PRICE}: must be a decimal "
     "number or a string holding one; got '12,50'"),
    ("lines.0.item_price_snapshot.pricing_rule.price", "1.23456", f"{PRICE}: must have at most "
     "4 decimal places; got 1.23456"),
    # The emulator's own bound (the doc sets none): refused before anything is stored, where a
    # price of 31 digits was stored and then failed every read of it with a 500.
    ("lines.0.item_price_snapshot.pricing_rule.price", "1" + "0" * 30, f"{PRICE}: must be less "
     "than 10^15; got 1" + "0" * 30),
    ("lines.0.item_quantity", 10**15, f"{LINE}.item_quantity: must be less than 10^15; "
     "got 1000000000000000"),
    ("order_id", "SO-1001", "invoice.order_id: is only accepted when type is LINKED_WITH_ORDER"),
    ("custom_attributes", {"a": "b"}, "invoice.custom_attributes: must be an array of "
     "{name, value} objects"),
    ("custom_attributes", [{"value": "b"}], "invoice.custom_attributes[0].name: is required"),
    ("custom_attributes", [{"name": "a", "value": 3}], "invoice.custom_attributes[0].value: "
     "must be a string"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value", "message"), RULES, ids=[r[2][:60] for r in RULES])
async def test_each_rule_names_its_field(
    client: Client, path: str, value: Any, message: str
) -> None:
    status, body = await create(client, with_change(path, value))
    assert_invalid(status, body, message)


async def test_a_rejected_create_stores_nothing(client: Client) -> None:
    await create(client, with_change("lines.0.item_id", "ITM-0000"))
    response = await client.get("/invoices", headers=AUTH)
    assert (await response.json())["pagination"]["total"] == 56


async def test_the_second_line_is_named_by_its_index(client: Client) -> None:
    body = copy.deepcopy(VALID)
    body["invoice"]["lines"].append({"item_id": "ITM-1001"})
    status, payload = await create(client, body)
    assert_invalid(status, payload, "invoice.lines[1].item_quantity: is required")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([VALID["invoice"]], "body: must be a JSON object"),
        ({"data": VALID["invoice"]}, "invoice: is required and must be an object"),
        ({"invoice": "NOT_LINKED_WITH_ORDER"}, "invoice: is required and must be an object"),
    ],
)
async def test_the_invoice_object_is_required(client: Client, body: Any, message: str) -> None:
    status, payload = await create(client, body)
    assert_invalid(status, payload, message)


async def test_missing_price_without_a_rule_in_the_currency_is_invalid(client: Client) -> None:
    # The fruit box has no USD price rule.
    body = with_change("currency", "USD")
    body["invoice"]["lines"] = [{"item_id": "ITM-1006", "item_quantity": "1"}]
    status, payload = await create(client, body)
    assert_invalid(
        status, payload, f"{PRICE}: is required: item 'ITM-1006' has no price rule in USD"
    )


@pytest.mark.parametrize(
    ("order_id", "account_id", "message"),
    [
        (DELETE, "ACC-1001", "invoice.order_id: is required when type is LINKED_WITH_ORDER"),
        ("SO-0000", "ACC-1001", "invoice.order_id: order 'SO-0000' does not exist"),
        (
            "SO-1003",
            "ACC-1001",
            "invoice.account_id: order 'SO-1003' belongs to account 'ACC-1002', not 'ACC-1001'",
        ),
    ],
)
async def test_linked_invoices_need_an_order_of_their_account(
    client: Client, order_id: Any, account_id: str, message: str
) -> None:
    body = with_change("type", "LINKED_WITH_ORDER")
    body["invoice"]["account_id"] = account_id
    if order_id is not DELETE:
        body["invoice"]["order_id"] = order_id
    status, payload = await create(client, body)
    assert_invalid(status, payload, message)


# -- what is accepted ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "expected"),
    [(True, "true"), (False, "false"), ("true", "true"), ("FALSE", "false")],
)
async def test_price_tax_inclusive_is_a_boolean_or_a_string(
    client: Client, flag: Any, expected: str
) -> None:
    status, payload = await create(client, with_change("price_tax_inclusive", flag))
    assert status == 201
    assert payload["invoice"]["price_tax_inclusive"] == expected


async def test_amounts_may_be_json_numbers(client: Client) -> None:
    body = with_change("lines.0.item_quantity", 3)
    body["invoice"]["lines"][0]["item_price_snapshot"]["pricing_rule"]["price"] = 129.99
    status, payload = await create(client, body)
    assert status == 201
    # Read exactly as written (no binary float): 3 × 129.99 = 389.97, GST 39.00 (38.997).
    assert payload["invoice"]["subtotal"] == "389.97"
    assert payload["invoice"]["tax"] == "39.00"


async def test_optional_fields_may_be_left_out(client: Client) -> None:
    body = with_change("invoice_note", DELETE)
    del body["invoice"]["lines"][0]["package_name"]
    del body["invoice"]["lines"][0]["item_price_snapshot"]
    status, payload = await create(client, body)
    assert status == 201
    invoice = payload["invoice"]
    assert invoice["invoice_note"] is None
    assert invoice["customer_purchase_order_id"] is None
    assert invoice["custom_attributes"] == []
    line = invoice["lines"][0]
    assert line["package_name"] is None
    # The price comes from the item's AUD rule.
    assert line["item_price_snapshot"] == {"pricing_rule": {"price": "129.99"}}


async def test_custom_attributes_are_stored(client: Client) -> None:
    attributes = [{"name": "Project", "value": "Fit-out"}, {"name": "Cost Centre", "value": None}]
    status, payload = await create(client, with_change("custom_attributes", attributes))
    assert status == 201
    assert payload["invoice"]["custom_attributes"] == attributes


async def test_read_only_fields_sent_on_create_are_ignored(client: Client) -> None:
    body = copy.deepcopy(VALID)
    body["invoice"].update(
        {"discount_amount": "50.00", "shipping_cost": "10.00", "total": "1.00", "status": "X"}
    )
    status, payload = await create(client, body)
    assert status == 201
    invoice = payload["invoice"]
    assert (invoice["discount_amount"], invoice["shipping_cost"]) == ("0.00", "0.00")
    assert (invoice["total"], invoice["status"]) == ("428.97", "ACTIVE")


# -- create from an order -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"invoice": "note"}, "invoice: is required and must be an object"),
        ({"invoice": {"invoice_note": 5}}, "invoice.invoice_note: must be a string"),
        (
            {"invoice": {"issue_date": "2026-13-01"}},
            "invoice.issue_date: must be a date as YYYY-MM-DD; got '2026-13-01'",
        ),
        (
            {"invoice": {"issue_date": "2026-08-10", "due_date": "2026-08-01"}},
            "invoice.due_date: must not be before issue_date 2026-08-10",
        ),
        (
            {"invoice": {"due_date": "2000-01-01"}},
            "invoice.due_date: must not be before issue_date",
        ),
    ],
)
async def test_create_from_order_rules(client: Client, body: Any, message: str) -> None:
    response = await client.post("/orders/SO-1001/invoices", json=body, headers=AUTH)
    await assert_rejected(response, message)


# -- notes --------------------------------------------------------------------------------------


def multipart(*fields: tuple[str, str | bytes, str | None]) -> aiohttp.FormData:
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value, filename in fields:
        form.add_field(name, value, filename=filename)
    return form


async def new_note(client: Client) -> str:
    form = multipart(("note", "first", None))
    response = await client.post("/invoices/INV-00001/notes", data=form, headers=AUTH)
    uuid: str = (await response.json())["invoice"]["notes"]["uuid"]
    return uuid


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ((), "note: is required and must be non-empty text"),
        ((("note", "   ", None),), "note: is required and must be non-empty text"),
        ((("note", b"%PDF", "note.pdf"),), "note: is required and must be non-empty text"),
        (
            (("note", "x", None), ("file", "not a file", None)),
            "file: must be a file upload (a multipart part with a filename)",
        ),
        ((("note", "x", None), ("file", b"MZ", "setup.exe")), "file: unsupported file type"),
    ],
)
async def test_note_rules(
    client: Client, fields: tuple[tuple[str, str | bytes, str | None], ...], message: str
) -> None:
    # An unrelated part keeps the body multipart even when the rule leaves every field out.
    form = multipart(("placeholder", "", None), *fields)
    response = await client.post("/invoices/INV-00001/notes", data=form, headers=AUTH)
    await assert_rejected(response, message)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ((), "text: text or at least one file is required"),
        ((("text", "  ", None),), "text: text or at least one file is required"),
        ((("text", b"x", "text.txt"),), "text: must be text, not a file"),
        ((("file", b"x", "virus.bat"),), "file: unsupported file type 'virus.bat'"),
    ],
)
async def test_note_attachment_rules(
    client: Client, fields: tuple[tuple[str, str | bytes, str | None], ...], message: str
) -> None:
    note_uuid = await new_note(client)
    form = multipart(("placeholder", "", None), *fields)
    response = await client.post(f"/invoices/INV-00001/notes/{note_uuid}", data=form, headers=AUTH)
    await assert_rejected(response, message)


@pytest.mark.parametrize(
    ("kwargs", "content_type"),
    [
        ({"data": {"note": "x"}}, "application/x-www-form-urlencoded"),
        ({"json": {"note": "x"}}, "application/json"),
    ],
)
async def test_notes_must_be_multipart(
    client: Client, kwargs: dict[str, Any], content_type: str
) -> None:
    response = await client.post("/invoices/INV-00001/notes", headers=AUTH, **kwargs)
    assert response.status == 415
    assert await response.json() == {
        "error": {
            "code": "UNSUPPORTED_MEDIA_TYPE",
            "message": f"the request must be sent as multipart/form-data, not {content_type!r}",
        }
    }
