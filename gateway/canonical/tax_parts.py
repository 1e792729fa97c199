"""Steps 6 and 9 of the calculation engine (``totals``): each line's taxes, and the breakdown.

Runs inside the engine's exact decimal context. Every rounding is to the currency's minor unit
with the policy's mode: ``value.quantize(step, mode) or zero`` inline (``money.rounder``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import floor

from gateway.canonical.model import Line, Tax

# One tax of one line: (tax, exact, rounded, base, divisor). ``exact`` is its amount, exact for
# an exclusive tax and to 80 digits for an extracted one, whose exact value is then
# ``base × rate / divisor`` (``divisor`` is None for an exclusive tax); ``rounded`` is that
# amount rounded on its line. Plain tuples: one is made for every tax of every invoice.
Part = tuple[Tax, Decimal, Decimal, Decimal, Decimal | None]
# Tax rounded once under ``per_rate`` (a group; in inclusive mode one part of a group's split)
# and the parts it was made from, whose breakdown rows share it.
Portion = tuple[Decimal, list[Part]]
# The breakdown rows: (rate, name) → [taxable, tax].
RowKey = tuple[Decimal, str | None]
Rows = dict[RowKey, list[Decimal]]
# Exclusive parts by (rate, compound), for ``per_rate``.
Groups = dict[tuple[Decimal, bool], list[Part]]
Rounder = Callable[[Decimal], Decimal]

_HUNDRED = Decimal(100)
_CENT = Decimal("0.01")  # × 0.01 is ÷ 100, the same value, and cheaper
_ZERO = Decimal(0)


@dataclass(slots=True)
class LineTaxes:
    """Step 6 and the first half of step 9, for every item line in one pass.

    ``amounts``: each line's tax, its rounded taxes added (``per_line``) or its exact taxes
    added, then rounded (``per_rate``). ``rows``: one breakdown row per (rate, name), in the
    order first seen, with its taxable amount (in inclusive mode, the base net of tax) and under
    ``per_line`` its tax, the sum of its rounded line taxes. Under ``per_rate``, for sharing:
    ``groups``, the parts by (rate, compound) (exclusive mode), or ``parts``, each line's taxes
    (inclusive mode).
    """

    amounts: list[Decimal]
    rows: Rows
    groups: Groups
    parts: list[list[Part]]


def line_taxes(
    items: Sequence[Line],
    taxables: Sequence[Decimal],
    inclusive: bool,
    per_line: bool,
    rnd: Rounder,
    step: Decimal,
    mode: str,
    zero: Decimal,
) -> LineTaxes:
    """Every item line's taxes on its taxable amount, its tax, and its share of the rows."""
    found = LineTaxes([], {}, {}, [])
    amounts, rows, groups = found.amounts, found.rows, found.groups
    grouping = not per_line and not inclusive
    for line, taxable in zip(items, taxables, strict=True):
        taxes = line.taxes
        if len(taxes) == 1 and not inclusive:  # the usual line, inline
            tax = taxes[0]
            rate = tax.rate
            exact = taxable * rate * _CENT
            rounded = exact.quantize(step, mode) or zero
            amounts.append(rounded)  # one tax: rounded, or exact and then rounded, are one
            key = (rate, tax.name)
            row = rows.get(key)
            if row is None:
                row = rows[key] = [zero, zero]
            row[0] += taxable
            if per_line:
                row[1] += rounded
            else:
                part: Part = (tax, exact, rounded, taxable, None)
                group = groups.get((rate, tax.compound))
                if group is None:
                    groups[(rate, tax.compound)] = [part]
                else:
                    group.append(part)
            continue
        if inclusive:
            parts = _inclusive(taxes, taxable, step, mode, zero)
            found.parts.append(parts)
        else:
            parts = _exclusive(taxes, taxable, step, mode, zero)
        amount = _line_tax(parts, per_line, rnd, zero)
        amounts.append(amount)
        base = taxable - amount if inclusive else taxable
        counted: set[RowKey] = set()
        for part in parts:
            key = (part[0].rate, part[0].name)
            row = rows.setdefault(key, [zero, zero])
            if key not in counted:  # a line's taxable counts once per row, however many taxes
                counted.add(key)
                row[0] += base
            if per_line:
                row[1] += part[2]
            elif grouping:
                groups.setdefault((part[0].rate, part[0].compound), []).append(part)
    return found


def _exclusive(
    taxes: Sequence[Tax], taxable: Decimal, step: Decimal, mode: str, zero: Decimal
) -> list[Part]:
    """A compound tax is on the taxable amount plus the line's simple taxes."""
    exact = [taxable * tax.rate * _CENT for tax in taxes]
    if len(taxes) > 1 and any(tax.compound for tax in taxes):
        base = taxable + sum(
            (amount for tax, amount in zip(taxes, exact, strict=True) if not tax.compound), _ZERO
        )
        exact = [
            base * tax.rate * _CENT if tax.compound else amount
            for tax, amount in zip(taxes, exact, strict=True)
        ]
    return [
        (tax, amount, amount.quantize(step, mode) or zero, taxable, None)
        for tax, amount in zip(taxes, exact, strict=True)
    ]


def _inclusive(
    taxes: Sequence[Tax], taxable: Decimal, step: Decimal, mode: str, zero: Decimal
) -> list[Part]:
    """Extract the combined rate once, then split it in proportion to the rates."""
    combined = sum((t.rate for t in taxes), _ZERO)
    if not taxes or combined == 0:
        return [(t, _ZERO, zero, _ZERO, None) for t in taxes]
    divisor = _HUNDRED + combined
    rounded_total = (taxable * combined / divisor).quantize(step, mode) or zero
    parts: list[Part] = []
    allotted = zero
    last = len(taxes) - 1
    for position, tax in enumerate(taxes):
        exact = taxable * tax.rate / divisor
        if position < last:
            rounded = (rounded_total * tax.rate / combined).quantize(step, mode) or zero
            allotted += rounded
        else:
            rounded = rounded_total - allotted
        parts.append((tax, exact, rounded, taxable, divisor))
    return parts


def _line_tax(parts: Sequence[Part], per_line: bool, rnd: Rounder, zero: Decimal) -> Decimal:
    """A line's tax (see ``LineTaxes.amounts``); for a single tax, both are its rounded amount."""
    if len(parts) == 1:
        return parts[0][2]
    if per_line:
        total = zero
        for part in parts:
            total += part[2]
        return total
    return rnd(_sum_exact(parts))


def _sum_exact(parts: Sequence[Part]) -> Decimal:
    total = _ZERO
    for part in parts:
        total += part[1]
    return total


def _fraction(part: Part) -> Fraction:
    """A part's amount as an exact rational: what largest-remainder sharing compares."""
    tax, exact, _, base, divisor = part
    if divisor is None:
        return Fraction(exact)
    return Fraction(base) * Fraction(tax.rate) / Fraction(divisor)


def per_rate_tax(
    taxes: LineTaxes,
    taxables: Sequence[Decimal],
    inclusive: bool,
    rnd: Rounder,
    step: Decimal,
    zero: Decimal,
) -> Decimal:
    """Step 6 and the second half of step 9, per_rate: exact amounts grouped, each group
    rounded once, and each group's tax shared among the rows that fed it, by largest remainder
    over their exact amounts (a tie to the earlier row). Returns the invoice's tax.

    Exclusive: a group is a (rate, compound) (``LineTaxes.groups``). Inclusive: a group
    is the lines with one set of rates (sorted: the order of a line's taxes does not matter);
    their taxable amounts are summed, the tax extracted once, then split in proportion to the
    rates in ascending order, every part rounded but the last, which takes the remainder.
    """
    if inclusive:
        portions = _inclusive_portions(taxes.parts, taxables, rnd, zero)
    else:
        portions = [(rnd(_sum_exact(group)), group) for group in taxes.groups.values()]
    _share_portions(taxes.rows, portions, step)
    return sum((rounded for rounded, _ in portions), zero)


def _inclusive_portions(
    parts: Sequence[Sequence[Part]], taxables: Sequence[Decimal], rnd: Rounder, zero: Decimal
) -> list[Portion]:
    sets: dict[tuple[Decimal, ...], list[tuple[Decimal, list[Part]]]] = {}
    for base, line in zip(taxables, parts, strict=True):
        if line:
            key = tuple(sorted(part[0].rate for part in line))
            sets.setdefault(key, []).append((base, list(line)))
    portions: list[Portion] = []
    for rates, members in sets.items():
        combined = sum(rates, _ZERO)
        base = sum((taxable for taxable, _ in members), _ZERO)
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
            fed = [part for _, taxes in members for part in taxes if part[0].rate == rate]
            portions.append((share, fed))
    return portions


def _share_portions(rows: Rows, portions: Sequence[Portion], unit: Decimal) -> None:
    order: dict[RowKey, int] = {}
    named: dict[Decimal, int] = {}  # rows of each rate
    for rate, _ in rows:
        named[rate] = named.get(rate, 0) + 1
    for rounded, fed in portions:
        first = fed[0][0]
        name = first.name
        if named[first.rate] == 1 or all(part[0].name == name for part in fed):
            rows[(first.rate, name)][1] += rounded  # one row: all of it
            continue
        order = order or {key: position for position, key in enumerate(rows)}
        feeding: dict[RowKey, Fraction] = {}
        for part in fed:
            key = (part[0].rate, part[0].name)
            feeding[key] = feeding.get(key, Fraction(0)) + _fraction(part)
        keys = sorted(feeding, key=order.__getitem__)
        units = int(rounded / unit)
        for key, share in zip(
            keys, largest_remainder(units, [feeding[k] for k in keys]), strict=True
        ):
            rows[key][1] += unit * share


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
