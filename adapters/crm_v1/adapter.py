"""The crm_v1 adapter: canonical invoices ⇄ the CRM's ``/v1/invoices`` API.

crm_v1 has no draft (a create is Open at once), no endpoint that changes a status, and
payments only as the invoice's history; see ``mappings/crm_v1.yaml`` for what it carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar, TypeVar

from adapters.base import (
    Adapter,
    AdapterError,
    Conflict,
    Handling,
    InvalidRequest,
    ListQuery,
    NotFound,
    Page,
    PageNumbers,
    ReadBackFailed,
    SummaryPage,
    UpstreamError,
    WriteResult,
    WriteWarning,
)
from adapters.crm_v1 import checks, wire
from adapters.paths import segment
from adapters.unreadable import the_one_asked
from gateway.canonical.errors import FieldError
from gateway.canonical.model import Invoice, Payment
from gateway.canonical.summary import InvoiceSummary, settled
from gateway.upstream import UpstreamResponse
from gateway.upstream_answers import read_refused
from gateway.write_calls import refused_in_envelope

INVOICES = "/v1/invoices"
# crm_v1 documents no 409: it refuses lifecycle changes with a 422 on one of these fields
# (editing a paid or cancelled invoice; deleting one with payments).
LIFECYCLE_FIELDS = frozenset({"inv_status", "payments"})
Listed = TypeVar("Listed", Invoice, InvoiceSummary)


@dataclass(frozen=True)
class _Listing:
    """One list page as crm_v1 answered it: its rows (summaries) and where the walk goes on."""

    rows: list[Any]
    next_page: str | None
    total: int | None
    status_sent: bool  # inv_status went upstream (else a status filter is applied here)


class CrmV1Adapter(Adapter):
    provider: ClassVar[str] = "crm_v1"
    pages: ClassVar[PageNumbers] = PageNumbers(first=0)  # pageIndex is zero-based
    rate_taxes_by_id: ClassVar[bool] = False  # a rate alone is a bare tax_rate (checks.py)

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, invoice_id: str) -> Invoice:
        path = self._invoice_path(invoice_id)
        response = await self.client.request("GET", path)
        data = self._answer(response, invoice_id)
        invoice = self.read_once(
            data, lambda: self.finish_read(wire.read_invoice(data, self.mapping, self.connection))
        )
        return the_one_asked(self.provider, invoice_id, invoice)

    async def list_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        """A list row is a summary: each row's invoice is read in full, concurrently."""
        return await self._page(query, page, page_size, *self._order(query))

    async def summary_page(self, query: ListQuery, page: str | None, page_size: int) -> SummaryPage:
        """The rows as crm_v1 lists them, read as summaries: one call for the page."""
        listing = await self._listing(query, page, page_size, *self._order(query))
        if listing is None:
            return SummaryPage([], None)
        today = self.today()
        summaries = [self._summary(row, today) for row in listing.rows]
        return SummaryPage(
            self._narrowed(query, listing, summaries), listing.next_page, listing.total
        )

    async def lookup_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        """Newest first by id (``sortOrder=desc``, documented): a lost create is on the first
        page a bounded lookup reads, however many older invoices share its filters."""
        return await self._page(query, page, page_size, "inv_id", "desc")

    def _order(self, query: ListQuery) -> tuple[str, str]:
        """``sortBy`` and ``sortOrder`` for ``query``."""
        sort = query.sort_order()
        if sort is None:
            # Oldest first by id: invoices created during a walk land after it, never shift it.
            return "inv_id", "asc"
        # The provider breaks ties by inv_id, so its pages follow on without gaps or repeats.
        by, descending = sort
        return self.mapping.sort_param(by), "desc" if descending else "asc"

    async def _page(
        self, query: ListQuery, page: str | None, page_size: int, sort_by: str, order: str
    ) -> Page:
        listing = await self._listing(query, page, page_size, sort_by, order)
        if listing is None:
            return Page([], None)
        ids = [self._row_id(row) for row in listing.rows]
        read = await self.read_each(ids)
        invoices = [read[i] for i in ids if i in read]
        return Page(self._narrowed(query, listing, invoices), listing.next_page, listing.total)

    async def _listing(
        self, query: ListQuery, page: str | None, page_size: int, sort_by: str, order: str
    ) -> _Listing | None:
        """One ``GET /v1/invoices`` page; None when nothing crm_v1 holds can match."""
        index = self.pages.number(page)
        size = self.served_size(page_size)
        filters = self._filters(query)
        if filters is None:
            return None
        params: dict[str, Any] = {
            "pageSize": size,
            "pageIndex": index,
            **filters,
            "sortBy": sort_by,
            "sortOrder": order,
        }
        listing = self._answer(await self.client.request("GET", INVOICES, params=params))
        rows = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(rows, list):
            raise self._unexpected("a list page without its rows")
        next_page = self.pages.next_token(
            index,
            count=len(rows),
            page_size=size,
            total_pages=_count(listing.get("total_pages")),
            total=_count(listing.get("total_records")),
        )
        total = _count(listing.get("total_records"))
        return _Listing(rows, next_page, total, status_sent="inv_status" in filters)

    def _narrowed(self, query: ListQuery, listing: _Listing, found: list[Listed]) -> list[Listed]:
        """What of a page's invoices (or summaries) the filters crm_v1 could not apply keep."""
        if query.status is not None and not listing.status_sent:
            found = [item for item in found if item.status == query.status]
        if query.number and query.search:
            # `search` went upstream; the number, which is the same parameter, is narrowed here.
            needle = query.number.casefold()
            found = [item for item in found if item.number and needle in item.number.casefold()]
        return found

    async def list_payments(self, invoice_id: str) -> list[Payment]:
        return (await self.get(invoice_id)).payments

    def _filters(self, query: ListQuery) -> dict[str, Any] | None:
        """The provider's list parameters for ``query``; None when no invoice can match."""
        params: dict[str, Any] = {}
        if query.status is not None:
            code = self.mapping.write_status(query.status)
            if code is not None:
                params["inv_status"] = code
            elif query.status != "unknown":
                return None  # a status crm_v1 has no value for (draft)
            # "unknown" is any value the mapping lacks: filtered here, after reading.
        if query.customer_id is not None:
            customer = wire.whole_number(query.customer_id)
            if customer is None:
                return None  # crm_v1 contact ids are whole numbers
            params["cstid"] = customer
        if query.issued_from is not None:
            params["inv_datetime_from"] = query.issued_from.isoformat()
        if query.issued_to is not None:
            params["inv_datetime_to"] = query.issued_to.isoformat()
        # The provider's search is its number search: the canonical `search`, else `number`.
        if query.search or query.number:
            params["search"] = query.search or query.number
        return params

    def _summary(self, row: Any, today: date) -> InvoiceSummary:
        self._row_id(row)  # an integer inv_id, as the full list requires
        summary = wire.read_summary(row, self.mapping, self.connection)
        return settled(
            summary, connection=self.connection.name, provider=self.provider, today=today
        )

    def _row_id(self, row: Any) -> str:
        invoice_id = row.get("inv_id") if isinstance(row, dict) else None
        if isinstance(invoice_id, bool) or not isinstance(invoice_id, int):
            raise self._unexpected("a list row without an integer inv_id")
        return str(invoice_id)

    # -- writes --------------------------------------------------------------------------------

    def check_create(self, invoice: Invoice, handling: Handling) -> None:
        self._write_body(invoice, handling, replace=False)

    def _write_body(
        self, invoice: Invoice, handling: Handling, *, replace: bool
    ) -> tuple[dict[str, Any], list[WriteWarning]]:
        fitted, warnings = self.fit(invoice, handling)
        resolved = checks.resolve(fitted, self.mapping, self.connection, self.policy_for(fitted))
        return wire.invoice_body(fitted, resolved, self.mapping, replace=replace), warnings

    async def create(self, invoice: Invoice, *, handling: Handling = "strict") -> WriteResult:
        body, warnings = self._write_body(invoice, handling, replace=False)
        response = await self.client.request("POST", INVOICES, json=body)
        if not response.ok or _said_no(response):
            raise self._failure(response, None, caller_fields=True)
        data = _object(_object(response.body).get("data"))
        created = data.get("inv_id")
        if isinstance(created, bool) or not isinstance(created, int):
            # crm_v1 took the invoice: creating it again would make a second one.
            raise ReadBackFailed(
                f"{self.provider} accepted the invoice ({response.status}) but its answer does "
                "not name it; look for it before creating it again",
                provider=self.provider,
            )
        return WriteResult(await self.read_back(str(created), "created"), warnings)

    async def update(
        self,
        invoice_id: str,
        invoice: Invoice,
        *,
        handling: Handling = "strict",
    ) -> WriteResult:
        path = self._invoice_path(invoice_id)
        body, warnings = self._write_body(invoice, handling, replace=True)
        response = await self.client.request("PUT", path, json=body)
        self._answer(response, invoice_id, data_required=False, caller_fields=True)
        return WriteResult(await self.read_back(invoice_id, "updated"), warnings)

    async def delete(self, invoice_id: str) -> None:
        response = await self.client.request("DELETE", self._invoice_path(invoice_id))
        self._answer(response, invoice_id, data_required=False)

    # -- the provider's answers ----------------------------------------------------------------

    def record_key(self, invoice_id: str) -> str:
        number = wire.whole_number(invoice_id)  # as the path is built: 007 is invoice 7
        return invoice_id if number is None else str(number)

    def _invoice_path(self, invoice_id: str) -> str:
        segment(invoice_id, what="invoice id")  # an id that could change the path is a 400 first
        number = wire.whole_number(invoice_id)
        if number is None:
            # inv_id is a whole number: anything else names no invoice (and never reaches a URL).
            raise NotFound(f"{self.provider} has no invoice {invoice_id!r}", provider=self.provider)
        return f"{INVOICES}/{segment(str(number))}"

    def _answer(
        self,
        response: UpstreamResponse,
        invoice_id: str | None = None,
        *,
        data_required: bool = True,
        caller_fields: bool = False,
    ) -> Any:
        """The ``data`` of a success envelope; the canonical error for anything else
        (``caller_fields``: the request carried the caller's invoice, see ``_failure``)."""
        body = _object(response.body)
        if not response.ok or _said_no(response):
            raise self._failure(response, invoice_id, caller_fields=caller_fields)
        if body.get("success") is not True:
            raise self._unexpected(f"a {response.status} answer outside its success envelope")
        if data_required and "data" not in body:
            raise self._unexpected(f"a {response.status} answer without data")
        return body.get("data")

    def _failure(
        self, response: UpstreamResponse, invoice_id: str | None, *, caller_fields: bool = False
    ) -> AdapterError:
        """The adapter error for a failed answer. A 400/422 naming no field is still the
        provider's refusal of the invoice the caller sent where the request carried one
        (``caller_fields``: a 422 with its message, final, as the other providers' are); on any
        other request it is the gateway's own call that was refused (502), as a refused read
        is whatever it names. A success status whose envelope says ``"success": false`` is
        crm_v1's refusal in its error form (its message, its fields): read as its 422 is, the
        status said as it came (``refused_in_envelope``)."""
        status, body = response.status, _object(response.body)
        in_envelope = 422 if _said_no(response) else None
        message = body.get("message")
        if not isinstance(message, str) or not message:
            message = (
                f"{self.provider} refused the request (its answer says success: false, with no "
                "message)"
                if in_envelope
                else f"{self.provider} answered {status}"
            )
        raw_errors = body.get("errors")
        fields: dict[str, Any] = raw_errors if isinstance(raw_errors, dict) else {}
        if status == 404 and invoice_id is not None:
            return NotFound(f"{self.provider} has no invoice {invoice_id}", provider=self.provider)
        refusal = in_envelope or status
        said = f"{self.provider} answered {status}: {message}"
        if refused := read_refused(response, said, provider=self.provider, status=in_envelope):
            return refused
        if refusal == 409 or (refusal == 422 and fields and set(fields) <= LIFECYCLE_FIELDS):
            return Conflict(message, provider=self.provider)
        if refusal in (400, 422) and (fields or caller_fields):
            return InvalidRequest(message, self._field_errors(fields), provider=self.provider)
        if in_envelope:  # the gateway's own call refused (a delete): final, as its 422 is
            return refused_in_envelope(response, said, provider=self.provider, refusal=in_envelope)
        return UpstreamError(said, provider=self.provider, status=status)

    def _field_errors(self, fields: dict[str, Any]) -> list[FieldError]:
        errors = []
        for name, messages in fields.items():
            pointer = self.mapping.pointer_for(name)
            texts = messages if isinstance(messages, list) else [messages]
            for text in texts:
                # A field the mapping cannot place keeps the provider's name in the detail.
                detail = str(text) if pointer else f"{name}: {text}"
                errors.append(FieldError(pointer or "", detail))
        return errors

    def _unexpected(self, what: str) -> UpstreamError:
        return UpstreamError(f"{self.provider} sent {what}", provider=self.provider)


def _said_no(response: UpstreamResponse) -> bool:
    """A success status whose envelope says ``"success": false`` (crm_v1's error form)."""
    return response.ok and _object(response.body).get("success") is False


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
