"""An invoice as a provider's list row shows it: what ``?view=summary`` answers where the
provider's rows are not whole invoices (docs/facade.md, "Lists").

A summary is never an invoice without lines: its ``object`` is ``invoice_summary``, its
``lines`` is always null, and ``absent`` names every field of the summary the row did not
carry (null here because the provider's row does not say, not because it is empty). What a
summary holds means what it means on an invoice: the same status model, amounts as the
provider states them (exact decimal strings), ``overdue`` derived the same way.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field

from gateway.canonical.decimals import Money
from gateway.canonical.model import (
    CanonicalModel,
    Customer,
    DocumentType,
    Identifier,
    InvoiceStatus,
    IsoDate,
    PaymentStatus,
    ShortText,
    with_fields,
)
from gateway.canonical.status import due_status, is_overdue

SUMMARY_OBJECT = "invoice_summary"


class SummaryTotals(CanonicalModel):
    """The amounts a list row states: what the invoice comes to, and what is still due."""

    total: Money | None = None
    due: Money | None = None


class InvoiceSummary(CanonicalModel):
    """An invoice as its provider lists it: the row's fields, read as an invoice reads them."""

    object: Literal["invoice_summary"] = "invoice_summary"
    id: Identifier
    connection: str | None = None
    provider: str | None = None
    status: InvoiceStatus | None = None
    payment_status: PaymentStatus | None = None
    overdue: bool = False
    provider_status: dict[str, Any] | None = None
    document_type: DocumentType = "invoice"
    number: ShortText | None = None
    customer: Customer | None = None
    issue_date: IsoDate | None = None
    due_date: IsoDate | None = None
    currency: str | None = None
    totals: SummaryTotals | None = None
    lines: None = Field(
        default=None,
        description="Always null: a list row carries no lines. Read the invoice for them.",
    )
    absent: list[str] = Field(
        default_factory=list,
        description=(
            "The fields of this summary the provider's row does not carry (null for that "
            "reason), by dotted name (totals.due); lines always."
        ),
    )
    remote_data: Any = None


def settled(
    summary: InvoiceSummary, *, connection: str, provider: str, today: date
) -> InvoiceSummary:
    """``summary`` with its connection and provider, and its payment status and ``overdue``
    derived as ``reconcile`` derives an invoice's, from the row's total and what is still due
    (paid = total − due); a state the provider states (its ``paid``) stays as it says."""
    totals = summary.totals
    total = totals.total if totals is not None else None
    due = totals.due if totals is not None else None
    stated = summary.payment_status
    if stated is None and total is not None and due is not None:
        stated = due_status(summary.status, total, due)
    overdue = summary.overdue or (
        due is not None and is_overdue(summary.status, summary.due_date, due, today)
    )
    return with_fields(
        summary,
        {
            "connection": connection,
            "provider": provider,
            "payment_status": stated,
            "overdue": overdue,
        },
    )
