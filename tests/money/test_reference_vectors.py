"""The reference implementation reproduces every worked example of the spec exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.canonical.money import exponent
from tests.money import reference
from tests.vectors.load import HERE, vectors

PUBLISHED = json.loads((HERE / "published.json").read_text())["vectors"]
EXTRA = [v for v in vectors() if "why" in v]


def _calculate(vector: dict[str, Any]) -> dict[str, Any]:
    invoice = vector["invoice"]
    return reference.calculate(invoice, vector["policy"], exponent(invoice["currency"]))


@pytest.mark.parametrize("vector", PUBLISHED, ids=[v["name"] for v in PUBLISHED])
def test_published_vector(vector: dict[str, Any]) -> None:
    got = _calculate(vector)
    expected = vector["expected"]
    assert got["lines"] == expected["lines"]
    assert got["totals"] == expected["totals"]
    assert got["tax_breakdown"] == expected["tax_breakdown"]


@pytest.mark.parametrize("vector", EXTRA, ids=[v["name"] for v in EXTRA])
def test_hand_worked_vector(vector: dict[str, Any]) -> None:
    """The hand-worked extras carry no breakdown: their lines and totals must agree too."""
    got = _calculate(vector)
    assert got["lines"] == vector["expected"]["lines"]
    assert got["totals"] == vector["expected"]["totals"]


def test_every_published_vector_has_a_breakdown() -> None:
    assert len(PUBLISHED) >= 13
    assert all("tax_breakdown" in v["expected"] for v in PUBLISHED)


@pytest.mark.parametrize(
    ("status", "due", "paid", "expected"),
    [
        ("open", "10.00", "0.00", "unpaid"),
        ("open", "10.00", "5.00", "partially_paid"),
        ("open", "0.00", "10.00", "paid"),
        ("open", "-1.00", "11.00", "paid"),
        ("open", "0.00", "0.00", "paid"),  # a zero-total invoice that was issued
        ("draft", "0.00", "0.00", "unpaid"),
        ("draft", "0.00", "10.00", "partially_paid"),
        ("paid", "0.00", "10.00", "paid"),
    ],
)
def test_payment_status(status: str, due: str, paid: str, expected: str) -> None:
    assert reference.payment_status(status, {"due": due, "paid": paid}) == expected
