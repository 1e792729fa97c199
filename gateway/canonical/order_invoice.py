"""The body of an invoice made from an order: a canonical invoice whose every field may be left
out, the currency included (the order fixes it, with the lines and the customer).

What the caller set is ``model_fields_set``: an adapter compares those values with the order's
and never takes a model default for a caller's choice.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gateway.canonical.model import Invoice, writable
from gateway.canonical.money import MINOR_UNITS


class OrderInvoice(Invoice):
    """``POST …/orders/{order_id}/invoices``: ``{}``, ``{"notes": "…"}`` or more."""

    currency: str | None = Field(  # type: ignore[assignment]
        default=None, json_schema_extra=lambda schema: _currency_schema(schema)
    )


def _currency_schema(schema: dict[str, Any]) -> None:
    """A code when given; left out, the order's (never ``null``)."""
    schema.clear()
    schema.update(
        {
            "type": "string",
            "enum": sorted(MINOR_UNITS),
            "description": "Left out: the order's currency. Another than the order's is refused.",
        }
    )


def order_invoice_from_input(data: Any) -> OrderInvoice:
    """Validate a caller's order invoice: unknown fields refused, read-only ones ignored."""
    return OrderInvoice.model_validate(writable(data))
