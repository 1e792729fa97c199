"""The bill_crm adapter: canonical invoices ⇄ the CRM's ``/api/v1/invoices`` API.

A canonical write is several provider calls (header, line items, header again for a fixed
discount or an adjustment, tags). A create that fails part-way deletes the half-made invoice
and raises the original error; an update that fails part-way puts back the invoice as it was
read before it (the lines then have new ids: the CRM gives every replaced line one), and where
that fails too, says what is replaced; sending the same update again converges.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, ClassVar

from adapters.base import (
    Adapter,
    AdapterError,
    Conflict,
    DuplicateInputs,
    Handling,
    InvalidRequest,
    ListQuery,
    NotFound,
    OutcomeUncertain,
    Page,
    PageNumbers,
    UpstreamError,
    WriteResult,
    WriteWarning,
    annotate,
)
from adapters.bill_crm import actions, lost_answers, update_steps, wire
from adapters.bill_crm.plan import Plan, lenient_taxes, plan, policy, remap, tax_type_of
from adapters.mapping import Mapping
from adapters.paths import segment
from adapters.resolution import Resolution
from adapters.unreadable import READ_ERRORS, invoice_label, the_one_asked, unreadable
from gateway.canonical.dates import utc_today
from gateway.canonical.errors import FieldError
from gateway.canonical.model import Discount, Invoice, RoundingPolicy
from gateway.config import Connection
from gateway.upstream import UpstreamClient, UpstreamResponse
from gateway.upstream_answers import read_refused, reading_a_create, reading_a_list

INVOICES = "/api/v1/invoices"
_ID = re.compile(r"[0-9]{1,18}")


class BillCrmAdapter(Adapter):
    provider: ClassVar[str] = "bill_crm"
    pages: ClassVar[PageNumbers] = PageNumbers(first=1)
    lookup_newest_first: ClassVar[bool] = True  # sort=bill_created&order=desc (lookup_page)
    # Payments are out of the API's scope: a status set to 5 Paid records none (reconcile).
    paid_by_status: ClassVar[bool] = True

    def __init__(
        self,
        client: UpstreamClient,
        connection: Connection,
        mapping: Mapping,
        *,
        today: Callable[[], date] = utc_today,
    ) -> None:
        super().__init__(client, connection, mapping, today=today)
        if connection.currency is None:
            # Invoices carry no currency in this CRM: without the account's, none can be read.
            raise ValueError(
                f"connection {connection.name}: bill_crm needs `currency`, the account's currency"
            )

    def policy_for(self, invoice: Invoice) -> RoundingPolicy:
        return policy(tax_type_of(invoice, self.connection), self.rounding)

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, invoice_id: str) -> Invoice:
        invoice = self._read(await self._fetch(invoice_id))
        return the_one_asked(self.provider, invoice_id, invoice)

    async def list_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        return await self._page(query, page, page_size, newest_first=False)

    async def lookup_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        """Newest first (``sort=bill_created&order=desc``, documented): a lookup for a lost
        write reads the client's latest invoices and ends at the first one made before it."""
        return await self._page(query, page, page_size, newest_first=True)

    async def _page(
        self, query: ListQuery, page: str | None, page_size: int, *, newest_first: bool
    ) -> Page:
        number = self.pages.number(page)
        size = self.served_size(page_size)
        params: dict[str, Any] = {"page": number, "limit": size}
        sort = query.sort_order()
        if newest_first:
            params.update(sort="bill_created", order="desc")
        elif sort is not None:
            # The provider breaks ties by id in the same direction: pages follow on cleanly.
            by, descending = sort
            params.update(sort=self.mapping.sort_param(by), order="desc" if descending else "asc")
        else:
            # Ascending ids: an invoice created during a walk lands on the last page.
            params["order"] = "asc"
        if query.search:
            params["search"] = query.search
        for name, param in self.mapping.filter_params.items():
            value = getattr(query, name)
            if value is None:
                continue
            if not _ID.fullmatch(value):
                return Page([], None)  # project and category ids are integers: none can match
            params[param] = value
        if query.status is not None:
            wanted = [
                value
                for value, meaning in self.mapping.status_read.items()
                if meaning.status == query.status
            ]
            if not wanted:  # every documented status is mapped: none reads as this one
                return Page([], None)
            params["status"] = ",".join(wanted)
        if query.customer_id is not None:
            if not _ID.fullmatch(query.customer_id):
                return Page([], None)  # client ids are integers: no invoice can match
            params["client_id"] = query.customer_id
        response = await self.client.request("GET", INVOICES, params=params)
        with reading_a_list("invoice"):
            rows = self._answer(response)
        if not isinstance(rows, list):
            raise UpstreamError(
                f"{self.provider} answered a list without rows", provider=self.provider
            )
        meta = response.body.get("meta") if isinstance(response.body, dict) else None
        total = meta.get("total") if isinstance(meta, dict) else None
        # The page size it served, where it says (its doc sets no maximum: it may serve fewer
        # than asked, and number its pages by what it served).
        served = meta.get("per_page") if isinstance(meta, dict) else None
        if isinstance(served, bool) or not isinstance(served, int) or not 0 < served <= size:
            served = size
        # List rows are full invoices: no second read needed.
        invoices = [self._read(row) for row in rows]
        following = self.pages.next_token(
            number,
            count=len(rows),
            page_size=served,
            total=total if isinstance(total, int) else None,
        )
        return Page(invoices, following, total if isinstance(total, int) else None)

    # -- writes --------------------------------------------------------------------------------

    def fit(self, invoice: Invoice, handling: Handling) -> tuple[Invoice, list[WriteWarning]]:
        """The generic fit, then under lenient handling what bill_crm's tax types cannot carry
        dropped too (``plan.lenient_taxes``)."""
        fitted, warnings = super().fit(invoice, handling)
        if handling != "lenient":
            return fitted, warnings
        fitted, dropped = lenient_taxes(invoice, fitted, self.connection)
        return fitted, warnings + dropped

    def check_create(self, invoice: Invoice, handling: Handling) -> None:
        self._planned(invoice, handling)

    def _planned(self, invoice: Invoice, handling: Handling) -> tuple[Plan, list[WriteWarning]]:
        fitted, warnings = self.fit(invoice, handling)
        return plan(invoice, fitted, self.mapping, self.connection), warnings

    async def create(self, invoice: Invoice, *, handling: Handling = "strict") -> WriteResult:
        ready, warnings = self._planned(invoice, handling)
        body = wire.create_body(ready.invoice, ready.fields, ready.tax_type)
        response = await self.client.request("POST", INVOICES, json=body)
        with reading_a_create():
            created = self._answer(response, ready.positions)
        which = created.get("id") if isinstance(created, dict) else None
        if (
            isinstance(which, bool)
            or not isinstance(which, int | str)
            or not _ID.fullmatch(str(which))
        ):
            raise OutcomeUncertain(
                f"{self.provider} answered the create without an invoice id; "
                "look for the invoice before creating it again",
                provider=self.provider,
                status=response.status,
            )
        invoice_id = str(which)
        try:
            await self.fill(invoice_id, ready)
        except BaseException as exc:
            # The caller must never find a half-made invoice, even when it gave up waiting.
            await asyncio.shield(self._discard(invoice_id, exc))
            raise
        return WriteResult(await self.read_back(invoice_id, "wrote"), warnings)

    async def update(
        self,
        invoice_id: str,
        invoice: Invoice,
        *,
        handling: Handling = "strict",
    ) -> WriteResult:
        self._path(invoice_id)
        fitted, warnings = self.fit(invoice, handling)
        ready = plan(invoice, fitted, self.mapping, self.connection)
        current = await self._fetch(invoice_id)
        self._check_replaceable(current, ready)
        await update_steps.update(self, invoice_id, ready, current)
        return WriteResult(await self.read_back(invoice_id, "wrote"), warnings)

    async def delete(self, invoice_id: str) -> None:
        response = await self.client.request("DELETE", self._path(invoice_id))
        self._answer(response, invoice_id=invoice_id)

    async def act(self, invoice_id: str, action: str) -> Invoice:
        """A state change (``actions.py``: each status action sets one status; what the doc
        forbids, or what has nothing to do, is a ``Conflict`` before anything is sent), or a
        faithful clone (``duplicate``)."""
        if action not in self.capabilities.actions:
            raise self._unsupported(action.replace("_", " ") + " invoices")
        if action == "duplicate":
            return await self.duplicate(invoice_id, DuplicateInputs())
        path = self._path(invoice_id)
        current = await self._fetch(invoice_id)
        if action in actions.ENDPOINT_ACTIONS:
            endpoint = actions.check_endpoint_action(invoice_id, action, current)
            # The CRM still answers 409 itself if the status changed since it was read.
            response = await self.client.request("POST", f"{path}/{endpoint}")
        else:
            body = actions.status_change(invoice_id, action, current)
            response = await self.client.request("POST", f"{path}/status", json=body)
        return self._read(self._answer(response))

    async def duplicate(self, invoice_id: str, inputs: DuplicateInputs) -> Invoice:
        """``POST …/clone`` with the inputs' client, dates and project, else the source's
        (``actions.clone_request``); answers the new draft."""
        path = self._path(invoice_id)
        clone = actions.clone_request(await self._fetch(invoice_id), inputs)
        response = await self.client.request("POST", f"{path}/clone", json=clone.body)
        return self._read(self._answer(response))

    # -- lost answers (lost_answers.py; docs/providers/bill_crm.md, "Lost answers") ------------

    async def prepare_create(self, invoice: Invoice, marker: str) -> dict[str, Any]:
        """The marker in ``notes``, or else the client's recent look-alikes: ``lost_answers``."""
        return await lost_answers.prepare_create(self, invoice, marker)

    async def find_created(
        self, invoice: Invoice, recovery: dict[str, Any], *, handling: Handling = "strict"
    ) -> Resolution:
        """The invoice with the marker, or the one new look-alike, finished when half-made:
        ``lost_answers``."""
        return await lost_answers.find_created(self, invoice, recovery, handling=handling)

    async def prepare_action(self, invoice_id: str, action: str) -> dict[str, Any]:
        """The status (the default), or for a duplicate the clones there: ``lost_answers``."""
        return await lost_answers.prepare_action(self, invoice_id, action)

    def prepare_action_from(self, current: Invoice, action: str) -> dict[str, Any] | None:
        """None: its record is the CRM's own status id (or the clones), read by its own GET."""
        return None

    async def find_action(
        self, invoice_id: str, action: str, recovery: dict[str, Any]
    ) -> Resolution:
        """By the status read back (the default), or for a duplicate the one new clone:
        ``lost_answers``."""
        return await lost_answers.find_action(self, invoice_id, action, recovery)

    async def prepare_duplicate(self, invoice_id: str, inputs: DuplicateInputs) -> dict[str, Any]:
        """The clone as it will read, and the look-alikes already there: ``lost_answers``."""
        return await lost_answers.prepare_duplicate(self, invoice_id, inputs)

    async def find_duplicate(
        self, invoice_id: str, inputs: DuplicateInputs, recovery: dict[str, Any]
    ) -> Resolution:
        """The one new clone: ``lost_answers``."""
        return await lost_answers.find_duplicate(self, invoice_id, inputs, recovery)

    # -- the calls a write is made of ----------------------------------------------------------

    async def fill(self, invoice_id: str, ready: Plan) -> None:
        """A create's calls after the header: lines, the header again for a discount or an
        adjustment (the CRM takes them only there), tags. Each replaces, so repeating is safe."""
        await self._put_lines(invoice_id, ready)
        if ready.invoice.discount is not None or ready.invoice.adjustment is not None:
            await self._put_header(invoice_id, ready, ready.invoice.discount)
        if ready.invoice.tags:
            await self._put_tags(invoice_id, ready)

    async def _put_header(self, invoice_id: str, ready: Plan, discount: Discount | None) -> None:
        body = wire.header_body(
            ready.invoice, ready.fields, ready.tax_type, self.mapping, discount=discount
        )
        response = await self.client.request("PUT", self._path(invoice_id), json=body)
        self._answer(response, ready.positions)

    async def _put_lines(self, invoice_id: str, ready: Plan) -> None:
        if not ready.invoice.lines:
            return
        body = wire.line_items_body(ready.invoice, ready.taxes, ready.tax_type, self.mapping)
        path = f"{self._path(invoice_id)}/line-items"
        self._answer(await self.client.request("PUT", path, json=body), ready.positions)

    async def _put_tags(self, invoice_id: str, ready: Plan) -> None:
        path = f"{self._path(invoice_id)}/tags"
        body = wire.tags_body(ready.invoice.tags)
        self._answer(await self.client.request("PUT", path, json=body), ready.positions)

    async def _discard(self, invoice_id: str, cause: BaseException) -> None:
        try:
            await self.delete(invoice_id)
        except (AdapterError, OSError) as exc:
            annotate(
                cause,
                f"the half-made {self.provider} invoice {invoice_id} could not be deleted "
                f"({exc}); delete it before creating the invoice again",
            )
        else:
            annotate(cause, "the invoice was not created (its partial record was deleted)")
            if isinstance(cause, UpstreamError):
                cause.undone = True

    def _check_replaceable(self, current: dict[str, Any], ready: Plan) -> None:
        """What an update cannot change on this CRM, refused before anything is sent."""
        errors = []
        client = current.get("client") or {}
        customer = ready.invoice.customer
        if customer is not None and str(client.get("id")) != customer.id:
            errors.append(
                FieldError(
                    "/customer/id",
                    f"{self.provider} cannot move an invoice to another client "
                    f"(it is client {client.get('id')}'s); create a new invoice instead",
                )
            )
        if not ready.invoice.lines and current.get("line_items"):
            errors.append(
                FieldError("/lines", f"{self.provider} keeps at least one line once it has lines")
            )
        if errors:
            raise InvalidRequest(errors[0].detail, errors, provider=self.provider)

    # -- talking to the CRM --------------------------------------------------------------------

    def record_key(self, invoice_id: str) -> str:
        # The CRM reads the digits of its path as a number: 027 is invoice 27.
        return str(int(invoice_id)) if _ID.fullmatch(invoice_id) else invoice_id

    def _path(self, invoice_id: str) -> str:
        segment(invoice_id, what="invoice id")  # an id that could change the path is a 400 first
        # Ids go into the path: anything but digits is not a bill_crm invoice.
        if not _ID.fullmatch(invoice_id):
            raise NotFound(f"{self.provider} has no invoice {invoice_id!r}", provider=self.provider)
        return f"{INVOICES}/{segment(invoice_id)}"

    async def _fetch(self, invoice_id: str) -> dict[str, Any]:
        response = await self.client.request("GET", self._path(invoice_id))
        data = self._answer(response, invoice_id=invoice_id)
        if not isinstance(data, dict):
            raise UpstreamError(
                f"{self.provider} answered without an invoice", provider=self.provider
            )
        return data

    def _read(self, data: Any) -> Invoice:
        return self.read_once(data, lambda: self._translate(data))

    def _translate(self, data: Any) -> Invoice:
        try:
            invoice = wire.read_invoice(data, self.mapping, self.connection)
        except READ_ERRORS as exc:
            which = data.get("id") if isinstance(data, dict) else None
            raise unreadable(self.provider, invoice_label(which), exc) from exc
        return self.finish_read(invoice)

    def _answer(
        self,
        response: UpstreamResponse,
        positions: Sequence[int] | None = None,
        *,
        invoice_id: str | None = None,
    ) -> Any:
        """The ``data`` of a success envelope, or the error the CRM's answer stands for."""
        if response.ok:
            body = response.body
            if not isinstance(body, dict) or "data" not in body:
                raise UpstreamError(
                    f"{self.provider} answered {response.status} without its data envelope",
                    provider=self.provider,
                    status=response.status,
                )
            return body["data"]
        message, fields = wire.problems(response.body)
        said = (
            f"{self.provider}: {message}"
            if message
            else f"{self.provider} answered {response.status}"
        )
        if response.status == 404:
            # Its own words where the call names no invoice (a list: ``reading_a_list``).
            what = f"{self.provider} has no invoice {invoice_id}" if invoice_id else said
            raise NotFound(what, provider=self.provider)
        if refused := read_refused(response, said, provider=self.provider):
            raise refused
        if response.status == 409:
            raise Conflict(said, provider=self.provider)
        if response.status in (400, 422):
            errors = [
                self._field_error(name, text) for name, texts in fields.items() for text in texts
            ]
            errors = remap(errors, positions) if positions is not None else errors
            raise InvalidRequest(said, errors, provider=self.provider)
        raise UpstreamError(said, provider=self.provider, status=response.status)

    def _field_error(self, name: str, text: str) -> FieldError:
        pointer = self.mapping.pointer_for(name)
        # A field the mapping cannot place keeps the CRM's name for it.
        return FieldError(pointer, text) if pointer else FieldError("", f"{name}: {text}")
