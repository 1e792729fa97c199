"""Deterministic seed invoices of the draft_publish emulator.

Everything is drawn from the store's own ``random.Random(seed)`` in a fixed order, dates count
from a fixed base date, and totals come from the store's own calculation, so the same seed
always yields the same, internally consistent invoices.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from emulators.common import round_money
from emulators.draft_publish.reference import (
    CURRENCY_EXPONENTS,
    CUSTOMERS,
    PRODUCTS,
    TEMPLATES,
    Customer,
    Product,
)
from emulators.draft_publish.store import (
    DRAFT,
    PAID,
    SENT,
    VOIDED,
    Invoice,
    InvoiceFields,
    ItemFields,
    Payment,
    Store,
)
from emulators.draft_publish.totals import FIXED, PERCENTAGE, LineInput, compute_totals

BASE_DATE = date(2026, 1, 5)
SPAN_DAYS = 300
# One trashed draft per this many live invoices, so the trash is not empty out of the box.
TRASH_EVERY = 28

TERMS = (("Net 15", 15), ("Net 30", 30), ("Net 30", 30), ("Net 45", 45), ("Due on receipt", 0))
NOTES = (
    None,
    "Thank you for your business",
    None,
    "Please quote the invoice number with your payment.",
)
# "partial" is a sent invoice with one payment; "marked" is sent without a share link.
OUTCOMES = (DRAFT, SENT, "partial", PAID, VOIDED, "marked")
OUTCOME_WEIGHTS = (18, 26, 12, 28, 8, 8)
METHODS = ("bank_transfer", "bank_transfer", "credit_card", "check", "cash", "paypal")
QUANTITIES = {
    "hour": (Decimal("2"), Decimal("7.5"), Decimal("10"), Decimal("40")),
    "piece": (Decimal("250"), Decimal("500"), Decimal("1000")),
}
OTHER_QUANTITIES = (Decimal("1"), Decimal("1"), Decimal("2"), Decimal("3"), Decimal("12"))
PERCENTAGES = (Decimal("5"), Decimal("10"), Decimal("12.5"), Decimal("15"))
PARTIAL_SHARES = (Decimal("0.25"), Decimal("0.4"), Decimal("0.5"), Decimal("0.6"))


def seed_store(store: Store, count: int) -> None:
    customers = list(CUSTOMERS.values())
    products = list(PRODUCTS.values())
    templates = list(TEMPLATES)
    rng = store.rng
    for index in range(count + count // TRASH_EVERY):
        issue_date = BASE_DATE + timedelta(days=index * SPAN_DAYS // max(count, 1))
        created_at = datetime.combine(issue_date, time(9), UTC) + timedelta(
            minutes=rng.randrange(480)
        )
        fields = _fields(store, rng.choice(customers), products, templates, issue_date)
        doc = store.create(fields, at=created_at)
        if index >= count:
            store.trash(doc, created_at + timedelta(days=2))
            continue
        outcome = rng.choices(OUTCOMES, OUTCOME_WEIGHTS)[0]
        _advance(store, doc, outcome, created_at)


def _fields(
    store: Store,
    customer: Customer,
    products: list[Product],
    templates: list[str],
    issue_date: date,
) -> InvoiceFields:
    rng = store.rng
    places = CURRENCY_EXPONENTS[customer.currency]
    items = tuple(
        _item(rng, rng.choice(products), customer.currency)
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4)))
    )
    terms, days = rng.choice(TERMS)
    draw = rng.random()
    discount_type: str | None = None
    discount_value: Decimal | None = None
    if draw < 0.2:
        discount_type, discount_value = PERCENTAGE, rng.choice(PERCENTAGES)
    elif draw < 0.3:
        subtotal = compute_totals(
            [LineInput(i.quantity, i.unit_price, None) for i in items], None, None, places
        ).subtotal
        # A round figure near 5 % of the subtotal, as a person would type it.
        discount_type, discount_value = FIXED, round_money(subtotal / 20, 0)
    return InvoiceFields(
        customer_id=customer.id,
        issue_date=issue_date,
        due_date=issue_date + timedelta(days=days),
        currency=customer.currency,
        notes=rng.choice(NOTES),
        payment_terms=terms,
        discount_type=discount_type,
        discount_value=discount_value,
        template_id=rng.choice(templates),
        items=items,
    )


def _item(rng: random.Random, product: Product, currency: str) -> ItemFields:
    quantity = rng.choice(QUANTITIES.get(product.unit, OTHER_QUANTITIES))
    price = product.unit_price
    if CURRENCY_EXPONENTS[currency] == 0:
        # Zero-decimal currencies price in whole units of a smaller coin: scale the list price.
        price = _plain(price * 100)
    tax_id = None if rng.random() < 0.1 else product.tax_id
    return ItemFields(product.id, product.name, quantity, price, product.unit, tax_id)


def _plain(value: Decimal) -> Decimal:
    """Drop trailing zeros without turning 15000 into 1.5E+4."""
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    return normal.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normal


def _advance(store: Store, doc: Invoice, outcome: str, created_at: datetime) -> None:
    rng = store.rng
    if outcome == DRAFT:
        return
    at = created_at + timedelta(hours=rng.randrange(1, 48))
    if outcome != "marked":
        doc.share_token = store.new_share_token()
    doc.status = VOIDED if outcome == VOIDED else SENT
    doc.updated_at = at
    if outcome == "partial":
        share = round_money(doc.total * rng.choice(PARTIAL_SHARES), doc.places)
        if 0 < share < doc.total:
            _pay(store, doc, share)
    elif outcome == PAID:
        if rng.random() < 0.3:
            first = round_money(doc.total / 2, doc.places)
            _pay(store, doc, first)
            _pay(store, doc, doc.total - first)
        else:
            _pay(store, doc, doc.total)
        doc.status = PAID


def _pay(store: Store, doc: Invoice, amount: Decimal) -> None:
    rng = store.rng
    last = doc.payments[-1].date if doc.payments else doc.fields.issue_date
    on = last + timedelta(days=rng.randrange(1, 30))
    reference = f"TXN-{rng.randrange(10000, 100000)}" if rng.random() < 0.7 else None
    doc.payments.append(
        Payment(
            id=store.new_id(),
            amount=amount,
            method=rng.choice(METHODS),
            reference=reference,
            date=on,
            created_at=datetime.combine(on, time(14), UTC),
        )
    )
    doc.updated_at = max(doc.updated_at, datetime.combine(on, time(14), UTC))
