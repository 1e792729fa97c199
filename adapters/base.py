"""The adapter contract: what every provider adapter offers, declares and raises.

Its errors live in ``gateway/errors.py`` (shared with the upstream client and the service layer),
and the values it takes and gives in ``adapters/shapes.py``; both are re-exported here, so that
an adapter or a use case imports the contract from one place.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from adapters.caller_lines import in_callers_lines, sent_lines
from adapters.fits import Fits
from adapters.pagination import PageNumbers, PagesContradict, PaginationLoop, walk
from adapters.read_cache import ReadCache
from adapters.read_limits import reads_at_once
from adapters.resolution import (
    RecordedPayment,
    Resolution,
    Walk,
    action_recovery,
    candidates,
    carries_marker,
    created_since,
    hide_marker,
    judge,
    judge_new_payments,
    looks_like,
    lookup_query,
    marker_room,
    matching_payment_ids,
    matching_payments,
    with_marker,
)
from adapters.shapes import (
    ACTION_EFFECTS,
    ACTIONS,
    BATCH_ACTIONS,
    DUPLICATE_INPUTS,
    FILTERS,
    OPERATIONS,
    PAYMENT_OPERATIONS,
    PROVIDER_FILTERS,
    SORTS,
    TRASH_OPERATIONS,
    BatchItem,
    BatchResult,
    Capabilities,
    CsvExport,
    DuplicateInputs,
    Handling,
    ListedPage,
    ListedRow,
    ListQuery,
    NoteFile,
    Page,
    SummaryPage,
    WriteResult,
    WriteWarning,
    listed_id,
)
from gateway.canonical.dates import utc_today
from gateway.canonical.errors import FieldError, pointer_to_path
from gateway.canonical.model import Invoice, Payment, RoundingPolicy, Tax
from gateway.canonical.order_invoice import OrderInvoice
from gateway.canonical.reconcile import reconcile
from gateway.errors import (
    READ_IT_FIRST,
    AdapterError,
    BadIdentifier,
    Conflict,
    InvalidRequest,
    NotFound,
    NotSupported,
    OutcomeUncertain,
    PreconditionFailed,
    ReadBackFailed,
    UnsupportedFields,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    annotate,
)

__all__ = [
    "ACTIONS",
    "ACTION_EFFECTS",
    "BATCH_ACTIONS",
    "DUPLICATE_INPUTS",
    "FILTERS",
    "OPERATIONS",
    "PAYMENT_OPERATIONS",
    "PROVIDER_FILTERS",
    "SORTS",
    "TRASH_OPERATIONS",
    "AdapterError",
    "BadIdentifier",
    "BatchItem",
    "BatchResult",
    "Capabilities",
    "Conflict",
    "CsvExport",
    "DuplicateInputs",
    "Handling",
    "InvalidRequest",
    "ListQuery",
    "ListedPage",
    "ListedRow",
    "NotFound",
    "NotSupported",
    "NoteFile",
    "OutcomeUncertain",
    "Page",
    "PageNumbers",
    "PagesContradict",
    "PaginationLoop",
    "PreconditionFailed",
    "ReadBackFailed",
    "SummaryPage",
    "UnsupportedFields",
    "UpstreamAuthFailed",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "WriteResult",
    "WriteWarning",
    "annotate",
    "listed_id",
    "walk",
]

if TYPE_CHECKING:
    from adapters.mapping import Mapping
    from gateway.config import Connection
    from gateway.upstream import UpstreamClient

T = TypeVar("T")

# -- the contract ------------------------------------------------------------------------------


class Adapter:
    """Translates canonical ⇄ one provider and calls it through the injected upstream client.

    Every operation a provider lacks raises ``NotSupported``; subclasses override what their
    provider can do and declare it in ``mappings/<provider>.yaml``. Adapters open no sockets.
    """

    provider: ClassVar[str]
    # Whether ``lookup_page`` lists the most recently created invoices first. A lookup then ends
    # at the first invoice made before the write began (``candidates``'s ``since``), so a
    # customer's older invoices cost no pages and "not there" is known from the first page.
    lookup_newest_first: ClassVar[bool] = False
    # Whether the provider's status is its only record of a payment: an invoice it states
    # paid, with no payment records and something still due by its figures, reads paid in full
    # (``totals.paid_source: status``; docs/canonical-invoice.md, "Status model").
    paid_by_status: ClassVar[bool] = False
    # Whether a line tax given by its rate alone is sent as the connection's tax of that rate
    # (its id), and so reads back named as that tax is: a preview names it so. crm_v1 keeps a
    # rate alone as a bare ``tax_rate``, read back unnamed.
    rate_taxes_by_id: ClassVar[bool] = True

    def __init__(
        self,
        client: UpstreamClient,
        connection: Connection,
        mapping: Mapping,
        *,
        today: Callable[[], date] = utc_today,
    ) -> None:
        self.client = client
        self.connection = connection
        self.mapping = mapping
        self.today = today
        self.reads = ReadCache()
        self.fits = Fits()

    def read_once(self, payload: Any, read: Callable[[], Invoice]) -> Invoice:
        """``read()`` of a provider payload, or the invoice it gave for the same payload today
        (``adapters.read_cache``): every adapter reads its invoices through here."""
        return self.reads.read(payload, self.today(), read)

    @property
    def capabilities(self) -> Capabilities:
        return self.mapping.capabilities

    @property
    def currencies(self) -> list[str] | None:
        """The currencies this connection's invoices can be in, where the provider takes only
        those its configuration names (``adapters.needs``: the account's, or those it names by
        its own ids); None where the gateway holds no such list (the provider's account may
        still refuse a currency, in its own words)."""
        from adapters.needs import NEEDS

        needs = NEEDS[self.provider]
        if needs.account_currency:
            return [self.connection.currency] if self.connection.currency else []
        return sorted(self.connection.currencies) if needs.currency_ids else None

    @property
    def rounding(self) -> RoundingPolicy:
        """The connection's declared policy, else the provider's own."""
        return self.connection.rounding or self.mapping.rounding

    def _unsupported(self, operation: str) -> NotSupported:
        return NotSupported(operation, provider=self.provider)

    def policy_for(self, invoice: Invoice) -> RoundingPolicy:
        """The rounding this invoice follows; providers whose policy varies by invoice override."""
        return self.rounding

    def record_key(self, invoice_id: str) -> str:
        """The invoice ``invoice_id`` names, as one key: ids the provider reads as the same
        invoice (``7`` and ``007`` where ids are numbers) give the same key. What a write that
        checks ``If-Match`` locks."""
        return invoice_id

    def finish_read(self, invoice: Invoice) -> Invoice:
        """Every invoice an adapter returns passes here: its dedupe marker hidden (it reads as
        it was written: ``resolution.hide_marker``), stamped, recomputed, checked."""
        return reconcile(
            hide_marker(invoice, self.mapping.dedupe.marker),
            self.policy_for(invoice),
            self.today(),
            paid_by_status=self.paid_by_status,
            stamp={"connection": self.connection.name, "provider": self.provider},
        )

    async def read_each(self, invoice_ids: Sequence[str]) -> dict[str, Invoice]:
        """The invoices of ``invoice_ids`` (list rows that are summaries), read concurrently
        within the connection's limits (``adapters.read_limits``); one deleted since it was
        listed is left out."""

        async def read(invoice_id: str) -> Invoice | None:
            try:
                return await self.get(invoice_id)
            except NotFound:
                return None  # deleted between the list and the read: no longer listed

        ids = list(dict.fromkeys(invoice_ids))
        found = await self.at_once([functools.partial(read, i) for i in ids])
        return {i: invoice for i, invoice in zip(ids, found, strict=True) if invoice is not None}

    async def at_once(self, calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        """Each call's answer, in order, the calls run concurrently within the connection's
        limits (at most ``adapters.read_limits.reads_at_once`` in flight); the first failure is
        raised and the calls still running are cancelled."""
        gate = asyncio.Semaphore(reads_at_once(self.connection))

        async def run(call: Callable[[], Awaitable[T]]) -> T:
            async with gate:
                return await call()

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(run(call)) for call in calls]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [task.result() for task in tasks]

    async def read_back(self, invoice_id: str, done: str) -> Invoice:
        """The invoice after a write that took effect (``done``: "created", "restored"…). A read
        that fails is ``ReadBackFailed``, never retryable: sending the write again would repeat
        it."""
        try:
            return await self.get(invoice_id)
        except AdapterError as exc:
            raise ReadBackFailed(
                f"{self.provider} {done} invoice {invoice_id}, but reading it back failed: "
                f"{exc.message}{READ_IT_FIRST}",
                provider=self.provider,
            ) from exc

    async def list_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        raise self._unsupported("list invoices")

    async def summary_page(self, query: ListQuery, page: str | None, page_size: int) -> SummaryPage:
        """One page as the provider lists it, in one call per page. This default serves
        providers whose list rows are full invoices: ``list_page``'s invoices as they are. An
        adapter whose rows are summaries overrides it to answer ``InvoiceSummary`` rows."""
        listed = await self.list_page(query, page, page_size)
        return SummaryPage(listed.invoices, listed.next_page, listed.total)

    def served_size(self, page_size: int) -> int:
        """The page size a list asks the provider for: ``page_size`` within 1 and the largest
        it serves (asking for more would be refused, or read as a short, final page)."""
        return max(1, min(page_size, self.capabilities.max_page_size))

    def later_pages(self, first: SummaryPage | ListedPage, page_size: int) -> list[str] | None:
        """The tokens of every page after ``first`` (a listing's first page, read at
        ``page_size``) when that page tells them, so that they can be read at once
        (``at_once``); None, the default: each page's next one is followed in turn."""
        return None

    async def listed_page(
        self, query: ListQuery, page: str | None, page_size: int
    ) -> ListedPage | None:
        """One page as ``list_page`` would list it, each row translated only when asked, in
        the same order and under the same tokens. None, the default: not offered, or not for
        ``query`` (a listing the adapter narrows after translating its rows must translate
        them all)."""
        return None

    async def get(self, invoice_id: str) -> Invoice:
        raise self._unsupported("read an invoice")

    async def create(self, invoice: Invoice, *, handling: Handling = "strict") -> WriteResult:
        raise self._unsupported("create invoices")

    async def create_issued(
        self, invoice: Invoice, *, handling: Handling = "strict"
    ) -> WriteResult:
        """The create, with the invoice issued (open) at once: where
        ``capabilities.create_issued`` says the provider's create can."""
        raise self._unsupported("create issued invoices")

    async def update(
        self,
        invoice_id: str,
        invoice: Invoice,
        *,
        handling: Handling = "strict",
    ) -> WriteResult:
        raise self._unsupported("update invoices")

    async def delete(self, invoice_id: str) -> None:
        raise self._unsupported("delete invoices")

    async def act(self, invoice_id: str, action: str) -> Invoice:
        """Run a state change (``issue``, ``void``…).

        ``duplicate`` and ``credit_note`` answer the new document; the others the invoice itself.
        """
        raise self._unsupported(action.replace("_", " ") + " invoices")

    async def duplicate(self, invoice_id: str, inputs: DuplicateInputs) -> Invoice:
        """A copy made with ``inputs`` (those ``capabilities.duplicate_inputs`` declares; the
        service refuses the others before this is called); answers the new document."""
        raise self._unsupported("duplicate invoices with other values")

    async def list_payments(self, invoice_id: str) -> list[Payment]:
        raise self._unsupported("list payments")

    async def record_payment(self, invoice_id: str, payment: Payment) -> RecordedPayment:
        raise self._unsupported("record payments")

    def payment_problems(self, payment: dict[str, Any]) -> list[FieldError]:
        """What the provider requires of a payment beyond the canonical model (a ``method``),
        read from the payment as given (a request's body, or a payment dumped): said with the
        body's own problems, before anything is sent."""
        return []

    async def delete_payment(self, invoice_id: str, payment_id: str) -> Invoice:
        raise self._unsupported("delete payments")

    async def add_note(self, invoice_id: str, note: str, files: Sequence[NoteFile] = ()) -> Any:
        """A new note with its files (at most ``capabilities.note_files``): every file kept."""
        raise self._unsupported("add notes")

    async def attach_to_note(
        self, invoice_id: str, note_id: str, files: Sequence[NoteFile], text: str | None = None
    ) -> Any:
        """Files added to an existing note (and its text replaced when given)."""
        raise self._unsupported("add files to an existing note")

    async def read_notes(self, invoice_id: str) -> list[Any]:
        raise self._unsupported("read notes back")

    async def read_note(self, invoice_id: str, note_id: str) -> Any:
        raise self._unsupported("read notes back")

    async def create_from_order(
        self, order_id: str, invoice: Invoice | None = None, *, handling: Handling = "strict"
    ) -> WriteResult:
        raise self._unsupported("create invoices from orders")

    async def check_order(self, order_id: str) -> None:
        """``NotFound`` when the provider says the order does not exist; nothing where it
        cannot tell (the create itself will)."""

    # -- the invoices as a whole: numbering, export, batches, the trash ------------------------

    async def next_number(self) -> str:
        """The number the provider will give the next invoice it creates."""
        raise self._unsupported("tell the next invoice number")

    def export_csv(self, query: ListQuery) -> AbstractAsyncContextManager[CsvExport]:
        """The provider's own CSV export of the invoices ``query`` selects, streamed."""
        raise self._unsupported("export invoices as CSV")

    async def batch(self, action: str, ids: list[str]) -> BatchResult:
        """``action`` (of ``BATCH_ACTIONS``) on every id, each succeeding or failing alone."""
        raise self._unsupported(f"{action.replace('_', ' ')} invoices in a batch")

    async def trash_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        """One page of the invoices in the trash (deleted, not yet purged)."""
        raise self._unsupported("list the trash")

    async def restore(self, invoice_id: str) -> Invoice:
        """Take an invoice out of the trash; answers it as it now reads."""
        raise self._unsupported("restore invoices from the trash")

    async def purge(self, invoice_id: str) -> None:
        """Delete an invoice in the trash for good."""
        raise self._unsupported("purge invoices from the trash")

    # -- finding out what a write did when its answer was lost (adapters/resolution.py) --------
    #
    # The service layer calls ``prepare_*`` before a non-idempotent write is sent and stores what
    # it returns (JSON) with the write's Idempotency-Key record; after a lost answer (in the same
    # request, or in a retry that takes over from a crashed gateway) it calls ``find_*`` with that
    # record. Providers override these where they can tell more than the defaults.

    async def lookup_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        """One page of invoices that may be a lost create; newest first where the provider can."""
        return await self.list_page(query, page, page_size)

    def lookup_since(self, started: Any) -> float | None:
        """Where a lookup may stop (``candidates``'s ``since``): the write's start, when
        ``lookup_page`` lists newest first and the start is known; else None (no early end)."""
        if not self.lookup_newest_first or isinstance(started, bool):
            return None
        return started if isinstance(started, int | float) else None

    def marker_recovery(self, invoice: Invoice, marker: str) -> dict[str, Any] | None:
        """What a create of ``invoice`` keeps to be found again, when that is its marker (the
        marker's field is free): chosen with no provider call, so before the key is claimed.
        None: the create needs ``prepare_create``."""
        path = self.mapping.dedupe.marker
        if path is None or not marker_room(invoice, path):
            return None
        # Whole seconds: the store keeps exact JSON, no floats.
        return {"marker": marker, "marker_field": path, "started_at": int(time.time())}

    async def prepare_create(self, invoice: Invoice, marker: str) -> dict[str, Any]:
        """Before a create is sent: its marker's field, or the look-alikes already there."""
        marked = self.marker_recovery(invoice, marker)
        if marked is not None:
            return marked
        started = int(time.time())
        existing: list[str] = []
        walk = Walk()
        # Compared as it would be sent: what lenient handling drops is never found again.
        sent, _ = self.as_sent(invoice, "lenient")
        query = lookup_query(sent, self.mapping.dedupe, self.today())
        since = self.lookup_since(started)
        async for candidate in candidates(self, query, self.mapping.dedupe, walk, since=since):
            if candidate.id is not None and looks_like(sent, candidate):
                existing.append(candidate.id)
        return {"existing": existing, "complete": walk.complete, "started_at": started}

    def fit(self, invoice: Invoice, handling: Handling) -> tuple[Invoice, list[WriteWarning]]:
        """``representable.fit`` for this provider: ``invoice`` as the provider can carry it
        and what lenient handling dropped; computed once per invoice object (``Fits``)."""
        from adapters.representable import fit

        return self.fits.fit(
            invoice,
            handling,
            lambda: fit(invoice, self.capabilities, self.provider, handling, self.tax_name),
        )

    def tax_name(self, tax: Tax) -> str | None:
        """The name this provider gives ``tax``: its configured tax's (by id, else by rate and
        name), the name a read of the invoice shows; None where none is configured."""
        from adapters.reference import configured_tax

        setting = configured_tax(tax, self.connection)
        return setting.name if setting is not None else None

    def check_create(self, invoice: Invoice, handling: Handling) -> None:
        """Every check the create makes before it sends anything, with no provider call: raises
        what the create would raise for ``invoice`` (a dry run's answer). Adapters whose create
        checks more than the fit (references, the account's currency, required fields) say so
        by overriding it with the same code their create runs."""
        self.fit(invoice, handling)

    def refuse_marker_lookalikes(self, invoice: Invoice | OrderInvoice) -> None:
        """422 for a caller's value that every read would hide as the dedupe marker
        (``resolution.marker_lookalikes``), before anything is sent."""
        from adapters.resolution import marker_lookalikes

        errors = marker_lookalikes(invoice, self.mapping.dedupe.marker)
        if errors:
            raise InvalidRequest(
                f"{pointer_to_path(errors[0].pointer)} {errors[0].detail}",
                errors,
                provider=self.provider,
            )

    def callers_lines(
        self, invoice: Invoice, handling: Handling, error: InvalidRequest
    ) -> InvalidRequest:
        """``error``, a refusal of ``invoice`` as sent under ``handling``, pointing at the
        caller's own lines where lenient handling dropped some (``adapters.caller_lines``)."""
        if handling != "lenient":
            return error
        _, warnings = self.as_sent(invoice, handling)
        return in_callers_lines(error, sent_lines(len(invoice.lines), [w.field for w in warnings]))

    def as_sent(self, invoice: Invoice, handling: Handling) -> tuple[Invoice, list[WriteWarning]]:
        """``invoice`` as a create sends it under ``handling`` (fields lenient handling drops are
        gone), with its warnings; as it is when the create would refuse it."""
        try:
            return self.fit(invoice, handling)
        except AdapterError:
            return invoice, []

    def marked(self, invoice: Invoice, recovery: dict[str, Any]) -> Invoice:
        """The invoice to send: with the marker in its field when ``prepare_create`` chose one."""
        path, marker = recovery.get("marker_field"), recovery.get("marker")
        if not (isinstance(path, str) and isinstance(marker, str)):
            return invoice
        marked = with_marker(invoice, path, marker)
        if path.startswith("provider_fields.") or path in self.capabilities.fields:
            # A field the provider carries: the marked invoice fits as the invoice did.
            self.fits.marked(invoice, marked, lambda fitted: with_marker(fitted, path, marker))
        return marked

    async def find_created(
        self, invoice: Invoice, recovery: dict[str, Any], *, handling: Handling = "strict"
    ) -> Resolution:
        """Whether the create ``recovery`` describes made an invoice, and which.

        ``invoice`` is what the caller asked for (without the marker).
        """
        plan = self.mapping.dedupe
        sent, warnings = self.as_sent(invoice, handling)
        path, marker = recovery.get("marker_field"), recovery.get("marker")
        existing = set(recovery.get("existing", []))
        started = recovery.get("started_at")
        query = lookup_query(sent, plan, self.today())
        walk = Walk()
        matches: list[Invoice] = []
        try:
            since = self.lookup_since(started)
            async for candidate in candidates(self, query, plan, walk, since=since):
                if isinstance(path, str) and isinstance(marker, str):
                    if carries_marker(candidate, path, marker):
                        matches.append(candidate)
                elif (
                    candidate.id not in existing
                    and looks_like(sent, candidate)
                    and created_since(candidate, started)
                ):
                    matches.append(candidate)
        except AdapterError as exc:
            return Resolution.failed("looking for the invoice", exc)
        how = f"the invoice with marker {marker} in {path}" if marker else "an invoice like it"
        return judge(
            self.provider,
            matches,
            walk,
            looked_for=how,
            sure=bool(marker) or recovery.get("complete") is True,
            result=lambda found: WriteResult(found, warnings),
        )

    async def prepare_action(self, invoice_id: str, action: str) -> dict[str, Any]:
        """Before a state change is sent: the status it starts from (and, for ``mark_paid``,
        the ids of the payments it has: ``action_recovery``)."""
        if action not in ACTION_EFFECTS:
            return {}
        return action_recovery(await self.get(invoice_id), action)

    def prepare_action_from(self, current: Invoice, action: str) -> dict[str, Any] | None:
        """``prepare_action``'s record taken from a read of the invoice the caller holds (the
        provider's answer to a read sent after its last write), instead of a read of its own;
        None where that is not enough (the provider's own status value, a list of copies)."""
        if action not in ACTION_EFFECTS:
            return None
        return action_recovery(current, action)

    async def find_action(
        self, invoice_id: str, action: str, recovery: dict[str, Any]
    ) -> Resolution:
        """Whether a state change took effect: the invoice's status now tells, where it can."""
        effects = ACTION_EFFECTS.get(action)
        if effects is None:
            return Resolution.untellable(
                f"{self.provider} offers no way to tell whether {action} made a new document"
            )
        try:
            current = await self.get(invoice_id)
        except AdapterError as exc:
            return Resolution.failed(f"reading invoice {invoice_id} back", exc)
        before = recovery.get("before")
        if before in effects:
            return Resolution.untellable(
                f"invoice {invoice_id} was already {before}; its status cannot tell "
                f"whether {action} ran"
            )
        if current.status in effects:
            return Resolution.done(current, f"invoice {invoice_id} is now {current.status}")
        if current.status == before:
            return Resolution.not_done(f"invoice {invoice_id} is still {current.status}")
        return Resolution.unknown(
            f"invoice {invoice_id} went from {before} to {current.status}, not by {action}"
        )

    async def prepare_duplicate(self, invoice_id: str, inputs: DuplicateInputs) -> dict[str, Any]:
        """Before a duplicate with inputs is sent: by default, what a plain one keeps."""
        return await self.prepare_action(invoice_id, "duplicate")

    async def find_duplicate(
        self, invoice_id: str, inputs: DuplicateInputs, recovery: dict[str, Any]
    ) -> Resolution:
        return await self.find_action(invoice_id, "duplicate", recovery)

    async def prepare_payment(self, invoice_id: str, payment: Payment) -> dict[str, Any]:
        """Before a payment is recorded: the payments like it the invoice already has, by the
        provider's ids (how many, where one has none)."""
        payments = await self._payments(invoice_id)
        ids = matching_payment_ids(payments, payment)
        if ids is None:
            return {"matching": matching_payments(payments, payment)}
        return {"ids": ids}

    async def find_payment(
        self, invoice_id: str, payment: Payment, recovery: dict[str, Any]
    ) -> Resolution:
        """The payments like it that are new since it was sent: by id where the ids were
        kept (``judge_new_payments``, which lets another key's be told apart), else counted."""
        try:
            payments = await self._payments(invoice_id)
            before_ids, now_ids = recovery.get("ids"), matching_payment_ids(payments, payment)
            if isinstance(before_ids, list) and now_ids is not None:
                known = set(before_ids)
                new = [found for found in now_ids if found not in known]
                if not new:
                    return Resolution.not_done(f"invoice {invoice_id} has no new payment like it")
                invoice = await self.get(invoice_id)
                return judge_new_payments(
                    invoice_id, invoice, new, record=self.record_key(invoice_id)
                )
            # Counted: a key kept by an earlier version, or a payment alike that has no id.
            now = matching_payments(payments, payment)
            before = len(before_ids) if isinstance(before_ids, list) else recovery.get("matching")
            if not isinstance(before, int):
                return Resolution.unknown("no count of the invoice's payments was kept")
            if now == before + 1:
                invoice = await self.get(invoice_id)
                return Resolution.done(
                    RecordedPayment(invoice, None), f"invoice {invoice_id} has the payment"
                )
        except AdapterError as exc:
            return Resolution.failed("reading the payments back", exc)
        if now == before:
            return Resolution.not_done(f"invoice {invoice_id} has no new payment like it")
        return Resolution.unknown(
            f"invoice {invoice_id} has {now - before} new payments like it, not one"
        )

    async def _payments(self, invoice_id: str) -> list[Payment]:
        if "list" in self.capabilities.payments:
            return await self.list_payments(invoice_id)
        return (await self.get(invoice_id)).payments

    async def prepare_note(self, invoice_id: str, note: str) -> dict[str, Any]:
        return {}

    async def find_note(self, invoice_id: str, note: str, recovery: dict[str, Any]) -> Resolution:
        return Resolution.untellable(f"{self.provider} offers no way to list an invoice's notes")

    async def prepare_order_invoice(self, order_id: str) -> dict[str, Any]:
        return {}

    async def find_order_invoice(
        self,
        order_id: str,
        invoice: Invoice | None,
        recovery: dict[str, Any],
        *,
        handling: Handling = "strict",
    ) -> Resolution:
        return Resolution.untellable(
            f"{self.provider} offers no way to find the invoice made from order {order_id}"
        )
