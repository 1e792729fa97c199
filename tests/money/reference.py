"""A second implementation of the money rules, written from the spec alone, to check the engine.

It follows docs/canonical-invoice.md ("Money", "The calculation engine", "Status model") step
by step with exact rationals (``fractions.Fraction``) and shares no code with ``gateway``: it
takes plain dicts shaped like the ``invoice`` objects of test-vectors.json and returns plain
dicts of decimal strings shaped like their ``expected``. It trusts its input to be valid (the
engine's validation is not repeated here). Where the spec leaves a detail unsaid, the reading
taken is written down in a comment starting "Reading:".
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

ZERO = Fraction(0)
HUNDRED = Fraction(100)


def number(value: Any) -> Fraction:
    """An input decimal (a JSON string or an exact JSON number) as an exact rational."""
    if isinstance(value, float | bool):
        raise TypeError(f"not an exact decimal: {value!r}")
    return Fraction(Decimal(str(value)))


def round_to(value: Fraction, places: int, mode: str = "half_up") -> Fraction:
    """Round to ``places`` decimals: halves away from zero (half_up) or to the even digit."""
    scaled = abs(value) * 10**places
    whole = math.floor(scaled)
    rest = scaled - whole
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and (mode == "half_up" or whole % 2)):
        whole += 1
    return Fraction(whole if value >= 0 else -whole, 10**places)


def text(amount: Fraction, places: int) -> str:
    """An amount as fixed-point text with exactly the currency's places ("5.00", "564")."""
    scaled = amount * 10**places
    assert scaled.denominator == 1, f"{amount} is finer than {places} places"
    digits = str(abs(scaled.numerator)).rjust(places + 1, "0")
    sign = "-" if scaled < 0 else ""
    return sign + (f"{digits[:-places]}.{digits[-places:]}" if places else digits)


def rate_text(value: Any) -> str:
    """A tax rate as written without trailing zeros ("5", "9.975")."""
    return format(Decimal(str(value)).normalize(), "f")


def largest_remainder(amount: Fraction, weights: list[Fraction], places: int) -> list[Fraction]:
    """Share ``amount`` (whole minor units) pro rata to ``weights``, adding up exactly.

    Each exact share ``amount × weight / Σ weights`` is floored to the minor unit; the units
    left over go one each to the largest remainders, compared exactly; a tie to the earlier.
    Reading: for a negative ``amount`` (an inclusive split's last part can be negative) the same
    floor-then-add rule applies; with ``Σ weights = 0`` every share is 0.
    """
    unit = Fraction(1, 10**places)
    whole = sum(weights, ZERO)
    if whole == 0:
        return [ZERO] * len(weights)  # the spec's step 4: "every share is 0"
    exact = [amount * w / whole for w in weights]
    shares = [math.floor(e / unit) * unit for e in exact]
    left = (amount - sum(shares, ZERO)) / unit
    assert left.denominator == 1
    order = sorted(range(len(weights)), key=lambda i: (shares[i] - exact[i], i))
    for i in order[: int(left)]:
        shares[i] += unit
    return shares


def split(tax: Fraction, rates: list[Fraction], rnd: Any) -> list[Fraction]:
    """Split an extracted tax in proportion to ``rates``: all parts rounded but the last, which
    takes the remainder. Reading: with a combined rate of 0 (the tax is then 0) all parts are 0."""
    combined = sum(rates, ZERO)
    if combined == 0:
        return [ZERO] * len(rates)
    parts = [rnd(tax * rate / combined) for rate in rates[:-1]]
    return [*parts, tax - sum(parts, ZERO)]


def line_nets(invoice: dict[str, Any], places: int, mode: str) -> list[Fraction | None]:
    """Steps 1-3: (subtotal, discount_amount, net_amount) per line, ``None`` for a section."""
    found: list[Any] = []
    for line in invoice.get("lines", []):
        if line.get("kind", "item") == "section":
            found.append(None)
            continue
        subtotal = round_to(number(line["quantity"]) * number(line["unit_price"]), places, mode)
        discount = line.get("discount")
        if not discount:
            off = ZERO
        elif discount["type"] == "percent":
            off = round_to(subtotal * number(discount["value"]) / HUNDRED, places, mode)
        else:
            off = number(discount["value"])
        found.append((subtotal, off, subtotal - off))
    return found


def calculate(invoice: dict[str, Any], policy: dict[str, str], places: int) -> dict[str, Any]:
    """The computed line fields, totals and tax_breakdown, as decimal strings."""
    mode = policy.get("mode", "half_up")
    per_rate = policy.get("tax_scope", "per_line") == "per_rate"
    inclusive = invoice.get("tax_mode", "exclusive") == "inclusive"

    def rnd(value: Fraction) -> Fraction:
        return round_to(value, places, mode)

    amounts = line_nets(invoice, places, mode)
    items = [i for i, a in enumerate(amounts) if a is not None]
    nets = [amounts[i][2] for i in items]  # type: ignore[index]

    # 4. The document discount, allocated to the item lines before tax.
    discount = invoice.get("discount")
    if not discount:
        shares = [ZERO] * len(items)
    elif discount["type"] == "percent":
        shares = [rnd(net * number(discount["value"]) / HUNDRED) for net in nets]
    else:
        shares = largest_remainder(number(discount["value"]), nets, places)

    # 9 (rows first): one per distinct (rate, name), first seen in line order then tax order.
    # Reading: rates are compared as numbers ("5" and "5.0" are one rate); a row's taxable
    # counts a line once even if the line carries that (rate, name) twice.
    row_of: dict[tuple[Fraction, Any], int] = {}
    row_rates: list[Fraction] = []
    rows: list[dict[str, Any]] = []
    line_taxes: list[list[tuple[Fraction, int, bool]]] = []  # per item line: (rate, row, compound)
    for i in items:
        taxes = []
        for tax in invoice["lines"][i].get("taxes") or []:
            key = (number(tax["rate"]), tax.get("name"))
            if key not in row_of:
                row_of[key] = len(rows)
                row_rates.append(key[0])
                rows.append({"rate": rate_text(tax["rate"]), "name": key[1]})
                rows[-1].update(taxable=ZERO, tax=ZERO)
            taxes.append((key[0], row_of[key], bool(tax.get("compound", False))))
        line_taxes.append(taxes)

    # 5-6. Taxable amounts and taxes.
    taxables = [net - share for net, share in zip(nets, shares, strict=True)]
    tax_amounts: list[Fraction] = []
    total_tax = ZERO
    groups: dict[Any, dict[int, Fraction]] = {}  # per_rate: group -> row -> unrounded tax
    group_base: dict[tuple[Fraction, ...], Fraction] = {}  # inclusive per_rate: Σ taxable
    for taxable, taxes in zip(taxables, line_taxes, strict=True):
        rates = [rate for rate, _, _ in taxes]
        if inclusive:
            combined = sum(rates, ZERO)
            extracted = taxable * combined / (HUNDRED + combined)
            tax_amounts.append(rnd(extracted))
            if not per_rate:
                total_tax += tax_amounts[-1]
                for (_, row, _), part in zip(
                    taxes, split(tax_amounts[-1], rates, rnd), strict=True
                ):
                    rows[row]["tax"] += part
            elif taxes:
                # Reading: the "set" of rates keeps repeats ([5, 5] is not [5]: its combined
                # rate is 10); a row's unrounded amount is its rate's part of each line's
                # unrounded extracted tax.
                key = tuple(sorted(rates))
                group_base[key] = group_base.get(key, ZERO) + taxable
                fed = groups.setdefault(key, {})
                for rate, row, _ in taxes:
                    fed[row] = fed.get(row, ZERO) + taxable * rate / (HUNDRED + combined)
            continue
        simple = sum((taxable * rate / HUNDRED for rate, _, c in taxes if not c), ZERO)
        unrounded = [(taxable + simple if c else taxable) * rate / HUNDRED for rate, _, c in taxes]
        if per_rate:
            tax_amounts.append(rnd(sum(unrounded, ZERO)))
            for (rate, row, compound), tax in zip(taxes, unrounded, strict=True):
                fed = groups.setdefault((rate, compound), {})
                fed[row] = fed.get(row, ZERO) + tax
        else:
            for (_, row, _), tax in zip(taxes, unrounded, strict=True):
                rows[row]["tax"] += rnd(tax)
                total_tax += rnd(tax)
            tax_amounts.append(sum((rnd(tax) for tax in unrounded), ZERO))

    # per_rate: each group rounded once, then shared among the rows that fed it (in row order).
    for key, fed in groups.items():
        if inclusive:
            combined = sum(key, ZERO)
            group_tax = rnd(group_base[key] * combined / (HUNDRED + combined))
            # Reading: parts of equal rate (a line with GST 5 and PST 5) are added together
            # and shared among all the rows of that rate, so no tie between them is needed.
            parts: dict[Fraction, Fraction] = {}
            for rate, part in zip(key, split(group_tax, list(key), rnd), strict=True):
                parts[rate] = parts.get(rate, ZERO) + part
            portions = [
                (part, {r: u for r, u in fed.items() if row_rates[r] == rate})
                for rate, part in parts.items()
            ]
        else:
            group_tax = rnd(sum(fed.values(), ZERO))
            portions = [(group_tax, fed)]
        total_tax += group_tax
        # Reading: "largest remainder over their unrounded amounts" as in step 4: a row's exact
        # share is part × its unrounded amount / Σ unrounded amounts of the rows sharing it.
        for part, feeders in portions:
            order = sorted(feeders)
            weights = [feeders[r] for r in order]
            for r, share in zip(order, largest_remainder(part, weights, places), strict=True):
                rows[r]["tax"] += share

    # 7. Line fields; breakdown taxable (inclusive: net of the line's own tax).
    lines: list[dict[str, str] | None] = [None] * len(amounts)
    for n, i in enumerate(items):
        subtotal, off, net = amounts[i]  # type: ignore[misc]
        tax = tax_amounts[n]
        total = net if inclusive else net + tax
        lines[i] = {
            "subtotal": text(subtotal, places),
            "discount_amount": text(off, places),
            "net_amount": text(net, places),
            "tax_amount": text(tax, places),
            "total": text(total, places),
        }
        for row in {row for _, row, _ in line_taxes[n]}:
            rows[row]["taxable"] += taxables[n] - tax if inclusive else taxables[n]

    # 8. Totals.
    sum_net = sum(nets, ZERO)
    doc_discount = sum(shares, ZERO)
    shipping = number(invoice.get("shipping") or 0)
    adjustment = number((invoice.get("adjustment") or {}).get("amount") or 0)
    paid = sum((number(p["amount"]) for p in invoice.get("payments") or []), ZERO)
    if inclusive:
        subtotal = sum_net - total_tax
        total = sum_net - doc_discount + shipping + adjustment
    else:
        subtotal = sum_net
        total = subtotal - doc_discount + total_tax + shipping + adjustment
    figures = {
        "subtotal": subtotal,
        "discount": doc_discount,
        "tax": total_tax,
        "shipping": shipping,
        "adjustment": adjustment,
        "total": total,
        "paid": paid,
        "due": total - paid,
    }
    return {
        "lines": lines,
        "totals": {field: text(value, places) for field, value in figures.items()},
        "tax_breakdown": [
            {
                "rate": row["rate"],
                "name": row["name"],
                "taxable": text(row["taxable"], places),
                "tax": text(row["tax"], places),
            }
            for row in rows
        ],
    }


def payment_status(status: str | None, totals: dict[str, str]) -> str:
    """Status model: nothing due on an invoice that is not a draft is ``paid``; otherwise
    ``partially_paid`` once something is paid, else ``unpaid``.

    Reading: "not a draft" is taken literally, so an invoice with no document state (a preview,
    ``status`` None), ``void`` or ``unknown`` with nothing due counts as paid too.
    """
    if number(totals["due"]) <= 0 and status != "draft":
        return "paid"
    return "partially_paid" if number(totals["paid"]) > 0 else "unpaid"
