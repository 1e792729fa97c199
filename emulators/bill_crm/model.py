"""The bill_crm emulator's records: reference data and invoices as the CRM keeps them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

SUMMARY = "summary"
INLINE = "inline"
TAX_TYPES = (SUMMARY, INLINE)

DISCOUNT_NONE = "none"
DISCOUNT_FIXED = "fixed"
DISCOUNT_PERCENTAGE = "percentage"
DISCOUNT_TYPES = (DISCOUNT_NONE, DISCOUNT_FIXED, DISCOUNT_PERCENTAGE)

STATUS_DRAFT = 1
STATUS_DUE = 2
STATUS_OVERDUE = 3
STATUS_PART_PAID = 4
STATUS_PAID = 5
STATUS_CANCELLED = 20

ZERO = Decimal("0")


@dataclass(frozen=True)
class Status:
    id: int
    title: str
    color: str


@dataclass(frozen=True)
class Client:
    id: int
    name: str
    email: str
    # None means the system-wide default applies.
    due_days: int | None


@dataclass(frozen=True)
class Project:
    id: int
    client_id: int
    title: str


@dataclass(frozen=True)
class Category:
    id: int
    name: str


@dataclass(frozen=True)
class TaxRate:
    id: int
    name: str
    rate: Decimal


@dataclass
class LineItem:
    id: int
    description: str
    quantity: Decimal
    rate: Decimal
    unit: str | None = None
    long_description: str | None = None
    # The two fields below only carry meaning on inline-tax invoices.
    tax_rate_id: int | None = None
    discount_type: str = DISCOUNT_NONE
    discount_value: Decimal = ZERO


@dataclass
class TaxRecord:
    """A tax rate applied to an invoice (summary) or to one of its lines (inline).

    The name and rate are copied when the tax is applied, as the CRM snapshots them.
    """

    id: int
    taxrate_id: int
    name: str
    rate: Decimal
    lineitem_id: int | None


@dataclass
class Invoice:
    id: int
    client_id: int
    category_id: int
    bill_date: date
    due_date: date
    created: datetime
    project_id: int | None = None
    tax_type: str = SUMMARY
    status_id: int = STATUS_DRAFT
    notes: str | None = None
    terms: str | None = None
    discount_type: str = DISCOUNT_NONE
    discount_percentage: Decimal = ZERO
    discount_amount: Decimal = ZERO
    adjustment_description: str | None = None
    adjustment_amount: Decimal = ZERO
    # No payments resource in the API: what clients have paid is only visible as this amount.
    paid_amount: Decimal = ZERO
    line_items: list[LineItem] = field(default_factory=list)
    taxes: list[TaxRecord] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
