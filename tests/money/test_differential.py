"""The engine against the reference implementation, on generated invoices: every field equal.

CI runs a few thousand examples; ``pytest -m long tests/money`` runs the long version.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings

from tests.money import reference
from tests.money.engine import engine, engine_payment_status, rate_text
from tests.money.generate import BOUND, Case, amounts, cases

FAST = settings(max_examples=2_500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LONG = settings(max_examples=50_000, deadline=None, suppress_health_check=list(HealthCheck))


def _reference(case: Case) -> dict[str, Any]:
    invoice, policy, places = case
    expected = reference.calculate(invoice, policy, places)
    for row in expected["tax_breakdown"]:
        row["rate"] = rate_text(row["rate"])
    assert all(abs(reference.number(a)) < BOUND for a in amounts(expected)), "out of bounds"
    return expected


def show(case: Case) -> None:
    """The case as JSON, ready to paste (hypothesis' own repr of it can come out empty)."""
    invoice, policy, _ = case
    note(f"policy = {json.dumps(policy)}")
    note(f"invoice = {json.dumps(invoice)}")


def check_same(case: Case) -> None:
    invoice, policy, _ = case
    show(case)
    expected = _reference(case)
    got = engine(invoice, policy)
    note(f"engine    = {json.dumps(got)}")
    note(f"reference = {json.dumps(expected)}")
    assert got["lines"] == expected["lines"]
    assert got["totals"] == expected["totals"]
    assert got["tax_breakdown"] == expected["tax_breakdown"]
    status = reference.payment_status(invoice.get("status"), expected["totals"])
    assert engine_payment_status(invoice, policy) == status


@FAST
@given(cases())
def test_engine_agrees_with_the_reference(case: Case) -> None:
    check_same(case)


@pytest.mark.long
@LONG
@given(cases())
def test_engine_agrees_with_the_reference_long(case: Case) -> None:
    check_same(case)
