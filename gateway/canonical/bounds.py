"""Bounds on what a write computes: every amount below 10^15 (docs/canonical-invoice.md, "Money").

Inputs are bounded where they are read (``decimals.py``); their products are not: a million
units at a billion each make 10^15. A write whose computed amounts would reach the bound is
refused before anything is sent, naming each field. Reads are never bounded: a provider's
figures, however large, are read and recomputed as they are.
"""

from __future__ import annotations

from decimal import Decimal

from gateway.canonical.errors import FieldError
from gateway.canonical.totals import Calculation

LIMIT = Decimal(10) ** 15
_LINE_FIELDS = ("subtotal", "discount_amount", "net_amount", "tax_amount", "total")
_TOTAL_FIELDS = ("subtotal", "discount", "tax", "shipping", "adjustment", "total", "paid", "due")


def overflowing(calculation: Calculation) -> list[FieldError]:
    """A ``FieldError`` for every computed amount at or above 10^15 in absolute value."""
    if _surely_within(calculation):
        return []
    errors: list[FieldError] = []
    for i, amounts in enumerate(calculation.lines):
        if amounts is not None:
            for name in _LINE_FIELDS:
                errors += _check(f"/lines/{i}/{name}", getattr(amounts, name))
    totals = calculation.totals
    for name in _TOTAL_FIELDS:
        errors += _check(f"/totals/{name}", getattr(totals, name))
    for j, row in enumerate(totals.tax_breakdown):
        errors += _check(f"/totals/tax_breakdown/{j}/taxable", row.taxable)
    return errors


def _surely_within(calculation: Calculation) -> bool:
    """The quick look, for every write: line amounts are never negative, a line's subtotal and
    total bound its other amounts, and the totals' subtotal bounds every breakdown row."""
    totals = calculation.totals
    if (
        totals.subtotal + totals.discount >= LIMIT
        or totals.tax >= LIMIT
        or abs(totals.total) >= LIMIT
        or totals.paid >= LIMIT
        or abs(totals.due) >= LIMIT
    ):
        return False
    return all(
        amounts is None or (amounts.subtotal < LIMIT and amounts.total < LIMIT)
        for amounts in calculation.lines
    )


def _check(pointer: str, value: Decimal) -> list[FieldError]:
    if abs(value) < LIMIT:
        return []
    return [
        FieldError(
            pointer,
            f"would be {value}; every amount must stay below 10^15 (lower the quantities or "
            "prices that make it)",
        )
    ]
