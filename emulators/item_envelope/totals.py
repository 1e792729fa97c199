"""How item_envelope computes an invoice's amounts: per line, half-up, discounts before tax.

For every line: ``gross = round(quantity × unit_price)``; the line discount is a percentage of
the gross (type 1) or an absolute amount for the whole line (type 2); ``subtotal = gross −
discount`` is the line's ``subtotal`` field. The document discount (``discount`` percent or
``discount_amount``) is shared out over the line subtotals before tax: a percentage line by line,
a fixed amount pro rata by the largest-remainder method so the shares add up exactly. Each of the
two tax slots is ``round(taxable × rate / 100)`` per line. Every ``round`` is to the currency's
minor units, half-up away from zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from emulators.common import round_money

PERCENTAGE = 1
ABSOLUTE = 2

_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class LineInput:
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal
    discount_type: int
    tax1_rate: Decimal | None
    tax2_rate: Decimal | None


@dataclass(frozen=True, slots=True)
class LineAmounts:
    gross: Decimal
    discount: Decimal
    subtotal: Decimal
    document_discount: Decimal
    tax1: Decimal
    tax2: Decimal


@dataclass(frozen=True, slots=True)
class Totals:
    lines: tuple[LineAmounts, ...]
    subtotal: Decimal
    discount: Decimal
    tax1: Decimal
    tax2: Decimal
    total: Decimal
    paid: Decimal
    unpaid: Decimal

    def payment_status(self, draft: int) -> int:
        """0 unpaid, 1 partially paid, 2 paid, as the invoice shows it: from ``summary_paid``,
        and an issued invoice with nothing due is paid, a zero total included, as providers
        show it (the spec's status model); a draft owes nothing yet."""
        if draft == 0 and self.paid >= self.total:
            return 2
        if self.paid <= 0:
            return 0
        return 2 if self.paid >= self.total else 1


def line_gross(line: LineInput, places: int) -> Decimal:
    return round_money(line.quantity * line.unit_price, places)


def line_discount(line: LineInput, places: int) -> Decimal:
    gross = line_gross(line, places)
    if line.discount_type == ABSOLUTE:
        return round_money(line.discount, places)
    return round_money(gross * line.discount / _HUNDRED, places)


def _fixed_shares(amount: Decimal, bases: Sequence[Decimal], places: int) -> list[Decimal]:
    """Share ``amount`` pro rata to ``bases`` in whole minor units; ties go to the earlier line."""
    scale = Decimal(10) ** places
    units = int(amount * scale)
    base_units = [int(base * scale) for base in bases]
    whole = sum(base_units)
    if whole == 0:
        return [Decimal(0).scaleb(-places) for _ in bases]
    floors = [units * base // whole for base in base_units]
    remainders = [units * base % whole for base in base_units]
    left = units - sum(floors)
    for index in sorted(range(len(bases)), key=lambda i: (-remainders[i], i))[:left]:
        floors[index] += 1
    return [Decimal(share).scaleb(-places) for share in floors]


def compute(
    lines: Sequence[LineInput],
    *,
    discount_percent: Decimal,
    discount_amount: Decimal,
    places: int,
    paid: Decimal,
) -> Totals:
    zero = Decimal(0).scaleb(-places)
    grosses = [line_gross(line, places) for line in lines]
    discounts = [line_discount(line, places) for line in lines]
    subtotals = [gross - discount for gross, discount in zip(grosses, discounts, strict=True)]
    if discount_amount:
        shares = _fixed_shares(round_money(discount_amount, places), subtotals, places)
    else:
        shares = [round_money(sub * discount_percent / _HUNDRED, places) for sub in subtotals]

    amounts: list[LineAmounts] = []
    for line, gross, discount, subtotal, share in zip(
        lines, grosses, discounts, subtotals, shares, strict=True
    ):
        taxable = subtotal - share
        amounts.append(
            LineAmounts(
                gross=gross,
                discount=discount,
                subtotal=subtotal,
                document_discount=share,
                tax1=zero if line.tax1_rate is None else _tax(taxable, line.tax1_rate, places),
                tax2=zero if line.tax2_rate is None else _tax(taxable, line.tax2_rate, places),
            )
        )
    subtotal = sum((a.subtotal for a in amounts), zero)
    discount = sum((a.document_discount for a in amounts), zero)
    tax1 = sum((a.tax1 for a in amounts), zero)
    tax2 = sum((a.tax2 for a in amounts), zero)
    total = subtotal - discount + tax1 + tax2
    paid = round_money(paid, places)
    return Totals(
        lines=tuple(amounts),
        subtotal=subtotal,
        discount=discount,
        tax1=tax1,
        tax2=tax2,
        total=total,
        paid=paid,
        unpaid=total - paid,
    )


def _tax(taxable: Decimal, rate: Decimal, places: int) -> Decimal:
    return round_money(taxable * rate / _HUNDRED, places)
