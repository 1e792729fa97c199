"""Validation of draft_publish bodies and queries: each rule answers in the envelope, naming the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from emulators.draft_publish import create_app
from emulators.draft_publish.reference import CUSTOMERS, PRODUCTS, TAX_STANDARD, TEMPLATES
from tests.emulators._draft_publish_support import (
    AUTH,
    BASE,
    CUSTOMER_ID,
    JSON_AUTH,
    NOW,
    Client,
    MakeClient,
)
from tests.emulators._exact_json import dumps

JPY_CUSTOMER_ID = next(c.id for c in CUSTOMERS.values() if c.currency == "JPY")
PRODUCT_ID = next(iter(PRODUCTS))
TEMPLATE_ID = list(TEMPLATES)[1]
MISSING = object()


def item(**overrides: Any) -> dict[str, Any]:
    return {"description": "Consulting", "quantity": 2, "unit_price": 100, **overrides}


def body(**overrides: Any) -> dict[str, Any]:
    base = {
        "customer_id": CUSTOMER_ID,
        "issue_date": "2026-06-01",
        "due_date": "2026-07-01",
        "currency": "USD",
        "items": [item()],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not MISSING}


def item_body(**overrides: Any) -> dict[str, Any]:
    entry = {k: v for k, v in item(**overrides).items() if v is not MISSING}
    return body(items=[entry])


@pytest.fixture
async def client(aiohttp_client: MakeClient) -> Client:
    return await aiohttp_client(create_app(clock=lambda: NOW, seed_invoices=4))


async def details_of(client: Client, method: str, path: str, payload: Any) -> list[dict[str, str]]:
    response = await client.request(method, path, data=dumps(payload), headers=JSON_AUTH)
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "validation_error"
    assert error["message"].startswith("Validation failed: ")
    details: list[dict[str, str]] = error["details"]
    return details


async def sent_invoice(client: Client, **overrides: Any) -> str:
    response = await client.post(BASE, data=dumps(body(**overrides)), headers=JSON_AUTH)
    invoice_id: str = (await response.json())["data"]["id"]
    assert (await client.post(f"{BASE}/{invoice_id}/publish", headers=AUTH)).status == 200
    return invoice_id


INVOICE_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("customer-missing", body(customer_id=MISSING), "customer_id", "is required"),
    ("customer-null", body(customer_id=None), "customer_id", "is required"),
    ("customer-unknown", body(customer_id="c-1"), "customer_id", "customer c-1 does not exist"),
    ("customer-number", body(customer_id=7), "customer_id", "must be a string id"),
    ("issue-missing", body(issue_date=MISSING), "issue_date", "is required"),
    (
        "issue-format",
        body(issue_date="15/01/2026"),
        "issue_date",
        "must be a date in YYYY-MM-DD format",
    ),
    (
        "issue-impossible",
        body(issue_date="2026-02-30"),
        "issue_date",
        "must be a date in YYYY-MM-DD format",
    ),
    ("due-missing", body(due_date=MISSING), "due_date", "is required"),
    ("due-before-issue", body(due_date="2026-05-31"), "due_date", "must be on or after issue_date"),
    ("currency-missing", body(currency=MISSING), "currency", "is required"),
    (
        "currency-unknown",
        body(currency="XYZ"),
        "currency",
        "must be a supported ISO 4217 currency code",
    ),
    (
        "currency-lowercase",
        body(currency="usd"),
        "currency",
        "must be a supported ISO 4217 currency code",
    ),
    ("notes-type", body(notes=5), "notes", "must be a string"),
    ("notes-long", body(notes="n" * 2001), "notes", "must be at most 2000 characters"),
    (
        "terms-long",
        body(payment_terms="t" * 101),
        "payment_terms",
        "must be at most 100 characters",
    ),
    ("template-unknown", body(template_id="t-9"), "template_id", "template t-9 does not exist"),
    (
        "discount-type-unknown",
        body(discount_type="amount", discount_value=5),
        "discount_type",
        "must be one of: percentage, fixed",
    ),
    (
        "discount-value-without-type",
        body(discount_value=5),
        "discount_type",
        "is required when discount_value is set",
    ),
    (
        "discount-type-without-value",
        body(discount_type="fixed"),
        "discount_value",
        "is required",
    ),
    (
        "discount-value-string",
        body(discount_type="percentage", discount_value="10"),
        "discount_value",
        "must be a number",
    ),
    (
        "discount-over-100-percent",
        body(discount_type="percentage", discount_value=Decimal("100.5")),
        "discount_value",
        "must not exceed 100",
    ),
    (
        "discount-negative",
        body(discount_type="fixed", discount_value=-1),
        "discount_value",
        "must not be negative",
    ),
    (
        "discount-fixed-over-subtotal",
        body(discount_type="fixed", discount_value=Decimal("200.01")),
        "discount_value",
        "must not exceed the subtotal (200.00)",
    ),
    (
        "discount-fixed-sub-cent",
        body(discount_type="fixed", discount_value=Decimal("1.005")),
        "discount_value",
        "must have at most 2 decimal places",
    ),
    ("items-missing", body(items=MISSING), "items", "is required"),
    ("items-empty", body(items=[]), "items", "must contain between 1 and 100 items"),
    ("items-object", body(items={"description": "x"}), "items", "must be an array"),
    ("items-101", body(items=[item()] * 101), "items", "must contain between 1 and 100 items"),
    ("item-not-object", body(items=["x"]), "items[0]", "must be an object"),
    ("description-missing", item_body(description=MISSING), "items[0].description", "is required"),
    ("description-blank", item_body(description="  "), "items[0].description", "must not be blank"),
    (
        "description-long",
        item_body(description="d" * 501),
        "items[0].description",
        "must be at most 500 characters",
    ),
    ("quantity-missing", item_body(quantity=MISSING), "items[0].quantity", "is required"),
    ("quantity-zero", item_body(quantity=0), "items[0].quantity", "must be greater than 0"),
    ("quantity-negative", item_body(quantity=-2), "items[0].quantity", "must be greater than 0"),
    ("quantity-string", item_body(quantity="40"), "items[0].quantity", "must be a number"),
    ("quantity-bool", item_body(quantity=True), "items[0].quantity", "must be a number"),
    (
        "quantity-7-decimals",
        item_body(quantity=Decimal("1.0000001")),
        "items[0].quantity",
        "must have at most 6 decimal places",
    ),
    (
        "quantity-huge",
        item_body(quantity=10**10),
        "items[0].quantity",
        "must not exceed 1000000000",
    ),
    ("price-missing", item_body(unit_price=MISSING), "items[0].unit_price", "is required"),
    ("price-negative", item_body(unit_price=-1), "items[0].unit_price", "must not be negative"),
    ("price-string", item_body(unit_price="150"), "items[0].unit_price", "must be a number"),
    (
        "price-5-decimals",
        item_body(unit_price=Decimal("0.12345")),
        "items[0].unit_price",
        "must have at most 4 decimal places",
    ),
    ("unit-long", item_body(unit="u" * 21), "items[0].unit", "must be at most 20 characters"),
    (
        "product-unknown",
        item_body(product_id="p-1"),
        "items[0].product_id",
        "product p-1 does not exist",
    ),
    ("tax-unknown", item_body(tax_id="tax-9"), "items[0].tax_id", "tax rate tax-9 does not exist"),
    ("item-discount", item_body(discount=5), "items[0].discount", "is not a recognised field"),
    ("unknown-field", body(number="INV-9"), "number", "is not a recognised field"),
]


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [case[1:] for case in INVOICE_CASES],
    ids=[case[0] for case in INVOICE_CASES],
)
async def test_create_rule(client: Client, payload: Any, field: str, message: str) -> None:
    details = await details_of(client, "POST", BASE, payload)

    assert details == [{"field": field, "message": message}]


async def test_update_applies_the_same_rules(client: Client) -> None:
    created = await client.post(BASE, data=dumps(body()), headers=JSON_AUTH)
    invoice_id = (await created.json())["data"]["id"]

    details = await details_of(client, "PUT", f"{BASE}/{invoice_id}", body(items=[]))

    assert details == [{"field": "items", "message": "must contain between 1 and 100 items"}]


async def test_every_bad_field_is_named_at_once(client: Client) -> None:
    payload = body(
        customer_id="nobody",
        currency="ABC",
        items=[item(quantity=0), item(), item(unit_price="x", tax_id="nope")],
    )

    details = await details_of(client, "POST", BASE, payload)

    assert [d["field"] for d in details] == [
        "customer_id",
        "currency",
        "items[0].quantity",
        "items[2].unit_price",
        "items[2].tax_id",
    ]


async def test_a_valid_body_with_every_optional_field_is_accepted(client: Client) -> None:
    payload = body(
        notes="n" * 2000,
        payment_terms="t" * 100,
        template_id=TEMPLATE_ID,
        discount_type="fixed",
        discount_value=Decimal("200.00"),
        items=[
            item(
                product_id=PRODUCT_ID,
                unit="u" * 20,
                tax_id=TAX_STANDARD,
                quantity=Decimal("1.000000"),
                unit_price=Decimal("200.0000"),
            )
        ],
    )

    response = await client.post(BASE, data=dumps(payload), headers=JSON_AUTH)

    assert response.status == 201, await response.text()
    invoice = (await response.json())["data"]
    assert (invoice["template_id"], invoice["total"]) == (TEMPLATE_ID, 0)


async def test_a_missing_template_gets_the_default(client: Client) -> None:
    response = await client.post(BASE, data=dumps(body(template_id=None)), headers=JSON_AUTH)

    assert (await response.json())["data"]["template_id"] == next(iter(TEMPLATES))


async def test_a_zero_discount_value_without_a_type_is_no_discount(client: Client) -> None:
    response = await client.post(BASE, data=dumps(body(discount_value=0)), headers=JSON_AUTH)

    assert response.status == 201
    invoice = (await response.json())["data"]
    assert (invoice["discount_type"], invoice["discount_value"]) == (None, None)


async def test_yen_amounts_take_no_decimals(client: Client) -> None:
    payload = body(
        customer_id=JPY_CUSTOMER_ID,
        currency="JPY",
        discount_type="fixed",
        discount_value=Decimal("0.5"),
    )

    details = await details_of(client, "POST", BASE, payload)

    assert details == [{"field": "discount_value", "message": "must have at most 0 decimal places"}]


# -- payments, batches --------------------------------------------------------------------------

PAYMENT_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("amount-missing", {"method": "cash"}, "amount", "is required"),
    ("amount-zero", {"amount": 0, "method": "cash"}, "amount", "must be greater than 0"),
    ("amount-negative", {"amount": -5, "method": "cash"}, "amount", "must be greater than 0"),
    ("amount-string", {"amount": "5.00", "method": "cash"}, "amount", "must be a number"),
    (
        "amount-sub-cent",
        {"amount": Decimal("5.001"), "method": "cash"},
        "amount",
        "must have at most 2 decimal places",
    ),
    ("method-missing", {"amount": 5}, "method", "is required"),
    (
        "method-unknown",
        {"amount": 5, "method": "wire"},
        "method",
        "must be one of: bank_transfer, cash, check, credit_card, paypal, other",
    ),
    (
        "reference-long",
        {"amount": 5, "method": "cash", "reference": "r" * 256},
        "reference",
        "must be at most 255 characters",
    ),
    (
        "date-format",
        {"amount": 5, "method": "cash", "date": "2026-01-20T10:00:00Z"},
        "date",
        "must be a date in YYYY-MM-DD format",
    ),
    (
        "unknown-field",
        {"amount": 5, "method": "cash", "currency": "USD"},
        "currency",
        "is not a recognised field",
    ),
]


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [case[1:] for case in PAYMENT_CASES],
    ids=[case[0] for case in PAYMENT_CASES],
)
async def test_payment_rule(client: Client, payload: Any, field: str, message: str) -> None:
    invoice_id = await sent_invoice(client)

    details = await details_of(client, "POST", f"{BASE}/{invoice_id}/payments", payload)

    assert details == [{"field": field, "message": message}]


async def test_a_payment_without_a_date_is_dated_today_and_amounts_get_cents(
    client: Client,
) -> None:
    invoice_id = await sent_invoice(client)

    response = await client.post(
        f"{BASE}/{invoice_id}/payments", data='{"amount": 5, "method": "cash"}', headers=JSON_AUTH
    )

    assert response.status == 201
    assert (await response.json())["data"]["date"] == "2026-06-15"
    assert '"amount": 5.00' in await response.text()


BATCH_CASES: list[tuple[str, str, dict[str, Any], str, str]] = [
    (
        "action-unknown",
        "batch",
        {"action": "publish", "ids": ["a"]},
        "action",
        "must be one of: delete, void, mark-sent",
    ),
    ("action-missing", "batch", {"ids": ["a"]}, "action", "is required"),
    ("ids-missing", "batch", {"action": "void"}, "ids", "is required"),
    (
        "ids-empty",
        "batch",
        {"action": "void", "ids": []},
        "ids",
        "must contain between 1 and 100 ids",
    ),
    (
        "ids-101",
        "batch",
        {"action": "void", "ids": [str(n) for n in range(101)]},
        "ids",
        "must contain between 1 and 100 ids",
    ),
    (
        "ids-string",
        "batch",
        {"action": "void", "ids": "a,b"},
        "ids",
        "must be an array of invoice ids",
    ),
    (
        "ids-number",
        "batch",
        {"action": "void", "ids": ["a", 2]},
        "ids[1]",
        "must be a non-empty string",
    ),
    (
        "trash-action",
        "trash/batch",
        {"action": "delete", "ids": ["a"]},
        "action",
        "must be one of: restore, purge",
    ),
]


@pytest.mark.parametrize(
    ("path", "payload", "field", "message"),
    [case[1:] for case in BATCH_CASES],
    ids=[case[0] for case in BATCH_CASES],
)
async def test_batch_rule(
    client: Client, path: str, payload: Any, field: str, message: str
) -> None:
    details = await details_of(client, "POST", f"{BASE}/{path}", payload)

    assert details == [{"field": field, "message": message}]


# -- bodies that are not JSON objects -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "malformed_json"),
        (b"{'customer_id': 1}", "malformed_json"),
        (b'{"items": [}', "malformed_json"),
        (b"[]", "invalid_body"),
        (b'"text"', "invalid_body"),
    ],
)
@pytest.mark.parametrize("path", [BASE, f"{BASE}/batch", f"{BASE}/trash/batch"])
async def test_a_body_that_is_not_a_json_object_is_400(
    client: Client, path: str, raw: bytes, code: str
) -> None:
    response = await client.post(path, data=raw, headers=JSON_AUTH)

    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == code
    assert error["details"][0]["field"] == "body"


async def test_a_malformed_payment_body_is_400(client: Client) -> None:
    invoice_id = await sent_invoice(client)

    response = await client.post(f"{BASE}/{invoice_id}/payments", data=b"{", headers=JSON_AUTH)

    assert response.status == 400
    assert (await response.json())["error"]["code"] == "malformed_json"


async def test_any_content_type_is_read_as_json(client: Client) -> None:
    response = await client.post(
        BASE, data=dumps(body()), headers={**AUTH, "Content-Type": "text/plain"}
    )

    assert response.status == 201


# -- list queries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("status=open", "status", "must be one of: draft, sent, paid, overdue, voided"),
        ("page=0", "page", "must be a positive integer"),
        ("page=abc", "page", "must be a positive integer"),
        ("page=%C2%B2", "page", "must be a positive integer"),
        ("page=-1", "page", "must be a positive integer"),
        ("limit=0", "limit", "must be a positive integer"),
        ("limit=2.5", "limit", "must be a positive integer"),
        ("from_date=yesterday", "from_date", "must be an ISO 8601 date (YYYY-MM-DD)"),
        ("to_date=2026-13-01", "to_date", "must be an ISO 8601 date (YYYY-MM-DD)"),
    ],
)
@pytest.mark.parametrize("path", [BASE, f"{BASE}/export/csv"])
async def test_bad_list_parameters_are_400(
    client: Client, path: str, query: str, field: str, message: str
) -> None:
    response = await client.get(f"{path}?{query}", headers=AUTH)

    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "invalid_parameter"
    assert error["details"] == [{"field": field, "message": message}]


@pytest.mark.parametrize("path", ["trash/list", "{id}/payments"])
async def test_bad_page_parameters_on_other_lists_are_400(client: Client, path: str) -> None:
    invoice_id = await sent_invoice(client)

    response = await client.get(f"{BASE}/{path.format(id=invoice_id)}?limit=0", headers=AUTH)

    assert response.status == 400
    assert (await response.json())["error"]["details"][0]["field"] == "limit"


async def test_a_bad_item_does_not_make_the_discount_look_too_large(client: Client) -> None:
    payload = body(
        discount_type="fixed",
        discount_value=150,
        items=[item(), item(quantity="2")],
    )

    details = await details_of(client, "POST", BASE, payload)

    assert details == [{"field": "items[1].quantity", "message": "must be a number"}]
