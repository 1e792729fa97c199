"""The seeded invoices of order_linked: a deterministic mix drawn from ``store.rng``.

About half are made from an order (each with its own order, ``SO-2001`` on, some with shipping
and a discount), the rest directly; prices are exclusive or inclusive of tax; currencies follow
the account, sometimes not; some invoices are paid, in one or two payments, some partly paid,
some cancelled and a few cancelled then reactivated. Dates start on a fixed day, never today.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from emulators.common import round_money
from emulators.order_linked.records import (
    ACTIVE,
    INACTIVE,
    NOT_LINKED,
    InvoiceDraft,
    InvoiceRecord,
    LineDraft,
    OrderInvoiceOptions,
)
from emulators.order_linked.reference import (
    ACCOUNTS,
    CURRENCIES,
    ITEMS,
    Currency,
    Item,
    Order,
    OrderLine,
    default_price,
)
from emulators.order_linked.store import Store

BASE_DATE = date(2026, 1, 5)
# However many invoices are seeded, they are issued over the same half year.
SEED_WINDOW_DAYS = 180
USERS = ("Priya Shah", "Tom Walker", "Mei Chen", "Integration User")
METHODS = ("BANK_TRANSFER", "CREDIT_CARD", "DIRECT_DEBIT", "CHEQUE")
NOTES = (
    None,
    "Thank you for your business.",
    "Please quote the invoice number with your payment.",
    "Goods remain our property until paid in full.",
)
PROJECTS = ("Fit-out Level 3", "Head Office Refresh", "Warehouse Expansion")


def populate(store: Store, count: int) -> None:
    for n in range(count):
        _seed_invoice(
            store, store.rng, n, BASE_DATE + timedelta(days=n * SEED_WINDOW_DAYS // count)
        )


def _seed_invoice(store: Store, rng: random.Random, n: int, issue: date) -> None:
    account = ACCOUNTS[rng.choice(sorted(ACCOUNTS))]
    currency = CURRENCIES[account.currency]
    if rng.random() < 0.15:
        currency = CURRENCIES[rng.choice(("AUD", "USD", "GBP"))]
    inclusive = rng.random() < 0.3
    created = datetime.combine(issue, time(9), tzinfo=UTC) + timedelta(minutes=rng.randint(0, 480))
    user = rng.choice(USERS)
    note = rng.choice(NOTES)
    due = issue + timedelta(days=account.payment_terms_days)
    lines = _lines(rng, currency, inclusive)
    if rng.random() < 0.45:
        order = _order(rng, n, account.id, currency, inclusive, issue, lines)
        store.add_order(order)
        options = OrderInvoiceOptions(invoice_note=note, issue_date=issue, due_date=due)
        record = store.create_from_order(order.id, options, now=created, user=user, origin="ORDER")
    else:
        attributes: tuple[tuple[str, str | None], ...] = ()
        if rng.random() < 0.3:
            attributes = (("Project", rng.choice(PROJECTS)),)
        draft = InvoiceDraft(
            type=NOT_LINKED,
            currency=currency,
            account=account,
            issue_date=issue,
            due_date=due,
            price_tax_inclusive=inclusive,
            lines=lines,
            invoice_note=note,
            customer_purchase_order_id=_purchase_order(rng),
            custom_attributes=attributes,
        )
        record = store.create_invoice(
            draft, now=created, user=user, origin=rng.choice(("WEB", "API"))
        )
    _billing_period(rng, record)
    _payments(store, rng, record)
    _lifecycle(rng, record, created)


def _lines(rng: random.Random, currency: Currency, inclusive: bool) -> tuple[LineDraft, ...]:
    sellable = [item for item in ITEMS.values() if item.price_for(currency.code, Decimal(1))]
    chosen = rng.sample(sellable, k=rng.randint(1, min(4, len(sellable))))
    lines = []
    for item in chosen:
        quantity = _quantity(rng, item)
        price = default_price(item, currency, quantity, inclusive)
        assert price is not None  # every chosen item sells in this currency
        if rng.random() < 0.15:
            # A negotiated price below the list price, as a salesperson would type it.
            price = round_money(price * Decimal("0.9"), currency.exponent)
        lines.append(LineDraft(item, quantity, price, _package(rng, item)))
    return tuple(lines)


def _quantity(rng: random.Random, item: Item) -> Decimal:
    if item.uom == "HR":
        return Decimal(rng.choice(("1", "1.5", "2.25", "4", "7.5", "12")))
    if item.uom == "BTL":
        return Decimal(rng.choice((6, 12, 24, 36)))
    return Decimal(rng.randint(1, 12))


def _package(rng: random.Random, item: Item) -> str | None:
    if item.uom == "BTL":
        return rng.choice(("Case of 6", "Case of 12"))
    return "Carton" if item.uom == "EA" and rng.random() < 0.2 else None


def _purchase_order(rng: random.Random) -> str | None:
    return f"PO-{rng.randint(1000, 9999)}" if rng.random() < 0.5 else None


def _order(
    rng: random.Random,
    n: int,
    account_id: str,
    currency: Currency,
    inclusive: bool,
    issue: date,
    lines: tuple[LineDraft, ...],
) -> Order:
    # JPY has no minor units, so its shipping fees are a hundred times the cent amounts.
    scale = Decimal(100) if currency.exponent == 0 else Decimal(1)
    shipping = Decimal(rng.choice(("0", "0", "9.95", "15.00", "25.00", "49.95"))) * scale
    gross = sum(
        (round_money(ln.quantity * ln.price, currency.exponent) for ln in lines), Decimal(0)
    )
    discount = Decimal(0)
    if rng.random() < 0.3:
        discount = round_money(gross * Decimal(rng.choice((5, 10))) / 100, currency.exponent)
    return Order(
        id=f"SO-{2001 + n}",
        account_id=account_id,
        currency=currency.code,
        price_tax_inclusive=inclusive,
        order_date=issue - timedelta(days=rng.randint(0, 5)),
        lines=tuple(OrderLine(ln.item.id, ln.quantity, ln.price) for ln in lines),
        shipping_cost=round_money(shipping, currency.exponent),
        discount_amount=discount,
        customer_purchase_order_id=_purchase_order(rng),
        custom_attributes=(("Sales Channel", rng.choice(("Online", "Phone", "Showroom"))),),
    )


def _billing_period(rng: random.Random, record: InvoiceRecord) -> None:
    """Service invoices bill the month before they are issued, as a timesheet run would."""
    service_lines = [ln for ln in record.lines if ln.item.uom == "HR"]
    if not service_lines or rng.random() < 0.5:
        return
    end = record.issue_date.replace(day=1) - timedelta(days=1)
    start = end.replace(day=1)
    record.billing_start_date, record.billing_end_date = start, end
    for line in service_lines:
        line.charging_start_date, line.charging_end_date = start, end


def _payments(store: Store, rng: random.Random, record: InvoiceRecord) -> None:
    total = record.totals.total
    exponent = record.currency.exponent
    draw = rng.random()
    if total <= 2 * Decimal(1).scaleb(-exponent):
        return
    first_day = record.issue_date + timedelta(days=rng.randint(1, 20))
    if draw < 0.4:
        if rng.random() < 0.5:
            store.add_payment(record, total, first_day, rng.choice(METHODS))
            return
        part = _fraction_of(total, rng, exponent)
        store.add_payment(record, part, first_day, rng.choice(METHODS))
        later = first_day + timedelta(days=rng.randint(5, 25))
        store.add_payment(record, total - part, later, rng.choice(METHODS))
    elif draw < 0.62:
        store.add_payment(
            record, _fraction_of(total, rng, exponent), first_day, rng.choice(METHODS)
        )


def _fraction_of(total: Decimal, rng: random.Random, exponent: int) -> Decimal:
    """A part strictly between nothing and everything, so the invoice stays partly paid."""
    smallest = Decimal(1).scaleb(-exponent)
    part = round_money(total * Decimal(rng.randint(20, 80)) / 100, exponent)
    return min(max(part, smallest), total - smallest)


def _lifecycle(rng: random.Random, record: InvoiceRecord, created: datetime) -> None:
    """Cancel some invoices (after their last payment: a cancelled one takes no more) and
    reactivate a few; each seeded order has one invoice, so reactivating never conflicts."""
    draw = rng.random()
    if draw >= 0.18:
        return
    last = record.last_payment
    start = max(created, datetime.combine(last.date, time(9), tzinfo=UTC)) if last else created
    cancelled = start + timedelta(days=rng.randint(1, 10), hours=rng.randint(0, 8))
    record.status = INACTIVE
    record.last_cancelled_on = cancelled
    record.touch(cancelled, rng.choice(USERS))
    if draw < 0.05:
        reactivated = cancelled + timedelta(days=rng.randint(1, 5))
        record.status = ACTIVE
        record.last_reactivated_on = reactivated
        record.touch(reactivated, rng.choice(USERS))
