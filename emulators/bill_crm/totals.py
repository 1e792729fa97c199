"""How the CRM computes an invoice's amounts.

All amounts are in the CRM's currency (two decimals), rounded half-up away from zero:
1. each line: ``amount = round(quantity × rate)``; inline invoices may discount a line
   (``round(amount × value / 100)`` or a fixed amount); ``total = amount − discount``;
2. ``subtotal = Σ line totals``;
3. the invoice discount comes off before tax and is shared out over the lines: a percentage
   is rounded per line, a fixed amount is split pro rata by the largest-remainder method
   (a tie goes to the earlier line) so the shares add up to it exactly;
4. tax: summary invoices round once per tax rate over the whole taxable amount; inline
   invoices round each line's tax;
5. ``final = subtotal − discount + tax + adjustment``; ``balance_due = final − paid``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from emulators.bill_crm.model import (
    DISCOUNT_FIXED,
    DISCOUNT_PERCENTAGE,
    INLINE,
    ZERO,
    Invoice,
    LineItem,
)
from emulators.common import round_money

PLACES = 2
HUNDRED = Decimal(100)


def money(value: Decimal) -> Decimal:
    return round_money(value, PLACES)


@dataclass(frozen=True)
class LineAmounts:
    amount: Decimal
    discount_amount: Decimal
    total: Decimal
    taxable: Decimal


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    discount_amount: Decimal
    amount_before_tax: Decimal
    tax_amount: Decimal
    adjustment_amount: Decimal
    final_amount: Decimal
    paid_amount: Decimal
    balance_due: Decimal


@dataclass(frozen=True)
class Computation:
    lines: dict[int, LineAmounts]
    taxes: dict[int, Decimal]
    totals: Totals


def line_amount(item: LineItem) -> Decimal:
    return money(item.quantity * item.rate)


def line_discount(item: LineItem, amount: Decimal) -> Decimal:
    if item.discount_type == DISCOUNT_PERCENTAGE:
        return money(amount * item.discount_value / HUNDRED)
    if item.discount_type == DISCOUNT_FIXED:
        return item.discount_value
    return ZERO


def share_fixed(amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``amount`` pro rata to ``weights`` in whole cents that add up to it exactly."""
    if not weights:
        return []
    cents = int(amount.scaleb(PLACES))
    weight_cents = [int(weight.scaleb(PLACES)) for weight in weights]
    whole = sum(weight_cents)
    if whole <= 0:
        return [ZERO for _ in weights]
    floors = [cents * weight // whole for weight in weight_cents]
    remainders = [cents * weight % whole for weight in weight_cents]
    leftover = cents - sum(floors)
    by_remainder = sorted(range(len(weights)), key=lambda index: (-remainders[index], index))
    for index in by_remainder[:leftover]:
        floors[index] += 1
    return [Decimal(share).scaleb(-PLACES) for share in floors]


def compute(invoice: Invoice) -> Computation:
    inline = invoice.tax_type == INLINE
    amounts: list[Decimal] = []
    discounts: list[Decimal] = []
    for item in invoice.line_items:
        amount = line_amount(item)
        amounts.append(amount)
        discounts.append(line_discount(item, amount) if inline else ZERO)
    line_totals = [amount - discount for amount, discount in zip(amounts, discounts, strict=True)]
    subtotal = sum(line_totals, ZERO)

    if invoice.discount_type == DISCOUNT_PERCENTAGE:
        shares = [money(total * invoice.discount_percentage / HUNDRED) for total in line_totals]
    elif invoice.discount_type == DISCOUNT_FIXED:
        shares = share_fixed(invoice.discount_amount, line_totals)
    else:
        shares = [ZERO for _ in line_totals]
    discount_amount = sum(shares, ZERO)

    lines: dict[int, LineAmounts] = {}
    for item, amount, discount, total, share in zip(
        invoice.line_items, amounts, discounts, line_totals, shares, strict=True
    ):
        lines[item.id] = LineAmounts(amount, discount, total, total - share)

    amount_before_tax = subtotal - discount_amount
    taxes: dict[int, Decimal] = {}
    for record in invoice.taxes:
        if record.lineitem_id is None:
            # Summary tax covers every line, so its base is the whole taxable amount.
            taxes[record.id] = money(amount_before_tax * record.rate / HUNDRED)
        else:
            taxable = lines[record.lineitem_id].taxable
            taxes[record.id] = money(taxable * record.rate / HUNDRED)
    tax_amount = sum(taxes.values(), ZERO)

    final_amount = amount_before_tax + tax_amount + invoice.adjustment_amount
    totals = Totals(
        subtotal=subtotal,
        discount_amount=discount_amount,
        amount_before_tax=amount_before_tax,
        tax_amount=tax_amount,
        adjustment_amount=invoice.adjustment_amount,
        final_amount=final_amount,
        paid_amount=invoice.paid_amount,
        balance_due=final_amount - invoice.paid_amount,
    )
    return Computation(lines=lines, taxes=taxes, totals=totals)
