"""How order_linked computes an invoice's amounts: per line, half-up, discount before tax.

Each line has one tax, the one its item's tax code sets. For every line ``amount =
round(quantity × price)``. The invoice's ``discount_amount`` (it only comes from an order) is
shared over the line amounts pro rata by the largest-remainder method, so the shares add up to
it exactly, and each line's tax is computed on ``amount − share``:

- prices exclusive of tax: ``tax = round(taxable × rate / 100)``; the line's ``subtotal`` is its
  amount and its ``total`` is ``amount + tax``;
- prices inclusive of tax: ``tax = round(taxable × rate / (100 + rate))`` is extracted; the
  line's ``total`` is its amount and its ``subtotal`` (before tax) is ``amount − tax``.

The invoice's ``subtotal`` is the sum of the line subtotals, ``tax`` the sum of line taxes and
``total = subtotal − discount_amount + tax + shipping_cost`` in both modes. Every ``round`` is to
the currency's minor units, half-up away from zero. Shipping is not taxed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from emulators.common import round_money

_HUNDRED = Decimal(100)


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
    amounts = [round_money(line.quantity * line.price, exponent) for line in lines]
    discount = round_money(discount_amount, exponent)
    shipping = round_money(shipping_cost, exponent)
    shares = allocate(discount, amounts, exponent)
    computed: list[LineAmounts] = []
    for line, amount, share in zip(lines, amounts, shares, strict=True):
        taxable = amount - share
        if tax_inclusive:
            tax = round_money(taxable * line.tax_rate / (_HUNDRED + line.tax_rate), exponent)
            computed.append(LineAmounts(amount, share, amount - tax, tax, amount))
        else:
            tax = round_money(taxable * line.tax_rate / _HUNDRED, exponent)
            computed.append(LineAmounts(amount, share, amount, tax, amount + tax))
    subtotal = sum((c.subtotal for c in computed), Decimal(0))
    tax_total = sum((c.tax for c in computed), Decimal(0))
    zero = round_money(Decimal(0), exponent)
    return Totals(
        lines=tuple(computed),
        subtotal=subtotal + zero,
        discount_amount=discount,
        tax=tax_total + zero,
        shipping_cost=shipping,
        total=subtotal - discount + tax_total + shipping,
    )


def allocate(amount: Decimal, weights: Sequence[Decimal], exponent: int) -> list[Decimal]:
    """Split ``amount`` pro rata to ``weights`` in minor units; leftover units go to the largest
    remainders, a tie to the earlier line, so the shares add up to ``amount`` exactly."""
    quantum = Decimal(1).scaleb(-exponent)
    zero = round_money(Decimal(0), exponent)
    whole = sum(weights, Decimal(0))
    if amount == 0 or whole == 0:
        return [zero for _ in weights]
    units = int((amount / quantum).to_integral_value())
    exact = [Decimal(units) * w / whole for w in weights]
    floors = [int(e.to_integral_value(rounding=ROUND_FLOOR)) for e in exact]
    leftover = units - sum(floors)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for index in by_remainder[:leftover]:
        floors[index] += 1
    return [(Decimal(f) * quantum).quantize(quantum) for f in floors]


def payment_status(total: Decimal, paid: Decimal) -> str:
    """What the provider reports in ``payment_status``: settled once nothing is left to pay."""
    if paid <= 0 and total > 0:
        return "UNPAID"
    if paid < total:
        return "PARTIALLY_PAID"
    return "PAID"
