"""The two status axes: document state (from the provider) and payment state (from totals)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from gateway.canonical.model import InvoiceStatus, PaymentStatus


def payment_status(total: Decimal, paid: Decimal) -> PaymentStatus:
    """``unpaid`` when nothing is paid, ``paid`` once ``paid ≥ total``, else ``partially_paid``."""
    if paid <= 0:
        return "unpaid"
    if paid >= total:
        return "paid"
    return "partially_paid"


def is_overdue(
    status: InvoiceStatus | None, due_date: date | None, due: Decimal, today: date
) -> bool:
    """Derived, never stored: open, past its due date, and something still owed."""
    return status == "open" and due_date is not None and due_date < today and due > 0
