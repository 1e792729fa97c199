"""crm_v1 store: the deterministic seed, the invoice lifecycle and list queries."""

from __future__ import annotations

import copy
import itertools
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from emulators.common import days_after, round_money
from emulators.crm_v1.model import (
    BASE_CURRENCY_ID,
    CANCELLED,
    CURRENCIES,
    CUSTOMERS,
    DEALS,
    FIXED,
    HEADER,
    ITEM,
    ITEMS,
    PAID,
    PERCENTAGE,
    STATUS_NAMES,
    TAGS,
    TAX_RATES,
    TEMPLATES,
    USERS,
    Invoice,
    Line,
    Payment,
    Rejected,
    compute_totals,
)
from emulators.crm_v1.validate import InvoiceInput, ListQuery

# The doc's examples show invoice 8 (customer 10, item 12, 2026-07-01, total 5250.00) as the
# newest one; seeding exactly that invoice makes every example work verbatim.
DOC_EXAMPLE_ID = 8
SEED_START = date(2026, 1, 2)
SEED_DAYS = 180  # seeded dates run to 2026-06-30, before the doc example's 2026-07-01
DEFAULT_TERM_DAYS = 30
PAYMENT_METHODS = ("bank_transfer", "card", "cash", "cheque")
SECTION_TITLES = ("Phase 1: Discovery", "Recurring services", "One-off work", "Materials")
NOTES = ("Thank you for your business.", "Please quote the invoice number with your payment.")
TERMS = ("Payment due within 30 days.", "Late payments accrue 1.5% interest per month.")


class Store:
    def __init__(self, *, seed: int, seed_invoices: int) -> None:
        self._seed = seed
        self._seed_invoices = max(seed_invoices, 0)
        self.invoices: dict[int, Invoice] = {}
        self._next_invoice_id = 1
        self.reset()

    def reset(self) -> None:
        invoices = seed_invoices(self._seed, self._seed_invoices)
        self.invoices = {invoice.inv_id: invoice for invoice in invoices}
        self._next_invoice_id = self._seed_invoices + 1

    def get(self, inv_id: int) -> Invoice | None:
        return self.invoices.get(inv_id)

    def create(self, data: InvoiceInput) -> Invoice:
        fields = dict(data.fields)
        issued = fields.pop("transaction_date", None) or datetime.now(UTC).date().isoformat()
        due = (
            fields.pop("due_date")
            if "due_date" in fields
            else _plus_days(issued, DEFAULT_TERM_DAYS)
        )
        invoice = Invoice(
            inv_id=self._next_invoice_id,
            customer_id=fields.pop("customer_id"),
            template_id=fields.pop("template_id"),
            transaction_date=issued,
            due_date=due,
            items=data.items,
        )
        currency = CURRENCIES[fields.get("org_currency_id", BASE_CURRENCY_ID)]
        invoice.conversion_rate = currency.conversion_rate
        _assign(invoice, fields)
        _settle(invoice)
        self.invoices[invoice.inv_id] = invoice
        self._next_invoice_id += 1
        return invoice

    def update(self, invoice: Invoice, data: InvoiceInput) -> Invoice:
        """Replace the lines and the fields the body carries; the rest keeps its stored value."""
        self.ensure_editable(invoice)
        candidate = copy.deepcopy(invoice)
        candidate.items = data.items
        fields = dict(data.fields)
        currency = fields.get("org_currency_id", invoice.org_currency_id)
        if currency != invoice.org_currency_id and "conversion_rate" not in fields:
            fields["conversion_rate"] = CURRENCIES[currency].conversion_rate
        _assign(candidate, fields)
        _settle(candidate)
        paid = candidate.amount_paid
        if candidate.total < paid:
            raise Rejected(
                {
                    "items": [
                        f"The invoice total {candidate.total} must not be less than the amount "
                        f"already paid {paid}."
                    ]
                }
            )
        if paid and not candidate.amount_due:
            candidate.inv_status = PAID
        self.invoices[candidate.inv_id] = candidate
        return candidate

    def ensure_editable(self, invoice: Invoice) -> None:
        if invoice.inv_status in (PAID, CANCELLED):
            state = STATUS_NAMES[invoice.inv_status]
            raise Rejected(
                {
                    "inv_status": [
                        f"Invoice {invoice.inv_number} is {state} and can no longer be edited."
                    ]
                }
            )

    def delete(self, invoice: Invoice) -> None:
        # Payment history must never be orphaned, so only invoices nobody has paid can go.
        if invoice.payments:
            raise Rejected(
                {
                    "payments": [
                        f"Invoice {invoice.inv_number} has payments recorded and cannot be deleted."
                    ]
                }
            )
        del self.invoices[invoice.inv_id]

    def page(self, query: ListQuery) -> tuple[list[Invoice], int]:
        """One page of the matching invoices, and how many match in all."""
        rows = [invoice for invoice in self.invoices.values() if _matches(invoice, query)]
        rows.sort(
            key=lambda invoice: (_sort_value(invoice, query.sort_by), invoice.inv_id),
            reverse=query.descending,
        )
        start = query.page_index * query.page_size
        return rows[start : start + query.page_size], len(rows)


def _assign(invoice: Invoice, fields: dict[str, object]) -> None:
    for name, value in fields.items():
        setattr(invoice, name, value)


def _settle(invoice: Invoice) -> None:
    """Check what needs the whole invoice, then compute its totals.

    An update may change one half of a pair and keep the other, so pairs are checked again
    after the merge.
    """
    if invoice.overall_discount is not None:
        if invoice.overall_discount_type is None:
            raise Rejected(
                {
                    "overall_discount_type": [
                        "The overall_discount_type field is required when overall_discount is "
                        "present."
                    ]
                }
            )
        if invoice.overall_discount_type == PERCENTAGE and invoice.overall_discount > 100:
            raise Rejected(
                {"overall_discount": ["The overall_discount field must not be greater than 100."]}
            )
    if invoice.due_date is not None and invoice.due_date < invoice.transaction_date:
        raise Rejected(
            {"due_date": ["The due_date field must be a date after or equal to transaction_date."]}
        )
    compute_totals(invoice)


def _matches(invoice: Invoice, query: ListQuery) -> bool:
    return (
        (query.search is None or query.search.lower() in invoice.inv_number.lower())
        and (query.inv_status is None or invoice.inv_status == query.inv_status)
        and (query.cstid is None or invoice.customer_id == query.cstid)
        and (query.date_from is None or invoice.transaction_date >= query.date_from)
        and (query.date_to is None or invoice.transaction_date <= query.date_to)
    )


def _sort_value(invoice: Invoice, name: str) -> object:
    value = getattr(invoice, name)
    # Only due_date can be empty; an empty date sorts before every date.
    return "" if value is None else value


def _plus_days(day: str, days: int) -> str:
    return days_after(date.fromisoformat(day), days).isoformat()


def seed_invoices(seed: int, count: int) -> list[Invoice]:
    """``count`` internally consistent invoices, the same for the same seed."""
    rng = random.Random(seed)
    invoices: list[Invoice] = []
    payment_ids = itertools.count(1)
    for inv_id in range(1, count + 1):
        if inv_id == DOC_EXAMPLE_ID:
            invoices.append(_doc_example_invoice())
            continue
        invoice = _random_invoice(rng, inv_id)
        _random_lifecycle(rng, invoice, payment_ids)
        invoices.append(invoice)
    return invoices


def _doc_example_invoice() -> Invoice:
    invoice = Invoice(
        inv_id=DOC_EXAMPLE_ID,
        customer_id=10,
        template_id=1,
        transaction_date="2026-07-01",
        due_date="2026-07-31",
        reference="PO-2026-001",
        items=[
            Line(
                type=ITEM,
                item_id=12,
                item_name="Consulting Services",
                quantity=Decimal("10"),
                price=Decimal("500.00"),
                tax_rate=Decimal("5"),
            )
        ],
    )
    compute_totals(invoice)
    return invoice


def _random_invoice(rng: random.Random, inv_id: int) -> Invoice:
    currency = CURRENCIES[rng.choices((1, 2, 3, 4), weights=(60, 20, 12, 8))[0]]
    customer = CUSTOMERS[rng.choice(sorted(CUSTOMERS))]
    issued = SEED_START + timedelta(days=rng.randrange(SEED_DAYS))
    items: list[Line] = []
    if rng.random() < 0.2:
        items.append(Line(type=HEADER, item_name=rng.choice(SECTION_TITLES)))
    for _ in range(rng.randint(1, 4)):
        items.append(_random_line(rng, currency.exponent))
    invoice = Invoice(
        inv_id=inv_id,
        customer_id=customer.id,
        template_id=rng.choice(sorted(TEMPLATES)),
        transaction_date=issued.isoformat(),
        due_date=(issued + timedelta(days=rng.choice((15, 30, 45)))).isoformat(),
        items=items,
        org_currency_id=currency.id,
        conversion_rate=currency.conversion_rate,
        reference=f"PO-{rng.randint(1000, 9999)}" if rng.random() < 0.5 else None,
        billing_address=customer.address,
        shipping_address=customer.address if rng.random() < 0.3 else None,
        notes=rng.choice(NOTES) if rng.random() < 0.3 else None,
        terms_conditions=rng.choice(TERMS) if rng.random() < 0.5 else None,
        deal_id=rng.choice(sorted(DEALS)) if rng.random() < 0.3 else None,
        assigned_to=rng.choice(sorted(USERS)) if rng.random() < 0.6 else None,
        tag_ids=sorted(rng.sample(sorted(TAGS), rng.randint(0, 2))),
    )
    compute_totals(invoice)
    if rng.random() < 0.15:
        if rng.random() < 0.5:
            invoice.overall_discount_type = PERCENTAGE
            invoice.overall_discount = Decimal(rng.choice((5, 10)))
        else:
            invoice.overall_discount_type = FIXED
            invoice.overall_discount = round_money(invoice.sub_total / 20, currency.exponent)
        compute_totals(invoice)
    return invoice


def _random_line(rng: random.Random, exponent: int) -> Line:
    item = ITEMS[rng.choice(sorted(ITEMS))]
    # Prices are in the organisation's base currency; a zero-decimal currency gets whole units.
    price = item.price if exponent else round_money(item.price * 150, 0)
    quantity = Decimal(rng.choice(("1", "2", "3", "5", "10", "1.5", "2.25")))
    if item.price < 1:
        quantity *= 1000
    line = Line(type=ITEM, item_id=item.id, item_name=item.name, quantity=quantity, price=price)
    if rng.random() < 0.2:
        if rng.random() < 0.5:
            line.discount_type, line.discount = PERCENTAGE, Decimal(rng.choice((5, 10, 15)))
        else:
            line.discount_type = FIXED
            line.discount = round_money(quantity * price / 10, exponent)
    roll = rng.random()
    if roll < 0.6:
        tax = TAX_RATES[rng.choice(sorted(TAX_RATES))]
        line.tax_id, line.tax_rate = tax.id, tax.rate
    elif roll < 0.8:
        line.tax_rate = Decimal(rng.choice(("5", "7.5", "12")))
    if rng.random() < 0.3:
        line.description = f"{item.name}, as agreed"
    return line


def _random_lifecycle(rng: random.Random, invoice: Invoice, payment_ids: Iterator[int]) -> None:
    """Make the invoice open, partly paid, paid or cancelled, with a matching payment history."""
    roll = rng.random()
    if roll < 0.45:
        return
    if roll >= 0.88:
        invoice.inv_status = CANCELLED
        return
    places = invoice.exponent
    if roll < 0.60:
        amounts = [round_money(invoice.total * rng.randint(20, 80) / 100, places)]
    else:
        first = round_money(invoice.total * rng.randint(30, 70) / 100, places)
        amounts = [invoice.total] if rng.random() < 0.5 else [first, invoice.total - first]
    if any(amount <= 0 for amount in amounts) or amounts[0] > invoice.total:
        return
    paid_on = date.fromisoformat(invoice.transaction_date)
    for amount in amounts:
        paid_on += timedelta(days=rng.randint(1, 20))
        payment_id = next(payment_ids)
        invoice.payments.append(
            Payment(
                payment_id=payment_id,
                amount=amount,
                payment_date=paid_on.isoformat(),
                payment_method=rng.choice(PAYMENT_METHODS),
                reference=f"TXN-{payment_id:05d}" if rng.random() < 0.7 else None,
            )
        )
    if invoice.amount_due == 0:
        invoice.inv_status = PAID
