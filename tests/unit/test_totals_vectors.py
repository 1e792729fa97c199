from typing import Any

import pytest

from gateway.canonical.decimals import plain
from gateway.canonical.errors import InvalidInvoice
from gateway.canonical.model import RoundingPolicy, invoice_from_input
from gateway.canonical.totals import calculate
from tests.vectors.load import LINE_FIELDS, TOTAL_FIELDS, vectors

VECTORS = vectors()


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_comes_out_exactly(vector: dict[str, Any]) -> None:
    invoice = invoice_from_input(vector["invoice"])
    result = calculate(invoice, RoundingPolicy.model_validate(vector["policy"]))

    got_lines = [
        None if line is None else {f: plain(getattr(line, f)) for f in LINE_FIELDS}
        for line in result.lines
    ]
    assert got_lines == vector["expected"]["lines"]
    got_totals = {f: plain(getattr(result.totals, f)) for f in TOTAL_FIELDS}
    assert got_totals == vector["expected"]["totals"]
    if "tax_breakdown" in vector["expected"]:
        rows = [
            {
                "rate": plain(r.rate),
                "name": r.name,
                "taxable": plain(r.taxable),
                "tax": plain(r.tax),
            }
            for r in result.totals.tax_breakdown
        ]
        assert rows == vector["expected"]["tax_breakdown"]


def test_every_published_vector_states_its_breakdown() -> None:
    published = [v for v in VECTORS if "why" not in v][:13]
    assert all("tax_breakdown" in v["expected"] for v in published)


def test_published_set_is_all_there() -> None:
    assert len([v for v in VECTORS if "why" not in v]) == 13


def _errors(invoice: dict[str, Any], policy: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(InvalidInvoice) as info:
        calculate(invoice_from_input(invoice), RoundingPolicy.model_validate(policy or {}))
    return {e.pointer: e.detail for e in info.value.errors}


def test_line_amount_discount_larger_than_the_line_is_refused() -> None:
    lines = [
        {"quantity": "2", "unit_price": "5.00", "discount": {"type": "amount", "value": "10.01"}}
    ]
    assert _errors({"currency": "USD", "lines": lines}) == {
        "/lines/0/discount/value": "amount discount 10.01 is larger than the line subtotal 10.00"
    }


def test_document_amount_discount_larger_than_the_lines_is_refused() -> None:
    invoice = {
        "currency": "USD",
        "discount": {"type": "amount", "value": "20.00"},
        "lines": [{"quantity": "1", "unit_price": "19.99"}],
    }
    assert _errors(invoice) == {
        "/discount/value": "amount discount 20.00 is larger than the lines' net total 19.99"
    }


@pytest.mark.parametrize("price", ["0", "0.00"])
def test_a_document_amount_discount_on_lines_that_net_to_nothing_shares_nothing(
    price: str,
) -> None:
    """Step 4: "With Σ net_amount = 0 every share is 0", and totals.discount is their sum. It
    was refused as larger than the lines' net total."""
    invoice = invoice_from_input(
        {
            "currency": "USD",
            "discount": {"type": "amount", "value": "1.00"},
            "lines": [
                {"quantity": "1", "unit_price": price, "taxes": [{"rate": "20", "name": "VAT"}]},
                {"quantity": "0", "unit_price": "5.00"},
            ],
        }
    )
    totals = calculate(invoice, RoundingPolicy()).totals
    assert (totals.subtotal, totals.discount, totals.tax, totals.total) == (0, 0, 0, 0)
    assert str(totals.discount) == "0.00"
    [row] = totals.tax_breakdown
    assert (row.rate, row.taxable, row.tax) == (20, 0, 0)


def test_money_finer_than_the_currency_is_refused() -> None:
    invoice = {
        "currency": "JPY",
        "shipping": "1.5",
        "adjustment": {"amount": "-0.5"},
        "payments": [{"amount": "10.1", "date": "2026-01-01"}],
        "lines": [
            {"quantity": "1", "unit_price": "100", "discount": {"type": "amount", "value": "0.5"}}
        ],
    }
    detail = "must have at most 0 decimal places for JPY"
    assert _errors(invoice) == {
        "/shipping": detail,
        "/adjustment/amount": detail,
        "/payments/0/amount": detail,
        "/lines/0/discount/value": detail,
    }


def test_compound_tax_in_inclusive_mode_is_refused() -> None:
    taxes = [{"rate": "5"}, {"rate": "9.975", "compound": True}]
    invoice = {
        "currency": "CAD",
        "tax_mode": "inclusive",
        "lines": [{"quantity": "1", "unit_price": "1", "taxes": taxes}],
    }
    assert _errors(invoice) == {
        "/lines/0/taxes/1/compound": "a compound tax cannot be used with tax_mode inclusive"
    }


def test_tax_breakdown_rows_per_rate_and_name() -> None:
    invoice = invoice_from_input(
        {
            "currency": "EUR",
            "lines": [
                {"quantity": "1", "unit_price": "10.00", "taxes": [{"rate": "19", "name": "VAT"}]},
                {
                    "quantity": "1",
                    "unit_price": "20.00",
                    "taxes": [{"rate": "7", "name": "VAT reduced"}],
                },
                {"quantity": "1", "unit_price": "5.00", "taxes": [{"rate": "19", "name": "VAT"}]},
            ],
        }
    )
    rows = [
        (plain(r.rate), r.name, plain(r.taxable), plain(r.tax))
        for r in calculate(invoice).totals.tax_breakdown
    ]
    assert rows == [("19", "VAT", "15.00", "2.85"), ("7", "VAT reduced", "20.00", "1.40")]


def test_inclusive_breakdown_shows_the_base_net_of_tax() -> None:
    invoice = invoice_from_input(
        {
            "currency": "EUR",
            "tax_mode": "inclusive",
            "lines": [
                {"quantity": "1", "unit_price": "119.00", "taxes": [{"rate": "19", "name": "VAT"}]}
            ],
        }
    )
    [row] = calculate(invoice).totals.tax_breakdown
    assert (plain(row.taxable), plain(row.tax)) == ("100.00", "19.00")
