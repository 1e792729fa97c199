"""Invariants of the engine over generated invoices (hypothesis), whatever the exact figures."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from gateway.canonical.model import Invoice, RoundingPolicy
from gateway.canonical.totals import Calculation, calculate
from tests.money.generate import Case, cases
from tests.vectors.load import LINE_FIELDS, TOTAL_FIELDS

FAST = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROBE = "share probe"


def run(invoice: dict[str, Any], policy: dict[str, str]) -> Calculation:
    return calculate(Invoice.model_validate(invoice), RoundingPolicy(**policy))


def with_probes(invoice: dict[str, Any]) -> dict[str, Any]:
    """Each item line with a 0% tax of its own first: it changes no amount, and its breakdown
    row shows the line's taxable amount (inclusive: net of the line's tax)."""
    lines = [
        line
        if line.get("kind") == "section"
        else {**line, "taxes": [{"rate": "0", "name": f"{PROBE} {i}"}, *line["taxes"]]}
        for i, line in enumerate(invoice["lines"])
    ]
    return {**invoice, "lines": lines}


def figures(result: Calculation) -> dict[str, Any]:
    return {
        "lines": [
            None if line is None else {f: getattr(line, f) for f in LINE_FIELDS}
            for line in result.lines
        ],
        "totals": {f: getattr(result.totals, f) for f in TOTAL_FIELDS},
    }


def taxable_by_row(result: Calculation) -> dict[tuple[Decimal, str | None], Decimal]:
    return {(r.rate.normalize(), r.name): r.taxable for r in result.totals.tax_breakdown}


@FAST
@given(cases())
def test_totals_add_up(case: Case) -> None:
    invoice, policy, places = case
    note(json.dumps([invoice, policy]))
    result = run(invoice, policy)
    t = result.totals
    assert t.subtotal - t.discount + t.tax + t.shipping + t.adjustment == t.total
    assert t.due == t.total - t.paid
    assert sum(row.tax for row in t.tax_breakdown) == t.tax
    inclusive = invoice["tax_mode"] == "inclusive"
    for line in filter(None, result.lines):
        assert line.net_amount == line.subtotal - line.discount_amount
        assert line.total == line.net_amount + (0 if inclusive else line.tax_amount)
    amounts = [*figures(result)["totals"].values()]
    amounts += [v for line in figures(result)["lines"] if line for v in line.values()]
    amounts += [a for row in t.tax_breakdown for a in (row.taxable, row.tax)]
    assert all(a.as_tuple().exponent == -places for a in amounts), "not the currency's places"


@FAST
@given(cases())
def test_document_discount_shares_add_up(case: Case) -> None:
    invoice, policy, _ = case
    note(json.dumps([invoice, policy]))
    plain, probed = run(invoice, policy), run(with_probes(invoice), policy)
    assert figures(probed) == figures(plain)
    rows = {
        r.name: r.taxable for r in probed.totals.tax_breakdown if (r.name or "").startswith(PROBE)
    }
    shares = Decimal(0)
    for i, line in enumerate(probed.lines):
        if line is not None:
            # inclusive: the probe's taxable is net of the line's tax; exclusive: tax is not in it
            own_tax = line.tax_amount if invoice["tax_mode"] == "inclusive" else 0
            shares += line.net_amount - (rows[f"{PROBE} {i}"] + own_tax)
    assert shares == probed.totals.discount


@FAST
@given(cases(), st.randoms(use_true_random=False))
def test_totals_do_not_depend_on_the_order_of_a_lines_taxes(case: Case, random: Any) -> None:
    invoice, policy, _ = case
    lines = []
    for line in invoice["lines"]:
        taxes = list(line.get("taxes", []))
        random.shuffle(taxes)
        lines.append({**line, "taxes": taxes} if taxes else line)
    shuffled = {**invoice, "lines": lines}
    note(json.dumps([invoice, shuffled, policy]))
    plain, other = run(invoice, policy), run(shuffled, policy)
    assert figures(other) == figures(plain)
    assert taxable_by_row(other) == taxable_by_row(plain)
