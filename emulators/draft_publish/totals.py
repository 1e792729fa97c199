"""Server-side totals of the draft_publish emulator.

The rules: each line's ``amount`` is ``quantity × unit_price`` rounded to the currency; the
document discount comes off before tax and is shared out over the lines (a percentage per line,
a fixed amount pro rata by the largest-remainder method, its remainders compared exactly and a
tie going to the earlier line); each line's tax is rounded on its own (``per_line``); every
rounding is half-up away from zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

from emulators.common import round_money

PERCENTAGE = "percentage"
FIXED = "fixed"
# Quantity (up to 10^9, 6 decimals) × price (up to 10^12, 4 decimals) needs 31 digits, more
# than Decimal's default 28: compute with room to spare so nothing is rounded before its time.
PRECISION = 60


@dataclass(frozen=True, slots=True)
class LineInput:
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal | None


@dataclass(frozen=True, slots=True)
class Totals:
    line_amounts: tuple[Decimal, ...]
    subtotal: Decimal
    discount_amount: Decimal
    tax_amount: Decimal
    total: Decimal


def line_amount(quantity: Decimal, unit_price: Decimal, places: int) -> Decimal:
    with localcontext() as context:
        context.prec = PRECISION
        return round_money(quantity * unit_price, places)


def compute_totals(
    lines: Sequence[LineInput],
    discount_type: str | None,
    discount_value: Decimal | None,
    places: int,
) -> Totals:
    with localcontext() as context:
        context.prec = PRECISION
        return _compute(lines, discount_type, discount_value, places)


def _compute(
    lines: Sequence[LineInput],
    discount_type: str | None,
    discount_value: Decimal | None,
    places: int,
) -> Totals:
    amounts = [line_amount(line.quantity, line.unit_price, places) for line in lines]
    shares = _discount_shares(amounts, discount_type, discount_value, places)
    taxes = [
        round_money((amount - share) * line.tax_rate / 100, places)
        if line.tax_rate is not None
        else Decimal(0)
        for line, amount, share in zip(lines, amounts, shares, strict=True)
    ]
    zero = round_money(Decimal(0), places)
    subtotal = sum(amounts, zero)
    discount = sum(shares, zero)
    tax = sum(taxes, zero)
    return Totals(
        line_amounts=tuple(amounts),
        subtotal=subtotal,
        discount_amount=discount,
        tax_amount=tax,
        total=subtotal - discount + tax,
    )


def _discount_shares(
    amounts: Sequence[Decimal],
    discount_type: str | None,
    discount_value: Decimal | None,
    places: int,
) -> list[Decimal]:
    if not discount_type or not discount_value:
        return [Decimal(0)] * len(amounts)
    if discount_type == PERCENTAGE:
        return [round_money(amount * discount_value / 100, places) for amount in amounts]
    return _largest_remainder(amounts, round_money(discount_value, places), places)


def _largest_remainder(amounts: Sequence[Decimal], value: Decimal, places: int) -> list[Decimal]:
    """Split ``value`` pro rata to ``amounts`` so the shares add up to it exactly.

    Work in minor units: floor every exact share, then hand the units left over one each to
    the lines with the largest remainders (the earlier line on a tie). Every share is the
    fraction ``units × amount / Σ amounts`` kept exact, so remainders are compared as rational
    numbers: a quotient cut to any number of digits would keep fewer decimals of a line with a
    larger whole part, and two equal remainders (1/3 of a unit each, say) would no longer tie.
    """
    base = sum((Fraction(amount) for amount in amounts), Fraction(0))
    if base == 0:
        return [Decimal(0)] * len(amounts)
    units = math.floor(Fraction(value) * 10**places)
    exact = [units * Fraction(amount) / base for amount in amounts]
    floors = [math.floor(share) for share in exact]
    left_over = units - sum(floors)
    order = sorted(range(len(amounts)), key=lambda i: (-(exact[i] - floors[i]), i))
    for index in order[:left_over]:
        floors[index] += 1
    return [_from_units(share, places) for share in floors]


def _from_units(units: int, places: int) -> Decimal:
    """``units`` minor units as an amount with exactly ``places`` decimals, built exactly."""
    return Decimal(f"{units}E-{places}")
