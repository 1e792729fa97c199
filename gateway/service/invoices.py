"""The invoice use cases: every write the gateway offers, over any connection's adapter.

No HTTP and no YAML here: the HTTP views and the command line both call these, and each write
runs through ``KeyedWrites`` so that a caller's ``Idempotency-Key`` (and the resolution of a lost
answer) works the same whoever asks. What a connection cannot do is refused here, before a key
is claimed or anything is sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from adapters.base import ACTIONS, Adapter, Capabilities, Handling, NoteFile
from gateway.canonical.bounds import overflowing
from gateway.canonical.errors import InvalidInvoice
from gateway.canonical.model import Invoice, Payment
from gateway.canonical.totals import calculate
from gateway.errors import InvalidRequest, NotFound, NotSupported
from gateway.service.idempotency import KeyedWrites, WriteRequest
from gateway.service.outcomes import Outcome
from gateway.service.writes import (
    Act,
    AddNote,
    CreateInvoice,
    DeleteInvoice,
    DeletePayment,
    InvoiceOrder,
    RecordPayment,
    ReplaceInvoice,
)


class InvoiceService:
    def __init__(self, adapters: dict[str, Adapter], writes: KeyedWrites) -> None:
        self.adapters = adapters
        self.writes = writes

    def adapter(self, connection: str) -> Adapter:
        adapter = self.adapters.get(connection)
        if adapter is None:
            raise NotFound(f"No connection named {connection!r}.")
        return adapter

    async def create(self, request: WriteRequest, invoice: Invoice, handling: Handling) -> Outcome:
        adapter = self._able(request, lambda can: "create" in can.operations, "create invoices")
        _within_bounds(adapter, invoice, handling)
        write = CreateInvoice(adapter, invoice, handling)
        return await self._run(request, write, _body(invoice), handling)

    async def replace(
        self,
        request: WriteRequest,
        invoice_id: str,
        invoice: Invoice,
        handling: Handling,
        *,
        if_match: str | None = None,
    ) -> Outcome:
        adapter = self._able(request, lambda can: "update" in can.operations, "update invoices")
        _within_bounds(adapter, invoice, handling)
        write = ReplaceInvoice(adapter, invoice_id, invoice, handling, if_match)
        return await self._run(request, write, _body(invoice), handling)

    async def delete(self, request: WriteRequest, invoice_id: str) -> Outcome:
        adapter = self._able(request, lambda can: "delete" in can.operations, "delete invoices")
        return await self._run(request, DeleteInvoice(adapter, invoice_id), None, None)

    async def act(self, request: WriteRequest, invoice_id: str, action: str) -> Outcome:
        if action not in ACTIONS:
            raise InvalidRequest(f"No action {action!r}; actions are: {', '.join(ACTIONS)}.")
        adapter = self._able(
            request, lambda can: action in can.actions, action.replace("_", " ") + " invoices"
        )
        return await self._run(request, Act(adapter, invoice_id, action), None, None)

    async def record_payment(
        self, request: WriteRequest, invoice_id: str, payment: Payment
    ) -> Outcome:
        adapter = self._able(request, lambda can: "create" in can.payments, "record payments")
        write = RecordPayment(adapter, invoice_id, payment)
        return await self._run(request, write, payment.model_dump(mode="json"), None)

    async def delete_payment(
        self, request: WriteRequest, invoice_id: str, payment_id: str
    ) -> Outcome:
        adapter = self._able(request, lambda can: "delete" in can.payments, "delete payments")
        return await self._run(request, DeletePayment(adapter, invoice_id, payment_id), None, None)

    async def add_note(
        self, request: WriteRequest, invoice_id: str, note: str, file: NoteFile | None
    ) -> Outcome:
        adapter = self._able(request, lambda can: can.notes, "add notes")
        body: dict[str, Any] = {"note": note}
        if file is not None:
            body["file"] = {
                "filename": file.filename,
                "content_type": file.content_type,
                "sha256": _sha256(file.content),
            }
        return await self._run(request, AddNote(adapter, invoice_id, note, file), body, None)

    async def create_from_order(
        self, request: WriteRequest, order_id: str, invoice: Invoice | None, handling: Handling
    ) -> Outcome:
        adapter = self._able(
            request, lambda can: can.create_from_order, "create invoices from orders"
        )
        if invoice is not None:
            _within_bounds(adapter, invoice, handling)
        write = InvoiceOrder(adapter, order_id, invoice, handling)
        body = _body(invoice) if invoice is not None else None
        return await self._run(request, write, body, handling)

    # -- helpers ------------------------------------------------------------------------------

    def _able(
        self, request: WriteRequest, able: Callable[[Capabilities], bool], operation: str
    ) -> Adapter:
        """The connection's adapter, if its provider can do ``operation`` (else 501)."""
        adapter = self.adapter(request.connection)
        if not able(adapter.capabilities):
            raise NotSupported(operation, provider=adapter.provider)
        return adapter

    async def _run(
        self, request: WriteRequest, write: Any, body: Any, handling: str | None
    ) -> Outcome:
        return await self.writes.run(request, request.fingerprint(body, handling), write)


def _within_bounds(adapter: Adapter, invoice: Invoice, handling: Handling) -> None:
    """422 before anything is sent when what the write computes would reach 10^15."""
    sent, _ = adapter.as_sent(invoice, handling)
    try:
        calculation = calculate(sent, adapter.policy_for(sent))
    except InvalidInvoice:
        return  # not computable here: the adapter's checks, or the provider, say why
    errors = overflowing(calculation)
    if errors:
        raise InvalidRequest(
            f"{errors[0].pointer.lstrip('/').replace('/', '.')} {errors[0].detail}",
            errors,
            provider=adapter.provider,
        )


def _body(invoice: Invoice) -> dict[str, Any]:
    """The request's invoice in one canonical form: key order and spelling do not matter."""
    body: dict[str, Any] = invoice.model_dump(mode="json")
    return body


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
