"""draft_publish totals: per line, half up, the document discount shared out before tax.

The project's worked vectors that this provider can express (one tax per line, no line
discounts, tax-exclusive prices, ``per_line`` half-up) must come out to the cent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from emulators.draft_publish.reference import TAX_STANDARD
from emulators.draft_publish.totals import FIXED, PERCENTAGE, LineInput, Totals, compute_totals
from tests.emulators._draft_publish_support import BASE, CUSTOMER_ID, JSON_AUTH, Client, read
from tests.emulators._draft_publish_support import client as client  # pytest fixture, used by name
from tests.emulators._exact_json import dumps
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


def test_a_price_of_minus_zero_comes_to_an_unsigned_zero() -> None:
    # "≥ 0" admits -0.0; the line's amount and the totals are 0.00, never -0.00.
    totals = compute_totals(lines(("1", "-0.0", "20"), ("3", "-0", None)), None, None, 2)

    assert [str(amount) for amount in totals.line_amounts] == ["0.00", "0.00"]
    assert [str(v) for v in (totals.subtotal, totals.tax_amount, totals.total)] == ["0.00"] * 3


def test_the_largest_amounts_lose_no_digit_before_rounding() -> None:
    # The exact product needs 31 digits; cut to Decimal's default 28 first, it would round
    # up to ….82 instead of ….81.
    totals = compute_totals(lines(("167175339.936026", "834150514244.615", None)), None, None, 2)

    assert totals.subtotal == Decimal("139449395776654410795.81")


# -- largest-remainder ties over HTTP -----------------------------------------------------------
#
# A fixed discount's exact shares are ``units × amount / subtotal``. Cut to any fixed number of
# significant digits (28, 60, 80...), a share with a larger whole part keeps fewer decimals, so
# two equal remainders stop being equal and the leftover unit can go to the later line. The
# emulator compares them exactly; the spec gives a tie to the earlier line.


def tie_body(prices: list[str], discount: str) -> str:
    """A USD create body, every line 1 × price at 20 % VAT; numbers written as exact literals."""
    return dumps(
        {
            "customer_id": CUSTOMER_ID,
            "issue_date": "2026-06-01",
            "due_date": "2026-07-01",
            "currency": "USD",
            "discount_type": FIXED,
            "discount_value": Decimal(discount),
            "items": [
                {
                    "description": f"Line {n}",
                    "quantity": 1,
                    "unit_price": Decimal(price),
                    "tax_id": TAX_STANDARD,
                }
                for n, price in enumerate(prices, start=1)
            ],
        }
    )


async def created_totals(client: Client, body: str) -> dict[str, str]:
    response = await client.post(BASE, data=body, headers=JSON_AUTH)
    assert response.status == 201, await response.text()
    data = (await read(response))["data"]
    names = ("subtotal", "discount_amount", "tax_amount", "total", "balance_due")
    return {name: str(data[name]) for name in names}


async def test_an_exact_remainder_tie_gives_the_unit_to_the_earlier_line(client: Client) -> None:
    # 0.02 over 0.04 / 0.01 / 0.01: exact shares 4/3, 1/3, 1/3 of a cent; floors 1, 0, 0 and the
    # cent left over ties three ways (1/3 each), so it goes to line 1: shares 0.02, 0.00, 0.00.
    # Taxable 0.02, 0.01, 0.01 → 20 % is 0.004, 0.002, 0.002 → 0.00 each. Cut to digits,
    # 1.333…3 keeps one 3 fewer than 0.333…3, line 2 looks larger and takes the cent: shares
    # 0.01, 0.01, 0.00, taxable 0.03 → tax 0.006 → 0.01, total 0.05.
    totals = await created_totals(client, tie_body(["0.04", "0.01", "0.01"], "0.02"))

    assert totals == {
        "subtotal": "0.06",
        "discount_amount": "0.02",
        "tax_amount": "0.00",
        "total": "0.04",
        "balance_due": "0.04",
    }


async def test_a_tie_of_rounded_up_remainders_stays_with_the_earlier_lines(
    client: Client,
) -> None:
    # 0.06 over 0.01 / 0.01 / 0.07: exact shares 2/3, 2/3, 14/3 of a cent; floors 0, 0, 4 and
    # two cents left over for a three-way tie (2/3 each): lines 1 and 2, shares 0.01, 0.01,
    # 0.04. Taxable 0.00, 0.00, 0.03 → 0.006 → tax 0.01, total 0.04. Cut to digits, 0.666…67
    # is rounded up at its last digit, and 4.666…67 rounds up one digit earlier, so it looks
    # the larger: line 3 takes a cent from line 2 (shares 0.01, 0.00, 0.05), taxable 0.01 and
    # 0.02 → 0.002 and 0.004 → tax 0.00, total 0.03. Any working precision goes this way.
    totals = await created_totals(client, tie_body(["0.01", "0.01", "0.07"], "0.06"))

    assert totals == {
        "subtotal": "0.09",
        "discount_amount": "0.06",
        "tax_amount": "0.01",
        "total": "0.04",
        "balance_due": "0.04",
    }
