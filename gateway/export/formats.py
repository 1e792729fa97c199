"""What an exported invoice looks like: one JSON line, or CSV rows (one per line item).

Both start from the invoice as the API answers it (``model_dump(mode="json")`` without
``remote_data``), so every amount is the exact decimal string ``GET …/invoices/{id}`` gives;
a float anywhere is refused, never written (``gateway/jsonwire.py``). The CSV columns are fixed
and documented in docs/operations.md ("Export"); an invoice without lines is one row with the
line columns empty.
"""

from __future__ import annotations

import csv
from typing import IO, Any, Literal, Protocol

from gateway import jsonwire
from gateway.canonical.model import Invoice

Format = Literal["jsonl", "csv"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv")

# The invoice's columns, repeated on each of its rows: (column, path into the API's JSON).
INVOICE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("connection", "connection"),
    ("provider", "provider"),
    ("id", "id"),
    ("number", "number"),
    ("document_type", "document_type"),
    ("credited_invoice_id", "credited_invoice_id"),
    ("status", "status"),
    ("payment_status", "payment_status"),
    ("overdue", "overdue"),
    ("customer_id", "customer.id"),
    ("customer_name", "customer.name"),
    ("issue_date", "issue_date"),
    ("due_date", "due_date"),
    ("currency", "currency"),
    ("exchange_rate", "exchange_rate"),
    ("tax_mode", "tax_mode"),
    ("discount_type", "discount.type"),
    ("discount_value", "discount.value"),
    ("reference", "reference"),
    ("order_id", "order_id"),
    ("tags", "tags"),
    ("adjustment_description", "adjustment.description"),
    ("totals_subtotal", "totals.subtotal"),
    ("totals_discount", "totals.discount"),
    ("totals_tax", "totals.tax"),
    ("totals_shipping", "totals.shipping"),
    ("totals_adjustment", "totals.adjustment"),
    ("totals_total", "totals.total"),
    ("totals_paid", "totals.paid"),
    ("totals_due", "totals.due"),
    ("totals_paid_source", "totals.paid_source"),
    ("totals_consistent", "totals_check.consistent"),
    ("created_at", "created_at"),
    ("updated_at", "updated_at"),
    ("public_url", "public_url"),
    ("version", "version"),
)
# The line's columns (empty on the one row of an invoice without lines).
LINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("line_id", "id"),
    ("line_kind", "kind"),
    ("line_item_id", "item_id"),
    ("line_name", "name"),
    ("line_description", "description"),
    ("line_quantity", "quantity"),
    ("line_unit", "unit"),
    ("line_unit_price", "unit_price"),
    ("line_discount_type", "discount.type"),
    ("line_discount_value", "discount.value"),
    ("line_taxes", "taxes"),
    ("line_subtotal", "subtotal"),
    ("line_discount_amount", "discount_amount"),
    ("line_net_amount", "net_amount"),
    ("line_tax_amount", "tax_amount"),
    ("line_total", "total"),
)
CSV_COLUMNS: tuple[str, ...] = (
    *(name for name, _ in INVOICE_COLUMNS),
    "line_index",
    *(name for name, _ in LINE_COLUMNS),
)
SEPARATOR = ";"  # between the values of a list in one cell: tags, a line's tax rates


class FormatError(TypeError):
    """An invoice that cannot be written exactly (a binary float in it: its value is lost)."""


def invoice_record(invoice: Invoice) -> dict[str, Any]:
    """The invoice as ``GET /v1/connections/{c}/invoices/{id}`` answers it (no remote_data)."""
    record: dict[str, Any] = invoice.model_dump(mode="json", exclude={"remote_data"})
    return record


class Writer(Protocol):
    def write(self, record: dict[str, Any]) -> None: ...

    def flush(self) -> None: ...


class JsonLinesWriter:
    """One invoice per line, as the API answers it."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, record: dict[str, Any]) -> None:
        try:
            text = jsonwire.dumps(record)  # refuses a float rather than writing one
        except TypeError as exc:
            raise FormatError(str(exc)) from None
        self._stream.write(text + "\n")

    def flush(self) -> None:
        self._stream.flush()


class CsvWriter:
    """One row per line of each invoice, the invoice's columns repeated; the header first."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._csv = csv.writer(stream)
        self._csv.writerow(CSV_COLUMNS)

    def write(self, record: dict[str, Any]) -> None:
        self._csv.writerows(csv_rows(record))  # every row is built before any is written

    def flush(self) -> None:
        self._stream.flush()


def csv_rows(record: dict[str, Any]) -> list[list[str]]:
    head = [_cell(_at(record, path)) for _, path in INVOICE_COLUMNS]
    lines: list[dict[str, Any]] = record.get("lines") or []
    if not lines:
        return [head + [""] * (1 + len(LINE_COLUMNS))]
    return [
        [*head, str(index), *(_line_cell(line, path) for _, path in LINE_COLUMNS)]
        for index, line in enumerate(lines)
    ]


def _line_cell(line: dict[str, Any], path: str) -> str:
    if path == "taxes":
        return SEPARATOR.join(_cell(tax.get("rate")) for tax in line.get("taxes") or [])
    return _cell(_at(line, path))


def _at(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return SEPARATOR.join(_cell(item) for item in value)
    if isinstance(value, float):
        raise FormatError(f"a float ({value!r}) reached a CSV cell; amounts must be exact")
    raise FormatError(f"cannot write {type(value).__name__} in a CSV cell")


def writer_for(format: Format, stream: IO[str]) -> Writer:
    return CsvWriter(stream) if format == "csv" else JsonLinesWriter(stream)
