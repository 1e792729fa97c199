import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.canonical.dates import WRITTEN_AS
from gateway.canonical.errors import InvalidInvoice
from gateway.canonical.model import Invoice, invoice_from_input


def parse(text: str) -> Invoice:
    """As the API reads a body: JSON numbers are read as written, never through float."""
    return invoice_from_input(json.loads(text, parse_float=Decimal))


def errors_of(data: Any, *, currency: Any = None) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        invoice_from_input(data)
    found = InvalidInvoice.from_pydantic(info.value, currency=currency).errors
    return {e.pointer: e.detail for e in found}


def item(**fields: Any) -> dict[str, Any]:
    return {"quantity": "1", "unit_price": "10.00", **fields}


def test_json_numbers_are_read_exactly() -> None:
    invoice = parse(
        '{"currency": "USD", "lines": [{"quantity": 3, "unit_price": 12345678901234.5678}]}'
    )
    assert invoice.lines[0].unit_price == Decimal("12345678901234.5678")
    assert json.loads(invoice.model_dump_json())["lines"][0]["unit_price"] == "12345678901234.5678"


def test_a_long_number_is_not_rounded_into_an_acceptable_one() -> None:
    # Through a float this quantity would read as 0.1 and be accepted.
    text = '{"currency": "USD", "lines": [{"quantity": 0.1000000000000000055511151231257827, "unit_price": 1}]}'
    with pytest.raises(ValidationError) as info:
        parse(text)
    errors = InvalidInvoice.from_pydantic(info.value).errors
    assert [(e.pointer, e.detail) for e in errors] == [
        ("/lines/0/quantity", "must have at most 6 decimal places")
    ]


def test_amounts_serialize_as_strings_in_fixed_notation() -> None:
    invoice = invoice_from_input(
        {"currency": "USD", "shipping": Decimal("1E+1"), "lines": [item()]}  # a JSON number
    )
    dumped = json.loads(invoice.model_dump_json())
    assert dumped["shipping"] == "10"
    assert dumped["lines"][0]["quantity"] == "1"
    assert dumped["lines"][0]["unit_price"] == "10.00"


def test_python_floats_are_refused() -> None:
    assert errors_of({"currency": "USD", "lines": [item(unit_price=0.1)]}) == {
        "/lines/0/unit_price": "must be a decimal string or an exact JSON number, not a binary float"
    }


GRAMMAR = (
    'must be a decimal number such as "12.50": ASCII digits with an optional minus sign and '
    'decimal point (no exponent, spaces, "+" or grouping)'
)


@pytest.mark.parametrize(
    ("line", "pointer", "detail"),
    [
        (item(quantity="-1"), "/lines/0/quantity", "must not be negative"),
        (item(unit_price="-0.01"), "/lines/0/unit_price", "must not be negative"),
        (item(quantity="1.0000001"), "/lines/0/quantity", "must have at most 6 decimal places"),
        (item(unit_price="1.00001"), "/lines/0/unit_price", "must have at most 4 decimal places"),
        (item(unit_price="abc"), "/lines/0/unit_price", GRAMMAR),
        (item(unit_price="NaN"), "/lines/0/unit_price", GRAMMAR),
        (
            item(unit_price=True),
            "/lines/0/unit_price",
            "must be a decimal number given as a string or a JSON number",
        ),
        (
            item(unit_price=Decimal("1e20")),  # a JSON number (a string may have no exponent)
            "/lines/0/unit_price",
            "must be smaller than 10^15 in absolute value",
        ),
        (
            item(taxes=[{"rate": "20.12345"}]),
            "/lines/0/taxes/0/rate",
            "must have at most 4 decimal places",
        ),
        (item(taxes=[{"rate": "-5"}]), "/lines/0/taxes/0/rate", "must not be negative"),
        (
            item(discount={"type": "percent", "value": "150"}),
            "/lines/0/discount/value",
            "must be a percentage between 0 and 100",
        ),
        (
            item(discount={"type": "percent", "value": "-1"}),
            "/lines/0/discount/value",
            "must not be negative",
        ),
        (
            item(discount={"type": "share", "value": "1"}),
            "/lines/0/discount/type",
            "must be one of 'percent' or 'amount'",
        ),
        (item(colour="red"), "/lines/0/colour", "is not a field of this object"),
        (
            {"unit_price": "1"},
            "/lines/0/quantity",
            "is required: an item line has a quantity and a unit_price",
        ),
        (
            {"kind": "section", "name": "Parts", "quantity": "0"},
            "/lines/0/quantity",
            "a section line is a heading: it has no quantity, unit_price, discount or taxes",
        ),
    ],
)
def test_bad_line_fields_are_named(line: dict[str, Any], pointer: str, detail: str) -> None:
    assert errors_of({"currency": "USD", "lines": [line]}) == {pointer: detail}


def test_every_field_a_line_rule_is_about_is_named() -> None:
    needs = "is required: an item line has a quantity and a unit_price"
    heading = "a section line is a heading: it has no quantity, unit_price, discount or taxes"
    section = {"kind": "section", "name": "Parts", "unit_price": "1", "taxes": [{"rate": "5"}]}
    assert errors_of({"currency": "USD", "lines": [{"name": "n"}, section]}) == {
        "/lines/0/quantity": needs,
        "/lines/0/unit_price": needs,
        "/lines/1/unit_price": heading,
        "/lines/1/taxes": heading,
    }


@pytest.mark.parametrize(
    ("fields", "pointer", "detail"),
    [
        ({"currency": "usd"}, "/currency", 'must be an ISO 4217 currency code such as "USD"'),
        ({"currency": "ABC"}, "/currency", 'must be an ISO 4217 currency code such as "USD"'),
        (
            {"currency": "USD", "issue_date": "2026-13-01"},
            "/issue_date",
            "names no day of the calendar: months run from 01 to 12, not 13",
        ),
        (
            {"currency": "USD", "issue_date": "2026-02-29"},
            "/issue_date",
            "names no day of the calendar: 2026-02 has 28 days",
        ),
        (
            {"currency": "USD", "due_date": "0000-01-01"},
            "/due_date",
            "names no day of the calendar: years start at 0001",
        ),
        # What date.fromisoformat takes besides the canonical form: an ISO week date, the
        # compact form, digits of another script.
        ({"currency": "USD", "issue_date": "2026-W27-3"}, "/issue_date", WRITTEN_AS),
        ({"currency": "USD", "issue_date": "20260701"}, "/issue_date", WRITTEN_AS),
        ({"currency": "USD", "issue_date": "２０２６-07-01"}, "/issue_date", WRITTEN_AS),
        (
            {"currency": "USD", "issue_date": 1767225600},
            "/issue_date",
            "must be a date written as YYYY-MM-DD",
        ),
        (
            {"currency": "USD", "tax_mode": "gross"},
            "/tax_mode",
            "must be one of 'exclusive' or 'inclusive'",
        ),
        ({"currency": "USD", "shipping": "-1"}, "/shipping", "must not be negative"),
        (
            {"currency": "USD", "payments": [{"amount": "0", "date": "2026-01-01"}]},
            "/payments/0/amount",
            "must be greater than zero",
        ),
        ({"currency": "USD", "surprise": 1}, "/surprise", "is not a field of this object"),
        ({}, "/currency", "is required"),
    ],
)
def test_bad_invoice_fields_are_named(fields: dict[str, Any], pointer: str, detail: str) -> None:
    assert errors_of(fields) == {pointer: detail}


def test_read_only_fields_are_ignored_on_input() -> None:
    invoice = invoice_from_input(
        {
            "object": "invoice",
            "id": "8",
            "status": "paid",
            "totals": {"anything": "goes"},
            "currency": "USD",
            "lines": [item(subtotal="999.99", total="1")],
        }
    )
    assert (invoice.id, invoice.status, invoice.totals) == (None, None, None)
    assert invoice.lines[0].subtotal is None
    assert invoice.lines[0].total is None


def test_read_only_fields_are_kept_when_the_gateway_builds_an_invoice() -> None:
    invoice = Invoice.model_validate(
        {"id": "8", "status": "paid", "currency": "USD", "lines": [item(subtotal="10.00")]}
    )
    assert (invoice.id, invoice.status) == ("8", "paid")
    assert invoice.lines[0].subtotal == Decimal("10.00")


def test_an_invoice_read_back_can_be_written_again() -> None:
    read = Invoice.model_validate(
        {
            "id": "8",
            "status": "open",
            "currency": "USD",
            "lines": [{**item(), "subtotal": "10.00", "total": "10.00"}],
            "totals_check": {"consistent": True, "differences": []},
        }
    )
    again = invoice_from_input(json.loads(read.model_dump_json()))
    assert again.lines[0].unit_price == Decimal("10.00")
    assert again.currency == "USD"


def test_numeric_ids_become_strings() -> None:
    invoice = invoice_from_input(
        {"currency": "USD", "customer": {"id": 10}, "lines": [item(item_id=12)]}
    )
    assert invoice.customer is not None and invoice.customer.id == "10"
    assert invoice.lines[0].item_id == "12"


def test_an_amount_past_four_places_is_told_its_currency_bounds_it_too() -> None:
    """An amount's grammar takes 4 places and its currency fewer (checked after): the first
    message says both, so that a caller told 4 is not then told 2. A price says 4 alone."""
    sent = {"currency": "JPY", "shipping": "5.00001", "lines": [item(unit_price="1.00001")]}
    assert errors_of(sent) == {
        "/shipping": "must have at most 4 decimal places, and no more than its currency has",
        "/lines/0/unit_price": "must have at most 4 decimal places",
    }


@pytest.mark.parametrize(("currency", "places"), [("USD", 2), ("JPY", 0), ("KWD", 3), ("CLF", 4)])
def test_an_amount_past_four_places_is_told_its_own_currencys_places(
    currency: str, places: int
) -> None:
    """With the body's currency known, an amount's message says what that currency allows,
    worded as the totals' check words 3 or 4 places (no other currency's example); a price
    keeps the grammar's 4, and a currency not in the table the general message."""
    sent = {
        "currency": currency,
        "shipping": "5.00001",
        "payments": [{"amount": "0.123456", "date": "2026-07-05"}],
        "lines": [item(unit_price="1.00001")],
    }
    assert errors_of(sent, currency=currency) == {
        "/shipping": f"must have at most {places} decimal places for {currency}",
        "/payments/0/amount": f"must have at most {places} decimal places for {currency}",
        "/lines/0/unit_price": "must have at most 4 decimal places",
    }
    unknown = {**sent, "currency": "XQQ"}
    assert errors_of(unknown, currency="XQQ")["/shipping"] == (
        "must have at most 4 decimal places, and no more than its currency has"
    )
