"""The two status axes: document state (from the provider) and payment state (from totals)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from gateway.canonical.model import InvoiceStatus, PaymentStatus


def due_status(status: InvoiceStatus | None, total: Decimal, due: Decimal) -> PaymentStatus:
    """``payment_status`` from what is still due rather than what was paid (paid = total − due),
    compared without subtracting, so that it holds at any size."""
    if status != "draft" and due <= 0:
        return "paid"
    if due < total:
        return "partially_paid"
    return "unpaid"


def payment_status(status: InvoiceStatus | None, total: Decimal, paid: Decimal) -> PaymentStatus:
    """Nothing due on an invoice that is not a draft: ``paid`` (an issued zero-total invoice
    counts as paid, as providers show it); else ``partially_paid`` once something is paid, else
    ``unpaid`` (docs/canonical-invoice.md, "Status model")."""
    if status != "draft" and paid >= total:  # compared, not subtracted: exact at any size
        return "paid"
    if paid > 0:
        return "partially_paid"
    return "unpaid"


def is_overdue(
    status: InvoiceStatus | None, due_date: date | None, due: Decimal, today: date
) -> bool:
    """Derived, never stored: open, past its due date, and something still owed."""
    return status == "open" and due_date is not None and due_date < today and due > 0
