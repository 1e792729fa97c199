"""bill_crm emulator: each validation rule answers 422 with the field it concerns."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.emulators._bill_crm_support import (
    BASE,
    CREATE,
    HEADER,
    call,
    new_draft,
    put_lines,
    update,
)
from tests.emulators._bill_crm_support import client as client  # pytest fixture, used by name

# A valid line, which the line-item rules below break one field at a time.
LINE = {"description": "a", "quantity": 1, "rate": 1}


async def invoice_with_lines(client: TestClient[Any, Any], tax_type: str = "summary") -> int:
    invoice_id = await new_draft(client, tax_type)
    await put_lines(
        client, invoice_id, {"items": [{"description": "Work", "quantity": 1, "rate": "100.00"}]}
    )
    return invoice_id


def assert_invalid(status: int, body: Any, field: str, message: str) -> None:
    assert status == 422
    assert body["success"] is False
    first = next(iter(body["errors"].values()))[0]
    assert body["message"].startswith(first)
    assert field in body["errors"], body["errors"]
    assert any(message in text for text in body["errors"][field]), body["errors"][field]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"bill_clientid": None}, "bill_clientid", "field is required"),
        ({"bill_categoryid": None}, "bill_categoryid", "field is required"),
        ({"bill_date": None}, "bill_date", "field is required"),
        ({"bill_clientid": "abc"}, "bill_clientid", "must be an integer"),
        ({"bill_clientid": True}, "bill_clientid", "must be an integer"),
        ({"bill_clientid": 999}, "bill_clientid", "selected bill_clientid is invalid"),
        ({"bill_categoryid": 99}, "bill_categoryid", "selected bill_categoryid is invalid"),
        ({"bill_projectid": 99}, "bill_projectid", "selected bill_projectid is invalid"),
        ({"bill_projectid": 3}, "bill_projectid", "belongs to another client"),
        ({"bill_date": "01/07/2026"}, "bill_date", "not a valid date"),
        ({"bill_date": "2026-02-30"}, "bill_date", "not a valid date"),
        ({"bill_due_date": "2026-06-30"}, "bill_due_date", "after or equal to bill_date"),
        ({"bill_tax_type": "both"}, "bill_tax_type", "selected bill_tax_type is invalid"),
        ({"bill_notes": 12}, "bill_notes", "must be a string"),
        ({"bill_terms": ["a"]}, "bill_terms", "must be a string"),
    ],
)
async def test_create_rules(
    client: TestClient[Any, Any], change: dict[str, Any], field: str, message: str
) -> None:
    status, body = await call(client, "POST", BASE, {**CREATE, **change})

    assert_invalid(status, body, field, message)


async def test_create_reports_every_failing_field_at_once(client: TestClient[Any, Any]) -> None:
    status, body = await call(client, "POST", BASE, {"bill_clientid": 0, "bill_date": "soon"})

    assert status == 422
    assert set(body["errors"]) == {"bill_clientid", "bill_categoryid", "bill_date"}
    assert body["message"] == "The selected bill_clientid is invalid. (and 2 more errors)"


async def test_create_takes_integers_and_numbers_written_as_strings(
    client: TestClient[Any, Any],
) -> None:
    status, body = await call(
        client,
        "POST",
        BASE,
        {"bill_clientid": "1", "bill_categoryid": "2", "bill_date": "2026-07-01"},
    )

    assert status == 201
    assert body["data"]["client"]["id"] == 1 and body["data"]["category"]["id"] == 2


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"bill_categoryid": None}, "bill_categoryid", "field is required"),
        ({"bill_date": None}, "bill_date", "field is required"),
        ({"bill_categoryid": 42}, "bill_categoryid", "is invalid"),
        ({"bill_due_date": "2026-06-01"}, "bill_due_date", "after or equal to bill_date"),
        ({"bill_date": "2026-09-01"}, "bill_due_date", "after or equal to bill_date"),
        ({"bill_projectid": 5}, "bill_projectid", "belongs to another client"),
        ({"bill_tax_type": "mixed"}, "bill_tax_type", "is invalid"),
        ({"bill_discount_type": "bogus"}, "bill_discount_type", "is invalid"),
        ({"bill_discount_type": "percentage"}, "bill_discount_percentage", "field is required"),
        (
            {"bill_discount_type": "percentage", "bill_discount_percentage": 101},
            "bill_discount_percentage",
            "may not be greater than 100",
        ),
        (
            {"bill_discount_type": "percentage", "bill_discount_percentage": -1},
            "bill_discount_percentage",
            "must be at least 0",
        ),
        (
            {"bill_discount_type": "percentage", "bill_discount_percentage": "ten"},
            "bill_discount_percentage",
            "must be a number",
        ),
        ({"bill_discount_type": "fixed"}, "bill_discount_amount", "field is required"),
        (
            {"bill_discount_type": "fixed", "bill_discount_amount": "100.01"},
            "bill_discount_amount",
            "may not be greater than the subtotal (100.00)",
        ),
        (
            {"bill_discount_type": "fixed", "bill_discount_amount": "1.005"},
            "bill_discount_amount",
            "more than 2 decimal places",
        ),
        ({"bill_adjustment_amount": "abc"}, "bill_adjustment_amount", "must be a number"),
        ({"bill_adjustment_amount": 0.001}, "bill_adjustment_amount", "more than 2 decimal"),
        ({"bill_adjustment_description": 5}, "bill_adjustment_description", "must be a string"),
    ],
)
async def test_update_rules(
    client: TestClient[Any, Any], change: dict[str, Any], field: str, message: str
) -> None:
    invoice_id = await invoice_with_lines(client)

    status, body = await update(client, invoice_id, {**HEADER, **change})
    _, unchanged = await call(client, "GET", f"{BASE}/{invoice_id}")

    assert_invalid(status, body, field, message)
    assert unchanged["data"]["category"]["id"] == 1
    assert unchanged["data"]["totals"]["final_amount"] == Decimal("100.00")


async def test_update_accepts_a_fixed_discount_equal_to_the_subtotal_and_a_negative_adjustment(
    client: TestClient[Any, Any],
) -> None:
    invoice_id = await invoice_with_lines(client)

    status, body = await update(
        client,
        invoice_id,
        {
            **HEADER,
            "bill_discount_type": "fixed",
            "bill_discount_amount": 100,
            "bill_adjustment_amount": "-2.50",
        },
    )

    assert status == 200
    assert body["data"]["totals"]["final_amount"] == Decimal("-2.50")


async def test_update_ignores_the_client_which_only_create_and_clone_take(
    client: TestClient[Any, Any],
) -> None:
    invoice_id = await invoice_with_lines(client)

    status, body = await update(client, invoice_id, {**HEADER, "bill_clientid": 2})

    assert status == 200 and body["data"]["client"]["id"] == 1


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({}, "items", "The items field is required."),
        ({"items": "x"}, "items", "must be an array"),
        ({"items": []}, "items", "at least 1 items"),
        ({"items": ["x"]}, "items.0", "must be an object"),
        ({"items": [{"quantity": 1, "rate": 1}]}, "items.0.description", "field is required"),
        (
            {"items": [{"description": " ", "quantity": 1, "rate": 1}]},
            "items.0.description",
            "field is required",
        ),
        ({"items": [{"description": "a", "rate": 1}]}, "items.0.quantity", "field is required"),
        ({"items": [{"description": "a", "quantity": 1}]}, "items.0.rate", "field is required"),
        ({"items": [{**LINE, "quantity": "ten"}]}, "items.0.quantity", "must be a number"),
        (
            {"items": [{**LINE, "quantity": 10**13}]},
            "items.0.quantity",
            "may not be greater than 999999999999",
        ),
        ({"items": [{**LINE, "quantity": 0}]}, "items.0.quantity", "greater than 0"),
        ({"items": [{**LINE, "rate": -5}]}, "items.0.rate", "at least 0"),
        ({"items": [{**LINE, "unit": 3}]}, "items.0.unit", "must be a string"),
        (
            {"items": [{"description": "ok", "quantity": 1, "rate": 1}, {"description": 5}]},
            "items.1.description",
            "must be a string",
        ),
        ({"items": [LINE], "tax_rate_ids": 1}, "tax_rate_ids", "must be an array"),
        ({"items": [LINE], "tax_rate_ids": [1, 99]}, "tax_rate_ids.1", "is invalid"),
        ({"items": [LINE], "tax_rate_ids": [1, "x"]}, "tax_rate_ids.1", "must be an integer"),
        ({"items": [LINE], "tax_rate_ids": [2, 2]}, "tax_rate_ids.1", "duplicate value"),
        (
            {"items": [{**LINE, "tax_rate_id": 1}]},
            "items.0.tax_rate_id",
            "only accepted on inline-tax invoices",
        ),
        (
            {"items": [{**LINE, "discount_type": "fixed"}]},
            "items.0.discount_type",
            "only accepted on inline-tax invoices",
        ),
        (
            {"items": [{**LINE, "discount_value": 2}]},
            "items.0.discount_value",
            "only accepted on inline-tax invoices",
        ),
    ],
)
async def test_summary_line_item_rules(
    client: TestClient[Any, Any], payload: dict[str, Any], field: str, message: str
) -> None:
    invoice_id = await invoice_with_lines(client)

    status, body = await call(client, "PUT", f"{BASE}/{invoice_id}/line-items", payload)
    _, unchanged = await call(client, "GET", f"{BASE}/{invoice_id}")

    assert_invalid(status, body, field, message)
    assert [line["description"] for line in unchanged["data"]["line_items"]] == ["Work"]


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        (
            {"items": [LINE], "tax_rate_ids": [1]},
            "tax_rate_ids",
            "only accepted on summary-tax invoices",
        ),
        (
            {"items": [{**LINE, "tax_rate_id": 77}]},
            "items.0.tax_rate_id",
            "selected items.0.tax_rate_id is invalid",
        ),
        ({"items": [{**LINE, "discount_type": "half"}]}, "items.0.discount_type", "is invalid"),
        (
            {"items": [{**LINE, "discount_type": "fixed"}]},
            "items.0.discount_value",
            "field is required when discount_type is fixed",
        ),
        (
            {"items": [{**LINE, "discount_value": 3}]},
            "items.0.discount_type",
            "required when discount_value is set",
        ),
        (
            {
                "items": [
                    {
                        "description": "a",
                        "quantity": 1,
                        "rate": 1,
                        "discount_type": "percentage",
                        "discount_value": 150,
                    }
                ]
            },
            "items.0.discount_value",
            "may not be greater than 100",
        ),
        (
            {
                "items": [
                    {
                        "description": "a",
                        "quantity": 2,
                        "rate": "10.00",
                        "discount_type": "fixed",
                        "discount_value": "20.01",
                    }
                ]
            },
            "items.0.discount_value",
            "greater than the line amount (20.00)",
        ),
    ],
)
async def test_inline_line_item_rules(
    client: TestClient[Any, Any], payload: dict[str, Any], field: str, message: str
) -> None:
    invoice_id = await invoice_with_lines(client, "inline")

    status, body = await call(client, "PUT", f"{BASE}/{invoice_id}/line-items", payload)

    assert_invalid(status, body, field, message)


async def test_new_lines_may_not_fall_below_the_fixed_invoice_discount(
    client: TestClient[Any, Any],
) -> None:
    invoice_id = await invoice_with_lines(client)
    await update(
        client,
        invoice_id,
        {**HEADER, "bill_discount_type": "fixed", "bill_discount_amount": "60.00"},
    )

    status, body = await call(
        client,
        "PUT",
        f"{BASE}/{invoice_id}/line-items",
        {"items": [{"description": "Smaller", "quantity": 1, "rate": "59.99"}]},
    )

    assert_invalid(status, body, "items", "fixed discount (60.00) may not be greater")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "The status field is required."),
        ({"status": "paid"}, "The status must be an integer."),
        ({"status": 6}, "The selected status is invalid."),
        ({"status": 0}, "The selected status is invalid."),
    ],
)
async def test_status_rules(
    client: TestClient[Any, Any], payload: dict[str, Any], message: str
) -> None:
    status, body = await call(client, "POST", f"{BASE}/1/status", payload)

    assert_invalid(status, body, "status", message)


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({}, "tags", "The tags field is required."),
        ({"tags": "web"}, "tags", "must be an array"),
        ({"tags": ["ok", ""]}, "tags.1", "must be a non-empty string"),
        ({"tags": [7]}, "tags.0", "must be a non-empty string"),
    ],
)
async def test_tags_rules(
    client: TestClient[Any, Any], payload: dict[str, Any], field: str, message: str
) -> None:
    status, body = await call(client, "PUT", f"{BASE}/1/tags", payload)

    assert_invalid(status, body, field, message)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"bill_clientid": None}, "bill_clientid", "field is required"),
        ({"bill_date": None}, "bill_date", "field is required"),
        ({"bill_due_date": None}, "bill_due_date", "field is required"),
        ({"bill_clientid": 50}, "bill_clientid", "is invalid"),
        ({"bill_due_date": "2026-06-01"}, "bill_due_date", "after or equal to bill_date"),
        ({"bill_projectid": 1}, "bill_projectid", "belongs to another client"),
    ],
)
async def test_clone_rules(
    client: TestClient[Any, Any], change: dict[str, Any], field: str, message: str
) -> None:
    body = {"bill_clientid": 2, "bill_date": "2026-07-01", "bill_due_date": "2026-07-15", **change}

    status, answer = await call(client, "POST", f"{BASE}/1/clone", body)
    _, listed = await call(client, "GET", BASE)

    assert_invalid(status, answer, field, message)
    assert listed["meta"]["total"] == 56
