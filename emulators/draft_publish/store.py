"""Invoices of the draft_publish emulator and the lifecycle rules that move them.

The stored status is one of ``draft``, ``sent``, ``paid``, ``voided``; ``overdue`` is never
stored: a sent invoice reads as overdue while its due date is past and a balance remains, the
way the provider's list filter and status field behave.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from emulators.common import round_money
from emulators.draft_publish.errors import Conflict, Detail, NotFound, Unprocessable, invalid
from emulators.draft_publish.reference import CURRENCY_EXPONENTS, TAXES
from emulators.draft_publish.totals import LineInput, compute_totals

DRAFT = "draft"
SENT = "sent"
OVERDUE = "overdue"
PAID = "paid"
VOIDED = "voided"
STATUSES = (DRAFT, SENT, PAID, OVERDUE, VOIDED)

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"

NUMBER_PREFIXES = {INVOICE: "INV-", CREDIT_NOTE: "CN-"}
NUMBER_DIGITS = 4
# What a payment recorded by mark-paid says it was: the provider is told nothing more.
MARK_PAID_METHOD = "other"


@dataclass(frozen=True, slots=True)
class ItemFields:
    product_id: str | None
    description: str
    quantity: Decimal
    unit_price: Decimal
    unit: str | None
    tax_id: str | None


@dataclass(frozen=True, slots=True)
class InvoiceFields:
    """A validated create/update body."""

    customer_id: str
    issue_date: date
    due_date: date
    currency: str
    notes: str | None
    payment_terms: str | None
    discount_type: str | None
    discount_value: Decimal | None
    template_id: str
    items: tuple[ItemFields, ...]


@dataclass(frozen=True, slots=True)
class PaymentFields:
    amount: Decimal
    method: str
    reference: str | None
    date: date | None


@dataclass(slots=True)
class Item:
    id: str
    product_id: str | None
    description: str
    quantity: Decimal
    unit_price: Decimal
    unit: str | None
    tax_id: str | None
    # The rate is copied at write time so a later change to the tax leaves issued documents alone.
    tax_rate: Decimal | None
    amount: Decimal


@dataclass(slots=True)
class Payment:
    id: str
    amount: Decimal
    method: str
    reference: str | None
    date: date
    created_at: datetime


@dataclass(slots=True)
class Invoice:
    id: str
    number: str
    type: str
    original_invoice_id: str | None
    status: str
    fields: InvoiceFields
    created_at: datetime
    updated_at: datetime
    items: list[Item] = field(default_factory=list)
    subtotal: Decimal = Decimal(0)
    discount_amount: Decimal = Decimal(0)
    tax_amount: Decimal = Decimal(0)
    total: Decimal = Decimal(0)
    payments: list[Payment] = field(default_factory=list)
    share_token: str | None = None
    deleted_at: datetime | None = None
    # Creation and deletion order: lists sort on these, not on timestamps, so "newest first"
    # holds even when a test clock runs behind the seeded dates.
    created_seq: int = 0
    deleted_seq: int = 0

    @property
    def places(self) -> int:
        return CURRENCY_EXPONENTS[self.fields.currency]

    @property
    def amount_paid(self) -> Decimal:
        zero = Decimal(0).scaleb(-self.places)
        return sum((p.amount for p in self.payments), zero)

    @property
    def balance_due(self) -> Decimal:
        return self.total - self.amount_paid

    def status_on(self, today: date) -> str:
        if self.status == SENT and self.fields.due_date < today and self.balance_due > 0:
            return OVERDUE
        return self.status


class Store:
    """Every document, live or trashed, plus the number sequences and the id generator.

    Ids and share tokens come from one ``random.Random`` that the seed data also draws from,
    so the same seed and the same requests give the same ids.
    """

    def __init__(self, *, clock: Callable[[], datetime], seed: int) -> None:
        self.clock = clock
        self.seed = seed
        self.documents: dict[str, Invoice] = {}
        self.rng = random.Random(seed)
        self.sequences = dict.fromkeys(NUMBER_PREFIXES, 1)
        self.events = 0

    def clear(self) -> None:
        self.documents = {}
        self.rng = random.Random(self.seed)
        self.sequences = dict.fromkeys(NUMBER_PREFIXES, 1)
        self.events = 0

    def next_event(self) -> int:
        self.events += 1
        return self.events

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        return self.clock().date()

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_share_token(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def peek_number(self, kind: str = INVOICE) -> str:
        return f"{NUMBER_PREFIXES[kind]}{self.sequences[kind]:0{NUMBER_DIGITS}d}"

    def take_number(self, kind: str) -> str:
        number = self.peek_number(kind)
        self.sequences[kind] += 1
        return number

    # -- reading ----------------------------------------------------------------------------

    def live(self) -> list[Invoice]:
        return [doc for doc in self.documents.values() if doc.deleted_at is None]

    def trashed(self) -> list[Invoice]:
        return [doc for doc in self.documents.values() if doc.deleted_at is not None]

    def get(self, invoice_id: str) -> Invoice:
        doc = self.documents.get(invoice_id)
        if doc is None or doc.deleted_at is not None:
            raise NotFound(f"Invoice {invoice_id} not found")
        return doc

    def get_trashed(self, invoice_id: str) -> Invoice:
        doc = self.documents.get(invoice_id)
        if doc is None or doc.deleted_at is None:
            raise NotFound(f"Invoice {invoice_id} not found in trash")
        return doc

    # -- writing ----------------------------------------------------------------------------

    def create(
        self,
        fields: InvoiceFields,
        *,
        kind: str = INVOICE,
        original_invoice_id: str | None = None,
        at: datetime | None = None,
    ) -> Invoice:
        at = at or self.now()
        doc = Invoice(
            id=self.new_id(),
            number=self.take_number(kind),
            type=kind,
            original_invoice_id=original_invoice_id,
            status=DRAFT,
            fields=fields,
            created_at=at,
            updated_at=at,
            created_seq=self.next_event(),
        )
        self._apply(doc, fields)
        self.documents[doc.id] = doc
        return doc

    def require_draft(self, doc: Invoice, verb: str) -> None:
        self._require(doc, {DRAFT}, verb)

    def require_payable(self, doc: Invoice) -> None:
        self._require(doc, {SENT}, "paid")

    def update(self, doc: Invoice, fields: InvoiceFields) -> Invoice:
        self._require(doc, {DRAFT}, "edited")
        self._apply(doc, fields)
        doc.updated_at = self.now()
        return doc

    def delete(self, doc: Invoice) -> None:
        self._require(doc, {DRAFT}, "deleted")
        self.trash(doc, self.now())

    def trash(self, doc: Invoice, at: datetime) -> None:
        doc.deleted_at = doc.updated_at = at
        doc.deleted_seq = self.next_event()

    def restore(self, doc: Invoice) -> None:
        doc.deleted_at = None
        doc.updated_at = self.now()

    def purge(self, doc: Invoice) -> None:
        del self.documents[doc.id]

    def publish(self, doc: Invoice) -> Invoice:
        self._require(doc, {DRAFT}, "published")
        doc.share_token = self.new_share_token()
        return self._move(doc, SENT)

    def unpublish(self, doc: Invoice) -> Invoice:
        self._require(doc, {SENT}, "unpublished")
        if doc.payments:
            raise Conflict(
                "Invoice has payments; delete them before returning it to draft",
                [Detail("payments", f"{len(doc.payments)} payment(s) recorded")],
            )
        doc.share_token = None
        return self._move(doc, DRAFT)

    def void(self, doc: Invoice) -> Invoice:
        self._require(doc, {SENT}, "voided")
        return self._move(doc, VOIDED)

    def mark_sent(self, doc: Invoice) -> Invoice:
        self._require(doc, {DRAFT}, "marked as sent")
        return self._move(doc, SENT)

    def mark_paid(self, doc: Invoice) -> Invoice:
        self._require(doc, {SENT}, "marked as paid")
        # The balance is settled by a payment so amount_paid and balance_due agree with status.
        if doc.balance_due > 0:
            doc.payments.append(self._payment(doc.balance_due, MARK_PAID_METHOD, None, None))
        return self._move(doc, PAID)

    def send(self, doc: Invoice, *, smtp_configured: bool) -> Invoice:
        if doc.status == VOIDED:
            raise self._conflict(doc, "sent")
        if not smtp_configured:
            raise Unprocessable(
                "SMTP is not configured; set up an outgoing mail server to send invoices",
                [Detail("smtp", "not configured")],
                code="smtp_not_configured",
            )
        # The email carries the share link, so sending a draft publishes it.
        if doc.share_token is None:
            doc.share_token = self.new_share_token()
        return self._move(doc, SENT if doc.status == DRAFT else doc.status)

    def duplicate(self, doc: Invoice) -> Invoice:
        return self.create(doc.fields, kind=doc.type, original_invoice_id=doc.original_invoice_id)

    def credit_note(self, doc: Invoice) -> Invoice:
        if doc.type == CREDIT_NOTE:
            raise Conflict(
                "A credit note cannot be credited",
                [Detail("type", "credit_note")],
            )
        self._require(doc, {SENT, PAID}, "credited")
        return self.create(doc.fields, kind=CREDIT_NOTE, original_invoice_id=doc.id)

    def add_payment(self, doc: Invoice, fields: PaymentFields) -> Payment:
        self._require(doc, {SENT}, "paid")
        places = doc.places
        if fields.amount > doc.balance_due:
            raise invalid(
                [
                    Detail(
                        "amount",
                        f"must not exceed the balance due ({doc.balance_due:.{places}f})",
                    )
                ]
            )
        # Validation allows no more decimals than the currency has, so this only pads: 5 → 5.00.
        amount = round_money(fields.amount, places)
        payment = self._payment(amount, fields.method, fields.reference, fields.date)
        doc.payments.append(payment)
        self._move(doc, PAID if doc.balance_due <= 0 else doc.status)
        return payment

    def delete_payment(self, doc: Invoice, payment_id: str) -> Payment:
        if doc.status == VOIDED:
            raise self._conflict(doc, "changed")
        for index, payment in enumerate(doc.payments):
            if payment.id == payment_id:
                del doc.payments[index]
                self._move(doc, SENT if doc.status == PAID and doc.balance_due > 0 else doc.status)
                return payment
        raise NotFound(f"Payment {payment_id} not found on invoice {doc.id}")

    # -- helpers ----------------------------------------------------------------------------

    def _apply(self, doc: Invoice, fields: InvoiceFields) -> None:
        places = CURRENCY_EXPONENTS[fields.currency]
        rates = [TAXES[item.tax_id].rate if item.tax_id else None for item in fields.items]
        totals = compute_totals(
            [
                LineInput(item.quantity, item.unit_price, rate)
                for item, rate in zip(fields.items, rates, strict=True)
            ],
            fields.discount_type,
            fields.discount_value,
            places,
        )
        doc.fields = fields
        doc.items = [
            Item(
                id=self.new_id(),
                product_id=item.product_id,
                description=item.description,
                quantity=item.quantity,
                unit_price=item.unit_price,
                unit=item.unit,
                tax_id=item.tax_id,
                tax_rate=rate,
                amount=amount,
            )
            for item, rate, amount in zip(fields.items, rates, totals.line_amounts, strict=True)
        ]
        doc.subtotal = totals.subtotal
        doc.discount_amount = totals.discount_amount
        doc.tax_amount = totals.tax_amount
        doc.total = totals.total

    def _payment(
        self, amount: Decimal, method: str, reference: str | None, on: date | None
    ) -> Payment:
        return Payment(
            id=self.new_id(),
            amount=amount,
            method=method,
            reference=reference,
            date=on or self.today(),
            created_at=self.now(),
        )

    def _move(self, doc: Invoice, status: str) -> Invoice:
        doc.status = status
        doc.updated_at = self.now()
        return doc

    def _require(self, doc: Invoice, allowed: set[str], verb: str) -> None:
        if doc.status not in allowed:
            raise self._conflict(doc, verb)

    def _conflict(self, doc: Invoice, verb: str) -> Conflict:
        shown = doc.status_on(self.today())
        return Conflict(
            f"Invoice {doc.number} is {shown} and cannot be {verb}",
            [Detail("status", shown)],
        )
