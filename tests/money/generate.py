"""Hypothesis strategies for valid canonical invoices over the whole input space of the engine.

Currencies of 0-4 decimals; quantities of up to 6 places, unit prices and rates of up to 4;
0-3 taxes a line (compound ones only in exclusive mode); line and document discounts, percent
or amount; shipping, adjustment, payments, section lines; both tax modes, scopes and rounding
modes. Ties are made on purpose: equal lines, the spec's 0.04/0.01/0.01 lines with a 0.02
discount, two names at one rate, one line's taxes in two orders, an amount discount equal to
what it discounts, a payment of exactly what is due.

Magnitudes are spread evenly over the digits (from a few minor units, where rounding ties
live, up to the spec's bound): an invoice with any amount of 10^15 or more (inputs, line fields,
totals, breakdown) is rejected, so every case is valid and every bound is approached.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from gateway.canonical.money import exponent
from tests.money import reference

CURRENCIES = ["JPY", "USD", "EUR", "CAD", "BHD", "KWD", "CLF"]
COMMON_RATES = ["0", "5", "7", "7.7", "8", "9.975", "10", "13", "19", "20", "21", "25"]
NAMES = ["VAT", "GST", "PST", "QST", None]
STATUSES = [None, "draft", "open", "paid", "void", "unknown"]
BOUND = 10**15

Case = tuple[dict[str, Any], dict[str, str], int]  # (invoice, policy, currency places)


def plain(units: int, places: int) -> str:
    """``units`` of ``10^-places`` as fixed-point text ("1.50", "-3", "0.000001")."""
    return format(Decimal(units).scaleb(-places), "f")


@cache
def decimals(places: int, upper: int) -> st.SearchStrategy[str]:
    """Non-negative decimals with ``places`` places, below ``upper``: often a few minor units
    only, else a number of digits drawn evenly, then the digits."""
    top = upper * 10**places
    bands = [st.integers(10 ** (k - 1), min(10**k, top) - 1) for k in range(1, len(str(top)))]
    spread = st.integers(0, len(bands) - 1).flatmap(bands.__getitem__)
    units = st.one_of(st.integers(0, 12), spread)
    return units.map(lambda n: plain(n, places))


@cache
def up_to(places: int, upper: int) -> st.SearchStrategy[str]:
    """Like ``decimals`` with any number of places from 0 to ``places``."""
    return st.one_of([decimals(p, upper) for p in range(places + 1)])


rates = st.one_of(
    st.sampled_from([*COMMON_RATES, "5.0", "10.00"]),  # "5.0" is the rate 5 written otherwise
    up_to(4, 100),
    up_to(4, 1000),
)


@st.composite
def taxes(draw: st.DrawFn, inclusive: bool) -> list[dict[str, Any]]:
    if draw(st.integers(0, 5)) == 0:  # two names at one rate
        rate = draw(rates)
        found = [{"rate": rate, "name": "GST"}, {"rate": rate, "name": "PST"}]
    else:
        found = [
            {"rate": draw(rates), "name": draw(st.sampled_from(NAMES))}
            for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3])))
        ]
    for tax in found:
        if not inclusive and draw(st.integers(0, 3)) == 0:
            tax["compound"] = True
        elif draw(st.booleans()):
            tax["compound"] = False
    return found


@st.composite
def item_line(draw: st.DrawFn, places: int, mode: str, inclusive: bool) -> dict[str, Any]:
    line: dict[str, Any] = {
        "kind": "item",
        "name": "x",
        "quantity": draw(up_to(6, 10**6)),
        "unit_price": draw(up_to(4, 10**9)),
        "taxes": draw(taxes(inclusive)),
    }
    kind = draw(st.sampled_from([None, None, "percent", "amount"]))
    if kind == "percent":
        line["discount"] = {"type": "percent", "value": draw(up_to(4, 101).filter(_percent))}
    elif kind == "amount":
        subtotal = reference.round_to(
            reference.number(line["quantity"]) * reference.number(line["unit_price"]),
            places,
            mode,
        )
        line["discount"] = {"type": "amount", "value": draw(_at_most(subtotal, places))}
    return line


def _percent(value: str) -> bool:
    return Decimal(value) <= 100


def _at_most(limit: Any, places: int) -> st.SearchStrategy[str]:
    """An amount from 0 to ``limit`` (itself a whole number of minor units), ends included."""
    top = int(limit * 10**places)
    units = st.one_of(st.just(top), st.just(0), st.integers(0, top), st.integers(0, min(top, 9)))
    return units.map(lambda n: plain(n, places))


def _reversed_taxes(line: dict[str, Any]) -> dict[str, Any]:
    return {**line, "taxes": list(reversed(line["taxes"]))}


@st.composite
def lines(draw: st.DrawFn, places: int, mode: str, inclusive: bool) -> list[dict[str, Any]]:
    shape = draw(st.sampled_from(["random", "random", "random", "equal", "spec-tie"]))
    if shape == "spec-tie":  # lines of 4, 1 and 1 minor units: a discount of 2 units ties
        tax = draw(taxes(inclusive))
        found = [
            {"kind": "item", "name": "x", "quantity": "1", "unit_price": plain(n, places)}
            | {"taxes": tax}
            for n in (4, 1, 1)
        ]
    elif shape == "equal":
        found = [draw(item_line(places, mode, inclusive))] * draw(st.integers(2, 4))
    else:
        found = draw(st.lists(item_line(places, mode, inclusive), min_size=1, max_size=5))
    if draw(st.integers(0, 3)) == 0:  # one line's taxes in two orders
        found.append(_reversed_taxes(draw(st.sampled_from(found))))
    if draw(st.integers(0, 4)) == 0:
        found.insert(draw(st.integers(0, len(found))), {"kind": "section", "name": "Heading"})
    return found[:8]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A valid canonical invoice (a plain dict), a rounding policy and the currency's places."""
    currency = draw(st.sampled_from(CURRENCIES))
    places = exponent(currency)
    policy = {
        "mode": draw(st.sampled_from(["half_up", "half_even"])),
        "tax_scope": draw(st.sampled_from(["per_line", "per_rate"])),
    }
    tax_mode = draw(st.sampled_from(["exclusive", "inclusive"]))
    inclusive = tax_mode == "inclusive"
    invoice: dict[str, Any] = {
        "currency": currency,
        "tax_mode": tax_mode,
        "status": draw(st.sampled_from(STATUSES)),
        "lines": draw(lines(places, policy["mode"], inclusive)),
    }
    nets = [a[2] for a in reference.line_nets(invoice, places, policy["mode"]) if a is not None]
    kind = draw(st.sampled_from([None, "percent", "amount", "amount"]))
    if kind == "percent":
        invoice["discount"] = {"type": "percent", "value": draw(up_to(4, 101).filter(_percent))}
    elif kind == "amount":
        spec_tie = [n * 10**places for n in nets] == [4, 1, 1]
        value = plain(2, places) if spec_tie else draw(_at_most(sum(nets), places))
        invoice["discount"] = {"type": "amount", "value": value}
    if draw(st.booleans()):
        invoice["shipping"] = draw(decimals(places, 10**12))
    if draw(st.booleans()):
        sign = draw(st.sampled_from(["", "-"]))
        invoice["adjustment"] = {
            "amount": sign + draw(decimals(places, 10**12)),
            "description": "r",
        }
    payments = [
        {"amount": plain(n, places), "date": "2026-07-01"}
        for n in draw(st.lists(st.integers(1, 10**places * 10**12), max_size=2))
    ]
    if payments:
        invoice["payments"] = payments
    result = reference.calculate(invoice, policy, places)
    assume(all(abs(reference.number(a)) < BOUND for a in amounts(result)))
    due = reference.number(result["totals"]["due"])
    if due > 0 and draw(st.integers(0, 3)) == 0:  # pay exactly what is still due
        invoice["payments"] = [*payments, {"amount": plain(int(due * 10**places), places)}]
        invoice["payments"][-1]["date"] = "2026-07-02"
    return invoice, policy, places


def amounts(result: dict[str, Any]) -> list[str]:
    """Every amount of a reference result: line fields, totals, breakdown."""
    found = [*result["totals"].values()]
    found += [v for line in result["lines"] if line for v in line.values()]
    return found + [row[f] for row in result["tax_breakdown"] for f in ("taxable", "tax")]
