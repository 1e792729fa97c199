"""Is the copy's money the source's? Exactly, within the target's declared rounding, or not.

A target that rounds differently (half-even, or tax per rate) may come out a cent away from the
source on the same lines: that is said, not counted as a difference, when the source recomputed
with the target's own rounding gives exactly the target's figures. Anything else is listed, per
field. What was paid is compared only where payments were carried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.base import Adapter
from gateway.canonical.errors import InvalidInvoice
from gateway.canonical.model import Invoice
from gateway.canonical.totals import calculate

FIELDS = ("subtotal", "discount", "tax", "shipping", "adjustment", "total")


@dataclass(frozen=True)
class Verdict:
    verification: str  # "exact", "within the target's rounding (…)", "differs"
    differences: list[dict[str, Any]]


def compare(source: Invoice, copy: Invoice, target: Adapter, *, paid: bool) -> Verdict:
    """``copy`` (read back from the target) against ``source``; ``paid``: payments were carried.

    Where they differ, the source's own lines are recomputed with the target's rounding: a copy
    that then matches differs only by rounding. One that lost a discount (dropped under
    lenient handling) or got another tax rate (through the map) does not.
    """
    names = FIELDS + (("paid", "due") if paid else ())
    differences = _differences(source, copy, names)
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
            only_rounding = [d for d in differences if d["field"] not in FIELDS]
            if not only_rounding:
                return Verdict(f"within the target's rounding ({rule})", [])
    return Verdict("differs", differences)


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
