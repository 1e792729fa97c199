"""The item_envelope adapter: canonical invoices ⇄ ``/api2/api2/invoices.json``.

Paths are relative to the connection's base URL, the provider's host: the doc's base
(``{{subdomain}}/api2``) plus its path (``/api2/invoices.json``) is the URL its own example
calls, ``{{subdomain}}/api2/api2/invoices.json``, and that is the URL sent. Bodies go as the doc
sends them: JSON text with ``Content-Type: text/plain``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from adapters.base import (
    ACTION_EFFECTS,
    Adapter,
    AdapterError,
    Conflict,
    Handling,
    InvalidRequest,
    ListQuery,
    NotFound,
    Page,
    PageNumbers,
    UpstreamError,
    WriteResult,
    WriteWarning,
)
from adapters.item_envelope import wire
from adapters.line_limits import line_limit_errors
from adapters.paths import segment
from adapters.reference import configured_taxes, provider_field_values
from adapters.representable import line_count_errors
from adapters.resolution import Resolution
from adapters.unreadable import READ_ERRORS, invoice_label, the_one_asked, unreadable
from gateway.canonical.errors import FieldError, InvalidInvoice, pointer_to_path
from gateway.canonical.model import Invoice
from gateway.canonical.totals import calculate
from gateway.upstream import UpstreamResponse
from gateway.upstream_answers import read_refused
from gateway.write_calls import refused_in_envelope

PREFIX = "/api2/api2"
INVOICES = f"{PREFIX}/invoices.json"
# The doc's "Body Params text/plain": the JSON body is sent as text.
BODY_HEADERS = {"Content-Type": "text/plain"}

T = TypeVar("T")


class ItemEnvelopeAdapter(Adapter):
    provider: ClassVar[str] = "item_envelope"
    pages: ClassVar[PageNumbers] = PageNumbers(first=1)

    # --- reads -----------------------------------------------------------------------------------

    async def get(self, invoice_id: str) -> Invoice:
        path = self._path(invoice_id)
        response = await self.client.request("GET", path)
        self._raise_for(response, invoice_id=invoice_id)
        invoice = self._read(response.body, wire.record)
        return the_one_asked(self.provider, invoice_id, invoice)

    async def list_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        return await self._page(query, page, page_size, newest_first=False)

    async def lookup_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        """Newest first (``sort=id&direction=desc``): a lost create is on the first page a
        bounded lookup reads, however many older invoices share its filters."""
        return await self._page(query, page, page_size, newest_first=True)

    async def _page(
        self, query: ListQuery, page: str | None, page_size: int, *, newest_first: bool
    ) -> Page:
        number = self.pages.number(page)
        # The provider caps `limit` at 100: asking for more would read as a short, final page.
        limit = self.served_size(page_size)
        params: dict[str, Any] = {"page": number, "limit": limit}
        if query.customer_id is not None:
            client_id = wire.provider_id(query.customer_id)
            if client_id is None:
                return Page([], None)  # no item_envelope client has such an id
            params["client_id"] = client_id
        if query.issued_from is not None:
            params["date_from"] = query.issued_from.isoformat()
        if query.issued_to is not None:
            params["date_to"] = query.issued_to.isoformat()
        if query.status is not None and query.status != "unknown":
            # Keys are "draft/payment_status": `draft` is asked, payment_status narrowed below.
            drafts = {
                key.split("/")[0]
                for key, meaning in self.mapping.status_read.items()
                if meaning.status == query.status
            }
            if not drafts:
                return Page([], None)  # no provider value reads as this status (void)
            if len(drafts) == 1:
                params["draft"] = drafts.pop()
        sort = query.sort_order()
        if newest_first:
            params.update(sort="id", direction="desc")
        elif sort is not None:
            # Ties are broken by id in the same direction: pages follow on without gaps.
            by, descending = sort
            params.update(
                sort=self.mapping.sort_param(by), direction="desc" if descending else "asc"
            )
        response = await self.client.request("GET", INVOICES, params=params)
        self._raise_for(response, caller_fields=False)
        rows, pagination = self._parse(response.body, wire.page)
        invoices = [self._read(row, lambda data: data) for row in rows]
        if query.status is not None:
            # The provider has no payment_status filter: open and paid are told apart here.
            invoices = [invoice for invoice in invoices if invoice.status == query.status]
        next_page = self.pages.next_token(
            number,
            count=len(rows),
            page_size=_integer(pagination.get("limit")) or limit,
            total_pages=_integer(pagination.get("page_count")),
            total=_integer(pagination.get("total")),
        )
        return Page(invoices, next_page, _integer(pagination.get("total")))

    # --- writes ----------------------------------------------------------------------------------

    async def create(self, invoice: Invoice, *, handling: Handling = "strict") -> WriteResult:
        # New invoices are drafts, as the canonical lifecycle starts; `issue` makes them open.
        return await self._create(invoice, handling, "draft")

    async def create_issued(
        self, invoice: Invoice, *, handling: Handling = "strict"
    ) -> WriteResult:
        return await self._create(invoice, handling, "open")

    def check_create(self, invoice: Invoice, handling: Handling) -> None:
        self._create_body(invoice, handling, "draft")

    def _create_body(
        self, invoice: Invoice, handling: Handling, status: str
    ) -> tuple[dict[str, Any], list[WriteWarning]]:
        fitted, warnings = self.fit(invoice, handling)
        return self._body(fitted, draft=self.mapping.write_status(status), replace=False), warnings

    async def _create(self, invoice: Invoice, handling: Handling, status: str) -> WriteResult:
        body, warnings = self._create_body(invoice, handling, status)
        response = await self.client.request("POST", INVOICES, json=body, headers=BODY_HEADERS)
        self._raise_for(response)
        created = response.body.get("id") if isinstance(response.body, dict) else None
        if isinstance(created, bool) or not isinstance(created, int):
            raise UpstreamError(
                f"{self.provider} accepted the invoice but answered no id; "
                "look for it before creating it again",
                provider=self.provider,
                status=response.status,
            )
        return WriteResult(await self.get(str(created)), warnings)

    async def update(
        self,
        invoice_id: str,
        invoice: Invoice,
        *,
        handling: Handling = "strict",
    ) -> WriteResult:
        # The provider keeps no record versions (capabilities.versioned is false), so there is
        # nothing to hold an If-Match against here.
        path = self._path(invoice_id)
        fitted, warnings = self.fit(invoice, handling)
        body = self._body(fitted, draft=None, replace=True)
        response = await self.client.request("PUT", path, json=body, headers=BODY_HEADERS)
        self._raise_for(response, invoice_id=invoice_id)
        return WriteResult(await self.get(invoice_id), warnings)

    async def delete(self, invoice_id: str) -> None:
        response = await self.client.request("DELETE", self._path(invoice_id))
        self._raise_for(response, invoice_id=invoice_id)

    async def act(self, invoice_id: str, action: str) -> Invoice:
        if action not in self.capabilities.actions:
            return await super().act(invoice_id, action)
        # `issue` is the only action: an update of `draft` from 1 to 0.
        path = self._path(invoice_id)
        response = await self.client.request(
            "PUT", path, json=wire.issue_body(self.mapping), headers=BODY_HEADERS
        )
        self._raise_for(response, invoice_id=invoice_id)
        return await self.get(invoice_id)

    async def find_action(
        self, invoice_id: str, action: str, recovery: dict[str, Any]
    ) -> Resolution:
        """``issue`` is a ``PUT`` of ``draft: 0``: a draft that is now open or paid was issued;
        in any other case sending it again is safe, since it cannot issue an invoice twice (a
        draft is issued, an issued invoice stays as it is, a paid one is refused as before)."""
        if action != "issue":
            return await super().find_action(invoice_id, action, recovery)
        try:
            current = await self.get(invoice_id)
        except AdapterError as exc:
            return Resolution.failed(f"reading invoice {invoice_id} back", exc)
        if recovery.get("before") == "draft" and current.status in ACTION_EFFECTS["issue"]:
            return Resolution.done(
                current, f"invoice {invoice_id} went from draft to {current.status}"
            )
        return Resolution.not_done(
            f"invoice {invoice_id} is {current.status} (was {recovery.get('before')}); issuing "
            "it again cannot issue it twice"
        )

    # --- helpers ---------------------------------------------------------------------------------

    def record_key(self, invoice_id: str) -> str:
        number = wire.provider_id(invoice_id)  # as the path is built: 0124 is invoice 124
        return invoice_id if number is None else str(number)

    def _path(self, invoice_id: str) -> str:
        segment(invoice_id, what="invoice id")  # an id that could change the path is a 400 first
        number = wire.provider_id(invoice_id)
        if number is None:
            # Not an id the provider could have issued; asking would only build a strange path.
            raise NotFound(self._no_invoice(invoice_id), provider=self.provider)
        return f"{PREFIX}/invoices/{segment(str(number))}.json"

    def _no_invoice(self, invoice_id: str) -> str:
        return f"{self.provider} has no invoice {invoice_id} (connection {self.connection.name})"

    def _body(self, invoice: Invoice, *, draft: Any, replace: bool) -> dict[str, Any]:
        """The write body, after every check that needs no provider call; a bad request names
        every field at fault at once and sends nothing."""
        errors = line_count_errors(invoice, self.capabilities, self.provider)
        errors += line_limit_errors(invoice, self.capabilities.line_limits, self.provider)
        values = _collect(
            errors, lambda: provider_field_values(invoice, self.mapping, self.connection)
        )
        taxes = _collect(errors, lambda: configured_taxes(invoice, self.connection))
        errors += wire.reference_errors(invoice, keep_line_ids=replace)
        if taxes is not None:
            errors += wire.tax_id_errors(taxes) + wire.repeated_tax_errors(taxes)
        try:
            # Amounts the provider cannot hold: money finer than the currency, an amount
            # discount larger than what it discounts.
            calculate(invoice, self.policy_for(invoice))
        except InvalidInvoice as exc:
            errors += exc.errors
        if errors:
            first = errors[0]
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise InvalidRequest(
                f"{pointer_to_path(first.pointer)}: {first.detail}{more}",
                errors,
                provider=self.provider,
            )
        assert values is not None and taxes is not None
        return wire.invoice_body(
            invoice,
            mapping=self.mapping,
            taxes=taxes,
            provider_values=values,
            draft=draft,
            replace=replace,
        )

    def _raise_for(
        self,
        response: UpstreamResponse,
        *,
        invoice_id: str | None = None,
        caller_fields: bool = True,
    ) -> None:
        """Turn a failure in the provider's envelope into the adapter error that says what to do.

        ``invoice_id``: a 404 means that invoice is gone (otherwise the endpoint is missing, a
        configuration problem). ``caller_fields``: a 400/422 is about fields the caller sent.
        """
        body = response.body
        failed = isinstance(body, dict) and body.get("result") == "failed"
        if response.ok and not failed:
            return
        message = wire.message(body)
        # A success status with the failure envelope: the refusal its `code` says (422 where
        # it says none), read as that status is; the status line is said as it came.
        in_envelope = _envelope_refusal(body) if response.ok else None
        status = in_envelope or response.status
        if status == 404 and invoice_id is not None:
            raise NotFound(self._no_invoice(invoice_id), provider=self.provider)
        said = f"{self.provider} answered {response.status}: {message}"
        if refused := read_refused(response, said, provider=self.provider, status=in_envelope):
            raise refused
        if status == 409:
            raise Conflict(f"{self.provider} refused the change: {message}", provider=self.provider)
        if status in (400, 422) and caller_fields:
            raise InvalidRequest(
                f"{self.provider} rejected the invoice: {message}",
                wire.errors(body, self.mapping),
                provider=self.provider,
            )
        if in_envelope:
            raise refused_in_envelope(response, said, provider=self.provider, refusal=in_envelope)
        raise UpstreamError(said, provider=self.provider, status=status)

    def _parse(self, body: Any, reader: Callable[[Any], T]) -> T:
        try:
            return reader(body)
        except wire.UnreadableAnswer as exc:
            raise self._unreadable(str(exc)) from None

    def _read(self, body: Any, reader: Callable[[Any], dict[str, Any]]) -> Invoice:
        data = self._parse(body, reader)
        return self.read_once(data, lambda: self._translate(data))

    def _translate(self, data: dict[str, Any]) -> Invoice:
        try:
            invoice = wire.read_invoice(data, mapping=self.mapping, connection=self.connection)
        except READ_ERRORS as exc:  # wire.UnreadableAnswer is a ValueError
            # A record of the wrong shape is the provider's failure, never a crash of the read.
            header = data.get(wire.ENVELOPE) if isinstance(data, dict) else None
            which = header.get("id") if isinstance(header, dict) else None
            raise unreadable(self.provider, invoice_label(which), exc) from None
        return self.finish_read(invoice)

    def _unreadable(self, detail: str) -> UpstreamError:
        return unreadable(self.provider, "in a shape", detail)


def _collect(errors: list[FieldError], check: Callable[[], T]) -> T | None:
    """Run a check that raises ``InvalidRequest``, keeping its errors beside the others."""
    try:
        return check()
    except InvalidRequest as exc:
        errors += exc.errors
        return None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _envelope_refusal(body: Any) -> int:
    """The status a failure envelope on a success status says it is (its ``code``, which
    item_envelope keeps equal to the status it means), 422 where it says none that is one."""
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 600:
        return code
    return 422
