"""How order_linked computes an invoice's amounts: per line, half-up, discount before tax.

Each line has one tax, the one its item's tax code sets. For every line ``amount =
round(quantity × price)``. The invoice's ``discount_amount`` (it only comes from an order) is
shared over the line amounts pro rata by the largest-remainder method (remainders compared
exactly, a tie to the earlier line), so the shares add up to it exactly, and each line's tax is
computed on ``amount − share``:

- prices exclusive of tax: ``tax = round(taxable × rate / 100)``; the line's ``subtotal`` is its
  amount and its ``total`` is ``amount + tax``;
- prices inclusive of tax: ``tax = round(taxable × rate / (100 + rate))`` is extracted; the
  line's ``total`` is its amount and its ``subtotal`` (before tax) is ``amount − tax``.

The invoice's ``subtotal`` is the sum of the line subtotals, ``tax`` the sum of line taxes and
``total = subtotal − discount_amount + tax + shipping_cost`` in both modes. Every ``round`` is to
the currency's minor units, half-up away from zero, from the exact value: the arithmetic runs on
fractions and whole minor units, so nothing is cut to a number of digits first. Shipping is not
taxed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

_HUNDRED = Fraction(100)


@dataclass(frozen=True, slots=True)
class LineInput:
    quantity: Decimal
    price: Decimal
    tax_rate: Decimal


@dataclass(frozen=True, slots=True)
class LineAmounts:
    amount: Decimal
    discount_share: Decimal
    subtotal: Decimal
    tax: Decimal
    total: Decimal


@dataclass(frozen=True, slots=True)
class Totals:
    lines: tuple[LineAmounts, ...]
    subtotal: Decimal
    discount_amount: Decimal
    tax: Decimal
    shipping_cost: Decimal
    total: Decimal


def compute_totals(
    lines: Sequence[LineInput],
    *,
    exponent: int,
    tax_inclusive: bool,
    discount_amount: Decimal = Decimal(0),
    shipping_cost: Decimal = Decimal(0),
) -> Totals:
    # Everything is exact: products and quotients as fractions, amounts as whole minor units,
    # so no figure is cut to a number of digits before it is rounded (or compared).
    amounts = [to_units(Fraction(line.quantity) * Fraction(line.price), exponent) for line in lines]
    discount = to_units(Fraction(discount_amount), exponent)
    shipping = to_units(Fraction(shipping_cost), exponent)
    shares = _allocate_units(discount, amounts)
    computed: list[tuple[int, int, int, int, int]] = []
    for line, amount, share in zip(lines, amounts, shares, strict=True):
        taxable = Fraction(amount - share)
        rate = Fraction(line.tax_rate)
        if tax_inclusive:
            tax = to_units(taxable * rate / (_HUNDRED + rate), 0)
            computed.append((amount, share, amount - tax, tax, amount))
        else:
            tax = to_units(taxable * rate / _HUNDRED, 0)
            computed.append((amount, share, amount, tax, amount + tax))
    subtotal = sum(c[2] for c in computed)
    tax_total = sum(c[3] for c in computed)
    return Totals(
        lines=tuple(LineAmounts(*(from_units(v, exponent) for v in c)) for c in computed),
        subtotal=from_units(subtotal, exponent),
        discount_amount=from_units(discount, exponent),
        tax=from_units(tax_total, exponent),
        shipping_cost=from_units(shipping, exponent),
        total=from_units(subtotal - discount + tax_total + shipping, exponent),
    )


def allocate(amount: Decimal, weights: Sequence[Decimal], exponent: int) -> list[Decimal]:
    """Split ``amount`` pro rata to ``weights`` in minor units; leftover units go to the largest
    remainders, a tie to the earlier line, so the shares add up to ``amount`` exactly."""
    scale = Fraction(10) ** exponent
    shares = _allocate_units(
        to_units(Fraction(amount), exponent), [Fraction(w) * scale for w in weights]
    )
    return [from_units(share, exponent) for share in shares]


def _allocate_units(units: int, weights: Sequence[Fraction | int]) -> list[int]:
    """The largest-remainder split of ``units`` minor units, every share an exact fraction.

    Remainders are compared as rational numbers, never as decimals cut to some precision: a
    cut quotient keeps fewer decimals of a line with a larger whole part, so two equal
    remainders (1/3 of a unit each, say) would stop being a tie and the unit could go to the
    later line.
    """
    whole = sum(weights, Fraction(0))
    if units == 0 or whole == 0:
        return [0 for _ in weights]
    exact = [units * Fraction(w) / whole for w in weights]
    floors = [math.floor(e) for e in exact]
    leftover = units - sum(floors)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for index in by_remainder[:leftover]:
        floors[index] += 1
    return floors


def to_units(value: Fraction, exponent: int) -> int:
    """``value`` in whole minor units, rounded half-up (away from zero), from its exact value."""
    scaled = value * Fraction(10) ** exponent
    units = math.floor(abs(scaled) + Fraction(1, 2))
    return units if scaled >= 0 else -units


def from_units(units: int, exponent: int) -> Decimal:
    """``units`` minor units as an amount with exactly ``exponent`` decimals (built exactly)."""
    return Decimal(f"{units}E-{exponent}")


def payment_status(total: Decimal, paid: Decimal) -> str:
    """What the provider reports in ``payment_status``: settled once nothing is left to pay."""
    if paid <= 0 and total > 0:
        return "UNPAID"
    if paid < total:
        return "PARTIALLY_PAID"
    return "PAID"
