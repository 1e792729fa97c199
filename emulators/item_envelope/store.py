"""The item_envelope emulator's in-memory records and the rules for changing them.

Lifecycle (the provider documents only the ``draft`` flag, so the rules are the project's):
``draft`` 1 is a draft, ``draft`` 0 an issued invoice. A draft may be issued by an update setting
``draft`` to 0; an issued invoice never goes back to draft. Once anything is paid
(``summary_paid`` > 0, ``payment_status`` 1 or 2) the invoice can be neither updated nor deleted.
The API has no payments resource, so only seeded invoices carry payments.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from emulators.item_envelope.reference import CURRENCY_EXPONENTS, DEFAULT_CURRENCY, PRODUCTS, TAXES
from emulators.item_envelope.seed import seed_store
from emulators.item_envelope.totals import ABSOLUTE, LineInput, Totals, compute, line_gross
from emulators.item_envelope.validate import Errors, InvoiceData, ItemData, ValidationFailed

# The provider's example answers ``"id": 124`` to the first create; seeded invoices take the ids
# just below it so a fresh emulator reproduces that answer.
FIRST_CREATED_ID = 124


class Conflict(Exception):
    """The invoice's state forbids the change (HTTP 409)."""

    def __init__(self, message: str, errors: Errors | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


@dataclass(slots=True)
class Line:
    id: int
    product_id: int
    item: str
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal
    discount_type: int
    tax1: int | None
    tax2: int | None
    col_3: str | None
    col_4: str | None
    col_5: str | None

    def as_input(self) -> LineInput:
        return LineInput(
            quantity=self.quantity,
            unit_price=self.unit_price,
            discount=self.discount,
            discount_type=self.discount_type,
            tax1_rate=None if self.tax1 is None else TAXES[self.tax1].rate,
            tax2_rate=None if self.tax2 is None else TAXES[self.tax2].rate,
        )


@dataclass(slots=True)
class Invoice:
    id: int
    no: str
    client_id: int
    store_id: int
    currency_code: str
    date: str
    draft: int
    discount: Decimal
    discount_amount: Decimal
    notes: str | None
    po_number: str | None
    is_offline: int
    items: list[Line]
    paid: Decimal = Decimal(0)
    totals: Totals = field(init=False)

    def __post_init__(self) -> None:
        self.recompute()

    @property
    def places(self) -> int:
        return CURRENCY_EXPONENTS[self.currency_code]

    def recompute(self) -> None:
        self.totals = compute(
            [line.as_input() for line in self.items],
            discount_percent=self.discount,
            discount_amount=self.discount_amount,
            places=self.places,
            paid=self.paid,
        )


class InvoiceStore:
    """Every invoice of the emulated account, rebuilt from the seed on ``reset``."""

    def __init__(self, *, seed: int, seed_invoices: int) -> None:
        self._seed = seed
        self._seed_invoices = seed_invoices
        self.invoices: dict[int, Invoice] = {}
        # The same invoices by client: a list filtered by client (every lookup before a create)
        # reads that client's alone, not the whole account.
        self._by_client: dict[int, dict[int, Invoice]] = {}
        self.reset()

    def reset(self) -> None:
        self.invoices = {}
        self._by_client = {}
        self._next_id = max(1, FIRST_CREATED_ID - self._seed_invoices)
        self._next_item_id = 1
        self._next_number = 1
        seed_store(self, random.Random(self._seed), self._seed_invoices)

    def get(self, invoice_id: int) -> Invoice | None:
        return self.invoices.get(invoice_id)

    def of_client(self, client_id: int | None) -> Iterable[Invoice]:
        """The account's invoices, or one client's (``None``: all)."""
        if client_id is None:
            return self.invoices.values()
        return self._by_client.get(client_id, {}).values()

    def _keep(self, invoice: Invoice) -> None:
        earlier = self.invoices.get(invoice.id)
        if earlier is not None:
            self._forget(earlier)
        self.invoices[invoice.id] = invoice
        self._by_client.setdefault(invoice.client_id, {})[invoice.id] = invoice

    def _forget(self, invoice: Invoice) -> None:
        del self.invoices[invoice.id]
        del self._by_client[invoice.client_id][invoice.id]

    def create(self, data: InvoiceData, *, today: str, paid: Decimal = Decimal(0)) -> Invoice:
        fields = {
            "currency_code": DEFAULT_CURRENCY,
            "date": today,
            "draft": 0,
            "discount": Decimal(0),
            "discount_amount": Decimal(0),
            "notes": None,
            "po_number": None,
            "is_offline": 0,
            **data.fields,
        }
        errors: Errors = {}
        items, next_item_id = self._lines(data.items or [], set(), errors)
        invoice = Invoice(id=self._next_id, no=self._number(), items=items, paid=paid, **fields)
        _check_amounts(invoice, errors)
        if errors:
            raise ValidationFailed(errors)
        self._next_item_id = next_item_id
        self._next_id += 1
        self._next_number += 1
        self._keep(invoice)
        return invoice

    def update(self, invoice: Invoice, data: InvoiceData) -> Invoice:
        if invoice.totals.paid > 0:
            raise Conflict(
                f"Invoice {invoice.id} has payments (payment_status "
                f"{invoice.totals.payment_status(invoice.draft)}) and can no longer be changed"
            )
        if invoice.draft == 0 and data.fields.get("draft") == 1:
            message = "An issued invoice cannot be turned back into a draft"
            raise Conflict(message, {"draft": [message]})
        errors: Errors = {}
        items, next_item_id = invoice.items, self._next_item_id
        if data.items is not None:
            existing = {line.id for line in invoice.items}
            items, next_item_id = self._lines(data.items, existing, errors)
        values: dict[str, Any] = {
            name: getattr(invoice, name)
            for name in Invoice.__dataclass_fields__
            if name not in ("items", "totals")
        }
        values.update(data.fields)
        candidate = Invoice(**{**values, "items": items})
        _check_amounts(candidate, errors)
        if errors:
            raise ValidationFailed(errors)
        self._next_item_id = next_item_id
        self._keep(candidate)
        return candidate

    def delete(self, invoice: Invoice) -> None:
        if invoice.totals.paid > 0:
            raise Conflict(
                f"Invoice {invoice.id} has payments (payment_status "
                f"{invoice.totals.payment_status(invoice.draft)}) and cannot be deleted"
            )
        self._forget(invoice)

    def _number(self) -> str:
        return f"INV-{self._next_number:04d}"

    def _lines(
        self, items: list[ItemData], existing: set[int], errors: Errors
    ) -> tuple[list[Line], int]:
        """Lines for ``items`` and the next free line id; an item naming one of the invoice's
        own line ids keeps that id (the others get new ones), as an edit of that line."""
        lines: list[Line] = []
        kept: set[int] = set()
        next_id = self._next_item_id
        for index, item in enumerate(items):
            if item.id is None:
                line_id, next_id = next_id, next_id + 1
            elif item.id in existing and item.id not in kept:
                line_id = item.id
                kept.add(line_id)
            else:
                errors.setdefault(f"InvoiceItem.{index}.id", []).append(
                    f"item {item.id} is not a line of this invoice"
                )
                continue
            lines.append(
                Line(
                    id=line_id,
                    product_id=item.product_id,
                    item=PRODUCTS[item.product_id].name,
                    quantity=item.quantity,
                    unit_price=item.unit_price,
                    discount=item.discount,
                    discount_type=item.discount_type,
                    tax1=item.tax1,
                    tax2=item.tax2,
                    col_3=item.col_3,
                    col_4=item.col_4,
                    col_5=item.col_5,
                )
            )
        return lines, next_id


def _check_amounts(invoice: Invoice, errors: Errors) -> None:
    """The checks that need the currency and the line amounts, not just one field."""
    places = invoice.places
    for index, line in enumerate(invoice.items):
        if line.discount_type != ABSOLUTE:
            continue
        name = f"InvoiceItem.{index}.discount"
        gross = line_gross(line.as_input(), places)
        if _places(line.discount) > places:
            errors.setdefault(name, []).append(
                f"discount must have at most {places} decimal places in {invoice.currency_code}"
            )
        elif line.discount > gross:
            errors.setdefault(name, []).append(f"discount must not exceed the line amount {gross}")
    if _places(invoice.discount_amount) > places:
        errors.setdefault("discount_amount", []).append(
            f"discount_amount must have at most {places} decimal places in {invoice.currency_code}"
        )
    elif not errors and invoice.discount_amount > invoice.totals.subtotal:
        errors.setdefault("discount_amount", []).append(
            f"discount_amount must not exceed the invoice subtotal {invoice.totals.subtotal}"
        )


def _places(value: Decimal) -> int:
    return max(0, -int(value.normalize().as_tuple().exponent))
