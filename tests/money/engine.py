"""The engine's results as plain dicts of decimal strings, shaped like the reference's."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.canonical.calculated import calculated_invoice
from gateway.canonical.decimals import plain
from gateway.canonical.model import Invoice, RoundingPolicy
from gateway.canonical.totals import calculate
from tests.vectors.load import LINE_FIELDS, TOTAL_FIELDS


def rate_text(rate: Any) -> str:
    """A rate compared by value: "5", "5.0" and "5.00" are one rate."""
    return format(Decimal(str(rate)).normalize(), "f")


def engine(invoice: dict[str, Any], policy: dict[str, str]) -> dict[str, Any]:
    result = calculate(Invoice.model_validate(invoice), RoundingPolicy(**policy))
    return {
        "lines": [
            None if line is None else {f: plain(getattr(line, f)) for f in LINE_FIELDS}
            for line in result.lines
        ],
        "totals": {f: plain(getattr(result.totals, f)) for f in TOTAL_FIELDS},
        "tax_breakdown": [
            {
                "rate": rate_text(r.rate),
                "name": r.name,
                "taxable": plain(r.taxable),
                "tax": plain(r.tax),
            }
            for r in result.totals.tax_breakdown
        ],
    }


def engine_payment_status(invoice: dict[str, Any], policy: dict[str, str]) -> str | None:
    return calculated_invoice(
        Invoice.model_validate(invoice), RoundingPolicy(**policy)
    ).payment_status
