"""The calculation engine: one pure function from an invoice and a rounding policy to its amounts.

The steps are those of docs/canonical-invoice.md ("The calculation engine"), numbered the same
way in the comments below. Every ``round`` is to the currency's minor unit with the policy's mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext
from fractions import Fraction
from math import floor

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
    """One tax of one line: its amount (exact for exclusive taxes; to 80 digits for an
    extracted one) and its amount rounded on that line. ``divisor`` is set for an extracted
    tax: its exact value is ``base × rate / divisor``."""

    tax: Tax
    exact: Decimal
    rounded: Decimal
    base: Decimal = _ZERO
    divisor: Decimal | None = None

    def fraction(self) -> Fraction:
        """The amount as an exact rational: what largest-remainder sharing compares."""
        if self.divisor is None:
            return Fraction(self.exact)
        return Fraction(self.base) * Fraction(self.tax.rate) / Fraction(self.divisor)


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
        portions: list[_Portion] | None = None
        if policy.tax_scope == "per_line":
            line_taxes = [_sum_rounded(ps, zero) for ps in parts]
            tax = sum(line_taxes, zero)
        else:
            line_taxes = [rnd(_sum_exact(ps)) for ps in parts]
            portions = _per_rate_portions(items, parts, taxables, inclusive, rnd, zero)
            tax = sum((portion.rounded for portion in portions), zero)

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
        breakdown = _breakdown(parts, taxables, line_taxes, inclusive, portions, places, zero)

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
        paid_source="payments",
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

    The shares add up to ``amount`` exactly. Remainders are compared exactly, never as rounded
    decimals (0.333… to 80 digits must not beat 1.333… to 79): the weights are amounts rounded
    to the currency (the lines' net amounts), so in minor units each share is the integer
    ``units × weight // total`` and its remainder the integer ``units × weight % total``.
    """
    unit = quantum(places)
    units = int(amount / unit)
    whole = [int(weight.scaleb(places)) for weight in weights]  # amounts: whole minor units
    total = sum(whole)
    if total == 0:
        return [unit * 0 for _ in weights]
    floors = [units * w // total for w in whole]
    leftover = units - sum(floors)
    order = sorted(range(len(whole)), key=lambda i: (-(units * whole[i] % total), i))
    for i in order[:leftover]:
        floors[i] += 1
    return [unit * share for share in floors]


def largest_remainder(units: int, weights: Sequence[Fraction]) -> list[int]:
    """``units`` shared pro rata to ``weights``: each share's exact value floored, the units
    left over one each to the largest remainders, a tie to the earlier weight. No weight: 0s."""
    total = sum(weights, Fraction(0))
    if total == 0:
        return [0 for _ in weights]
    exact = [units * weight / total for weight in weights]
    floors = [floor(share) for share in exact]
    leftover = units - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (floors[i] - exact[i], i))
    for i in order[:leftover]:
        floors[i] += 1
    return floors


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
    divisor = _HUNDRED + combined
    exact_total = taxable * combined / divisor
    rounded_total = rnd(exact_total)
    parts = []
    allotted = rnd(Decimal(0))
    for position, tax in enumerate(taxes):
        exact = taxable * tax.rate / divisor
        if position < len(taxes) - 1:
            rounded = rnd(rounded_total * tax.rate / combined)
            allotted += rounded
        else:
            rounded = rounded_total - allotted
        parts.append(_TaxPart(tax, exact, rounded, taxable, divisor))
    return parts


@dataclass(slots=True)
class _Portion:
    """Tax rounded once under ``per_rate`` (a group; in inclusive mode one part of a group's
    split) and the line taxes it was made from, whose breakdown rows share it."""

    rounded: Decimal
    parts: list[_TaxPart]


def _per_rate_portions(
    items: Sequence[tuple[int, Line]],
    parts: Sequence[Sequence[_TaxPart]],
    taxables: Sequence[Decimal],
    inclusive: bool,
    rnd: Callable[[Decimal], Decimal],
    zero: Decimal,
) -> list[_Portion]:
    """Step 6, per_rate: exact amounts grouped, each group rounded once.

    Exclusive: a group is a (rate, compound). Inclusive: a group is the lines with one set of
    rates (sorted: the order of a line's taxes does not matter); their taxable amounts are
    summed, the tax extracted once, then split in proportion to the rates in ascending order,
    every part rounded but the last, which takes the remainder.
    """
    if not inclusive:
        groups: dict[tuple[Decimal, bool], list[_TaxPart]] = {}
        for line_parts in parts:
            for part in line_parts:
                groups.setdefault((part.tax.rate, part.tax.compound), []).append(part)
        return [_Portion(rnd(_sum_exact(members)), members) for members in groups.values()]
    sets: dict[tuple[Decimal, ...], list[tuple[Decimal, list[_TaxPart]]]] = {}
    for base, line_parts in zip(taxables, parts, strict=True):
        if line_parts:
            key = tuple(sorted(part.tax.rate for part in line_parts))
            sets.setdefault(key, []).append((base, list(line_parts)))
    portions: list[_Portion] = []
    for rates, members in sets.items():
        combined = sum(rates, Decimal(0))
        base = sum((taxable for taxable, _ in members), Decimal(0))
        extracted = rnd(base * combined / (_HUNDRED + combined)) if combined else zero
        # One part per rate, in ascending order; parts of one rate (a line with GST 5 and
        # PST 5) are added together and shared by every row of that rate, so neither the
        # order of a line's taxes nor their names matter.
        by_rate: dict[Decimal, Decimal] = {}
        allotted = zero
        for position, rate in enumerate(rates):
            if position < len(rates) - 1:
                share = rnd(extracted * rate / combined) if combined else zero
                allotted += share
            else:
                share = extracted - allotted
            by_rate[rate] = by_rate.get(rate, zero) + share
        for rate, share in by_rate.items():
            fed = [part for _, taxes in members for part in taxes if part.tax.rate == rate]
            portions.append(_Portion(share, fed))
    return portions


def _breakdown(
    parts: Sequence[Sequence[_TaxPart]],
    taxables: Sequence[Decimal],
    line_taxes: Sequence[Decimal],
    inclusive: bool,
    portions: Sequence[_Portion] | None,
    places: int,
    zero: Decimal,
) -> list[BreakdownRow]:
    """Step 9: one row per (rate, name), in the order first seen, adding up to the tax.

    ``per_line`` (no ``portions``): a row's tax is the sum of its rounded line taxes.
    ``per_rate``: each portion is shared among the rows that fed it, by largest remainder over
    their exact amounts (a tie to the earlier row). In inclusive mode ``taxable`` is the base
    net of tax.
    """
    rows: dict[tuple[Decimal, str | None], list[Decimal]] = {}
    for line_parts, taxable, line_tax in zip(parts, taxables, line_taxes, strict=True):
        base = taxable - line_tax if inclusive else taxable
        counted: set[tuple[Decimal, str | None]] = set()
        for part in line_parts:
            key = (part.tax.rate, part.tax.name)
            row = rows.setdefault(key, [zero, zero])
            if key not in counted:  # a line's taxable counts once per row, however many taxes
                counted.add(key)
                row[0] += base
            if portions is None:
                row[1] += part.rounded
    if portions is not None:
        unit = quantum(places)
        order = {key: position for position, key in enumerate(rows)}
        for portion in portions:
            first = portion.parts[0].tax
            if all(p.tax.name == first.name for p in portion.parts):  # one row: all of it
                rows[(first.rate, first.name)][1] += portion.rounded
                continue
            feeding: dict[tuple[Decimal, str | None], Fraction] = {}
            for part in portion.parts:
                key = (part.tax.rate, part.tax.name)
                feeding[key] = feeding.get(key, Fraction(0)) + part.fraction()
            keys = sorted(feeding, key=order.__getitem__)
            units = int(portion.rounded / unit)
            for key, share in zip(
                keys, largest_remainder(units, [feeding[k] for k in keys]), strict=True
            ):
                rows[key][1] += unit * share
    return [
        BreakdownRow.model_construct(rate=rate, name=name, taxable=taxable, tax=tax)
        for (rate, name), (taxable, tax) in rows.items()
    ]
