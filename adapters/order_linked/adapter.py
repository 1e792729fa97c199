"""The order_linked adapter: invoices created alone or from a sales order, cancelled (void) and
reactivated, annotated with notes and files. The provider has no update and no delete.

Paths, envelopes and rules: ``docs/providers/order_linked.md``; field names, status tables and
capabilities: ``mappings/order_linked.yaml``; bodies and readings: ``wire.py``; what a write must
satisfy, and what the provider did differently from what was asked: ``checks.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

import aiohttp

from adapters.base import (
    Adapter,
    AdapterError,
    Conflict,
    Handling,
    InvalidRequest,
    ListedPage,
    ListedRow,
    ListQuery,
    NoteFile,
    NotFound,
    Page,
    PageNumbers,
    SummaryPage,
    UpstreamError,
    WriteResult,
    WriteWarning,
    listed_id,
)
from adapters.line_limits import line_limit_errors
from adapters.order_linked import checks, lost_answers, orders, wire
from adapters.paths import segment
from adapters.reference import configured_taxes, provider_field_values
from adapters.representable import line_count_errors
from adapters.resolution import Resolution
from adapters.unreadable import READ_ERRORS, invoice_label, the_one_asked, unreadable
from gateway.canonical.errors import FieldError, pointer_to_path
from gateway.canonical.model import Invoice
from gateway.config import TaxSetting
from gateway.upstream import UpstreamResponse
from gateway.upstream_answers import (
    UnusableAnswer,
    read_refused,
    reading_a_create,
    reading_a_list,
)

# Canonical action → the provider's path segment, and the verb for messages.
ACTION_PATHS: dict[str, tuple[str, str]] = {
    "void": ("cancel", "cancel"),
    "reactivate": ("reactivate", "reactivate"),
}


# The provider answered something the adapter cannot read; asking again will not help. One
# error for every adapter (``adapters/unreadable.py``).
UnreadableAnswer = UnusableAnswer


@dataclass(frozen=True)
class _Listing:
    """One page of ``GET /invoices`` as read: its invoices, and what its pagination says."""

    invoices: list[Invoice]
    rows: int  # rows the provider sent (the status filter may have kept fewer invoices)
    per_page: int  # the page size the provider served
    total: int | None  # invoices matching the query in all


@dataclass
class _Rows:
    """One page of ``GET /invoices`` as the provider sent it, its rows not yet translated."""

    rows: list[Any]
    per_page: int  # the page size the provider served
    total: int | None  # invoices matching the query in all


class OrderLinkedAdapter(Adapter):
    provider: ClassVar[str] = "order_linked"
    pages: ClassVar[PageNumbers] = PageNumbers(first=1)
    lookup_newest_first: ClassVar[bool] = True  # the pages read from the last back (lookup_page)

    # -- reads ----------------------------------------------------------------------------------

    async def get(self, invoice_id: str) -> Invoice:
        response = await self.client.request("GET", _invoice_path(invoice_id))
        invoice = self._invoice(self._answer(response, f"read invoice {invoice_id}"))
        return the_one_asked(self.provider, invoice_id, invoice)

    async def list_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        number = self.pages.number(page)
        listing = await self._listing(query, number, page_size)
        next_page = self.pages.next_token(
            number, count=listing.rows, page_size=listing.per_page, total=listing.total
        )
        return Page(invoices=listing.invoices, next_page=next_page, total=listing.total)

    def later_pages(self, first: SummaryPage | ListedPage, page_size: int) -> list[str] | None:
        # Numbered pages, and the first says how many invoices the listing has (its total).
        return self.pages.after_first(first.next_page, first.total, self.served_size(page_size))

    async def lookup_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        """Newest first. The provider lists oldest first (creation order) and has no sort, so
        a lookup reads its pages from the last one back, each reversed; the first call learns
        which page is the last from the first page's ``pagination.total``. Pages are stable
        (invoices are never deleted, new ones go at the end), so none is missed or repeated."""
        if page is None:
            first = await self._listing(query, 1, page_size)
            if first.total is None:
                raise UnreadableAnswer(
                    f"{self.provider} listed invoices without a total: the newest cannot be found",
                    provider=self.provider,
                )
            number = max(1, -(-first.total // first.per_page))
            listing = first if number == 1 else await self._listing(query, number, page_size)
        else:
            number = self.pages.number(page)
            listing = await self._listing(query, number, page_size)
        following = str(number - 1) if number > 1 else None
        return Page(invoices=list(reversed(listing.invoices)), next_page=following)

    async def _listing(self, query: ListQuery, number: int, page_size: int) -> _Listing:
        fetched = await self._rows(query, number, page_size)
        # Each row is the full invoice, as GET /invoices/{id} answers it: nothing to fetch.
        invoices = [self._invoice(row) for row in fetched.rows]
        if query.status is not None:
            # Canonical open is ACTIVE and not PAID; the provider narrows to ACTIVE only.
            invoices = [invoice for invoice in invoices if invoice.status == query.status]
        return _Listing(
            invoices=invoices,
            rows=len(fetched.rows),
            per_page=fetched.per_page,
            total=fetched.total,
        )

    async def listed_page(
        self, query: ListQuery, page: str | None, page_size: int
    ) -> ListedPage | None:
        if query.status is not None:
            return None  # narrowed after translating (``_listing``): every row is translated
        number = self.pages.number(page)
        fetched = await self._rows(query, number, page_size)
        rows = [
            ListedRow(self._issue_date(row), functools.partial(self._invoice, row), listed_id(row))
            for row in fetched.rows
        ]
        following = self.pages.next_token(
            number, count=len(fetched.rows), page_size=fetched.per_page, total=fetched.total
        )
        return ListedPage(rows, following, fetched.total)

    async def _rows(self, query: ListQuery, number: int, page_size: int) -> _Rows:
        # A larger page is served at the maximum: asking for more is a 400 there.
        per_page = self.served_size(page_size)
        params: dict[str, Any] = {"page": number, "per_page": per_page}
        if query.status is not None:
            narrowing = wire.status_query(self.mapping, query.status)
            if narrowing is None:
                # No provider value means it (draft): nothing to ask for.
                return _Rows(rows=[], per_page=per_page, total=0)
            params.update(narrowing)
        if query.customer_id is not None:
            params["account_id"] = query.customer_id
        response = await self.client.request("GET", "/invoices", params=params)
        with reading_a_list("invoice"):
            body = self._body(response, "list invoices")
        rows = body.get("invoices") if isinstance(body, dict) else None
        pagination = body.get("pagination") if isinstance(body, dict) else None
        if not isinstance(rows, list) or not isinstance(pagination, dict):
            raise self._unreadable("list invoices", "without invoices and pagination", response)
        return _Rows(
            rows=rows,
            per_page=_int(pagination.get("per_page")) or per_page,
            total=_int(pagination.get("total")),
        )

    # -- writes ---------------------------------------------------------------------------------

    def check_create(self, invoice: Invoice, handling: Handling) -> None:
        self.prepare(self.fit(invoice, handling)[0])

    async def create(self, invoice: Invoice, *, handling: Handling = "strict") -> WriteResult:
        fitted, warnings = self.fit(invoice, handling)
        body, taxes = self.prepare(fitted)
        if fitted.order_id is not None:
            await self._check_linked(fitted, fitted.order_id)
        response = await self.client.request("POST", "/invoices", json=body)
        # The answer is the complete invoice (documented): no second call that could fail after
        # the invoice exists.
        with reading_a_create():
            created = self._invoice(self._answer(response, "create the invoice"))
        return WriteResult(
            created, warnings + checks.tax_warnings(self.provider, fitted, taxes, created)
        )

    async def create_from_order(
        self, order_id: str, invoice: Invoice | None = None, *, handling: Handling = "strict"
    ) -> WriteResult:
        """The doc's body is ``invoice_note`` alone: the order sets the rest. A body that sets
        any of the order's values is compared with the order, read first (so an unknown order
        is a 404 whatever the body): the same value passes, another is refused (strict) or
        dropped with a warning (lenient), naming the order's value (``orders.py``)."""
        path = f"/orders/{segment(order_id, what='order id')}/invoices"
        warnings: list[WriteWarning] = []
        taxes: list[list[TaxSetting]] | None = None
        if invoice is not None:
            errors = checks.date_errors(invoice, self.provider)
            if invoice.order_id is not None and invoice.order_id != order_id:
                errors.append(
                    FieldError("/order_id", f"is {invoice.order_id}, but the order is {order_id}")
                )
            try:
                taxes = orders.given_taxes(invoice, self.connection)
            except InvalidRequest as exc:
                errors += exc.errors
            if errors or orders.needs_order(invoice):
                order = await self.read_order(order_id)  # an unknown order: 404, first
                if errors:
                    raise self._invalid(errors)
                problems = orders.against_order(invoice, order, self.capabilities, self.provider)
                warnings = orders.refused_or_dropped(problems, handling, self.provider)
        response = await self.client.request("POST", path, json=wire.order_invoice_body(invoice))
        created = self._invoice(self._answer(response, f"invoice order {order_id}"))
        if invoice is not None and not any(w.field == "/lines" for w in warnings):
            warnings += orders.tax_warnings(self.provider, invoice, taxes, created)
        if invoice is not None:
            warnings += orders.not_taken(self.provider, invoice, created)
        return WriteResult(created, warnings)

    async def _check_linked(self, invoice: Invoice, order_id: str) -> None:
        """An invoice linked to an order is in the order's currency and price mode. An unknown
        order is the provider's to refuse, in its own words."""
        try:
            order = await self.read_order(order_id)
        except NotFound:
            return
        problems = orders.linked_problems(invoice, order)
        if problems:
            raise self._invalid(problems)

    async def check_order(self, order_id: str) -> None:
        await self.read_order(order_id)

    async def read_order(self, order_id: str) -> orders.OrderFacts:
        """``GET /orders/{id}`` (assumed): what an invoice made from the order takes from it."""
        path = f"/orders/{segment(order_id, what='order id')}"
        response = await self.client.request("GET", path)
        try:
            return orders.read_order(
                order_id, self._body(response, f"read order {order_id}"), self.connection
            )
        except orders.OrderUnreadable as exc:
            raise self._unreadable(f"read order {order_id}", str(exc), response) from None

    async def act(self, invoice_id: str, action: str) -> Invoice:
        if action not in self.capabilities.actions or action not in ACTION_PATHS:
            raise self._unsupported(action.replace("_", " ") + " invoices")
        segment, verb = ACTION_PATHS[action]
        response = await self.client.request("POST", f"{_invoice_path(invoice_id)}/{segment}")
        return self._invoice(self._answer(response, f"{verb} invoice {invoice_id}"))

    # -- notes ----------------------------------------------------------------------------------

    async def add_note(
        self, invoice_id: str, note: str, files: Sequence[NoteFile] = ()
    ) -> dict[str, Any]:
        """``POST /invoices/{id}/notes`` with ``note`` and at most one ``file`` (the doc's create
        takes "a file"; more go to the note afterwards, ``attach_to_note``). The answer names
        the new note (its uuid)."""
        errors = []
        if not note.strip():
            errors.append(FieldError("/note", "is required and must not be blank"))
        if len(files) > self.capabilities.note_files:
            errors.append(self.too_many_files(len(files)))
        if errors:
            raise self._invalid(errors)
        form = _form()
        form.add_field("note", note)
        _add_files(form, files)
        path = f"{_invoice_path(invoice_id)}/notes"
        response = await self.client.request("POST", path, data=form)
        self._refuse_too_large(response, files)
        notes = self._notes(response, f"add a note to invoice {invoice_id}")
        uuid = notes.get("uuid")
        if not isinstance(uuid, str):
            raise self._unreadable("add a note", "without the note's uuid", response)
        return _note(uuid, note, [{"name": f.filename} for f in files])

    def _refuse_too_large(self, response: UpstreamResponse, files: Sequence[NoteFile]) -> None:
        """A 413 to a note with files: they made the request larger than the provider takes (a
        limit of its own, which a file under the gateway's may pass), said of ``/file``."""
        if response.status == 413 and files:
            _, message = wire.error_of(response.body)
            said = f" ({message})" if message else ""
            detail = f"made the request larger than {self.provider} takes{said}: send less"
            raise self._invalid([FieldError("/file", detail)])

    def too_many_files(self, count: int) -> FieldError:
        limit = self.capabilities.note_files
        return FieldError(
            "/file",
            f"{self.provider} takes at most {limit} file(s) when a note is created, not {count}: "
            "add the others to the note afterwards (POST …/notes/{note_id}/files)",
        )

    async def attach_to_note(
        self, invoice_id: str, note_id: str, files: Sequence[NoteFile], text: str | None = None
    ) -> dict[str, Any]:
        """``POST /invoices/{id}/notes/{uuid}``: more files, and new text when given (the answer
        lists every file of the note)."""
        if (text is None or not text.strip()) and not files:
            raise self._invalid([FieldError("/file", "give at least one file (or new text)")])
        form = _form()
        if text is not None and text.strip():
            form.add_field("text", text)
        _add_files(form, files)
        path = f"{_invoice_path(invoice_id)}/notes/{segment(note_id, what='note id')}"
        response = await self.client.request("POST", path, data=form)
        self._refuse_too_large(response, files)
        notes = self._notes(response, f"add to note {note_id} of invoice {invoice_id}")
        listed = notes.get("files")
        content = notes.get("content")
        if not isinstance(listed, list) or not isinstance(content, str):
            raise self._unreadable("add to a note", "without its content and files", response)
        return _note(note_id, content, listed)

    # -- lost answers (lost_answers.py; docs/providers/order_linked.md, "Lost answers") ---------

    async def prepare_create(self, invoice: Invoice, marker: str) -> dict[str, Any]:
        """The generic preparation, on what is sent: ``lost_answers``."""
        return await lost_answers.prepare_create(self, invoice, marker)

    async def find_created(
        self, invoice: Invoice, recovery: dict[str, Any], *, handling: Handling = "strict"
    ) -> Resolution:
        """The generic lookup, on what was sent, with the create's warnings: ``lost_answers``."""
        return await lost_answers.find_created(self, invoice, recovery, handling=handling)

    async def prepare_order_invoice(self, order_id: str) -> dict[str, Any]:
        """The order's invoices made in the last minutes: ``lost_answers``."""
        return await lost_answers.prepare_order_invoice(self, order_id)

    async def find_order_invoice(
        self,
        order_id: str,
        invoice: Invoice | None,
        recovery: dict[str, Any],
        *,
        handling: Handling = "strict",
    ) -> Resolution:
        """The one new invoice naming ``order_id``: ``lost_answers``."""
        return await lost_answers.find_order_invoice(
            self, order_id, invoice, recovery, handling=handling
        )

    # -- checks before sending ------------------------------------------------------------------

    def prepare(self, invoice: Invoice) -> tuple[dict[str, Any], list[list[TaxSetting]]]:
        """The body to send, after every check that needs no provider call; all problems are
        reported at once, and nothing is sent when there is one."""
        errors = checks.required(invoice, self.provider, self.connection)
        errors += line_limit_errors(invoice, self.capabilities.line_limits, self.provider)
        errors += line_count_errors(invoice, self.capabilities, self.provider)
        values: dict[str, Any] = {}
        taxes: list[list[TaxSetting]] = []
        try:
            values = provider_field_values(invoice, self.mapping, self.connection)
        except InvalidRequest as exc:
            errors += exc.errors
        errors += checks.custom_attributes(values.get("custom_attributes"), self.provider)
        try:
            taxes = configured_taxes(invoice, self.connection)
        except InvalidRequest as exc:
            errors += exc.errors
        if errors:
            raise self._invalid(errors)
        return wire.invoice_body(invoice, values.get("custom_attributes")), taxes

    # -- answers --------------------------------------------------------------------------------

    def _invoice(self, raw: dict[str, Any]) -> Invoice:
        return self.read_once(raw, lambda: self._translate(raw))

    def _translate(self, raw: dict[str, Any]) -> Invoice:
        invoice: Invoice = self._read(
            lambda: wire.read_invoice(raw, self.connection, self.mapping), raw
        )
        return self.finish_read(invoice)

    def _issue_date(self, raw: Any) -> date | None:
        """A listed row's issue date, read as its translation reads it."""
        issued: date | None = self._read(lambda: wire.issue_date(raw), raw)
        return issued

    def _read(self, read: Callable[[], Any], raw: Any) -> Any:
        """``read()`` of the provider invoice ``raw``; the provider's broken shape is an unusable
        answer naming the invoice."""
        try:
            return read()
        except READ_ERRORS as exc:
            which = raw.get("id") if isinstance(raw, dict) else None
            raise unreadable(self.provider, invoice_label(which), exc) from None

    def _answer(self, response: UpstreamResponse, doing: str) -> dict[str, Any]:
        """The ``invoice`` object of a successful answer."""
        body = self._body(response, doing)
        invoice = body.get("invoice") if isinstance(body, dict) else None
        if not isinstance(invoice, dict):
            raise self._unreadable(doing, "without an invoice", response)
        return invoice

    def _notes(self, response: UpstreamResponse, doing: str) -> dict[str, Any]:
        invoice = self._answer(response, doing)
        notes = invoice.get("notes")
        if not isinstance(notes, dict):
            raise self._unreadable(doing, "without its notes object", response)
        return notes

    def _body(self, response: UpstreamResponse, doing: str) -> Any:
        if response.ok:
            return response.body
        raise self._failure(response, doing)

    def _failure(self, response: UpstreamResponse, doing: str) -> AdapterError:
        """The provider's refusal as the adapter error saying what the caller should do next."""
        _, message = wire.error_of(response.body)
        text = f"{self.provider} could not {doing}: {message or f'HTTP {response.status}'}"
        if response.status == 404:
            return NotFound(text, provider=self.provider)
        if refused := read_refused(response, text, provider=self.provider):
            return refused
        if response.status == 409:
            return Conflict(text, provider=self.provider)
        if response.status in (400, 413, 422):
            return InvalidRequest(text, self._field_errors(message), provider=self.provider)
        return UpstreamError(text, provider=self.provider, status=response.status)

    def _field_errors(self, message: str | None) -> list[FieldError]:
        if message is None:
            return []
        field, problem = wire.error_field(message)
        pointer = self.mapping.pointer_for(field) if field is not None else None
        return [FieldError(pointer, problem)] if pointer is not None else []

    def _unreadable(self, doing: str, what: str, response: UpstreamResponse) -> UnreadableAnswer:
        return UnreadableAnswer(
            f"{self.provider} answered the request to {doing} {what}",
            provider=self.provider,
            status=response.status,
        )

    def _invalid(self, errors: list[FieldError]) -> InvalidRequest:
        first = errors[0]
        return InvalidRequest(
            f"{pointer_to_path(first.pointer)} {first.detail}", errors, provider=self.provider
        )


def _invoice_path(invoice_id: str) -> str:
    return f"/invoices/{segment(invoice_id, what='invoice id')}"


def _form() -> aiohttp.FormData:
    """A multipart body whose file names go as they are (UTF-8, RFC 7578), not percent-encoded:
    aiohttp's default wrote ``my receipt.pdf`` as ``my%20receipt.pdf``, which the provider
    keeps as the file's name. The view refuses a name with a control character."""
    return aiohttp.FormData(default_to_multipart=True, quote_fields=False)


def _add_files(form: aiohttp.FormData, files: Sequence[NoteFile]) -> None:
    for file in files:
        form.add_field("file", file.content, filename=file.filename, content_type=file.content_type)


def _note(uuid: str, content: str, files: list[Any]) -> dict[str, Any]:
    return {"id": uuid, "content": content, "files": files}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str | Decimal) and str(value).isdigit():
        return int(value)
    return None
