"""The invoice use cases: every write the gateway offers, over any connection's adapter.

No HTTP and no YAML here: the HTTP views and the command line both call these, and each write
runs through ``KeyedWrites`` so that a caller's ``Idempotency-Key`` (and the resolution of a lost
answer) works the same whoever asks. What a connection cannot do is refused here, before a key
is claimed or anything is sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from adapters.base import (
    ACTIONS,
    BATCH_ACTIONS,
    Adapter,
    Capabilities,
    DuplicateInputs,
    Handling,
    NoteFile,
)
from gateway.canonical.errors import FieldError, pointer_to_path
from gateway.canonical.model import Invoice, Payment
from gateway.canonical.order_invoice import OrderInvoice
from gateway.errors import (
    AdapterError,
    BadIdentifier,
    InvalidRequest,
    NotFound,
    NotSupported,
    UnsupportedFields,
)
from gateway.service.collection import Batch, Purge, Restore
from gateway.service.idempotency import KeyedWrites
from gateway.service.outcomes import Outcome
from gateway.service.sendable import computed_errors, refused_together
from gateway.service.write_request import WriteRequest
from gateway.service.writes import (
    Act,
    AddNote,
    AttachToNote,
    CreateInvoice,
    DeleteInvoice,
    DeletePayment,
    InvoiceOrder,
    RecordPayment,
    ReplaceInvoice,
    ReplaceNoteText,
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

    async def create(
        self,
        request: WriteRequest,
        invoice: Invoice,
        handling: Handling,
        *,
        issued: bool = False,
        marker: str | None = None,
    ) -> Outcome:
        """``issued``: the invoice made issued (open) at once, where the provider's create can
        (``capabilities.create_issued``; the migration's choice, not the HTTP API's). It is not
        part of the key's fingerprint: a replayed create answers the invoice as it was made, and
        a caller that wanted it issued issues it then (``migrate`` carries the status after the
        create, whatever it answered), so a key first used the other way is not a mismatch.
        ``marker``: the one the invoice carries where its marker's field is free (else a new
        one), for a caller that looks for it itself once the key is forgotten."""
        adapter = self._able(request, lambda can: "create" in can.operations, "create invoices")
        if issued and not adapter.capabilities.create_issued:
            raise InvalidRequest(
                f"{adapter.provider} cannot create an issued invoice: create it, then issue it."
            )
        _within_bounds(adapter, invoice, handling, creating=True)
        write = CreateInvoice(adapter, invoice, handling, issued, marker)
        return await self._run(request, write, lambda: _body(invoice), handling)

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
        return await self._run(request, write, lambda: _body(invoice), handling)

    async def delete(
        self, request: WriteRequest, invoice_id: str, *, if_match: str | None = None
    ) -> Outcome:
        """``if_match``: the ETag the caller deletes, checked against a read first (412)."""
        adapter = self._able(request, lambda can: "delete" in can.operations, "delete invoices")
        return await self._run(request, DeleteInvoice(adapter, invoice_id, if_match), _none, None)

    async def act(
        self,
        request: WriteRequest,
        invoice_id: str,
        action: str,
        inputs: DuplicateInputs | None = None,
        *,
        current: Invoice | None = None,
        if_match: str | None = None,
    ) -> Outcome:
        """A state change, or a duplicate made with ``inputs`` (those the provider's clone
        takes: ``capabilities.duplicate_inputs``; the others are a 422 naming each).

        ``current``: the invoice as the provider answered a read sent after its last write,
        where the caller holds one (``Outcome.read_back``); the adapter then keeps what a lost
        answer's lookup needs from it instead of reading the invoice first."""
        if action not in ACTIONS:
            raise InvalidRequest(f"No action {action!r}; actions are: {', '.join(ACTIONS)}.")
        adapter = self._able(
            request, lambda can: action in can.actions, action.replace("_", " ") + " invoices"
        )
        if inputs is not None and action != "duplicate":
            raise InvalidRequest(f"{action} takes no inputs; only duplicate does.")
        if inputs is not None and not inputs.given():
            inputs = None
        if inputs is not None:
            _takes(adapter, inputs)
        write = Act(adapter, invoice_id, action, inputs, current, if_match)
        return await self._run(
            request, write, lambda: inputs.as_json() if inputs is not None else None, None
        )

    async def record_payment(
        self,
        request: WriteRequest,
        invoice_id: str,
        payment: Payment,
        *,
        if_match: str | None = None,
    ) -> Outcome:
        adapter = self._able(request, lambda can: "create" in can.payments, "record payments")
        write = RecordPayment(adapter, invoice_id, payment, if_match)
        return await self._run(request, write, lambda: payment.model_dump(mode="json"), None)

    async def delete_payment(
        self,
        request: WriteRequest,
        invoice_id: str,
        payment_id: str,
        *,
        if_match: str | None = None,
    ) -> Outcome:
        adapter = self._able(request, lambda can: "delete" in can.payments, "delete payments")
        write = DeletePayment(adapter, invoice_id, payment_id, if_match)
        return await self._run(request, write, _none, None)

    async def add_note(
        self,
        request: WriteRequest,
        invoice_id: str,
        note: str,
        files: Sequence[NoteFile],
        *,
        if_match: str | None = None,
    ) -> Outcome:
        """A new note and every file sent with it; more files than a new note takes is a 422
        naming the limit, before anything is sent (never a file dropped)."""
        adapter = self._able(request, lambda can: can.notes, "add notes")
        limit = adapter.capabilities.note_files
        if len(files) > limit:
            more = (
                "; add the others to the note afterwards (POST …/notes/{note_id}/files)"
                if adapter.capabilities.note_attach and limit > 0
                else ""
            )
            raise InvalidRequest(
                f"file: {adapter.provider} takes at most {limit} file(s) when a note is "
                f"created, not {len(files)}{more}",
                [FieldError("/file", f"at most {limit} file(s) per new note{more}")],
                provider=adapter.provider,
            )

        def body() -> dict[str, Any]:
            given: dict[str, Any] = {"note": note}
            if len(files) == 1:  # as a one-file note was always fingerprinted
                given["file"] = _file_fingerprint(files[0])
            elif files:
                given["files"] = [_file_fingerprint(file) for file in files]
            return given

        write = AddNote(adapter, invoice_id, note, tuple(files), if_match)
        return await self._run(request, write, body, None)

    async def attach_to_note(
        self,
        request: WriteRequest,
        invoice_id: str,
        note_id: str,
        files: Sequence[NoteFile],
        text: str | None,
        *,
        if_match: str | None = None,
    ) -> Outcome:
        """Files added to an existing note, its text replaced when ``text`` is given; new text
        alone is a write that may be sent again (``ReplaceNoteText``)."""
        adapter = self._able(
            request, lambda can: can.notes and can.note_attach, "add files to an existing note"
        )

        def body() -> dict[str, Any]:
            return {"files": [_file_fingerprint(file) for file in files], "note": text}

        write: AttachToNote | ReplaceNoteText
        if files:
            write = AttachToNote(adapter, invoice_id, note_id, tuple(files), text, if_match)
        else:
            assert text is not None, "a note's new text or a file: the view checks"
            write = ReplaceNoteText(adapter, invoice_id, note_id, text, if_match)
        return await self._run(request, write, body, None)

    async def check_order(self, connection: str, order_id: str) -> None:
        """``NotFound`` when the order is known not to exist (so that a 404 wins over what is
        wrong with a request's body); any other failure to tell is left to the body's answer."""
        adapter = self.adapter(connection)
        try:
            await adapter.check_order(order_id)
        except (NotFound, BadIdentifier):
            raise
        except AdapterError:
            return

    async def read_notes(self, connection: str, invoice_id: str, note_id: str | None) -> Any:
        """An invoice's notes, or one of them, where the provider can read them back."""
        adapter = self.adapter(connection)
        if not (adapter.capabilities.notes and adapter.capabilities.note_read):
            raise NotSupported("read notes back", provider=adapter.provider)
        if note_id is None:
            return await adapter.read_notes(invoice_id)
        return await adapter.read_note(invoice_id, note_id)

    async def create_from_order(
        self,
        request: WriteRequest,
        order_id: str,
        invoice: OrderInvoice | None,
        handling: Handling,
    ) -> Outcome:
        """The order sets currency, lines and customer; ``invoice`` is what the caller added
        (or said against the order: its adapter compares it with the order). No bounds to
        check here: the amounts are the order's."""
        adapter = self._able(
            request, lambda can: can.create_from_order, "create invoices from orders"
        )
        if invoice is not None:
            adapter.refuse_marker_lookalikes(invoice)
        write = InvoiceOrder(adapter, order_id, invoice, handling)
        return await self._run(
            request, write, lambda: _given(invoice) if invoice is not None else None, handling
        )

    async def batch(self, request: WriteRequest, action: str, ids: list[str]) -> Outcome:
        """``action`` (of ``BATCH_ACTIONS``) on many invoices in one provider call."""
        if action not in BATCH_ACTIONS:
            raise InvalidRequest(
                f"No batch action {action!r}; batch actions are: {', '.join(BATCH_ACTIONS)}."
            )
        adapter = self._able(
            request,
            lambda can: action in can.batch_actions,
            f"{action.replace('_', ' ')} invoices in a batch",
        )
        body = {"action": action, "ids": ids}
        return await self._run(request, Batch(adapter, action, ids), lambda: body, None)

    async def restore(self, request: WriteRequest, invoice_id: str) -> Outcome:
        adapter = self._able(
            request, lambda can: "restore" in can.trash, "restore invoices from the trash"
        )
        return await self._run(request, Restore(adapter, invoice_id), _none, None)

    async def purge(self, request: WriteRequest, invoice_id: str) -> Outcome:
        adapter = self._able(
            request, lambda can: "purge" in can.trash, "purge invoices from the trash"
        )
        return await self._run(request, Purge(adapter, invoice_id), _none, None)

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
        self, request: WriteRequest, write: Any, body: Callable[[], Any], handling: str | None
    ) -> Outcome:
        """``body()``: what the request's fingerprint is taken of (in one canonical form), made
        only for a request with an ``Idempotency-Key``: one without is compared with nothing,
        so it pays for no dump of its invoice nor digest of its files."""
        if request.idempotency_key is None:
            return await self.writes.run(request, "", write)
        return await self.writes.run(request, request.fingerprint(body(), handling), write)


def _takes(adapter: Adapter, inputs: DuplicateInputs) -> None:
    """422 before anything is sent for every input the provider's duplicate cannot take."""
    takes = adapter.capabilities.duplicate_inputs
    refused = [name for name in inputs.given() if name not in takes]
    if not refused:
        return
    offered = (
        f"it takes only {', '.join(sorted(takes))}"
        if takes
        else "it copies the invoice with its own customer and dates"
    )
    errors = [
        FieldError(
            "/" + name.replace(".", "/"),
            f"{adapter.provider} cannot duplicate an invoice with another {name} ({offered})",
        )
        for name in refused
    ]
    raise UnsupportedFields(
        f"{adapter.provider}'s duplicate cannot take {', '.join(refused)} ({offered})",
        errors,
        provider=adapter.provider,
    )


def _within_bounds(
    adapter: Adapter, invoice: Invoice, handling: Handling, *, creating: bool = False
) -> None:
    """422 before anything is sent when what the write computes would reach 10^15, when its
    amount discount could not be shared (``sendable``), or when a value would read back hidden
    as the dedupe marker. A create so refused lists what its provider's checks refuse too (as
    its preview does), at the caller's own lines."""
    adapter.refuse_marker_lookalikes(invoice)
    errors = computed_errors(adapter, invoice, handling)
    if not errors:
        return
    refused = InvalidRequest(
        f"{pointer_to_path(errors[0].pointer)} {errors[0].detail}",
        errors,
        provider=adapter.provider,
    )
    if not creating:
        raise refused
    try:
        adapter.check_create(invoice, handling)
    except InvalidRequest as exc:
        refused = refused_together(exc, errors)
    raise adapter.callers_lines(invoice, handling, refused)


def _none() -> None:
    return None


def _body(invoice: Invoice) -> dict[str, Any]:
    """The request's invoice in one canonical form: key order and spelling do not matter."""
    body: dict[str, Any] = invoice.model_dump(mode="json")
    return body


def _given(invoice: OrderInvoice) -> dict[str, Any]:
    """What the caller set, in one canonical form (what was left out is not a default)."""
    body: dict[str, Any] = invoice.model_dump(mode="json", include=set(invoice.model_fields_set))
    return body


def _file_fingerprint(file: NoteFile) -> dict[str, str]:
    return {
        "filename": file.filename,
        "content_type": file.content_type,
        "sha256": _sha256(file.content),
    }


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
