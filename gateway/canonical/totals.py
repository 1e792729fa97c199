"""The calculation engine: one pure function from an invoice and a rounding policy to its amounts.

The steps are those of docs/canonical-invoice.md ("The calculation engine"), numbered the same
way in the comments below. Every rounding is to the currency's minor unit with the policy's
mode, written inline where it runs once per line or tax: ``value.quantize(step, mode) or zero``
(see ``money.rounder``). The tax steps (6 and 9) are in ``tax_parts``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext
from itertools import repeat
from typing import NamedTuple

from gateway.canonical.errors import FieldError, InvalidInvoice, pointer
from gateway.canonical.model import (
    Discount,
    Invoice,
    Line,
    RoundingPolicy,
    TaxBreakdownRow,
    Totals,
    constructed,
)
from gateway.canonical.money import (
    UnknownCurrency,
    decimal_places,
    exponent,
    quantum,
    rounder,
    rounding,
)
from gateway.canonical.tax_parts import line_taxes, per_rate_tax

# Inputs are bounded (< 10^15, at most 6 decimals), so products are exact at this precision and
# the only inexact step, the extraction of an inclusive tax, is rounded once, to the currency.
_EXACT = Context(prec=80, traps=[InvalidOperation, DivisionByZero, Overflow])
# The most significant digits a figure may have for every product the calculation forms (at most
# three factors, one of them rounded to the currency first) to fit the context exactly.
EXACT_DIGITS = 25
_CENT = Decimal("0.01")  # × 0.01 is ÷ 100, the same value, and cheaper
_ZERO = Decimal(0)
_MINUS_HUNDRED = Decimal(-100)

DEFAULT_POLICY = RoundingPolicy()


class LineAmounts(NamedTuple):
    subtotal: Decimal
    discount_amount: Decimal
    net_amount: Decimal
    tax_amount: Decimal
    total: Decimal


@dataclass(frozen=True)
class Calculation:
    lines: tuple[LineAmounts | None, ...]  # None for section lines
    totals: Totals


def calculate(invoice: Invoice, policy: RoundingPolicy = DEFAULT_POLICY) -> Calculation:
    """Compute every line and total field; raise ``InvalidInvoice`` for amounts that cannot be."""
    try:
        return _calculate(invoice, policy)
    except ArithmeticError:
        # Only a provider's figures go past the caller's bounds (docs/canonical-invoice.md), and
        # the exact context refuses to round what it cannot hold: named, never approximated.
        raise InvalidInvoice([_beyond_precision(invoice)]) from None


def check_exact(invoice: Invoice) -> None:
    """``InvalidInvoice`` naming each figure with more significant digits than the calculation
    keeps exact (``EXACT_DIGITS``). Only a provider's figures can have them (a caller's are
    bounded: 15 digits and 6 places): a read checks before it recomputes, so that a product is
    never rounded at the context's precision and then again to the currency (a provider's
    ``0.00499…9`` of 88 digits would read as 0.01, not 0.00). Each figure's text is looked at
    first (``str()`` shows every digit of the coefficient, at a seventh of ``as_tuple()``'s
    cost); only a longer one is counted, and its pointer written."""
    errors = [
        FieldError(pointer(at), f"{value} has more digits than the calculation can hold exactly")
        for at, value in _figures(invoice)
        if len(str(value)) > EXACT_DIGITS and _significant_digits(value) > EXACT_DIGITS
    ]
    if errors:
        raise InvalidInvoice(errors)


def _significant_digits(value: Decimal) -> int:
    """The digits of ``value``'s coefficient but its trailing zeros, which no product makes
    inexact (a provider's ``10.000…0`` of 26 digits is 10): the context rounds only them away."""
    digits = value.as_tuple().digits
    trailing = len(digits) - len(bytes(digits).rstrip(b"\x00"))
    return max(len(digits) - trailing, 1)


def _beyond_precision(invoice: Invoice) -> FieldError:
    """The figure that took the calculation past exact arithmetic: the one of most digits."""
    at, value = max(
        _figures(invoice), key=lambda f: len(f[1].as_tuple().digits) + abs(f[1].adjusted())
    )
    return FieldError(pointer(at), f"{value} has more digits than the calculation can hold exactly")


def _figures(invoice: Invoice) -> Iterator[tuple[tuple[str | int, ...], Decimal]]:
    """Every figure the calculation takes, with its location (``errors.pointer`` writes it)."""
    yield ("shipping",), invoice.shipping
    if invoice.adjustment:
        yield ("adjustment", "amount"), invoice.adjustment.amount
    if invoice.discount:
        yield ("discount", "value"), invoice.discount.value
    for i, payment in enumerate(invoice.payments):
        yield ("payments", i, "amount"), payment.amount
    for i, line in enumerate(invoice.lines):
        if line.quantity is not None:
            yield ("lines", i, "quantity"), line.quantity
        if line.unit_price is not None:
            yield ("lines", i, "unit_price"), line.unit_price
        if line.discount:
            yield ("lines", i, "discount", "value"), line.discount.value
        for j, tax in enumerate(line.taxes):
            yield ("lines", i, "taxes", j, "rate"), tax.rate


def _calculate(invoice: Invoice, policy: RoundingPolicy) -> Calculation:
    places = exponent(invoice.currency)
    _check_amounts(invoice, places)
    step = quantum(places)
    mode = rounding(policy.mode)
    rnd = rounder(places, policy.mode)
    zero = step * 0
    inclusive = invoice.tax_mode == "inclusive"
    with localcontext(_EXACT):
        items, subtotals, discounts, nets = _line_discounts(invoice.lines, step, mode, zero)
        shares = _document_discount(invoice.discount, nets, step, mode, places, zero)
        taxables = nets if shares is None else [n - s for n, s in zip(nets, shares, strict=True)]
        per_line = policy.tax_scope == "per_line"
        taxes = line_taxes(items, taxables, inclusive, per_line, rnd, step, mode, zero)
        line_tax, rows = taxes.amounts, taxes.rows
        if per_line:
            tax = sum(line_tax, zero)
        else:
            tax = per_rate_tax(taxes, taxables, inclusive, rnd, step, zero)

        discount = zero if shares is None else sum(shares, zero)
        # Already within the currency's places (checked above): rounding only sets the exponent.
        shipping = rnd(invoice.shipping)
        adjustment = rnd(invoice.adjustment.amount) if invoice.adjustment else zero
        gross = sum(nets, zero)
        # Step 8: in inclusive mode the lines hold gross amounts, so the subtotal is the net.
        subtotal = gross - tax if inclusive else gross
        total = subtotal - discount + tax + shipping + adjustment
        paid = rnd(sum([p.amount for p in invoice.payments], zero)) if invoice.payments else zero
        due = total - paid  # here, exact: the default context rounds at 28 digits

        line_totals = nets if inclusive else [n + t for n, t in zip(nets, line_tax, strict=True)]
        amounts = zip(subtotals, discounts, nets, line_tax, line_totals, strict=True)
        # tuple.__new__ directly: a named tuple's own __new__ is a Python call per line.
        computed = list(map(tuple.__new__, repeat(LineAmounts), amounts))
        lines: tuple[LineAmounts | None, ...] = tuple(computed)
        if len(computed) < len(invoice.lines):  # section lines have no amounts
            found = iter(computed)
            lines = tuple(next(found) if line.kind == "item" else None for line in invoice.lines)

    # The engine's own results need no validating: construct them directly.
    tax_breakdown = [
        constructed(TaxBreakdownRow, {"rate": rate, "name": name, "taxable": base, "tax": amount})
        for (rate, name), (base, amount) in rows.items()
    ]

    totals = constructed(
        Totals,
        {
            "subtotal": subtotal,
            "discount": discount,
            "tax": tax,
            "shipping": shipping,
            "adjustment": adjustment,
            "total": total,
            "paid": paid,
            "due": due,
            "tax_breakdown": tax_breakdown,
            "paid_source": "payments",
        },
    )
    return Calculation(lines=lines, totals=totals)


def _check_amounts(invoice: Invoice, places: int) -> None:
    """Money must fit the currency's minor unit; compound taxes cannot be extracted from prices."""
    money: list[tuple[str, Decimal]] = [("/shipping", invoice.shipping)]
    if invoice.adjustment:
        money.append(("/adjustment/amount", invoice.adjustment.amount))
    if invoice.discount and invoice.discount.type == "amount":
        money.append(("/discount/value", invoice.discount.value))
    if invoice.payments:
        money += [(f"/payments/{i}/amount", p.amount) for i, p in enumerate(invoice.payments)]
    errors = [
        _too_fine(where, invoice.currency, places)
        for where, value in money
        if _finer_than(value, places)
    ]
    inclusive = invoice.tax_mode == "inclusive"
    for i, line in enumerate(invoice.lines):
        discount = line.discount
        if discount and discount.type == "amount" and _finer_than(discount.value, places):
            errors.append(_too_fine(f"/lines/{i}/discount/value", invoice.currency, places))
        if inclusive:
            errors += [compound_inclusive(i, j) for j, tax in enumerate(line.taxes) if tax.compound]
            if line.taxes and sum(t.rate for t in line.taxes) == _MINUS_HUNDRED:
                # Only a provider's figures can have negative rates: a price that is all tax
                # at -100% has no net to take the tax out of (it would divide by zero).
                errors.append(
                    FieldError(
                        f"/lines/{i}/taxes",
                        "inclusive taxes adding up to -100% cannot be taken out of a price",
                    )
                )
    if errors:
        raise InvalidInvoice(errors)


def compound_inclusive(line: int, tax: int) -> FieldError:
    return FieldError(
        f"/lines/{line}/taxes/{tax}/compound",
        "a compound tax cannot be used with tax_mode inclusive",
    )


def _too_fine(where: str, currency: str, places: int) -> FieldError:
    return FieldError(where, f"must have at most {places} decimal places for {currency}")


def finer_than_currency(where: str, value: Decimal, currency: str) -> FieldError | None:
    """The error for ``value`` (at ``where``) when it has more decimals than ``currency``'s
    minor unit; None when it fits, or when the currency is one this table does not know (the
    provider's to judge)."""
    try:
        places = exponent(currency)
    except UnknownCurrency:
        return None
    return _too_fine(where, currency, places) if _finer_than(value, places) else None


def _finer_than(value: Decimal, places: int) -> bool:
    # Written with no more digits than allowed is the usual case; only then look closer.
    if value.same_quantum(quantum(places)):  # exactly the currency's places: a quick yes
        return False
    exp = value.as_tuple().exponent
    return isinstance(exp, int) and exp < -places and decimal_places(value) > places


def _line_discounts(
    lines: Sequence[Line], step: Decimal, mode: str, zero: Decimal
) -> tuple[list[Line], list[Decimal], list[Decimal], list[Decimal]]:
    """Steps 1 and 2: the item lines, each one's subtotal, its own discount and its net."""
    items: list[Line] = []
    subtotals: list[Decimal] = []
    discounts: list[Decimal] = []
    nets: list[Decimal] = []
    errors: list[FieldError] = []
    for i, line in enumerate(lines):
        if line.kind != "item":
            continue
        quantity, price = line.quantity, line.unit_price
        assert quantity is not None and price is not None  # item lines have both
        subtotal = (quantity * price).quantize(step, mode) or zero
        discount = line.discount
        if discount is None:
            amount = zero
        elif discount.type == "percent":
            amount = (subtotal * discount.value * _CENT).quantize(step, mode) or zero
        else:
            amount = discount.value.quantize(step, mode) or zero
        if amount > subtotal:
            errors.append(
                FieldError(
                    f"/lines/{i}/discount/value",
                    f"amount discount {amount} is larger than the line subtotal {subtotal}",
                )
            )
        items.append(line)
        subtotals.append(subtotal)
        discounts.append(amount)
        nets.append(subtotal - amount)
    if errors:
        raise InvalidInvoice(errors)
    return items, subtotals, discounts, nets


def _document_discount(
    discount: Discount | None,
    nets: list[Decimal],
    step: Decimal,
    mode: str,
    places: int,
    zero: Decimal,
) -> list[Decimal] | None:
    """Step 4: each line's share of the document discount (``None``: no discount, all 0)."""
    if discount is None:
        return None
    if discount.type == "percent":
        value = discount.value
        return [(net * value * _CENT).quantize(step, mode) or zero for net in nets]
    available = sum(nets, _ZERO)
    # With nothing to share it in proportion to (Σ net_amount = 0), every share is 0, as the
    # spec's step 4 says; more than a positive net total is refused.
    if discount.value > available and available:
        raise InvalidInvoice(
            [
                FieldError(
                    "/discount/value",
                    f"amount discount {discount.value} is larger than "
                    f"the lines' net total {available}",
                )
            ]
        )
    return allocate(discount.value, nets, places)


def allocate(amount: Decimal, weights: Sequence[Decimal], places: int) -> list[Decimal]:
    """Share ``amount`` pro rata to ``weights`` in minor units (largest remainder; ties → earlier).

    The shares add up to ``amount`` exactly. Remainders are compared exactly, never as rounded
    decimals (0.333… to 80 digits must not beat 1.333… to 79): the weights are amounts rounded
    to the currency (the lines' net amounts), so in minor units each share is the integer
    ``units × weight // total`` and its remainder the integer ``units × weight % total``.
    """
    unit = quantum(places)
    scale = Decimal(10**places)
    units = int(amount * scale)
    whole = [int(weight * scale) for weight in weights]  # amounts: whole minor units
    total = sum(whole)
    if total == 0:
        return [unit * 0 for _ in weights]
    floors: list[int] = []
    remainders: list[int] = []
    for w in whole:
        share, remainder = divmod(units * w, total)
        floors.append(share)
        remainders.append(remainder)
    leftover = units - sum(floors)
    if leftover:
        # The largest remainders first; a stable sort keeps a tie in the lines' order. Each
        # exact remainder is ``remainder / total``: with a negative total (a provider's figures)
        # divmod's remainder is negative too, and the most negative is the largest.
        sign = 1 if total > 0 else -1
        order = sorted(range(len(whole)), key=lambda i: sign * remainders[i], reverse=True)
        for i in order[:leftover]:
            floors[i] += 1
    return [unit * share for share in floors]
