"""The bill_crm emulator's in-memory store: fixed reference data, invoices seeded from a seed."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from emulators.bill_crm.model import (
    DISCOUNT_FIXED,
    DISCOUNT_NONE,
    DISCOUNT_PERCENTAGE,
    INLINE,
    STATUS_CANCELLED,
    STATUS_DRAFT,
    STATUS_DUE,
    STATUS_OVERDUE,
    STATUS_PAID,
    STATUS_PART_PAID,
    SUMMARY,
    ZERO,
    Category,
    Client,
    Invoice,
    LineItem,
    Project,
    Status,
    TaxRate,
    TaxRecord,
)
from emulators.bill_crm.totals import compute, line_amount, money
from emulators.common import days_after

STATUSES: dict[int, Status] = {
    status.id: status
    for status in (
        Status(STATUS_DRAFT, "Draft", "#9E9E9E"),
        Status(STATUS_DUE, "Due", "#2196F3"),
        Status(STATUS_OVERDUE, "Overdue", "#F44336"),
        Status(STATUS_PART_PAID, "Part Paid", "#FF9800"),
        Status(STATUS_PAID, "Paid", "#4CAF50"),
        Status(STATUS_CANCELLED, "Cancelled", "#607D8B"),
    )
}

# Used for bill_due_date when neither the request nor the client says otherwise.
SYSTEM_DUE_DAYS = 30

CLIENTS: dict[int, Client] = {
    client.id: client
    for client in (
        Client(1, "Acme Corporation", "billing@acme.example", None),
        Client(2, "Globex Ltd", "accounts@globex.example", 14),
        Client(3, "Initech", "ap@initech.example", None),
        Client(4, "Umbrella Health", "finance@umbrella.example", 45),
        Client(5, "Stark Industries", "invoices@stark.example", None),
        Client(6, "Wayne Enterprises", "payables@wayne.example", 60),
        Client(7, "Hooli", "billing@hooli.example", 7),
        Client(8, "Vandelay Imports", "art@vandelay.example", None),
    )
}

PROJECTS: dict[int, Project] = {
    project.id: project
    for project in (
        Project(1, 1, "Website redesign"),
        Project(2, 1, "Mobile app"),
        Project(3, 2, "ERP rollout"),
        Project(4, 3, "TPS report automation"),
        Project(5, 4, "Patient portal"),
        Project(6, 5, "Telemetry dashboard"),
        Project(7, 6, "Security audit"),
        Project(8, 7, "Compression benchmark"),
        Project(9, 8, "Import tracking"),
    )
}

CATEGORIES: dict[int, Category] = {
    category.id: category
    for category in (
        Category(1, "Default"),
        Category(2, "Consulting"),
        Category(3, "Development"),
        Category(4, "Hosting"),
        Category(5, "Design"),
    )
}

TAX_RATES: dict[int, TaxRate] = {
    rate.id: rate
    for rate in (
        TaxRate(1, "VAT 20%", Decimal("20")),
        TaxRate(2, "VAT 10%", Decimal("10")),
        TaxRate(3, "Zero rate", Decimal("0")),
        TaxRate(4, "MwSt 19%", Decimal("19")),
        TaxRate(5, "GST 5%", Decimal("5")),
        TaxRate(6, "PST 7%", Decimal("7")),
        TaxRate(7, "Sales Tax 8.25%", Decimal("8.25")),
    )
}

# The seeded invoices are dated relative to this day, never to the wall clock.
SEED_TODAY = date(2026, 6, 30)


class Store:
    def __init__(self, *, seed: int, seed_invoices: int) -> None:
        self.seed = seed
        self.seed_invoices = seed_invoices
        self.invoices: dict[int, Invoice] = {}
        self._next_invoice_id = 1
        self._next_line_id = 1
        self._next_tax_id = 1
        self.reset()

    def reset(self) -> None:
        self.invoices = {}
        self._next_invoice_id = 1
        self._next_line_id = 1
        self._next_tax_id = 1
        _seed(self, random.Random(self.seed), self.seed_invoices)

    def next_invoice_id(self) -> int:
        invoice_id = self._next_invoice_id
        self._next_invoice_id += 1
        return invoice_id

    def insert(self, invoice: Invoice) -> Invoice:
        self.invoices[invoice.id] = invoice
        return invoice

    def replace_lines(
        self, invoice: Invoice, items: Iterable[LineItem], tax_rate_ids: Iterable[int]
    ) -> None:
        """Give the new lines fresh ids and rebuild the invoice's tax records for its tax type."""
        invoice.line_items = []
        invoice.taxes = []
        for item in items:
            item.id = self._next_line_id
            self._next_line_id += 1
            if invoice.tax_type == SUMMARY:
                item.tax_rate_id = None
                item.discount_type = DISCOUNT_NONE
                item.discount_value = ZERO
            invoice.line_items.append(item)
            if invoice.tax_type == INLINE and item.tax_rate_id is not None:
                self._apply_tax(invoice, item.tax_rate_id, item.id)
        if invoice.tax_type == SUMMARY:
            for taxrate_id in tax_rate_ids:
                self._apply_tax(invoice, taxrate_id, None)

    def change_tax_type(self, invoice: Invoice, tax_type: str) -> None:
        """Switching modes drops the taxes and line discounts of the old mode, as the CRM does."""
        if tax_type == invoice.tax_type:
            return
        invoice.tax_type = tax_type
        invoice.taxes = []
        for item in invoice.line_items:
            item.tax_rate_id = None
            item.discount_type = DISCOUNT_NONE
            item.discount_value = ZERO

    def _apply_tax(self, invoice: Invoice, taxrate_id: int, lineitem_id: int | None) -> None:
        rate = TAX_RATES[taxrate_id]
        invoice.taxes.append(
            TaxRecord(self._next_tax_id, rate.id, rate.name, rate.rate, lineitem_id)
        )
        self._next_tax_id += 1


def due_date_for(client_id: int, bill_date: date) -> date:
    days = CLIENTS[client_id].due_days
    return days_after(bill_date, SYSTEM_DUE_DAYS if days is None else days)


# (description, unit, rate): the seeded lines' catalogue.
_CATALOGUE: tuple[tuple[str, str, str], ...] = (
    ("Consulting", "hour", "95.00"),
    ("Website design", "project", "1200.00"),
    ("Hosting (monthly)", "month", "29.99"),
    ("Support retainer", "month", "450.00"),
    ("Logo design", "item", "350.00"),
    ("SEO audit", "item", "275.50"),
    ("Training session", "day", "640.00"),
    ("Domain renewal", "year", "14.99"),
    ("Copywriting", "word", "0.1250"),
    ("Server setup", "item", "180.00"),
    ("Maintenance", "hour", "65.00"),
    ("Data migration", "item", "812.75"),
)
_QUANTITIES = ("1", "1", "2", "3", "5", "10", "12", "0.5", "1.5", "2.25", "7.5")
_WORD_QUANTITIES = ("800", "1250", "2000")
_TAGS = ("priority", "retainer", "web", "q2", "follow-up", "eu")
_NOTES = ("Thank you for your business.", "Payment by bank transfer.", None, None)
_TERMS = ("Net 30. Late payments incur 1.5% monthly interest.", None, None)
_STATUS_WEIGHTS = {
    STATUS_DRAFT: 14,
    STATUS_DUE: 20,
    STATUS_OVERDUE: 14,
    STATUS_PART_PAID: 14,
    STATUS_PAID: 28,
    STATUS_CANCELLED: 10,
}
_SUMMARY_TAX_SETS: tuple[tuple[int, ...], ...] = ((1,), (1,), (2,), (4,), (5, 6), (7,), ())
_INLINE_TAXES: tuple[int | None, ...] = (1, 1, 2, 3, 4, 7, None)


def _seed(store: Store, rng: random.Random, count: int) -> None:
    plans: list[tuple[date, int, int]] = []
    for _ in range(count):
        status_id = rng.choices(list(_STATUS_WEIGHTS), weights=list(_STATUS_WEIGHTS.values()))[0]
        client_id = rng.choice(list(CLIENTS))
        due_days = CLIENTS[client_id].due_days or SYSTEM_DUE_DAYS
        if status_id == STATUS_OVERDUE:
            bill_date = SEED_TODAY - timedelta(days=due_days + rng.randint(1, 120))
        elif status_id in (STATUS_DUE, STATUS_DRAFT):
            bill_date = SEED_TODAY - timedelta(days=rng.randint(0, due_days))
        else:
            bill_date = SEED_TODAY - timedelta(days=rng.randint(0, 240))
        plans.append((bill_date, client_id, status_id))
    # Ids grow with the invoice date, as they would in a CRM used day by day.
    plans.sort(key=lambda plan: plan[0])
    drafts = 0
    for bill_date, client_id, status_id in plans:
        drafts += status_id == STATUS_DRAFT
        # Every third draft is still empty, as drafts are right after creation.
        empty = status_id == STATUS_DRAFT and drafts % 3 == 0
        _seed_invoice(store, rng, bill_date, client_id, status_id, empty)


def _seed_invoice(
    store: Store, rng: random.Random, bill_date: date, client_id: int, status_id: int, empty: bool
) -> None:
    projects = [project.id for project in PROJECTS.values() if project.client_id == client_id]
    created = datetime.combine(bill_date, time(9, 0), tzinfo=UTC) + timedelta(
        minutes=rng.randint(0, 480)
    )
    invoice = Invoice(
        id=store.next_invoice_id(),
        client_id=client_id,
        category_id=rng.choice(list(CATEGORIES)),
        bill_date=bill_date,
        due_date=due_date_for(client_id, bill_date),
        created=created,
        project_id=rng.choice([*projects, None]),
        tax_type=INLINE if rng.random() < 0.4 else SUMMARY,
        status_id=status_id,
        notes=rng.choice(_NOTES),
        terms=rng.choice(_TERMS),
        tags=sorted(rng.sample(_TAGS, rng.randint(0, 2))),
    )
    store.insert(invoice)
    if empty:
        return
    store.replace_lines(invoice, _seed_lines(rng, invoice.tax_type), rng.choice(_SUMMARY_TAX_SETS))

    subtotal = compute(invoice).totals.subtotal
    roll = rng.random()
    if roll < 0.2:
        invoice.discount_type = DISCOUNT_PERCENTAGE
        invoice.discount_percentage = Decimal(rng.choice(("5", "10", "12.5")))
    elif roll < 0.3:
        invoice.discount_type = DISCOUNT_FIXED
        invoice.discount_amount = min(Decimal(rng.choice(("10.00", "25.00", "50.00"))), subtotal)
    if rng.random() < 0.12:
        invoice.adjustment_description = "Rounding"
        invoice.adjustment_amount = Decimal(rng.choice(("-0.76", "-0.05", "0.50", "12.00")))

    final = compute(invoice).totals.final_amount
    if status_id == STATUS_PAID:
        invoice.paid_amount = final
    elif status_id == STATUS_PART_PAID:
        fraction = Decimal(rng.choice(("0.25", "0.4", "0.5", "0.6", "0.75")))
        invoice.paid_amount = money(final * fraction)


def _seed_lines(rng: random.Random, tax_type: str) -> list[LineItem]:
    lines: list[LineItem] = []
    for description, unit, rate in rng.sample(_CATALOGUE, rng.randint(1, 4)):
        quantities = _WORD_QUANTITIES if unit == "word" else _QUANTITIES
        item = LineItem(
            id=0,
            description=description,
            quantity=Decimal(rng.choice(quantities)),
            rate=Decimal(rate),
            unit=unit,
            long_description=rng.choice((None, None, f"{description} for the period")),
        )
        if tax_type == INLINE:
            item.tax_rate_id = rng.choice(_INLINE_TAXES)
            roll = rng.random()
            if roll < 0.15:
                item.discount_type = DISCOUNT_PERCENTAGE
                item.discount_value = Decimal(rng.choice(("5", "10", "15")))
            elif roll < 0.25:
                item.discount_type = DISCOUNT_FIXED
                item.discount_value = min(Decimal("20.00"), line_amount(item))
        lines.append(item)
    return lines
