"""draft_publish totals: per line, half up, the document discount shared out before tax.

The project's worked vectors that this provider can express (one tax per line, no line
discounts, tax-exclusive prices, ``per_line`` half-up) must come out to the cent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from emulators.draft_publish.totals import FIXED, PERCENTAGE, LineInput, Totals, compute_totals
from tests.vectors.load import vectors

PLACES = {"USD": 2, "EUR": 2, "CAD": 2, "JPY": 0, "BHD": 3}
DISCOUNT_TYPES = {"percent": PERCENTAGE, "amount": FIXED}


def expressible(vector: dict[str, Any]) -> bool:
    invoice = vector["invoice"]
    return (
        vector["policy"] == {"mode": "half_up", "tax_scope": "per_line"}
        and invoice.get("tax_mode", "exclusive") == "exclusive"
        and not invoice.get("adjustment")
        and not invoice.get("shipping")
        and all(
            line.get("kind", "item") == "item"
            and not line.get("discount")
            and len(line.get("taxes", [])) <= 1
            and not any(t.get("compound") for t in line.get("taxes", []))
            for line in invoice["lines"]
        )
    )


VECTORS = [v for v in vectors() if expressible(v)]


def run(vector: dict[str, Any]) -> Totals:
    invoice = vector["invoice"]
    discount = invoice.get("discount")
    return compute_totals(
        [
            LineInput(
                Decimal(line["quantity"]),
                Decimal(line["unit_price"]),
                Decimal(line["taxes"][0]["rate"]) if line.get("taxes") else None,
            )
            for line in invoice["lines"]
        ],
        DISCOUNT_TYPES[discount["type"]] if discount else None,
        Decimal(discount["value"]) if discount else None,
        PLACES[invoice["currency"]],
    )


def test_the_expressible_vectors_are_found() -> None:
    assert {v["name"] for v in VECTORS} >= {
        "fixed-document-discount-three-rates",
        "partial-payments",
        "amount-discount-remainder-tie-goes-to-earlier-line",
        "percent-document-discount-per-line-shares",
    }


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(vector: dict[str, Any]) -> None:
    totals = run(vector)

    expected = vector["expected"]
    assert [str(a) for a in totals.line_amounts] == [line["subtotal"] for line in expected["lines"]]
    assert (
        str(totals.subtotal),
        str(totals.discount_amount),
        str(totals.tax_amount),
        str(totals.total),
    ) == (
        expected["totals"]["subtotal"],
        expected["totals"]["discount"],
        expected["totals"]["tax"],
        expected["totals"]["total"],
    )


def lines(*specs: tuple[str, str, str | None]) -> list[LineInput]:
    return [
        LineInput(Decimal(q), Decimal(p), None if r is None else Decimal(r)) for q, p, r in specs
    ]


def test_the_doc_example() -> None:
    totals = compute_totals(lines(("40", "150", "20")), PERCENTAGE, Decimal("10"), 2)

    assert (totals.subtotal, totals.discount_amount, totals.tax_amount, totals.total) == (
        Decimal("6000.00"),
        Decimal("600.00"),
        Decimal("1080.00"),
        Decimal("6480.00"),
    )


def test_half_up_rounds_away_from_zero_at_the_half() -> None:
    # 0.125 → 0.13 (half-even would give 0.12); tax 8.875 % of 0.13 = 0.0115375 → 0.01.
    totals = compute_totals(lines(("1", "0.125", "8.875")), None, None, 2)

    assert (totals.subtotal, totals.tax_amount, totals.total) == (
        Decimal("0.13"),
        Decimal("0.01"),
        Decimal("0.14"),
    )


def test_tax_is_rounded_per_line_not_per_rate() -> None:
    # Each line: 0.05 × 5 % = 0.0025 → 0.00; per rate it would be 0.0075 → 0.01.
    totals = compute_totals(lines(*[("1", "0.05", "5")] * 3), None, None, 2)

    assert totals.tax_amount == Decimal("0.00")


def test_a_percentage_discount_is_rounded_per_line() -> None:
    # 15 % of 0.10 = 0.015 → 0.02, three times: 0.06, where 15 % of 0.30 would be 0.05.
    totals = compute_totals(lines(*[("1", "0.10", None)] * 3), PERCENTAGE, Decimal("15"), 2)

    assert (totals.discount_amount, totals.total) == (Decimal("0.06"), Decimal("0.24"))


def test_a_fixed_discount_is_shared_by_largest_remainder() -> None:
    # 1.00 over 1/2/3 weights: 0.1666 / 0.3333 / 0.5 → 16 + 33 + 50 = 99, the cent to line 1.
    totals = compute_totals(
        lines(("1", "10", "20"), ("1", "20", "0"), ("1", "30", "0")), FIXED, Decimal("1.00"), 2
    )

    assert totals.discount_amount == Decimal("1.00")
    # Line 1 taxable 10 − 0.17 = 9.83 → 20 % = 1.966 → 1.97.
    assert totals.tax_amount == Decimal("1.97")
    assert totals.total == Decimal("60.97")


def test_zero_decimal_currency() -> None:
    totals = compute_totals(lines(("3", "333.5", "8.875")), PERCENTAGE, Decimal("12.5"), 0)

    # 1000.5 → 1001; 12.5 % = 125.125 → 125; tax on 876 = 77.745 → 78.
    assert (totals.subtotal, totals.discount_amount, totals.tax_amount, totals.total) == (
        Decimal("1001"),
        Decimal("125"),
        Decimal("78"),
        Decimal("954"),
    )


def test_three_decimal_currency() -> None:
    totals = compute_totals(lines(("1", "10.0005", "5")), None, None, 3)

    assert (totals.subtotal, totals.tax_amount, totals.total) == (
        Decimal("10.001"),
        Decimal("0.500"),
        Decimal("10.501"),
    )


def test_a_fixed_discount_on_free_lines_shares_nothing() -> None:
    totals = compute_totals(lines(("1", "0", "20")), FIXED, Decimal("0"), 2)

    assert (totals.discount_amount, totals.total) == (Decimal("0.00"), Decimal("0.00"))


def test_the_largest_amounts_lose_no_digit_before_rounding() -> None:
    # The exact product needs 31 digits; cut to Decimal's default 28 first, it would round
    # up to ….82 instead of ….81.
    totals = compute_totals(lines(("167175339.936026", "834150514244.615", None)), None, None, 2)

    assert totals.subtotal == Decimal("139449395776654410795.81")
