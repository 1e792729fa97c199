"""The draft_publish adapter: UUID invoices with a draft → publish lifecycle, payments, actions.

Paths, envelopes and rules: ``docs/providers/draft_publish.md``; field names and capabilities:
``mappings/draft_publish.yaml``; bodies and readings: ``wire.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from adapters.base import (
    Adapter,
    BatchResult,
    Conflict,
    CsvExport,
    Handling,
    InvalidRequest,
    ListedPage,
    ListedRow,
    ListQuery,
    NotFound,
    Page,
    PageNumbers,
    SummaryPage,
    UpstreamError,
    WriteResult,
    listed_id,
)
from adapters.draft_publish import collection, lost_answers, wire
from adapters.draft_publish.listing import StatusWalk
from adapters.line_limits import line_limit_errors
from adapters.paths import segment
from adapters.reference import configured_taxes, provider_field_values
from adapters.representable import line_count_errors
from adapters.resolution import RecordedPayment, Resolution
from adapters.unreadable import READ_ERRORS, identifier, invoice_label, the_one_asked, unreadable
from gateway.canonical.errors import FieldError, InvalidInvoice, pointer_to_path
from gateway.canonical.model import Invoice, Payment
from gateway.canonical.totals import calculate
from gateway.config import TaxSetting
from gateway.upstream import UpstreamResponse
from gateway.upstream_answers import read_refused, reading_a_create, reading_a_list

BASE = "/api/v1/invoices"

# Canonical action → the provider's action path segment.
ACTION_PATHS: dict[str, str] = {
    "issue": "publish",
    "unpublish": "unpublish",
    "mark_sent": "mark-sent",
    "send": "send",
    "void": "void",
    "mark_paid": "mark-paid",
    "duplicate": "duplicate",
    "credit_note": "credit-note",
}

# The provider's payment fields have the canonical payment's names.
PAYMENT_FIELDS = frozenset({"amount", "method", "reference", "date"})


@dataclass(frozen=True)
class _Rows:
    """One page of the provider's list as it sent it, its rows not yet translated."""

    rows: list[Any]
    next_page: str | None  # the walk's token for the next page
    total: int | None  # where the provider's total is the listing's


class DraftPublishAdapter(Adapter):
    provider: ClassVar[str] = "draft_publish"
    pages: ClassVar[PageNumbers] = PageNumbers(first=1)

    # -- reads ----------------------------------------------------------------------------------

    async def get(self, invoice_id: str) -> Invoice:
        response = await self.client.request("GET", _invoice_path(invoice_id))
        invoice = self._invoice(self._data(response, "read the invoice"))
        return the_one_asked(self.provider, invoice_id, invoice)

    async def list_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        fetched = await self._rows(query, page, page_size)
        if fetched is None:
            return Page([], None)  # no provider status means it
        invoices = [self._invoice(row) for row in fetched.rows]
        if query.status is not None:
            invoices = [invoice for invoice in invoices if invoice.status == query.status]
        if query.number is not None:
            # The provider's search also matches customer names; the canonical filter is the number.
            needle = query.number.casefold()
            invoices = [i for i in invoices if i.number and needle in i.number.casefold()]
        return Page(invoices, fetched.next_page, fetched.total)

    async def listed_page(
        self, query: ListQuery, page: str | None, page_size: int
    ) -> ListedPage | None:
        if query.status is not None or query.number is not None:
            return None  # narrowed after translating (``list_page``): every row is translated
        fetched = await self._rows(query, page, page_size)
        assert fetched is not None  # no status: one unfiltered listing
        rows = [
            ListedRow(self._issue_date(row), functools.partial(self._invoice, row), listed_id(row))
            for row in fetched.rows
        ]
        return ListedPage(rows, fetched.next_page, fetched.total)

    async def _rows(self, query: ListQuery, page: str | None, page_size: int) -> _Rows | None:
        """One page as the provider sent it, its rows not yet translated; None when no provider
        status means the query's."""
        walk = StatusWalk.of(self.mapping, query.status)
        if not walk.parts:
            return None
        part, number = walk.position(self.pages, page)
        # A larger limit is served at the maximum: asking for more would end the walk early.
        limit = self.served_size(page_size)
        params: dict[str, Any] = {"page": number, "limit": limit}
        if walk.parts[part] is not None:
            params["status"] = walk.parts[part]
        # One search parameter: the caller's search, else the number (narrowed by list_page).
        params.update(wire.filter_params(query, query.search or query.number))
        response = await self.client.request("GET", BASE, params=params)
        with reading_a_list("invoice"):
            body = self._body(response, "list invoices")
        rows, meta = self._list(body, "list invoices")
        next_page = self.pages.next_token(
            number,
            count=len(rows),
            page_size=_int(meta.get("limit")) or limit,
            total_pages=_int(meta.get("total_pages")),
            total=_int(meta.get("total")),
        )
        # The provider's total counts what it matched; not when the walk has parts or is narrowed.
        exact = len(walk.parts) == 1 and query.status != "unknown" and query.number is None
        total = _int(meta.get("total")) if exact else None
        return _Rows(rows, walk.token(self.pages, part, next_page), total)

    def later_pages(self, first: SummaryPage | ListedPage, page_size: int) -> list[str] | None:
        # Numbered pages, and the first says how many invoices the listing has (its total).
        return self.pages.after_first(first.next_page, first.total, self.served_size(page_size))

    # -- writes ---------------------------------------------------------------------------------

    def check_create(self, invoice: Invoice, handling: Handling) -> None:
        self._prepare(invoice, handling)

    async def create(self, invoice: Invoice, *, handling: Handling = "strict") -> WriteResult:
        body, warnings = self._prepare(invoice, handling)
        response = await self.client.request("POST", BASE, json=body)
        with reading_a_create():
            created = self._data(response, "create the invoice")
        try:
            which = created.get("id") if isinstance(created, dict) else None
            read = await self.get(identifier(which, "id"))
        except (ValueError, UpstreamError):
            # The invoice exists now: failing here would invite a second create. The create's
            # own answer is the whole invoice, as the provider stored it.
            read = self._invoice(created)
        return WriteResult(read, warnings)

    async def update(
        self,
        invoice_id: str,
        invoice: Invoice,
        *,
        handling: Handling = "strict",
    ) -> WriteResult:
        body, warnings = self._prepare(invoice, handling)
        response = await self.client.request("PUT", _invoice_path(invoice_id), json=body)
        self._data(response, "update the invoice")
        return WriteResult(await self.get(invoice_id), warnings)

    async def delete(self, invoice_id: str) -> None:
        response = await self.client.request("DELETE", _invoice_path(invoice_id))
        self._data(response, "delete the invoice")

    async def act(self, invoice_id: str, action: str) -> Invoice:
        if action not in self.capabilities.actions or action not in ACTION_PATHS:
            raise self._unsupported(action.replace("_", " ") + " invoices")
        path = f"{_invoice_path(invoice_id)}/{ACTION_PATHS[action]}"
        response = await self.client.request("POST", path)
        # Every action answers the invoice (duplicate and credit-note: the new document).
        return self._invoice(self._data(response, action.replace("_", " ") + " the invoice"))

    # -- payments -------------------------------------------------------------------------------

    async def list_payments(self, invoice_id: str) -> list[Payment]:
        path = f"{_invoice_path(invoice_id)}/payments"
        limit = self.capabilities.max_page_size
        payments: list[Payment] = []
        page: int | None = self.pages.first
        while page is not None:
            response = await self.client.request("GET", path, params={"page": page, "limit": limit})
            doing = "read the invoice's payments"
            rows, meta = self._list(self._body(response, doing), doing)
            payments += [self._parsed(wire.read_payment, row, "a payment") for row in rows]
            token = self.pages.next_token(
                page,
                count=len(rows),
                page_size=_int(meta.get("limit")) or limit,
                total_pages=_int(meta.get("total_pages")),
            )
            page = int(token) if token is not None else None
        return payments

    def payment_problems(self, payment: dict[str, Any]) -> list[FieldError]:
        if payment.get("method") is None:
            return [FieldError("/method", f"is required by {self.provider}")]
        return []

    async def record_payment(self, invoice_id: str, payment: Payment) -> RecordedPayment:
        problems = self.payment_problems(payment.model_dump())
        if problems:
            raise InvalidRequest(
                f"{self.provider} requires a payment method", problems, provider=self.provider
            )
        path = f"{_invoice_path(invoice_id)}/payments"
        response = await self.client.request("POST", path, json=wire.payment_body(payment))
        recorded = self._data(response, "record the payment", pointer=_payment_pointer)
        made = recorded.get("id")
        made = None if made is None else str(made)
        # Said plainly, and not retryable, so that nobody records the same payment again.
        invoice = await self.read_back(invoice_id, f"recorded payment {made} on")
        return RecordedPayment(invoice, made)

    async def delete_payment(self, invoice_id: str, payment_id: str) -> Invoice:
        path = f"{_invoice_path(invoice_id)}/payments/{segment(payment_id, what='payment id')}"
        response = await self.client.request("DELETE", path)
        return self._invoice(self._data(response, "delete the payment"))

    # -- the invoices as a whole (collection.py): next number, CSV export, batches, trash -----

    async def next_number(self) -> str:
        return await collection.next_number(self)

    def export_csv(self, query: ListQuery) -> AbstractAsyncContextManager[CsvExport]:
        return collection.export_csv(self, query)

    async def batch(self, action: str, ids: list[str]) -> BatchResult:
        if action not in self.capabilities.batch_actions:
            raise self._unsupported(f"{action.replace('_', ' ')} invoices in a batch")
        return await collection.batch(self, action, ids)

    async def trash_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        return await collection.trash_page(self, page, page_size)

    async def restore(self, invoice_id: str) -> Invoice:
        return await collection.restore(self, invoice_id)

    async def purge(self, invoice_id: str) -> None:
        await collection.purge(self, invoice_id)

    # -- lost answers (lost_answers.py; docs/providers/draft_publish.md, "Lost answers") --------

    async def prepare_action(self, invoice_id: str, action: str) -> dict[str, Any]:
        """The status (the default), or for a duplicate or a credit note the copies already
        there: ``lost_answers``."""
        return await lost_answers.prepare_action(self, invoice_id, action)

    async def find_action(
        self, invoice_id: str, action: str, recovery: dict[str, Any]
    ) -> Resolution:
        """By the status (the default), or for a duplicate or a credit note the one new copy:
        ``lost_answers``."""
        return await lost_answers.find_action(self, invoice_id, action, recovery)

    # -- helpers --------------------------------------------------------------------------------

    def _prepare(self, invoice: Invoice, handling: Handling) -> tuple[dict[str, Any], list[Any]]:
        """The body to send, after every check that needs no provider call (nothing is sent
        when one fails: all problems are reported at once)."""
        fitted, warnings = self.fit(invoice, handling)
        errors = self._required(fitted)
        errors += line_limit_errors(fitted, self.capabilities.line_limits, self.provider)
        provider_values: dict[str, Any] = {}
        taxes: list[list[TaxSetting]] = []
        try:
            provider_values = provider_field_values(fitted, self.mapping, self.connection)
        except InvalidRequest as exc:
            errors += exc.errors
        try:
            taxes = configured_taxes(fitted, self.connection)
        except InvalidRequest as exc:
            errors += exc.errors
        try:
            calculate(fitted, self.rounding)
        except InvalidInvoice as exc:  # an amount discount larger than the lines, say
            errors += exc.errors
        if errors:
            first = errors[0]
            raise InvalidRequest(
                f"{pointer_to_path(first.pointer)} {first.detail}", errors, provider=self.provider
            )
        return wire.invoice_body(fitted, self.mapping, taxes, provider_values), warnings

    def _required(self, invoice: Invoice) -> list[FieldError]:
        """What the provider requires and the canonical invoice may leave out."""
        need = f"is required by {self.provider}"
        errors = []
        if invoice.customer is None or invoice.customer.id is None:
            errors.append(FieldError("/customer/id", need))
        if invoice.issue_date is None:
            errors.append(FieldError("/issue_date", need))
        if invoice.due_date is None:
            errors.append(FieldError("/due_date", need))
        errors += line_count_errors(invoice, self.capabilities, self.provider)
        errors += [
            FieldError(f"/lines/{i}/description", need)
            for i, line in enumerate(invoice.lines)
            if line.kind == "item" and not (line.description or "").strip()
        ]
        return errors

    def _invoice(self, data: Any) -> Invoice:
        return self.read_once(data, lambda: self._translate(data))

    def _translate(self, data: Any) -> Invoice:
        invoice = self._parsed(
            lambda d: wire.read_invoice(d, self.mapping, self.connection), data, "an invoice"
        )
        return self.finish_read(invoice)

    def _issue_date(self, data: Any) -> date | None:
        """A listed row's issue date, read as its translation reads it."""
        issued: date | None = self._parsed(wire.issue_date, data, "an invoice")
        return issued

    def _parsed(self, read: Callable[[Any], Any], data: Any, what: str) -> Any:
        try:
            return read(data)
        except READ_ERRORS as exc:
            # The provider broke its own shape: retrying will not help, and nothing half-read
            # is returned.
            label = invoice_label(data.get("id")) if isinstance(data, dict) else what
            raise unreadable(self.provider, label if what == "an invoice" else what, exc) from None

    def _body(
        self,
        response: UpstreamResponse,
        doing: str,
        pointer: Callable[[str], str | None] | None = None,
    ) -> Any:
        if response.ok and isinstance(response.body, dict):
            return response.body
        if response.ok:
            raise UpstreamError(
                f"{self.provider} answered {response.status} without a JSON object to {doing}",
                provider=self.provider,
                status=response.status,
            )
        raise self._failure(response, doing, pointer or self.mapping.pointer_for)

    def _data(
        self,
        response: UpstreamResponse,
        doing: str,
        pointer: Callable[[str], str | None] | None = None,
    ) -> dict[str, Any]:
        data = self._body(response, doing, pointer).get("data")
        if not isinstance(data, dict):
            raise UpstreamError(
                f"{self.provider} answered {response.status} without data to {doing}",
                provider=self.provider,
                status=response.status,
            )
        return data

    def _list(self, body: dict[str, Any], doing: str) -> tuple[list[Any], dict[str, Any]]:
        rows, meta = body.get("data"), body.get("meta")
        if not isinstance(rows, list) or not isinstance(meta, dict):
            raise UpstreamError(
                f"{self.provider} answered a list without data and meta to {doing}",
                provider=self.provider,
            )
        return rows, meta

    def _failure(
        self, response: UpstreamResponse, doing: str, pointer: Callable[[str], str | None]
    ) -> Exception:
        """The provider's error envelope, as the error that says what to do next."""
        error = response.body.get("error") if isinstance(response.body, dict) else None
        error = error if isinstance(error, dict) else {}
        code = str(error.get("code") or "")
        message = str(error.get("message") or f"HTTP {response.status}")
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        says = f"{self.provider} could not {doing}: {message}"
        if response.status == 404:
            return NotFound(says, provider=self.provider)
        if refused := read_refused(response, says, provider=self.provider):
            return refused
        if response.status == 409:
            return Conflict(says + _detail_text(details), provider=self.provider)
        if code == "smtp_not_configured":
            return InvalidRequest(
                f"{says}. The {self.provider} account has no outgoing mail server: configure SMTP "
                f"in the {self.provider} account settings, or publish the invoice (issue) and "
                "share its public_url instead",
                provider=self.provider,
            )
        if response.status in (400, 422):
            errors: list[FieldError] = []
            unmapped: list[dict[str, Any]] = []
            for detail in details:
                where = pointer(str(detail.get("field", "")))
                if where is None:
                    unmapped.append(detail)
                else:
                    errors.append(FieldError(where, str(detail.get("message", ""))))
            return InvalidRequest(says + _detail_text(unmapped), errors, provider=self.provider)
        return UpstreamError(
            f"{says} (HTTP {response.status}{', ' + code if code else ''})",
            provider=self.provider,
            status=response.status,
        )


def _invoice_path(invoice_id: str) -> str:
    # Ids are UUIDs; anything else stays one segment, or is refused when it could be read as
    # another path (the provider's own next-number, batch, export and trash among them).
    return f"{BASE}/{segment(invoice_id, what='invoice id', reserved=collection.RESERVED)}"


def _payment_pointer(field: str) -> str | None:
    return f"/{field}" if field in PAYMENT_FIELDS else None


def _detail_text(details: list[dict[str, Any]]) -> str:
    if not details:
        return ""
    return " (" + "; ".join(f"{d.get('field')}: {d.get('message')}" for d in details) + ")"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
