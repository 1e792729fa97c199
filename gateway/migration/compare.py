"""Is the copy's money the source's? Exactly, within the target's declared rounding, or not.

A target that rounds differently (half-even, or tax per rate) may come out a cent away from the
source on the same lines: that is said, not counted as a difference, when the source recomputed
with the target's own rounding gives exactly the target's figures (and what is due moved with
the total alone). Anything else is listed, per field, what was paid and what is due included: a
paid invoice whose copy shows it owed (a target that cannot record payments or mark it paid)
differs, whatever the warnings say, since the customer would be asked to pay it again; so does
a void invoice whose copy is not void (``status``), which the customer would be asked to pay at
all. A dry run's preview, made before any payment is carried, compares the invoice's own
figures alone, and the status by what the target can do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.base import Adapter
from gateway.canonical.errors import InvalidInvoice
from gateway.canonical.model import Invoice
from gateway.canonical.totals import calculate

FIELDS = ("subtotal", "discount", "tax", "shipping", "adjustment", "total")
PAYMENT_FIELDS = ("paid", "due")


@dataclass(frozen=True)
class Verdict:
    verification: str  # "exact", "within the target's rounding (…)", "differs"
    differences: list[dict[str, Any]]


def compare(source: Invoice, copy: Invoice, target: Adapter, *, preview: bool = False) -> Verdict:
    """``copy`` (read back from the target, or a dry run's ``preview``) against ``source``.

    Where they differ, the source's own lines are recomputed with the target's rounding: a copy
    that then matches differs only by rounding. One that lost a discount (dropped under
    lenient handling) or got another tax rate (through the map) does not.
    """
    differences = _differences(source, copy, FIELDS if preview else FIELDS + PAYMENT_FIELDS)
    differences += _void_not_void(source, copy, target, preview=preview)
    differences += _void_copy(source, copy)
    if not differences:
        return Verdict("exact", [])
    if copy.totals is not None:
        policy = target.policy_for(copy)
        try:
            recomputed = calculate(source, policy).totals
        except InvalidInvoice:
            recomputed = None
        if recomputed is not None and all(
            getattr(recomputed, name) == getattr(copy.totals, name) for name in FIELDS
        ):
            rule = f"{policy.mode}, tax {policy.tax_scope}"
            if all(_rounding_alone(source, copy, d["field"]) for d in differences):
                return Verdict(f"within the target's rounding ({rule})", [])
    return Verdict("differs", differences)


def _rounding_alone(source: Invoice, copy: Invoice, name: str) -> bool:
    """Whether a difference in ``name`` follows from the total's rounding: a figure of the
    invoice's own (already recomputed); what is due, where the same was paid and due moved by
    what the total did; or what was paid, where the same is due and paid moved by what the
    total did (an invoice paid in full on both sides, the target's paid being its own total)."""
    if name in FIELDS:
        return True
    if source.totals is None or copy.totals is None:
        return False
    mine, theirs = source.totals, copy.totals
    moved = theirs.total - mine.total
    if name == "due":
        return mine.paid == theirs.paid and theirs.due - mine.due == moved
    if name == "paid":
        return mine.due == theirs.due and theirs.paid - mine.paid == moved
    return False


def _void_not_void(
    source: Invoice, copy: Invoice, target: Adapter, *, preview: bool
) -> list[dict[str, Any]]:
    """A void source whose copy is not void (a target that cannot void): the same figures, but
    a cancelled invoice has become one its customer is asked to pay. A dry run's preview has no
    status yet: it is what the target can do that says it."""
    if source.status != "void":
        return []
    if preview:
        if "void" in target.capabilities.actions:
            return []
        return [{"field": "status", "source": "void", "target": "open"}]
    if copy.status == "void":
        return []
    return [{"field": "status", "source": "void", "target": str(copy.status)}]


def _void_copy(source: Invoice, copy: Invoice) -> list[dict[str, Any]]:
    """A copy void where its source is not (voided at the target since it was made): what the
    source says its customer owes is written off there, whatever the figures say."""
    if copy.status != "void" or source.status not in ("draft", "open", "paid"):
        return []
    return [{"field": "status", "source": str(source.status), "target": "void"}]


def _differences(source: Invoice, copy: Invoice, names: tuple[str, ...]) -> list[dict[str, Any]]:
    if source.totals is None or copy.totals is None:
        return [{"field": "totals", "source": str(source.totals), "target": str(copy.totals)}]
    found = []
    for name in names:
        mine, theirs = getattr(source.totals, name), getattr(copy.totals, name)
        if mine != theirs:
            found.append({"field": name, "source": str(mine), "target": str(theirs)})
    if source.currency != copy.currency:
        found.append({"field": "currency", "source": source.currency, "target": copy.currency})
    return found
