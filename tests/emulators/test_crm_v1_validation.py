"""crm_v1 emulator validation: each rule answers 422 in the provider's envelope, naming the field,
and a rejected write changes nothing."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.emulators._crm_v1_support import (
    AUTH,
    assert_error,
    doc_example,
    fetch,
    read,
    snapshot,
    write,
)
from tests.emulators._crm_v1_support import client as client  # pytest fixture, used by name


async def send(
    client: TestClient[Any, Any], body: Any, method: str = "POST", path: str = "/v1/invoices"
) -> ClientResponse:
    return await write(client, method, path, body)


def item(**changes: Any) -> dict[str, Any]:
    line = copy.deepcopy(doc_example()["items"][0])
    line.update(changes)
    return {key: value for key, value in line.items() if value is not DROP}


DROP = object()
LONG = "x" * 256

# (case id, change to the valid body, field named, message)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "customer-missing",
        {"customer_id": DROP},
        "customer_id",
        "The customer_id field is required.",
    ),
    ("customer-null", {"customer_id": None}, "customer_id", "The customer_id field is required."),
    (
        "customer-string",
        {"customer_id": "10"},
        "customer_id",
        "The customer_id field must be an integer.",
    ),
    (
        "customer-fraction",
        {"customer_id": Decimal("10.5")},
        "customer_id",
        "The customer_id field must be an integer.",
    ),
    (
        "customer-bool",
        {"customer_id": True},
        "customer_id",
        "The customer_id field must be an integer.",
    ),
    (
        "customer-unknown",
        {"customer_id": 999},
        "customer_id",
        "The selected customer_id is invalid.",
    ),
    (
        "template-missing",
        {"template_id": DROP},
        "template_id",
        "The template_id field is required.",
    ),
    ("template-unknown", {"template_id": 9}, "template_id", "The selected template_id is invalid."),
    ("items-missing", {"items": DROP}, "items", "The items field is required."),
    ("items-empty", {"items": []}, "items", "The items field must have at least 1 items."),
    ("items-object", {"items": {"item_id": 12}}, "items", "The items field must be an array."),
    ("item-not-object", {"items": [12]}, "items.0", "The items.0 field must be an object."),
    (
        "item-id-missing",
        {"items": [item(item_id=DROP)]},
        "items.0.item_id",
        "The items.0.item_id field is required.",
    ),
    (
        "item-id-unknown",
        {"items": [item(item_id=999)]},
        "items.0.item_id",
        "The selected items.0.item_id is invalid.",
    ),
    (
        "item-id-string",
        {"items": [item(item_id="12")]},
        "items.0.item_id",
        "The items.0.item_id field must be an integer.",
    ),
    (
        "item-name-missing",
        {"items": [item(item_name=DROP)]},
        "items.0.item_name",
        "The items.0.item_name field is required.",
    ),
    (
        "item-name-blank",
        {"items": [item(item_name="  ")]},
        "items.0.item_name",
        "The items.0.item_name field is required.",
    ),
    (
        "item-name-number",
        {"items": [item(item_name=12)]},
        "items.0.item_name",
        "The items.0.item_name field must be a string.",
    ),
    (
        "quantity-missing",
        {"items": [item(quantity=DROP)]},
        "items.0.quantity",
        "The items.0.quantity field is required.",
    ),
    (
        "quantity-zero",
        {"items": [item(quantity=0)]},
        "items.0.quantity",
        "The items.0.quantity field must be greater than 0.",
    ),
    (
        "quantity-negative",
        {"items": [item(quantity=-1)]},
        "items.0.quantity",
        "The items.0.quantity field must be greater than 0.",
    ),
    (
        "quantity-string",
        {"items": [item(quantity="10")]},
        "items.0.quantity",
        "The items.0.quantity field must be a number.",
    ),
    (
        "quantity-seven-places",
        {"items": [item(quantity=Decimal("1.0000001"))]},
        "items.0.quantity",
        "The items.0.quantity field must not have more than 6 decimal places.",
    ),
    (
        "price-missing",
        {"items": [item(price=DROP)]},
        "items.0.price",
        "The items.0.price field is required.",
    ),
    (
        "price-negative",
        {"items": [item(price=Decimal("-0.01"))]},
        "items.0.price",
        "The items.0.price field must be at least 0.",
    ),
    (
        "price-string",
        {"items": [item(price="500.00")]},
        "items.0.price",
        "The items.0.price field must be a number.",
    ),
    (
        "price-too-large",
        {"items": [item(price=10**12)]},
        "items.0.price",
        "The items.0.price field must be less than 1000000000000.",
    ),
    (
        "type-missing",
        {"items": [item(type=DROP)]},
        "items.0.type",
        "The items.0.type field is required.",
    ),
    (
        "type-unknown",
        {"items": [item(type="product")]},
        "items.0.type",
        "The selected items.0.type is invalid.",
    ),
    (
        "description-number",
        {"items": [item(description=5)]},
        "items.0.description",
        "The items.0.description field must be a string.",
    ),
    (
        "discount-without-type",
        {"items": [item(discount=10)]},
        "items.0.discount_type",
        "The items.0.discount_type field is required when items.0.discount is present.",
    ),
    (
        "discount-type-unknown",
        {"items": [item(discount=10, discount_type=3)]},
        "items.0.discount_type",
        "The selected items.0.discount_type is invalid.",
    ),
    (
        "discount-negative",
        {"items": [item(discount=-5, discount_type=1)]},
        "items.0.discount",
        "The items.0.discount field must be at least 0.",
    ),
    (
        "discount-percentage-over-100",
        {"items": [item(discount=Decimal("100.01"), discount_type=2)]},
        "items.0.discount",
        "The items.0.discount field must not be greater than 100.",
    ),
    (
        "discount-fixed-over-line",
        {"items": [item(discount=Decimal("5000.01"), discount_type=1)]},
        "items.0.discount",
        "The items.0.discount field must not be greater than the line amount 5000.00.",
    ),
    (
        "tax-id-unknown",
        {"items": [item(tax_id="99", tax_rate=DROP)]},
        "items.0.tax_id",
        "The selected items.0.tax_id is invalid.",
    ),
    (
        "tax-id-integer",
        {"items": [item(tax_id=5)]},
        "items.0.tax_id",
        "The items.0.tax_id field must be a string.",
    ),
    (
        "tax-rate-not-the-tax-ids",
        {"items": [item(tax_id="20", tax_rate=5)]},
        "items.0.tax_rate",
        "The items.0.tax_rate field must match the rate of tax 20 (20).",
    ),
    (
        "tax-rate-over-100",
        {"items": [item(tax_rate=101)]},
        "items.0.tax_rate",
        "The items.0.tax_rate field must not be greater than 100.",
    ),
    (
        "tax-rate-negative",
        {"items": [item(tax_rate=-5)]},
        "items.0.tax_rate",
        "The items.0.tax_rate field must be at least 0.",
    ),
    (
        "item-unknown-field",
        {"items": [item(unit="hour")]},
        "items.0.unit",
        "The items.0.unit field is not allowed.",
    ),
    (
        "header-without-name",
        {"items": [item(), {"type": "header"}]},
        "items.1.item_name",
        "The items.1.item_name field is required.",
    ),
    (
        "transaction-date-format",
        {"transaction_date": "2026/07/01"},
        "transaction_date",
        "The transaction_date field must match the format Y-m-d.",
    ),
    (
        "transaction-date-impossible",
        {"transaction_date": "2026-02-30"},
        "transaction_date",
        "The transaction_date field must match the format Y-m-d.",
    ),
    (
        "due-date-with-time",
        {"due_date": "2026-07-31T00:00:00Z"},
        "due_date",
        "The due_date field must match the format Y-m-d.",
    ),
    (
        "due-before-issue",
        {"due_date": "2026-06-30"},
        "due_date",
        "The due_date field must be a date after or equal to transaction_date.",
    ),
    (
        "reference-256-chars",
        {"reference": LONG},
        "reference",
        "The reference field must not be greater than 255 characters.",
    ),
    ("reference-number", {"reference": 7}, "reference", "The reference field must be a string."),
    ("notes-list", {"notes": ["a"]}, "notes", "The notes field must be a string."),
    (
        "billing-address-number",
        {"billing_address": 1},
        "billing_address",
        "The billing_address field must be a string.",
    ),
    (
        "shipping-address-object",
        {"shipping_address": {}},
        "shipping_address",
        "The shipping_address field must be a string.",
    ),
    (
        "terms-number",
        {"terms_conditions": 3},
        "terms_conditions",
        "The terms_conditions field must be a string.",
    ),
    ("deal-unknown", {"deal_id": 99}, "deal_id", "The selected deal_id is invalid."),
    (
        "assignee-unknown",
        {"assigned_to": 99},
        "assigned_to",
        "The selected assigned_to is invalid.",
    ),
    (
        "currency-unknown",
        {"org_currency_id": 99},
        "org_currency_id",
        "The selected org_currency_id is invalid.",
    ),
    (
        "conversion-rate-zero",
        {"conversion_rate": 0},
        "conversion_rate",
        "The conversion_rate field must be greater than 0.",
    ),
    (
        "conversion-rate-string",
        {"conversion_rate": "1.08"},
        "conversion_rate",
        "The conversion_rate field must be a number.",
    ),
    ("tags-not-array", {"tag_ids": 1}, "tag_ids", "The tag_ids field must be an array."),
    ("tag-unknown", {"tag_ids": [1, 99]}, "tag_ids.1", "The selected tag_ids.1 is invalid."),
    ("tag-string", {"tag_ids": ["1"]}, "tag_ids.0", "The tag_ids.0 field must be an integer."),
    (
        "overall-discount-without-type",
        {"overall_discount": 10},
        "overall_discount_type",
        "The overall_discount_type field is required when overall_discount is present.",
    ),
    (
        "overall-discount-type-unknown",
        {"overall_discount": 10, "overall_discount_type": 0},
        "overall_discount_type",
        "The selected overall_discount_type is invalid.",
    ),
    (
        "overall-percentage-over-100",
        {"overall_discount": 101, "overall_discount_type": 2},
        "overall_discount",
        "The overall_discount field must not be greater than 100.",
    ),
    (
        "overall-fixed-over-sub-total",
        {"overall_discount": Decimal("5000.01"), "overall_discount_type": 1},
        "overall_discount",
        "The overall_discount field must not be greater than the sub total 5000.00.",
    ),
    ("unknown-field", {"currency": "USD"}, "currency", "The currency field is not allowed."),
]


def apply(changes: dict[str, Any]) -> dict[str, Any]:
    body = doc_example()
    body.update(changes)
    return {key: value for key, value in body.items() if value is not DROP}


@pytest.mark.parametrize(
    ("changes", "field", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_each_rule_is_a_422_naming_the_field(
    client: TestClient[Any, Any], changes: dict[str, Any], field: str, message: str, method: str
) -> None:
    path = "/v1/invoices" if method == "POST" else "/v1/invoices/8"
    before = await snapshot(client)
    detail_before = await snapshot(client, "/v1/invoices/8")

    response = await send(client, apply(changes), method, path)

    assert response.status == 422
    assert_error(await read(response), message, {field: [message]})
    assert await snapshot(client) == before
    assert await snapshot(client, "/v1/invoices/8") == detail_before


async def test_every_problem_is_reported_at_once(client: TestClient[Any, Any]) -> None:
    body = apply({"customer_id": 999, "template_id": DROP, "items": [item(quantity=0, price="1")]})

    response = await send(client, body)

    assert response.status == 422
    assert_error(
        await read(response),
        "The selected customer_id is invalid. (and 3 more errors)",
        {
            "customer_id": ["The selected customer_id is invalid."],
            "template_id": ["The template_id field is required."],
            "items.0.quantity": ["The items.0.quantity field must be greater than 0."],
            "items.0.price": ["The items.0.price field must be a number."],
        },
    )


async def test_boundaries_that_pass(client: TestClient[Any, Any]) -> None:
    body = apply(
        {
            "reference": "r" * 255,
            "due_date": "2026-07-01",
            "conversion_rate": Decimal("0.000001"),
            "overall_discount": Decimal("100"),
            "overall_discount_type": 2,
            "items": [
                item(quantity=Decimal("0.000001"), price=0, discount=100, discount_type=2),
                item(discount=Decimal("5000.00"), discount_type=1, tax_rate=100),
                item(price=Decimal("999999999999.999999"), quantity=1),
            ],
        }
    )

    response = await send(client, body)

    assert response.status == 201, await response.text()
    invoice = await fetch(client, 57)
    assert len(invoice["reference"]) == 255
    assert [line["line_total"] for line in invoice["items"]] == [
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("1000000000000.00"),
    ]
    # A 100% overall discount leaves nothing to tax.
    assert invoice["discount_total"] == Decimal("1000000000000.00")
    assert invoice["total"] == Decimal("0.00")


async def test_tax_id_alone_takes_the_tax_rate_of_that_tax(client: TestClient[Any, Any]) -> None:
    body = apply({"items": [item(tax_id="8", tax_rate=DROP)]})

    assert (await send(client, body)).status == 201

    invoice = await fetch(client, 57)
    assert (invoice["items"][0]["tax_id"], invoice["items"][0]["tax_rate"]) == (
        "8",
        Decimal("8.25"),
    )
    assert invoice["tax_total"] == Decimal("412.50")


async def test_tax_id_with_its_own_rate_is_accepted(client: TestClient[Any, Any]) -> None:
    body = apply({"items": [item(tax_id="20", tax_rate=Decimal("20.00"))]})

    assert (await send(client, body)).status == 201

    invoice = await fetch(client, 57)
    assert invoice["tax_total"] == Decimal("1000.00")


async def test_header_line_needs_only_a_name_and_carries_no_amounts(
    client: TestClient[Any, Any],
) -> None:
    body = apply({"items": [{"type": "header", "item_name": "Phase 1"}, item()]})

    assert (await send(client, body)).status == 201

    invoice = await fetch(client, 57)
    header = invoice["items"][0]
    assert header == {
        "item_id": None,
        "item_name": "Phase 1",
        "description": None,
        "quantity": None,
        "price": None,
        "type": "header",
        "discount": None,
        "discount_type": None,
        "tax_id": None,
        "tax_rate": None,
        "line_total": Decimal("0.00"),
    }
    assert invoice["total"] == Decimal("5250.00")


async def test_read_only_fields_are_ignored_so_a_read_can_be_written_back(
    client: TestClient[Any, Any],
) -> None:
    read_back = await fetch(client, 3)
    tampered = {
        **read_back,
        "inv_status": 2,
        "total": 1,
        "amount_paid": 0,
        "inv_number": "X-1",
        "payments": [],
    }
    tampered["items"] = [{**line, "line_total": 1} for line in read_back["items"]]

    response = await send(client, tampered, "PUT", "/v1/invoices/3")

    assert response.status == 200, await response.text()
    assert await fetch(client, 3) == read_back


async def test_nulls_for_optional_fields_mean_not_given_on_create(
    client: TestClient[Any, Any],
) -> None:
    body = apply(
        {
            "org_currency_id": None,
            "conversion_rate": None,
            "notes": None,
            "tag_ids": None,
            "items": [item(description=None, discount=None, discount_type=None, tax_id=None)],
        }
    )

    assert (await send(client, body)).status == 201

    invoice = await fetch(client, 57)
    assert (invoice["org_currency_id"], invoice["conversion_rate"]) == (1, 1)
    assert (invoice["notes"], invoice["tag_ids"]) == (None, [])
    assert invoice["total"] == Decimal("5250.00")


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("pageSize=0", "pageSize", "The pageSize field must be at least 1."),
        ("pageSize=101", "pageSize", "The pageSize field must not be greater than 100."),
        ("pageSize=ten", "pageSize", "The pageSize field must be an integer."),
        ("pageSize=10.5", "pageSize", "The pageSize field must be an integer."),
        ("pageIndex=-1", "pageIndex", "The pageIndex field must be at least 0."),
        ("pageIndex=first", "pageIndex", "The pageIndex field must be an integer."),
        ("inv_status=3", "inv_status", "The selected inv_status is invalid."),
        ("inv_status=paid", "inv_status", "The inv_status field must be an integer."),
        ("cstid=ten", "cstid", "The cstid field must be an integer."),
        (
            "inv_datetime_from=01-07-2026",
            "inv_datetime_from",
            "The inv_datetime_from field must match the format Y-m-d.",
        ),
        (
            "inv_datetime_to=2026-13-01",
            "inv_datetime_to",
            "The inv_datetime_to field must match the format Y-m-d.",
        ),
        (
            "sortBy=customer_name",
            "sortBy",
            "The selected sortBy is invalid; use one of inv_id, inv_number, customer_id, "
            "inv_status, total, amount_due, transaction_date, due_date.",
        ),
        ("sortOrder=up", "sortOrder", "The selected sortOrder is invalid; use asc or desc."),
    ],
)
async def test_bad_list_parameters_are_a_422_naming_the_parameter(
    client: TestClient[Any, Any], query: str, field: str, message: str
) -> None:
    response = await client.get(f"/v1/invoices?{query}", headers=AUTH)

    assert response.status == 422
    assert_error(await read(response), message, {field: [message]})
