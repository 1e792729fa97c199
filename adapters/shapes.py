"""The values adapters take and give: what a provider can do (``Capabilities``), a list's query
and its pages, a write's result and warnings, a duplicate's inputs, a note's files, a batch's
results and a CSV export. Plain data: no provider calls (``adapters/base.py`` has the contract).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from adapters.line_limits import LineLimits
from gateway.canonical.model import Invoice, InvoiceStatus
from gateway.canonical.summary import InvoiceSummary

# -- what a provider can do --------------------------------------------------------------------

OPERATIONS = ("list", "get", "create", "update", "delete")
ACTIONS = (
    "issue",
    "send",
    "mark_sent",
    "unpublish",
    "void",
    "reactivate",
    "mark_paid",
    "mark_partially_paid",
    "mark_overdue",
    "mark_unpaid",
    "duplicate",
    "credit_note",
)
# The canonical statuses a state change leaves an invoice in: how a lost answer is recognised.
ACTION_EFFECTS: dict[str, frozenset[InvoiceStatus]] = {
    "issue": frozenset({"open", "paid"}),
    "send": frozenset({"open", "paid"}),
    "mark_sent": frozenset({"open", "paid"}),
    "unpublish": frozenset({"draft"}),
    "void": frozenset({"void"}),
    "reactivate": frozenset({"open", "paid"}),
    "mark_paid": frozenset({"paid"}),
    # Open either way: only the provider's own status value tells these apart (bill_crm does).
    "mark_partially_paid": frozenset({"open"}),
    "mark_overdue": frozenset({"open"}),
    "mark_unpaid": frozenset({"open"}),
}
# What ``duplicate`` may take (``DuplicateInputs``), by canonical name; a provider declares the
# ones its clone takes in ``capabilities.duplicate_inputs`` (provider fields by their name).
DUPLICATE_INPUTS = ("customer.id", "issue_date", "due_date")
FILTERS = ("status", "customer_id", "issued_from", "issued_to", "number", "document_type")
# Filters only some providers have and the gateway cannot apply itself: sent upstream or a 400.
PROVIDER_FILTERS = ("project_id", "category_id")
# Canonical list sorts (``sort=<name>`` ascending, ``sort=-<name>`` descending); only ever the
# provider's own sort, since no gateway can sort a listing it reads a page at a time.
SORTS = ("issue_date", "due_date", "number", "customer_id", "total", "amount_due", "created")
PAYMENT_OPERATIONS = ("list", "create", "delete")
# Operations on a connection's invoices as a whole (docs/facade.md, "Numbering, export, batches
# and the trash"): what one batch call can do to many invoices, and what the trash offers.
BATCH_ACTIONS = ("delete", "void", "mark_sent", "restore", "purge")
TRASH_OPERATIONS = ("list", "restore", "purge")

Handling = Literal["strict", "lenient"]


@dataclass(frozen=True)
class Capabilities:
    """What one provider can do and carry; loaded from ``mappings/<provider>.yaml``."""

    operations: frozenset[str]
    actions: frozenset[str]
    payments: frozenset[str]
    notes: bool
    create_from_order: bool
    filters: frozenset[str]
    fields: frozenset[str]  # writable canonical field paths, see adapters/representable.py
    tax_modes: frozenset[str]
    max_line_taxes: int
    compound_taxes: bool
    max_page_size: int
    versioned: bool
    sorts: frozenset[str] = frozenset()  # canonical sorts the provider has (SORTS)
    search: str | None = None  # what the provider's own search looks in; None: it has none
    provider_filters: frozenset[str] = frozenset()  # of PROVIDER_FILTERS
    credit_notes: bool = False  # the provider has credit notes (document_type credit_note)
    next_number: bool = False  # it tells the number the next invoice gets
    export_csv: bool = False  # it exports its invoices as CSV (streamed through)
    batch_actions: frozenset[str] = frozenset()  # of BATCH_ACTIONS, over many ids in one call
    trash: frozenset[str] = frozenset()  # of TRASH_OPERATIONS: deleted invoices kept, restorable
    # What its duplicate takes (DUPLICATE_INPUTS, and "provider_fields.<name>"); none: a copy
    # as it is, and a duplicate given inputs is a 422 naming them.
    duplicate_inputs: frozenset[str] = frozenset()
    # Notes (with ``notes``): files a new note takes in one request (0: none), whether files
    # can be added to an existing note, and whether notes can be read back.
    note_files: int = 0
    note_attach: bool = False
    note_read: bool = False
    # The fewest lines a create takes (``capabilities.min_lines``): fewer is refused by the
    # provider, so a write with fewer is never sent (0: an invoice without lines is taken).
    min_lines: int = 0
    # What it refuses of a line's figures (``capabilities.line_limits``): refused before sending.
    line_limits: LineLimits = field(default_factory=LineLimits)
    # The create can make the invoice issued at once (``capabilities.create_issued``), as
    # ``issue`` right after it would: a migration then copies an issued invoice in one write.
    create_issued: bool = False
    # The create gives an invoice sent without a due date one of the provider's own default
    # (``capabilities.due_date_default``: bill_crm's client or system due days): a migration's
    # dry run says so, as the run does once it reads the date given.
    due_date_default: bool = False
    # Fields an update cannot empty (``capabilities.update_keeps``): sent empty, the provider
    # keeps the value it has, so a replace that sends null for one is refused (or, lenient,
    # kept with a warning).
    update_keeps: frozenset[str] = frozenset()
    # The provider sets each line's tax from its item (``capabilities.taxes_by_item``), which
    # the gateway cannot see: a preview or a dry run computes with the taxes sent, and says so.
    taxes_by_item: bool = False
    # The provider takes ``issue`` again on an issued invoice and changes nothing
    # (``capabilities.reissue_accepted``): the gateway refuses it itself, as others do.
    reissue_accepted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "operations": sorted(self.operations, key=OPERATIONS.index),
            "actions": sorted(self.actions, key=ACTIONS.index),
            "payments": sorted(self.payments, key=PAYMENT_OPERATIONS.index),
            "notes": self.notes,
            "create_from_order": self.create_from_order,
            "filters": sorted(self.filters, key=FILTERS.index),
            "fields": sorted(self.fields),
            "tax_modes": sorted(self.tax_modes),
            "max_line_taxes": self.max_line_taxes,
            "compound_taxes": self.compound_taxes,
            "max_page_size": self.max_page_size,
            "versioned": self.versioned,
            "note_files": self.note_files,
            "note_attach": self.note_attach,
            "note_read": self.note_read,
            "sorts": sorted(self.sorts, key=SORTS.index),
            "search": self.search,
            "provider_filters": sorted(self.provider_filters, key=PROVIDER_FILTERS.index),
            "credit_notes": self.credit_notes,
            "next_number": self.next_number,
            "export_csv": self.export_csv,
            "batch_actions": sorted(self.batch_actions, key=BATCH_ACTIONS.index),
            "trash": sorted(self.trash, key=TRASH_OPERATIONS.index),
            "duplicate_inputs": sorted(self.duplicate_inputs),
            "update_keeps": sorted(self.update_keeps),
            "taxes_by_item": self.taxes_by_item,
            "reissue_accepted": self.reissue_accepted,
        }


@dataclass(frozen=True)
class ListQuery:
    """Canonical list filters; an adapter applies those its provider supports."""

    status: str | None = None
    customer_id: str | None = None
    issued_from: date | None = None
    issued_to: date | None = None
    number: str | None = None
    document_type: str | None = None  # invoice, credit_note or unknown
    # Sent to the provider only, never applied by the gateway (see Capabilities).
    project_id: str | None = None
    category_id: str | None = None
    search: str | None = None  # the provider's own search
    sort: str | None = None  # one of SORTS, with a leading "-" for descending

    def given(self) -> frozenset[str]:
        """The canonical filters given: those the gateway applies where the provider cannot."""
        return frozenset(name for name in FILTERS if getattr(self, name) is not None)

    def sort_order(self) -> tuple[str, bool] | None:
        """``(canonical sort, descending)``; None for the provider's default order."""
        if self.sort is None:
            return None
        return self.sort.removeprefix("-"), self.sort.startswith("-")


@dataclass(frozen=True)
class Page:
    """One provider page. ``next_page`` is the adapter's own token for the next one, or None."""

    invoices: list[Invoice]
    next_page: str | None
    total: int | None = None  # how many the whole listing holds, where the provider says


@dataclass(frozen=True)
class SummaryPage:
    """One provider page as it lists it (``?view=summary``): its rows read as they come, in the
    one call that listed them; full invoices where the provider's rows are full invoices."""

    rows: Sequence[Invoice | InvoiceSummary]
    next_page: str | None
    total: int | None = None


@dataclass(frozen=True)
class ListedRow:
    """One row of a provider's listing, translated only when asked (``invoice()``, through the
    read cache as every read is), its issue date read ahead: what a merge that sorts a whole
    listing needs of every row, the full invoice of only those it hands out."""

    issue_date: date | None
    invoice: Callable[[], Invoice]
    id: str  # the provider's id as listed: what orders a whole listing within a day


def listed_id(row: Any) -> str:
    """A listed row's id as the provider wrote it (``ListedRow.id``), "" where it has none (its
    translation says what is wrong, if it is handed out)."""
    value = row.get("id") if isinstance(row, dict) else None
    return "" if value is None else str(value)


@dataclass(frozen=True)
class ListedPage:
    """One provider page of ``ListedRow`` rows (``Adapter.listed_page``)."""

    rows: Sequence[ListedRow]
    next_page: str | None
    total: int | None = None


@dataclass(frozen=True)
class WriteWarning:
    """A field dropped under ``Prefer: handling=lenient``, and why."""

    field: str  # JSON pointer into the request body
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


@dataclass(frozen=True)
class WriteResult:
    invoice: Invoice
    warnings: list[WriteWarning] = field(default_factory=list)


@dataclass(frozen=True)
class DuplicateInputs:
    """What a duplicate is made with instead of the source's own values; None keeps the source's.

    ``provider_fields`` are provider-only inputs by name (bill_crm: ``bill_projectid``; a None
    value there asks for none).
    """

    customer_id: str | None = None
    issue_date: date | None = None
    due_date: date | None = None
    provider_fields: dict[str, Any] = field(default_factory=dict)

    def given(self) -> list[str]:
        """The inputs given, by canonical name (``provider_fields.<name>`` for the others)."""
        names = [
            name
            for name, value in (
                ("customer.id", self.customer_id),
                ("issue_date", self.issue_date),
                ("due_date", self.due_date),
            )
            if value is not None
        ]
        return names + [f"provider_fields.{name}" for name in self.provider_fields]

    def as_json(self) -> dict[str, Any]:
        """The request's inputs in one canonical form (its fingerprint, a lost answer's record)."""
        body: dict[str, Any] = {}
        if self.customer_id is not None:
            body["customer"] = {"id": self.customer_id}
        for name in ("issue_date", "due_date"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value.isoformat()
        if self.provider_fields:
            body["provider_fields"] = dict(self.provider_fields)
        return body


@dataclass(frozen=True)
class NoteFile:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class BatchItem:
    """One id of a batch: done, or failed with the gateway's problem code and the reason."""

    id: str
    error: str | None = None  # bad_request, not_found, conflict, validation_error, upstream_error
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.error is None:
            return {"id": self.id, "outcome": "done"}
        return {"id": self.id, "outcome": "failed", "code": self.error, "detail": self.detail}


@dataclass(frozen=True)
class BatchResult:
    """What one batch did to each of its ids, in the order asked (repeats once)."""

    action: str
    items: list[BatchItem]


@dataclass(frozen=True)
class CsvExport:
    """A provider's CSV export as it arrives: handed on chunk by chunk, never held whole."""

    content_type: str
    filename: str
    chunks: AsyncIterator[bytes]
