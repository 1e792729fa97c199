"""order_linked's in-memory store: invoices, the orders behind them, and invoice notes.

Every invoice, seeded or created over HTTP, is built by :meth:`Store.create_invoice` or
:meth:`Store.create_from_order`, so seeded totals come from the same code as new ones.
Lifecycle: an invoice is born ``ACTIVE``; cancel makes it ``INACTIVE``, reactivate makes it
``ACTIVE`` again, whatever its payment state. An order has at most one ``ACTIVE`` invoice.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from emulators.common import days_after
from emulators.order_linked.errors import ApiError, invalid, not_found
from emulators.order_linked.records import (
    ACTIVE,
    INACTIVE,
    LINKED,
    InvoiceDraft,
    InvoiceRecord,
    LineDraft,
    LineRecord,
    Note,
    NoteFile,
    OrderInvoiceOptions,
    Payment,
)
from emulators.order_linked.reference import (
    ACCOUNTS,
    CURRENCIES,
    ITEMS,
    ORDER_FORM,
    STANDARD_FORM,
    TAX_CODES,
    Account,
    Currency,
    CustomForm,
    Order,
    open_orders,
)
from emulators.order_linked.totals import LineInput, compute_totals


class Store:
    """``populate`` fills a fresh store with the seeded invoices, drawing from ``store.rng``."""

    def __init__(self, *, seed: int, populate: Callable[[Store], None]) -> None:
        self._seed = seed
        self._populate = populate
        self.reset()

    def reset(self) -> None:
        """Back to the state the app starts with: same seed, same data, same uuids."""
        self.rng = random.Random(self._seed)
        self.invoices: dict[str, InvoiceRecord] = {}
        self.orders: dict[str, Order] = {order.id: order for order in open_orders()}
        self._next_seq = 1
        self._populate(self)

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # -- reads ----------------------------------------------------------------------------------

    def invoice(self, invoice_id: str) -> InvoiceRecord:
        record = self.invoices.get(invoice_id)
        if record is None:
            raise not_found("invoice", invoice_id)
        return record

    def order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise not_found("order", order_id)
        return order

    def list_invoices(
        self,
        *,
        status: str | None = None,
        payment_status: str | None = None,
        account_id: str | None = None,
    ) -> list[InvoiceRecord]:
        """Matching invoices oldest first, so pages stay stable while new invoices arrive."""
        return [
            r
            for r in self.invoices.values()
            if (status is None or r.status == status)
            and (payment_status is None or r.payment_status == payment_status)
            and (account_id is None or r.account.id == account_id)
        ]

    def active_invoice_for_order(self, order_id: str) -> InvoiceRecord | None:
        for record in self.invoices.values():
            if record.order_id == order_id and record.status == ACTIVE:
                return record
        return None

    # -- writes ---------------------------------------------------------------------------------

    def add_order(self, order: Order) -> None:
        self.orders[order.id] = order

    def create_invoice(
        self, draft: InvoiceDraft, *, now: datetime, user: str, origin: str = "API"
    ) -> InvoiceRecord:
        if draft.type == LINKED:
            if draft.order_id is None:
                raise invalid("invoice.order_id", f"is required when type is {LINKED}")
            order = self.orders.get(draft.order_id)
            if order is None:
                raise invalid("invoice.order_id", f"order {draft.order_id!r} does not exist")
            if order.account_id != draft.account.id:
                raise invalid(
                    "invoice.account_id",
                    f"order {order.id!r} belongs to account {order.account_id!r}, "
                    f"not {draft.account.id!r}",
                )
            self._check_order_free(order.id)
        elif draft.order_id is not None:
            raise invalid("invoice.order_id", f"is only accepted when type is {LINKED}")
        return self._build(
            type_=draft.type,
            form=ORDER_FORM if draft.type == LINKED else STANDARD_FORM,
            currency=draft.currency,
            account=draft.account,
            issue_date=draft.issue_date,
            due_date=draft.due_date,
            inclusive=draft.price_tax_inclusive,
            lines=draft.lines,
            invoice_note=draft.invoice_note,
            purchase_order=draft.customer_purchase_order_id,
            order_id=draft.order_id,
            custom_attributes=list(draft.custom_attributes),
            origin=origin,
            now=now,
            user=user,
        )

    def create_from_order(
        self,
        order_id: str,
        options: OrderInvoiceOptions,
        *,
        now: datetime,
        user: str,
        origin: str = "API",
    ) -> InvoiceRecord:
        order = self.order(order_id)
        self._check_order_free(order.id)
        account = ACCOUNTS[order.account_id]
        issue_date = options.issue_date or now.date()
        due_date = options.due_date or days_after(issue_date, account.payment_terms_days)
        if due_date < issue_date:
            raise invalid("invoice.due_date", f"must not be before issue_date {issue_date}")
        lines = tuple(LineDraft(ITEMS[ln.item_id], ln.quantity, ln.price) for ln in order.lines)
        return self._build(
            type_=LINKED,
            form=ORDER_FORM,
            currency=CURRENCIES[order.currency],
            account=account,
            issue_date=issue_date,
            due_date=due_date,
            inclusive=order.price_tax_inclusive,
            lines=lines,
            invoice_note=options.invoice_note,
            purchase_order=options.customer_purchase_order_id or order.customer_purchase_order_id,
            order_id=order.id,
            custom_attributes=list(order.custom_attributes),
            origin=origin,
            now=now,
            user=user,
            shipping_cost=order.shipping_cost,
            discount_amount=order.discount_amount,
        )

    def cancel(self, invoice_id: str, *, now: datetime, user: str) -> InvoiceRecord:
        record = self.invoice(invoice_id)
        if record.status == INACTIVE:
            raise ApiError(
                409, "INVOICE_ALREADY_INACTIVE", f"invoice {invoice_id!r} is already cancelled"
            )
        record.status = INACTIVE
        record.last_cancelled_on = now
        record.touch(now, user)
        return record

    def reactivate(self, invoice_id: str, *, now: datetime, user: str) -> InvoiceRecord:
        record = self.invoice(invoice_id)
        if record.status == ACTIVE:
            raise ApiError(
                409, "INVOICE_ALREADY_ACTIVE", f"invoice {invoice_id!r} is already active"
            )
        if record.order_id is not None:
            self._check_order_free(record.order_id)
        record.status = ACTIVE
        record.last_reactivated_on = now
        record.touch(now, user)
        return record

    def add_note(
        self, invoice_id: str, content: str, files: list[NoteFile], *, now: datetime
    ) -> Note:
        record = self.invoice(invoice_id)
        note = Note(uuid=self.new_uuid(), content=content, files=list(files), created_on=now)
        record.notes[note.uuid] = note
        return note

    def note(self, invoice_id: str, note_uuid: str) -> Note:
        note = self.invoice(invoice_id).notes.get(note_uuid)
        if note is None:
            raise not_found("note", note_uuid)
        return note

    def update_note(
        self, invoice_id: str, note_uuid: str, text: str | None, files: list[NoteFile]
    ) -> Note:
        note = self.note(invoice_id, note_uuid)
        if text is not None:
            note.content = text
        note.files.extend(files)
        return note

    def add_payment(
        self, record: InvoiceRecord, amount: Decimal, paid_on: date, method: str
    ) -> None:
        reference = f"PMT-{self.rng.randrange(100000, 999999)}"
        record.payments.append(Payment(self.new_uuid(), amount, paid_on, method, reference))

    # -- internals ------------------------------------------------------------------------------

    def _check_order_free(self, order_id: str) -> None:
        existing = self.active_invoice_for_order(order_id)
        if existing is not None:
            raise ApiError(
                409,
                "ORDER_ALREADY_INVOICED",
                f"order {order_id!r} is already invoiced by active invoice {existing.id!r}; "
                "cancel that invoice first",
            )

    def _build(
        self,
        *,
        type_: str,
        form: CustomForm,
        currency: Currency,
        account: Account,
        issue_date: date,
        due_date: date,
        inclusive: bool,
        lines: tuple[LineDraft, ...],
        invoice_note: str | None,
        purchase_order: str | None,
        order_id: str | None,
        custom_attributes: list[tuple[str, str | None]],
        origin: str,
        now: datetime,
        user: str,
        shipping_cost: Decimal = Decimal(0),
        discount_amount: Decimal = Decimal(0),
    ) -> InvoiceRecord:
        taxes = [TAX_CODES[line.item.tax_code] for line in lines]
        totals = compute_totals(
            [
                LineInput(ln.quantity, ln.price, tax.rate)
                for ln, tax in zip(lines, taxes, strict=True)
            ],
            exponent=currency.exponent,
            tax_inclusive=inclusive,
            discount_amount=discount_amount,
            shipping_cost=shipping_cost,
        )
        line_records = [
            LineRecord(
                uuid=self.new_uuid(),
                item=draft.item,
                tax=tax,
                quantity=draft.quantity,
                price=draft.price,
                package_name=draft.package_name,
                pricing_snapshot_uuid=self.new_uuid(),
                warehouse=draft.item.warehouse,
                amounts=amounts,
            )
            for draft, tax, amounts in zip(lines, taxes, totals.lines, strict=True)
        ]
        seq = self._next_seq
        self._next_seq += 1
        record = InvoiceRecord(
            seq=seq,
            id=f"INV-{seq:05d}",
            uuid=self.new_uuid(),
            type=type_,
            form=form,
            currency=currency,
            account=account,
            issue_date=issue_date,
            due_date=due_date,
            price_tax_inclusive=inclusive,
            lines=line_records,
            totals=totals,
            invoice_note=invoice_note,
            customer_purchase_order_id=purchase_order,
            order_id=order_id,
            custom_attributes=custom_attributes,
            origin=origin,
            created_by=user,
            created_on=now,
            last_updated_by=user,
            last_updated_on=now,
        )
        self.invoices[record.id] = record
        return record
