"""Deterministic seed invoices for the item_envelope emulator.

Everything is drawn from the ``random.Random`` handed in, dates count from a fixed base date, and
every invoice goes through the store's own create (and update) path, so its totals are the
emulator's own.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import TYPE_CHECKING

from emulators.common import round_money
from emulators.item_envelope.reference import CLIENTS, CURRENCY_EXPONENTS, PRODUCTS, STORES
from emulators.item_envelope.totals import ABSOLUTE, PERCENTAGE
from emulators.item_envelope.validate import InvoiceData, ItemData

if TYPE_CHECKING:
    from emulators.item_envelope.store import InvoiceStore

BASE_DATE = dt.date(2025, 1, 6)

# currency → (weight, price factor against the USD list price, the tax id sets its lines use)
_CURRENCIES: dict[str, tuple[int, Decimal, tuple[tuple[int, ...], ...]]] = {
    "USD": (45, Decimal(1), ((), (5,))),
    "EUR": (18, Decimal("0.92"), ((7,), (4,), (6,))),
    "GBP": (10, Decimal("0.79"), ((3,), (6,))),
    "CAD": (12, Decimal("1.36"), ((1, 2), (1,))),
    "JPY": (8, Decimal(150), ((4,),)),
    "BHD": (7, Decimal("0.377"), ((4,),)),
}
_QUANTITIES = tuple(Decimal(q) for q in ("1", "1", "1", "2", "3", "4", "5", "10", "0.5", "1.5"))
_PARTIAL_SHARES = tuple(Decimal(s) for s in ("0.25", "0.4", "0.5", "0.6", "0.75"))
_NOTES = (
    "Thank you for your business.",
    "Payment due within 30 days.",
    "Please quote the invoice number with your payment.",
    "Work completed as agreed.",
)


def _plan(rng: random.Random, count: int) -> list[str]:
    """Which kind of invoice each seed is, in fixed proportions so every kind is present."""
    drafts = max(1, round(count * 0.15)) if count >= 4 else 0
    partial = max(1, round(count * 0.15)) if count >= 4 else 0
    paid = max(1, round(count * 0.40)) if count >= 4 else 0
    kinds = ["draft"] * drafts + ["partial"] * partial + ["paid"] * paid
    kinds += ["unpaid"] * (count - len(kinds))
    rng.shuffle(kinds)
    return kinds


def seed_store(store: InvoiceStore, rng: random.Random, count: int) -> None:
    day = BASE_DATE
    for kind in _plan(rng, count):
        day += dt.timedelta(days=rng.randint(0, 4))
        currency = rng.choices(list(_CURRENCIES), [spec[0] for spec in _CURRENCIES.values()])[0]
        items = [_item(rng, currency) for _ in range(rng.randint(1, 4))]
        fields: dict[str, object] = {
            "client_id": rng.choice(list(CLIENTS)),
            "store_id": rng.choices(list(STORES), [6, 3, 1])[0],
            "currency_code": currency,
            "date": day.isoformat(),
            "draft": 1 if kind == "draft" else 0,
            "is_offline": 1 if rng.random() < 0.1 else 0,
        }
        if rng.random() < 0.3:
            fields["notes"] = rng.choice(_NOTES)
        if rng.random() < 0.35:
            fields["po_number"] = f"PO-{day.year}-{rng.randint(100, 999)}"
        document_discount = rng.random()
        if document_discount < 0.1:
            fields["discount"] = rng.choice((Decimal(5), Decimal(10), Decimal("2.5")))
        invoice = store.create(InvoiceData(fields=fields, items=items), today=day.isoformat())
        if document_discount > 0.92:
            # A fixed discount of about 5 % of the subtotal, in whole minor units.
            amount = round_money(invoice.totals.subtotal * Decimal("0.05"), invoice.places)
            invoice = store.update(
                invoice, InvoiceData(fields={"discount_amount": amount}, items=None)
            )
        if kind in ("paid", "partial"):
            # The API records no payments, so the seed sets what a payment history leaves behind.
            share = Decimal(1) if kind == "paid" else rng.choice(_PARTIAL_SHARES)
            invoice.paid = round_money(invoice.totals.total * share, invoice.places)
            invoice.recompute()


def _item(rng: random.Random, currency: str) -> ItemData:
    _, factor, tax_sets = _CURRENCIES[currency]
    places = CURRENCY_EXPONENTS[currency]
    product = PRODUCTS[rng.choice(list(PRODUCTS))]
    unit_price = round_money(product.price * factor, places)
    quantity = rng.choice(_QUANTITIES)
    taxes = rng.choice(tax_sets)
    discount, discount_type = Decimal(0), PERCENTAGE
    roll = rng.random()
    if roll < 0.15:
        discount = rng.choice((Decimal(5), Decimal(10), Decimal("12.5")))
    elif roll < 0.22:
        # An absolute discount of a tenth of the line, so it never exceeds the line amount.
        discount_type = ABSOLUTE
        discount = round_money(quantity * unit_price / 10, places)
    return ItemData(
        id=None,
        product_id=product.id,
        quantity=quantity,
        unit_price=unit_price,
        discount=discount,
        discount_type=discount_type,
        tax1=taxes[0] if taxes else None,
        tax2=taxes[1] if len(taxes) > 1 else None,
        col_3=f"Batch {rng.randint(1, 40)}" if rng.random() < 0.15 else None,
        col_4="Serial on request" if rng.random() < 0.05 else None,
        col_5=None,
    )
