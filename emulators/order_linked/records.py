"""order_linked's records: what a request asks for (drafts) and what the store keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction

from emulators.order_linked.reference import Account, Currency, CustomForm, Item, TaxCode
from emulators.order_linked.totals import (
    LineAmounts,
    Totals,
    from_units,
    payment_status,
    to_units,
)

ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"
LINKED = "LINKED_WITH_ORDER"
NOT_LINKED = "NOT_LINKED_WITH_ORDER"


@dataclass(frozen=True, slots=True)
class LineDraft:
    item: Item
    quantity: Decimal
    price: Decimal
    package_name: str | None = None


@dataclass(frozen=True, slots=True)
class InvoiceDraft:
    """A validated ``POST /invoices`` body."""

    type: str
    currency: Currency
    account: Account
    issue_date: date
    due_date: date
    price_tax_inclusive: bool
    lines: tuple[LineDraft, ...]
    invoice_note: str | None = None
    customer_purchase_order_id: str | None = None
    order_id: str | None = None
    custom_attributes: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class OrderInvoiceOptions:
    """A validated ``POST /orders/{order_id}/invoices`` body; the rest comes from the order."""

    invoice_note: str | None = None
    customer_purchase_order_id: str | None = None
    issue_date: date | None = None
    due_date: date | None = None


@dataclass(slots=True)
class LineRecord:
    uuid: str
    item: Item
    tax: TaxCode
    quantity: Decimal
    price: Decimal
    package_name: str | None
    pricing_snapshot_uuid: str
    warehouse: str | None
    amounts: LineAmounts
    charging_start_date: date | None = None
    charging_end_date: date | None = None
    version: int = 1


@dataclass(frozen=True, slots=True)
class Payment:
    uuid: str
    amount: Decimal
    date: date
    method: str
    reference: str


@dataclass(frozen=True, slots=True)
class NoteFile:
    name: str
    content_type: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(slots=True)
class Note:
    uuid: str
    content: str
    files: list[NoteFile]
    created_on: datetime


@dataclass(slots=True)
class InvoiceRecord:
    seq: int
    id: str
    uuid: str
    type: str
    form: CustomForm
    currency: Currency
    account: Account
    issue_date: date
    due_date: date
    price_tax_inclusive: bool
    lines: list[LineRecord]
    totals: Totals
    invoice_note: str | None
    customer_purchase_order_id: str | None
    order_id: str | None
    custom_attributes: list[tuple[str, str | None]]
    origin: str
    created_by: str
    created_on: datetime
    status: str = ACTIVE
    billing_start_date: date | None = None
    billing_end_date: date | None = None
    payments: list[Payment] = field(default_factory=list)
    notes: dict[str, Note] = field(default_factory=dict)
    last_updated_by: str = ""
    last_updated_on: datetime | None = None
    last_cancelled_on: datetime | None = None
    last_reactivated_on: datetime | None = None
    version: int = 1

    @property
    def paid(self) -> Decimal:
        exponent = self.currency.exponent
        return from_units(
            to_units(sum((Fraction(p.amount) for p in self.payments), Fraction(0)), exponent),
            exponent,
        )

    @property
    def due(self) -> Decimal:
        # Exact whatever the size: Decimal's default 28 digits would round a large total.
        exponent = self.currency.exponent
        return from_units(
            to_units(Fraction(self.totals.total) - Fraction(self.paid), exponent), exponent
        )

    @property
    def payment_status(self) -> str:
        return payment_status(self.totals.total, self.paid)

    @property
    def last_payment(self) -> Payment | None:
        # Payments are kept in the order they were applied; the latest date wins, then the latest.
        if not self.payments:
            return None
        return max(enumerate(self.payments), key=lambda pair: (pair[1].date, pair[0]))[1]

    def touch(self, now: datetime, user: str) -> None:
        self.version += 1
        self.last_updated_on = now
        self.last_updated_by = user
