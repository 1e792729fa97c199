"""``gateway.migration.compare``: a copy's money against its source's, per field; a target
that rounds otherwise differs only by rounding when the source recomputed with its rounding
gives the copy's figures, what was paid and what is due moving with the total alone."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.canonical.calculated import calculated_invoice
from gateway.canonical.model import Invoice, RoundingPolicy, with_fields
from gateway.migration.compare import compare

PER_RATE = RoundingPolicy(mode="half_up", tax_scope="per_rate")


class _Target:
    """A target adapter as ``compare`` sees it: the rounding it computes an invoice with, and
    the actions it can take."""

    def __init__(self, policy: RoundingPolicy, actions: frozenset[str] = frozenset()) -> None:
        self.policy = policy
        self.capabilities = SimpleNamespace(actions=actions)

    def policy_for(self, invoice: Invoice) -> RoundingPolicy:
        return self.policy


def _invoice(currency: str = "USD", price: str = "0.10") -> Invoice:
    """Two lines of ``price`` at 5% tax: 0.005 + 0.005 tax, 0.01 + 0.01 rounded per line,
    0.01 rounded once per rate."""
    line = {"name": "n", "quantity": "1", "unit_price": price}
    line["taxes"] = [{"name": "VAT 5%", "rate": "5"}]  # type: ignore[assignment]
    return Invoice.model_validate(
        {"currency": currency, "issue_date": "2026-01-05", "lines": [line, line]}
    )


def _paid(invoice: Invoice, paid: str) -> Invoice:
    assert invoice.totals is not None
    amount = Decimal(paid)
    totals = with_fields(invoice.totals, {"paid": amount, "due": invoice.totals.total - amount})
    return with_fields(invoice, {"totals": totals})


def _verdict(source: Invoice, copy: Invoice, policy: RoundingPolicy = PER_RATE) -> Any:
    return compare(source, copy, _Target(policy))  # type: ignore[arg-type]


def test_the_same_money_is_exact() -> None:
    source = calculated_invoice(_invoice())
    assert _verdict(source, source).verification == "exact"


def test_a_target_rounding_per_rate_differs_by_rounding_alone() -> None:
    source, copy = calculated_invoice(_invoice()), calculated_invoice(_invoice(), PER_RATE)
    assert source.totals is not None and copy.totals is not None
    assert (source.totals.total, copy.totals.total) == (Decimal("0.22"), Decimal("0.21"))
    verdict = _verdict(source, copy)
    assert verdict.verification == "within the target's rounding (half_up, tax per_rate)"
    assert verdict.differences == []


def test_paid_in_full_on_both_sides_differs_by_rounding_alone() -> None:
    """The target marks the copy paid at its own total (bill_crm: paid from the status)."""
    source = _paid(calculated_invoice(_invoice()), "0.22")
    copy = _paid(calculated_invoice(_invoice(), PER_RATE), "0.21")
    verdict = _verdict(source, copy)
    assert (verdict.verification, verdict.differences) == (
        "within the target's rounding (half_up, tax per_rate)",
        [],
    )


def test_the_same_paid_with_due_moving_with_the_total_is_rounding_alone() -> None:
    source = _paid(calculated_invoice(_invoice()), "0.10")
    copy = _paid(calculated_invoice(_invoice(), PER_RATE), "0.10")
    assert _verdict(source, copy).verification.startswith("within the target's rounding")


def test_a_paid_invoice_shown_owed_differs_whatever_the_rounding() -> None:
    source = _paid(calculated_invoice(_invoice()), "0.22")
    copy = calculated_invoice(_invoice(), PER_RATE)  # nothing paid at the target
    verdict = _verdict(source, copy)
    assert verdict.verification == "differs"
    assert verdict.differences == [
        {"field": "tax", "source": "0.02", "target": "0.01"},
        {"field": "total", "source": "0.22", "target": "0.21"},
        {"field": "paid", "source": "0.22", "target": "0.00"},
        {"field": "due", "source": "0.00", "target": "0.21"},
    ]


def test_a_part_paid_invoice_shown_otherwise_paid_differs() -> None:
    source = _paid(calculated_invoice(_invoice("KWD", "0.100")), "0.100")
    copy = _paid(calculated_invoice(_invoice("KWD", "0.100")), "0.050")
    verdict = _verdict(source, copy, RoundingPolicy())
    assert verdict.verification == "differs"
    assert verdict.differences == [
        {"field": "paid", "source": "0.100", "target": "0.050"},
        {"field": "due", "source": "0.110", "target": "0.160"},
    ]


def test_a_dry_run_compares_the_invoices_own_figures_alone() -> None:
    source = _paid(calculated_invoice(_invoice()), "0.22")
    preview = calculated_invoice(_invoice())
    verdict = compare(source, preview, _Target(PER_RATE), preview=True)  # type: ignore[arg-type]
    assert (verdict.verification, verdict.differences) == ("exact", [])


@pytest.mark.parametrize("copied_as", ["open", "draft"])
def test_a_void_invoice_copied_as_one_to_pay_differs(copied_as: str) -> None:
    """Copied to a target that cannot void it, a cancelled invoice became an open one with the
    same figures, and was verified "exact": its customer would be asked to pay it."""
    source = with_fields(calculated_invoice(_invoice()), {"status": "void"})
    copy = with_fields(source, {"status": copied_as})
    verdict = _verdict(source, copy)
    assert verdict.verification == "differs"
    assert verdict.differences == [{"field": "status", "source": "void", "target": copied_as}]
    assert _verdict(source, source).verification == "exact"  # voided at the target too


@pytest.mark.parametrize(
    ("actions", "differs"), [(frozenset(), True), (frozenset({"void"}), False)]
)
def test_a_dry_run_says_so_by_what_the_target_can_do(
    actions: frozenset[str], differs: bool
) -> None:
    source = with_fields(calculated_invoice(_invoice()), {"status": "void"})
    preview = with_fields(source, {"status": None})
    verdict = compare(source, preview, _Target(PER_RATE, actions), preview=True)  # type: ignore[arg-type]
    expected = [{"field": "status", "source": "void", "target": "open"}] if differs else []
    assert verdict.differences == expected
