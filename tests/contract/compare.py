"""Comparing invoices on what a caller wrote: the writable fields the provider carries."""

from __future__ import annotations

from typing import Any

from adapters.base import Capabilities
from adapters.representable import SIMPLE_FIELDS
from gateway.canonical.model import Invoice, Line

# The writable header fields that are plain values: the same list the strict check uses.
_HEADER = SIMPLE_FIELDS


def written(invoice: Invoice, caps: Capabilities) -> dict[str, Any]:
    """The writable fields this invoice sets (``None`` and empty values left out)."""
    view: dict[str, Any] = {"currency": invoice.currency, "tax_mode": invoice.tax_mode}
    for name in _HEADER:
        if name in caps.fields and getattr(invoice, name) is not None:
            view[name] = getattr(invoice, name)
    if invoice.customer is not None and invoice.customer.id is not None:
        view["customer.id"] = invoice.customer.id
    if invoice.discount is not None:
        view["discount"] = (invoice.discount.type, invoice.discount.value)
    if invoice.shipping:
        view["shipping"] = invoice.shipping
    if invoice.adjustment is not None:
        view["adjustment"] = invoice.adjustment.amount
    if invoice.tags:
        view["tags"] = sorted(invoice.tags)
    view["lines"] = [_line(line, caps) for line in invoice.lines]
    return view


def _line(line: Line, caps: Capabilities) -> dict[str, Any]:
    view: dict[str, Any] = {"kind": line.kind}
    for name in ("item_id", "name", "description", "unit"):
        if f"lines.{name}" in caps.fields and getattr(line, name) is not None:
            view[name] = getattr(line, name)
    if line.kind == "item":
        view["quantity"] = line.quantity
        view["unit_price"] = line.unit_price
        view["taxes"] = [(tax.rate, tax.compound) for tax in line.taxes]
        if line.discount is not None:
            view["discount"] = (line.discount.type, line.discount.value)
    return view


def differences(expected: Invoice, actual: Invoice, caps: Capabilities) -> list[str]:
    """Where ``actual`` lost or changed what ``expected`` wrote (empty when it kept all)."""
    want, got = written(expected, caps), written(actual, caps)
    found = []
    for key, value in want.items():
        if key == "lines":
            continue
        if got.get(key) != value:
            found.append(f"{key}: wrote {value!r}, read {got.get(key)!r}")
    if len(want["lines"]) != len(got["lines"]):
        found.append(f"lines: wrote {len(want['lines'])}, read {len(got['lines'])}")
    for i, (w, g) in enumerate(zip(want["lines"], got["lines"], strict=False)):
        for key, value in w.items():
            if g.get(key) != value:
                found.append(f"lines[{i}].{key}: wrote {value!r}, read {g.get(key)!r}")
    return found
