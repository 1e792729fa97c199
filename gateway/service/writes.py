"""Each write the gateway offers, as the runner (``idempotency.py``) runs it.

A write knows how to prepare (what finding it again will need), send, and find out whether it
took effect after a lost answer. Adapters do the provider's part; this module only chooses
which adapter calls make up each write and how their answers become an ``Outcome``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from adapters.base import (
    ACTION_EFFECTS,
    Adapter,
    Conflict,
    DuplicateInputs,
    Handling,
    NoteFile,
    WriteResult,
    WriteWarning,
)
from adapters.representable import (
    drop_unchanged,
    empties_kept,
    kept_on_update,
    unrepresentable,
)
from adapters.resolution import (
    RecordedPayment,
    Resolution,
    new_marker,
    new_payment,
    payment_made,
)
from gateway.canonical.errors import FieldError
from gateway.canonical.model import Invoice, Payment
from gateway.canonical.totals import finer_than_currency
from gateway.errors import InvalidRequest, NotFound, PreconditionFailed
from gateway.service.outcomes import Outcome
from gateway.service.versions import version_tag
from gateway.write_calls import write_calls_var

NEW_DOCUMENT_ACTIONS = frozenset({"duplicate", "credit_note"})
# An entity-tag: an optional weakness mark, then any characters but a quote, quoted (a comma
# may be one of them); a list of them separated by commas, blanks around each allowed.
_TAG = re.compile(r'(?:W/)?"[^"]*"')
_TAG_LIST = re.compile(r'[ \t]*(?:W/)?"[^"]*"[ \t]*(?:,[ \t]*(?:W/)?"[^"]*"[ \t]*)*')


@dataclass
class _Write:
    """What every write shares: its adapter, and by default nothing to prepare."""

    adapter: Adapter
    idempotent: ClassVar[bool] = False  # PUT and DELETE: sending again converges
    gone_when_repeated: ClassVar[bool] = False  # a DELETE: a repeat after it landed is a 404
    makes_invoice: ClassVar[bool] = False  # a create: its invoice is kept with its key

    @property
    def connection(self) -> str:
        return self.adapter.connection.name

    @property
    def settle_s(self) -> float:
        return self.adapter.connection.write_settle_s

    @property
    def guarded(self) -> str | None:
        """The invoice whose ``If-Match`` this write checks before sending (None: it checks
        none), as ``_invoice_lock`` names it: the runner holds that invoice's lock from the
        check to the answer."""
        return None

    @property
    def serialized(self) -> str | None:
        """The invoice lock the runner holds while this write runs: ``guarded``'s, or, for a
        write that changes the invoice's payments (``_Guarded.changes_payments``), its
        invoice's always."""
        return self.guarded

    def prepared(self) -> dict[str, Any] | None:
        """What ``prepare`` would return, when it needs no provider call: the runner then
        claims the key with it at once (``Store.claim``'s ``sending``). None: ``prepare`` is
        awaited after the claim, so that a replay calls nothing. A write with nothing to
        prepare has it at once; one that prepares says here whether it can without a call."""
        return {} if type(self).prepare is _Write.prepare else None

    async def prepare(self) -> dict[str, Any]:
        return {}

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        raise NotImplementedError

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        return Resolution.not_done("an idempotent write is sent again as it is")


def _written(result: WriteResult, *, created: bool) -> Outcome:
    return Outcome("invoice", result.invoice, list(result.warnings), created=created)


def _outcome_of(resolution: Resolution, make: Any) -> Resolution:
    """``resolution`` with its result turned into an Outcome when the write was done (and so
    each judgement made again without some candidates, ``without``)."""
    if resolution.state == "done":
        resolution = dataclasses.replace(resolution, result=make(resolution.result))
    if resolution.without is not None:
        judged = resolution.without

        async def without(others: frozenset[str]) -> Resolution:
            return _outcome_of(await judged(others), make)

        resolution = dataclasses.replace(resolution, without=without)
    return resolution


@dataclass
class CreateInvoice(_Write):
    makes_invoice: ClassVar[bool] = True
    invoice: Invoice
    handling: Handling
    issued: bool = False  # made issued at once (``Adapter.create_issued``), not a draft
    # The marker it carries where its field is free (None: a new one): one its caller can
    # look for again after the key is forgotten (``marker_of``).
    marker: str | None = None

    def prepared(self) -> dict[str, Any] | None:
        return self.adapter.marker_recovery(self.invoice, self.marker or new_marker())

    async def prepare(self) -> dict[str, Any]:
        return await self.adapter.prepare_create(self.invoice, self.marker or new_marker())

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        marked = self.adapter.marked(self.invoice, recovery)
        create = self.adapter.create_issued if self.issued else self.adapter.create
        try:
            return _written(await create(marked, handling=self.handling), created=True)
        except InvalidRequest as exc:
            raise self.adapter.callers_lines(self.invoice, self.handling, exc) from None

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        found = await self.adapter.find_created(self.invoice, recovery, handling=self.handling)
        return _outcome_of(found, lambda result: _written(result, created=True))


def _invoice_lock(adapter: Adapter, invoice_id: str) -> str:
    """An invoice's lock, named as its provider's records know it (``Adapter.record_key``),
    whatever the connection or the spelling of its id."""
    return f"{adapter.connection.account} {adapter.record_key(invoice_id)}"


class _Guarded:
    """A write on one invoice that checks the caller's ``If-Match`` (its ``if_match``) before
    sending: the runner holds that invoice's lock from the check to the answer."""

    adapter: Adapter
    invoice_id: str
    if_match: str | None

    @property
    def guarded(self) -> str | None:
        return None if self.if_match is None else _invoice_lock(self.adapter, self.invoice_id)

    @property
    def serialized(self) -> str | None:
        if self.if_match is None and not self.changes_payments():
            return None
        return _invoice_lock(self.adapter, self.invoice_id)

    def changes_payments(self) -> bool:
        """Whether the write adds or takes away one of the invoice's payments. A payment's lost
        answer is looked up among the payments alike (same amount, date and reference), where
        a new one that another write is running to record cannot be told from this one's: no
        two such writes on one invoice run at once, with an If-Match or without one."""
        return False

    def _made(self, payment_id: str | None) -> str | None:
        """The payment this write recorded (``payment_id``), as the store keeps it as the
        write's (``payment_made``): another payment's lookup after a lost answer never takes
        it for its own (``judge_new_payments``)."""
        if payment_id is None:
            return None
        return payment_made(self.adapter.record_key(self.invoice_id), payment_id)

    async def _precondition(self) -> None:
        """412 unless the invoice is as ``If-Match`` says (read first only when it is given)."""
        if self.if_match is not None:
            _matches(await self.adapter.get(self.invoice_id), self.if_match, self.adapter.provider)


@dataclass
class ReplaceInvoice(_Guarded, _Write):
    """PUT: the writable fields replaced; ``If-Match`` checked against the current invoice."""

    invoice_id: str
    invoice: Invoice
    handling: Handling
    if_match: str | None
    idempotent: ClassVar[bool] = True

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        adapter, invoice, caps = self.adapter, self.invoice, self.adapter.capabilities
        uncarried = unrepresentable(invoice, caps, adapter.provider)
        # A body that names its document type where the provider has more than one is checked
        # against the document's: a PUT never turns a credit note into an invoice, or back.
        typed = caps.credit_notes and "document_type" in invoice.model_fields_set
        # The current invoice is read only when needed: to check If-Match, the type, so that
        # provider-owned values sent back unchanged pass instead of being refused, and so that
        # emptying a field the provider would keep is refused where it has a value.
        kept: list[WriteWarning] = []
        if self.if_match is not None or uncarried or typed or empties_kept(invoice, caps):
            current = await adapter.get(self.invoice_id)
            _matches(current, self.if_match, adapter.provider)
            _same_document_type(invoice, current, adapter.provider)
            kept = kept_on_update(invoice, current, caps, adapter.provider, self.handling)
            invoice = drop_unchanged(invoice, current, caps, adapter.provider)
        result = await adapter.update(self.invoice_id, invoice, handling=self.handling)
        if kept:
            result = WriteResult(result.invoice, [*kept, *result.warnings])
        return _written(result, created=False)


def _matches(current: Invoice, if_match: str | None, provider: str) -> None:
    """412 unless ``if_match`` names the invoice's ETag. What it says depends on what was sent:
    an ETag the invoice no longer has (it changed since it was read), or a value that is no
    ETag at all (a header written by hand: the invoice did not change)."""
    tag = version_tag(current)
    if if_match is None or if_match == "*" or tag in entity_tags(if_match):
        return
    if not _TAG_LIST.fullmatch(if_match):
        given = f"If-Match {if_match}" if if_match.strip() else "An empty If-Match"
        raise PreconditionFailed(
            f"{given} is no ETag, so it matches none: send the ETag a read of the invoice "
            f"answered, quotes included (it is {tag} now), or * for any.",
            provider=provider,
        )
    maybe = (
        " This key's earlier attempt, whose answer was lost, may have made that change: "
        "read the invoice again."
        if repeated()
        else ""
    )
    raise PreconditionFailed(
        f"The invoice changed: its ETag is {tag}, not {if_match}.{maybe}", provider=provider
    )


def repeated() -> bool:
    """Whether this write repeats a call whose answer was lost (``WriteCalls.repeated``)."""
    calls = write_calls_var.get()
    return calls is not None and calls.repeated


def entity_tags(if_match: str) -> list[str]:
    """The entity-tags an ``If-Match`` lists (RFC 9110: ``"a", W/"b"``, any of which may
    match); a value that is no such list is one tag as written, which matches nothing the
    gateway hands out."""
    if _TAG_LIST.fullmatch(if_match):
        return _TAG.findall(if_match)
    return [if_match]


def _same_document_type(invoice: Invoice, current: Invoice, provider: str) -> None:
    """422 when a replace says another document type than the document has (saying none is
    fine: the type stays the provider's)."""
    said = "document_type" in invoice.model_fields_set or invoice.document_type != "invoice"
    if said and invoice.document_type != current.document_type:
        detail = (
            f"is {current.document_type} at {provider}: a document's type cannot change "
            f"(send {current.document_type}, or leave document_type out)"
        )
        raise InvalidRequest(
            f"document_type {detail}", [FieldError("/document_type", detail)], provider=provider
        )


@dataclass
class DeleteInvoice(_Guarded, _Write):
    invoice_id: str
    if_match: str | None = None
    idempotent: ClassVar[bool] = True
    gone_when_repeated: ClassVar[bool] = True

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        try:
            await self._precondition()
            await self.adapter.delete(self.invoice_id)
        except NotFound:
            if not repeated():
                raise
            # An earlier DELETE's answer was lost (in this request, or the key's earlier
            # attempt) and the repeat finds no invoice: that DELETE (or another) took effect.
            # The invoice is gone, as asked.
        return Outcome("deleted")


@dataclass
class Act(_Guarded, _Write):
    """A state change; or a duplicate, made with ``inputs`` when the caller gave any."""

    invoice_id: str
    action: str
    inputs: DuplicateInputs | None = None
    # The invoice as the provider answered a read sent after its last write, when the caller
    # holds one: what finding out after a lost answer needs is then taken from it, unread.
    current: Invoice | None = None
    if_match: str | None = None  # the invoice's ETag the caller acts on, checked before sending

    def changes_payments(self) -> bool:
        return self.action == "mark_paid"  # a payment of what is due, where one is recorded

    async def prepare(self) -> dict[str, Any]:
        if self.inputs is not None:
            return await self.adapter.prepare_duplicate(self.invoice_id, self.inputs)
        if self.current is not None:
            known = self.adapter.prepare_action_from(self.current, self.action)
            if known is not None:
                return known
        return await self.adapter.prepare_action(self.invoice_id, self.action)

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        await self._precondition()
        before = recovery.get("before")
        reissue = self.action == "issue" and self.adapter.capabilities.reissue_accepted
        if reissue and before in ACTION_EFFECTS["issue"]:
            # Issued already (the status read before sending): a provider that would take it
            # again and answer as if it had issued it gets the 409 the others give.
            raise Conflict(
                f"{self.adapter.provider} invoice {self.invoice_id} is already issued (it is "
                f"{before}): issue takes a draft",
                provider=self.adapter.provider,
            )
        if self.inputs is not None:
            invoice = await self.adapter.duplicate(self.invoice_id, self.inputs)
        else:
            invoice = await self.adapter.act(self.invoice_id, self.action)
        return self._acted(invoice, recovery)

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        if self.inputs is not None:
            found = await self.adapter.find_duplicate(self.invoice_id, self.inputs, recovery)
        else:
            found = await self.adapter.find_action(self.invoice_id, self.action, recovery)
        return _outcome_of(found, lambda invoice: self._acted(invoice, recovery))

    def _acted(self, invoice: Invoice, recovery: dict[str, Any]) -> Outcome:
        """The answer; for ``mark_paid``, the payment it recorded (the one new since it was
        prepared) kept as its write's."""
        made = new_payment(invoice, recovery) if self.action == "mark_paid" else None
        created = self.action in NEW_DOCUMENT_ACTIONS
        return Outcome("invoice", invoice, created=created, made=self._made(made))


@dataclass
class RecordPayment(_Guarded, _Write):
    invoice_id: str
    payment: Payment
    if_match: str | None = None

    def changes_payments(self) -> bool:
        return True

    async def prepare(self) -> dict[str, Any]:
        return await self.adapter.prepare_payment(self.invoice_id, self.payment)

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        # Read first: a payment finer than the invoice's currency (1.001 USD) is a 422 here,
        # never sent for a provider to round; and If-Match is checked against the same read.
        current = await self.adapter.get(self.invoice_id)
        _matches(current, self.if_match, self.adapter.provider)
        too_fine = finer_than_currency("/amount", self.payment.amount, current.currency)
        required = self.adapter.payment_problems(self.payment.model_dump())
        if too_fine is not None:  # with what the provider requires, said at once
            more = f" (and {len(required)} more)" if required else ""
            raise InvalidRequest(
                f"amount {too_fine.detail}, the invoice's currency{more}", [too_fine, *required]
            )
        return self._recorded(await self.adapter.record_payment(self.invoice_id, self.payment))

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        found = await self.adapter.find_payment(self.invoice_id, self.payment, recovery)
        return _outcome_of(found, self._recorded)

    def _recorded(self, recorded: RecordedPayment) -> Outcome:
        """The answer, and the payment kept as this write's."""
        return Outcome(
            "invoice", recorded.invoice, created=True, made=self._made(recorded.payment_id)
        )


@dataclass
class DeletePayment(_Guarded, _Write):
    invoice_id: str
    payment_id: str
    if_match: str | None = None
    idempotent: ClassVar[bool] = True

    def changes_payments(self) -> bool:
        return True

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        if repeated():
            # An earlier DELETE's answer was lost: if the payment is gone, it took effect (and
            # moved the invoice's ETag itself, so the caller's If-Match is not checked again).
            current = await self.adapter.get(self.invoice_id)
            if all(str(payment.id) != self.payment_id for payment in current.payments):
                return Outcome("invoice", current)
        await self._precondition()
        try:
            invoice = await self.adapter.delete_payment(self.invoice_id, self.payment_id)
        except NotFound:
            if not repeated():
                raise
            # An earlier DELETE's answer was lost and the repeat finds no payment: that DELETE
            # (or another) took effect. The invoice as it now is (a 404 if it is gone too).
            invoice = await self.adapter.get(self.invoice_id)
        return Outcome("invoice", invoice)


@dataclass
class AddNote(_Guarded, _Write):
    invoice_id: str
    note: str
    files: tuple[NoteFile, ...] = ()
    if_match: str | None = None

    async def prepare(self) -> dict[str, Any]:
        return await self.adapter.prepare_note(self.invoice_id, self.note)

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        await self._precondition()
        note = await self.adapter.add_note(self.invoice_id, self.note, self.files)
        return Outcome("note", note=note, created=True)

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        found = await self.adapter.find_note(self.invoice_id, self.note, recovery)
        return _outcome_of(found, lambda note: Outcome("note", note=note, created=True))


@dataclass
class AttachToNote(_Guarded, _Write):
    """Files added to an existing note. Not idempotent (sent twice, the files are there twice)
    and, where no note can be read back, a lost answer cannot be told (502 uncertain)."""

    invoice_id: str
    note_id: str
    files: tuple[NoteFile, ...]
    text: str | None = None
    if_match: str | None = None

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        await self._precondition()
        note = await self.adapter.attach_to_note(
            self.invoice_id, self.note_id, self.files, self.text
        )
        return Outcome("note", note=note)

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        return Resolution.untellable(
            f"{self.adapter.provider} offers no way to read note {self.note_id} back"
        )


@dataclass
class ReplaceNoteText(_Guarded, _Write):
    """A note's text replaced, no file added: sent twice, the note holds the same text, so a
    lost answer is settled by sending it again."""

    invoice_id: str
    note_id: str
    text: str
    if_match: str | None = None
    idempotent: ClassVar[bool] = True

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        await self._precondition()
        note = await self.adapter.attach_to_note(self.invoice_id, self.note_id, (), self.text)
        return Outcome("note", note=note)


@dataclass
class InvoiceOrder(_Write):
    makes_invoice: ClassVar[bool] = True
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
