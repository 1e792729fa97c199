"""The calculation engine: one pure function from an invoice and a rounding policy to its amounts.

The steps are those of docs/canonical-invoice.md ("The calculation engine"), numbered the same
way in the comments below. Every ``round`` is to the currency's minor unit with the policy's mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext

from gateway.canonical.errors import FieldError, InvalidInvoice
from gateway.canonical.model import Discount, Invoice, Line, RoundingPolicy, Tax, Totals
from gateway.canonical.model import TaxBreakdownRow as BreakdownRow
from gateway.canonical.money import decimal_places, exponent, quantum, rounder

# Inputs are bounded (< 10^15, at most 6 decimals), so products are exact at this precision and
# the only inexact step, the extraction of an inclusive tax, is rounded once, to the currency.
_EXACT = Context(prec=80, traps=[InvalidOperation, DivisionByZero, Overflow])
_HUNDRED = Decimal(100)
_ZERO = Decimal(0)

DEFAULT_POLICY = RoundingPolicy()


@dataclass(frozen=True, slots=True)
class LineAmounts:
    subtotal: Decimal
    discount_amount: Decimal
    net_amount: Decimal
    tax_amount: Decimal
    total: Decimal


@dataclass(frozen=True)
class Calculation:
    lines: tuple[LineAmounts | None, ...]  # None for section lines
    totals: Totals


@dataclass(slots=True)
class _TaxPart:
    """One tax of one line: its exact amount and its amount rounded on that line."""

    tax: Tax
    exact: Decimal
    rounded: Decimal


def calculate(invoice: Invoice, policy: RoundingPolicy = DEFAULT_POLICY) -> Calculation:
    """Compute every line and total field; raise ``InvalidInvoice`` for amounts that cannot be."""
    _check_amounts(invoice)
    places = exponent(invoice.currency)
    rnd = rounder(places, policy.mode)
    zero = quantum(places) * 0
    with localcontext(_EXACT):
        items = [(i, line) for i, line in enumerate(invoice.lines) if line.kind == "item"]
        subtotals, discounts = _line_discounts(items, rnd)
        nets = [s - d for s, d in zip(subtotals, discounts, strict=True)]
        shares = _document_discount(invoice.discount, nets, rnd, places)
        taxables = [n - s for n, s in zip(nets, shares, strict=True)]

        inclusive = invoice.tax_mode == "inclusive"
        parts = [
            _inclusive_taxes(line.taxes, base, rnd)
            if inclusive
            else _exclusive_taxes(line.taxes, base, rnd)
            for (_, line), base in zip(items, taxables, strict=True)
        ]
        if policy.tax_scope == "per_line":
            line_taxes = [_sum_rounded(ps, zero) for ps in parts]
            tax = sum(line_taxes, zero)
        else:
            line_taxes = [rnd(_sum_exact(ps)) for ps in parts]
            tax = _per_rate_tax(items, parts, taxables, inclusive, rnd, zero)

        discount = sum(shares, zero)
        # Already within the currency's places (checked above): rounding only sets the exponent.
        shipping = rnd(invoice.shipping)
        adjustment = rnd(invoice.adjustment.amount) if invoice.adjustment else zero
        gross = sum(nets, zero)
        # Step 8: in inclusive mode the lines hold gross amounts, so the subtotal is the net.
        subtotal = gross - tax if inclusive else gross
        total = subtotal - discount + tax + shipping + adjustment
        paid = rnd(sum((p.amount for p in invoice.payments), zero))

        computed = [
            LineAmounts(sub, disc, net, line_tax, net if inclusive else net + line_tax)
            for sub, disc, net, line_tax in zip(subtotals, discounts, nets, line_taxes, strict=True)
        ]
        lines: tuple[LineAmounts | None, ...] = tuple(computed)
        if len(computed) < len(invoice.lines):  # section lines have no amounts
            found = iter(computed)
            lines = tuple(next(found) if line.kind == "item" else None for line in invoice.lines)
        breakdown = _breakdown(parts, taxables, line_taxes, inclusive, policy, rnd, zero)

    # The engine's own results need no validating: construct them directly.
    totals = Totals.model_construct(
        subtotal=subtotal,
        discount=discount,
        tax=tax,
        shipping=shipping,
        adjustment=adjustment,
        total=total,
        paid=paid,
        due=total - paid,
        tax_breakdown=breakdown,
    )
    return Calculation(lines=lines, totals=totals)


def _sum_rounded(parts: Sequence[_TaxPart], zero: Decimal) -> Decimal:
    total = zero
    for part in parts:
        total += part.rounded
    return total


def _sum_exact(parts: Sequence[_TaxPart]) -> Decimal:
    total = _ZERO
    for part in parts:
        total += part.exact
    return total


def _check_amounts(invoice: Invoice) -> None:
    """Money must fit the currency's minor unit; compound taxes cannot be extracted from prices."""
    places = exponent(invoice.currency)
    money: list[tuple[str, Decimal]] = [("/shipping", invoice.shipping)]
    if invoice.adjustment:
        money.append(("/adjustment/amount", invoice.adjustment.amount))
    if invoice.discount and invoice.discount.type == "amount":
        money.append(("/discount/value", invoice.discount.value))
    money += [(f"/payments/{i}/amount", p.amount) for i, p in enumerate(invoice.payments)]
    errors = [
        FieldError(where, f"must have at most {places} decimal places for {invoice.currency}")
        for where, value in money
        if _finer_than(value, places)
    ]
    for i, line in enumerate(invoice.lines):
        if (
            line.discount
            and line.discount.type == "amount"
            and _finer_than(line.discount.value, places)
        ):
            errors.append(
                FieldError(
                    f"/lines/{i}/discount/value",
                    f"must have at most {places} decimal places for {invoice.currency}",
                )
            )
        if invoice.tax_mode == "inclusive":
            errors += [
                FieldError(
                    f"/lines/{i}/taxes/{j}/compound",
                    "a compound tax cannot be used with tax_mode inclusive",
                )
                for j, tax in enumerate(line.taxes)
                if tax.compound
            ]
    if errors:
        raise InvalidInvoice(errors)


def _finer_than(value: Decimal, places: int) -> bool:
    exp = value.as_tuple().exponent
    # Written with no more digits than allowed is the usual case; only then look closer.
    return isinstance(exp, int) and exp < -places and decimal_places(value) > places


def _line_discounts(
    items: Sequence[tuple[int, Line]], rnd: Callable[[Decimal], Decimal]
) -> tuple[list[Decimal], list[Decimal]]:
    """Steps 1 and 2: each line's subtotal and its own discount."""
    subtotals: list[Decimal] = []
    discounts: list[Decimal] = []
    errors: list[FieldError] = []
    no_discount = rnd(_ZERO)
    for i, line in items:
        assert line.quantity is not None and line.unit_price is not None  # item lines have both
        subtotal = rnd(line.quantity * line.unit_price)
        discount = _discount_amount(line.discount, subtotal, rnd) if line.discount else no_discount
        if discount > subtotal:
            errors.append(
                FieldError(
                    f"/lines/{i}/discount/value",
                    f"amount discount {discount} is larger than the line subtotal {subtotal}",
                )
            )
        subtotals.append(subtotal)
        discounts.append(discount)
    if errors:
        raise InvalidInvoice(errors)
    return subtotals, discounts


def _discount_amount(
    discount: Discount | None, base: Decimal, rnd: Callable[[Decimal], Decimal]
) -> Decimal:
    if discount is None:
        return rnd(Decimal(0))
    if discount.type == "percent":
        return rnd(base * discount.value / _HUNDRED)
    return rnd(discount.value)


def _document_discount(
    discount: Discount | None,
    nets: list[Decimal],
    rnd: Callable[[Decimal], Decimal],
    places: int,
) -> list[Decimal]:
    """Step 4: each line's share of the document discount."""
    if discount is None:
        return [rnd(Decimal(0)) for _ in nets]
    if discount.type == "percent":
        return [rnd(net * discount.value / _HUNDRED) for net in nets]
    available = sum(nets, Decimal(0))
    if discount.value > available:
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

    The shares add up to ``amount`` exactly.
    """
    unit = quantum(places)
    units = int(amount / unit)
    total_weight = sum(weights, Decimal(0))
    if total_weight == 0:
        return [unit * 0 for _ in weights]
    with localcontext(_EXACT):
        exact = [units * weight / total_weight for weight in weights]
    floors = [int(share) for share in exact]
    leftover = units - sum(floors)
    by_remainder = sorted(range(len(weights)), key=lambda i: (floors[i] - exact[i], i))
    for i in by_remainder[:leftover]:
        floors[i] += 1
    return [unit * share for share in floors]


def _exclusive_taxes(
    taxes: Sequence[Tax], taxable: Decimal, rnd: Callable[[Decimal], Decimal]
) -> list[_TaxPart]:
    """Step 6, exclusive: a compound tax is on the taxable amount plus the line's simple taxes."""
    exact = [taxable * tax.rate / _HUNDRED for tax in taxes]
    if len(taxes) > 1 and any(tax.compound for tax in taxes):
        base = taxable + sum(
            (amount for tax, amount in zip(taxes, exact, strict=True) if not tax.compound), _ZERO
        )
        exact = [
            base * tax.rate / _HUNDRED if tax.compound else amount
            for tax, amount in zip(taxes, exact, strict=True)
        ]
    return [_TaxPart(tax, amount, rnd(amount)) for tax, amount in zip(taxes, exact, strict=True)]


def _inclusive_taxes(
    taxes: Sequence[Tax], taxable: Decimal, rnd: Callable[[Decimal], Decimal]
) -> list[_TaxPart]:
    """Step 6, inclusive: extract the combined rate once, then split it in proportion to rates."""
    combined = sum((t.rate for t in taxes), Decimal(0))
    if not taxes or combined == 0:
        return [_TaxPart(t, Decimal(0), rnd(Decimal(0))) for t in taxes]
    exact_total = taxable * combined / (_HUNDRED + combined)
    rounded_total = rnd(exact_total)
    parts = []
    allotted = rnd(Decimal(0))
    for position, tax in enumerate(taxes):
        exact = exact_total * tax.rate / combined
        if position < len(taxes) - 1:
            rounded = rnd(rounded_total * tax.rate / combined)
            allotted += rounded
        else:
            rounded = rounded_total - allotted
        parts.append(_TaxPart(tax, exact, rounded))
    return parts


def _per_rate_tax(
    items: Sequence[tuple[int, Line]],
    parts: Sequence[Sequence[_TaxPart]],
    taxables: Sequence[Decimal],
    inclusive: bool,
    rnd: Callable[[Decimal], Decimal],
    zero: Decimal,
) -> Decimal:
    """Step 6, per_rate: group exact amounts, round each group once."""
    if inclusive:
        # The group is the line's set of rates; its taxable amounts are summed, then extracted.
        bases: dict[tuple[Decimal, ...], Decimal] = {}
        for (_, line), base in zip(items, taxables, strict=True):
            if line.taxes:
                rates = tuple(t.rate for t in line.taxes)
                bases[rates] = bases.get(rates, Decimal(0)) + base
        extracted = zero
        for rates, base in bases.items():
            combined = sum(rates, Decimal(0))
            if combined:
                extracted += rnd(base * combined / (_HUNDRED + combined))
        return extracted
    groups: dict[tuple[Decimal, bool], Decimal] = {}
    for line_parts in parts:
        for part in line_parts:
            key = (part.tax.rate, part.tax.compound)
            groups[key] = groups.get(key, Decimal(0)) + part.exact
    return sum((rnd(amount) for amount in groups.values()), zero)


def _breakdown(
    parts: Sequence[Sequence[_TaxPart]],
    taxables: Sequence[Decimal],
    line_taxes: Sequence[Decimal],
    inclusive: bool,
    policy: RoundingPolicy,
    rnd: Callable[[Decimal], Decimal],
    zero: Decimal,
) -> list[BreakdownRow]:
    """Step 9: one row per (rate, name). In inclusive mode ``taxable`` is the base net of tax."""
    rows: dict[tuple[Decimal, str | None], list[Decimal]] = {}
    for line_parts, taxable, line_tax in zip(parts, taxables, line_taxes, strict=True):
        base = taxable - line_tax if inclusive else taxable
        for part in line_parts:
            row = rows.setdefault((part.tax.rate, part.tax.name), [zero, Decimal(0), zero])
            row[0] += base
            row[1] += part.exact
            row[2] += part.rounded
    return [
        BreakdownRow.model_construct(
            rate=rate,
            name=name,
            taxable=taxable,
            tax=rounded if policy.tax_scope == "per_line" else rnd(exact),
        )
        for (rate, name), (taxable, exact, rounded) in rows.items()
    ]
