"""Each write the gateway offers, as the runner (``idempotency.py``) runs it.

A write knows how to prepare (what finding it again will need), send, and find out whether it
took effect after a lost answer. Adapters do the provider's part; this module only chooses
which adapter calls make up each write and how their answers become an ``Outcome``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from adapters.base import Adapter, Handling, NoteFile, WriteResult
from adapters.representable import drop_unchanged, unrepresentable
from adapters.resolution import Resolution, new_marker
from gateway.canonical.model import Invoice, Payment
from gateway.errors import PreconditionFailed
from gateway.service.outcomes import Outcome
from gateway.service.versions import version_tag

NEW_DOCUMENT_ACTIONS = frozenset({"duplicate", "credit_note"})


@dataclass
class _Write:
    """What every write shares: its adapter, and by default nothing to prepare."""

    adapter: Adapter
    idempotent: ClassVar[bool] = False  # PUT and DELETE: sending again converges

    @property
    def connection(self) -> str:
        return self.adapter.connection.name

    async def prepare(self) -> dict[str, Any]:
        return {}

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        raise NotImplementedError

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        return Resolution.not_done("an idempotent write is sent again as it is")


def _written(result: WriteResult, *, created: bool) -> Outcome:
    return Outcome("invoice", result.invoice, list(result.warnings), created=created)


def _outcome_of(resolution: Resolution, make: Any) -> Resolution:
    """``resolution`` with its result turned into an Outcome when the write was done."""
    if resolution.state != "done":
        return resolution
    return Resolution.done(make(resolution.result), resolution.detail)


@dataclass
class CreateInvoice(_Write):
    invoice: Invoice
    handling: Handling

    async def prepare(self) -> dict[str, Any]:
        return await self.adapter.prepare_create(self.invoice, new_marker())

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        marked = self.adapter.marked(self.invoice, recovery)
        return _written(await self.adapter.create(marked, handling=self.handling), created=True)

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        found = await self.adapter.find_created(self.invoice, recovery, handling=self.handling)
        return _outcome_of(found, lambda result: _written(result, created=True))


@dataclass
class ReplaceInvoice(_Write):
    """PUT: the writable fields replaced; ``If-Match`` checked against the current invoice."""

    invoice_id: str
    invoice: Invoice
    handling: Handling
    if_match: str | None
    idempotent: ClassVar[bool] = True

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        adapter, invoice = self.adapter, self.invoice
        uncarried = unrepresentable(invoice, adapter.capabilities, adapter.provider)
        # The current invoice is read only when needed: to check If-Match, and so that
        # provider-owned values sent back unchanged pass instead of being refused.
        if self.if_match is not None or uncarried:
            current = await adapter.get(self.invoice_id)
            tag = version_tag(current)
            if self.if_match is not None and self.if_match not in ("*", tag):
                raise PreconditionFailed(
                    f"The invoice changed: its ETag is {tag}, not {self.if_match}.",
                    provider=adapter.provider,
                )
            invoice = drop_unchanged(invoice, current, adapter.capabilities, adapter.provider)
        result = await adapter.update(self.invoice_id, invoice, handling=self.handling)
        return _written(result, created=False)


@dataclass
class DeleteInvoice(_Write):
    invoice_id: str
    idempotent: ClassVar[bool] = True

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        await self.adapter.delete(self.invoice_id)
        return Outcome("deleted")


@dataclass
class Act(_Write):
    invoice_id: str
    action: str

    async def prepare(self) -> dict[str, Any]:
        return await self.adapter.prepare_action(self.invoice_id, self.action)

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        invoice = await self.adapter.act(self.invoice_id, self.action)
        return Outcome("invoice", invoice, created=self.action in NEW_DOCUMENT_ACTIONS)

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        found = await self.adapter.find_action(self.invoice_id, self.action, recovery)
        created = self.action in NEW_DOCUMENT_ACTIONS
        return _outcome_of(found, lambda invoice: Outcome("invoice", invoice, created=created))


@dataclass
class RecordPayment(_Write):
    invoice_id: str
    payment: Payment

    async def prepare(self) -> dict[str, Any]:
        return await self.adapter.prepare_payment(self.invoice_id, self.payment)

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        invoice = await self.adapter.record_payment(self.invoice_id, self.payment)
        return Outcome("invoice", invoice, created=True)

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        found = await self.adapter.find_payment(self.invoice_id, self.payment, recovery)
        return _outcome_of(found, lambda invoice: Outcome("invoice", invoice, created=True))


@dataclass
class DeletePayment(_Write):
    invoice_id: str
    payment_id: str
    idempotent: ClassVar[bool] = True

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        invoice = await self.adapter.delete_payment(self.invoice_id, self.payment_id)
        return Outcome("invoice", invoice)


@dataclass
class AddNote(_Write):
    invoice_id: str
    note: str
    file: NoteFile | None = None

    async def prepare(self) -> dict[str, Any]:
        return await self.adapter.prepare_note(self.invoice_id, self.note)

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        note = await self.adapter.add_note(self.invoice_id, self.note, self.file)
        return Outcome("note", note=note, created=True)

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        found = await self.adapter.find_note(self.invoice_id, self.note, recovery)
        return _outcome_of(found, lambda note: Outcome("note", note=note, created=True))


@dataclass
class InvoiceOrder(_Write):
    order_id: str
    invoice: Invoice | None
    handling: Handling

    async def prepare(self) -> dict[str, Any]:
        return await self.adapter.prepare_order_invoice(self.order_id)

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        result = await self.adapter.create_from_order(
            self.order_id, self.invoice, handling=self.handling
        )
        return _written(result, created=True)

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        found = await self.adapter.find_order_invoice(
            self.order_id, self.invoice, recovery, handling=self.handling
        )
        return _outcome_of(found, lambda result: _written(result, created=True))
