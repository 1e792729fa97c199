"""crm_v1 wire format: request bodies built from canonical invoices, answers read back.

Field names follow docs/provider-api/crm_v1.txt; ``mappings/crm_v1.yaml`` lists each one with
its canonical home and holds the code tables (status, discount types) used here. Amounts travel
as JSON numbers written from exact decimals (``gateway.jsonwire``), as the doc types them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from adapters.mapping import Mapping
from adapters.reference import canonical_tax
from adapters.unreadable import READ_ERRORS, array, identifier, invoice_label, unreadable
from gateway.canonical.decimals import reads_provider_figures
from gateway.canonical.model import Discount, Invoice, Line, Payment, Tax
from gateway.canonical.summary import InvoiceSummary
from gateway.config import Connection

PROVIDER = "crm_v1"
ITEM, HEADER = "item", "header"
# Written on create only when set (the provider fills its own default), always on update.
_CREATE_OMITS_NONE = (
    "transaction_date",
    "reference",
    "billing_address",
    "shipping_address",
    "notes",
    "terms_conditions",
    "deal_id",
    "assigned_to",
    "conversion_rate",
    "overall_discount",
    "overall_discount_type",
    "tag_ids",
)
_WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")


def whole_number(text: str | None) -> int | None:
    """A canonical id as the integer crm_v1 uses, or None when it is not one."""
    if text is None or not _WHOLE_NUMBER.fullmatch(text):
        return None
    return int(text)


@dataclass(frozen=True)
class LineTax:
    """A line's tax as crm_v1 takes it: a ``tax_id`` with its rate, or a bare ``tax_rate``."""

    rate: Decimal
    tax_id: str | None = None  # None: a bare rate, as the doc's own example writes it


@dataclass(frozen=True)
class Resolved:
    """What the checks before sending found for one invoice: provider ids and values."""

    customer_id: int
    org_currency_id: int
    line_taxes: list[list[LineTax]]  # per line, what its tax is sent as (at most one)
    provider_values: dict[str, Any]  # template_id, deal_id, assigned_to, tag_ids


# -- canonical → crm_v1 ------------------------------------------------------------------------


def invoice_body(
    invoice: Invoice, resolved: Resolved, mapping: Mapping, *, replace: bool
) -> dict[str, Any]:
    """The create (``replace=False``) or update body.

    An update replaces every writable field, so what the invoice leaves empty is sent as null
    (crm_v1 keeps a stored value for a field an update leaves out). ``due_date`` is always sent:
    left out on create, crm_v1 would invent one 30 days after the invoice date.
    """
    values = resolved.provider_values
    discount = invoice.discount
    body: dict[str, Any] = {
        "customer_id": resolved.customer_id,
        "template_id": values.get("template_id"),
        "transaction_date": _iso(invoice.issue_date),
        "due_date": _iso(invoice.due_date),
        "reference": invoice.reference,
        "billing_address": invoice.billing_address,
        "shipping_address": invoice.shipping_address,
        "notes": invoice.notes,
        "terms_conditions": invoice.terms,
        "deal_id": values.get("deal_id"),
        "assigned_to": values.get("assigned_to"),
        "org_currency_id": resolved.org_currency_id,
        "conversion_rate": invoice.exchange_rate,
        "overall_discount": discount.value if discount else None,
        "overall_discount_type": (
            mapping.document_discount_write[discount.type] if discount else None
        ),
        "tag_ids": values.get("tag_ids"),
    }
    if replace:
        body["tag_ids"] = body["tag_ids"] or []
    else:
        body = {k: v for k, v in body.items() if v is not None or k not in _CREATE_OMITS_NONE}
    body["items"] = [
        line_body(line, taxes, mapping)
        for line, taxes in zip(invoice.lines, resolved.line_taxes, strict=True)
    ]
    return body


def line_body(line: Line, taxes: list[LineTax], mapping: Mapping) -> dict[str, Any]:
    """One ``items[]`` entry; a section line is a ``header`` with no amounts."""
    item_id = whole_number(line.item_id)
    if line.kind == "section":
        header: dict[str, Any] = {"item_name": line.name, "type": HEADER}
        if item_id is not None:
            header["item_id"] = item_id
        if line.description is not None:
            header["description"] = line.description
        return header
    body: dict[str, Any] = {
        "item_id": item_id,
        "item_name": line.name,
        "quantity": line.quantity,
        "price": line.unit_price,
        "type": ITEM,
    }
    if line.description is not None:
        body["description"] = line.description
    if line.discount is not None:
        body["discount"] = line.discount.value
        body["discount_type"] = mapping.line_discount_write[line.discount.type]
    if taxes:
        # With an id, both: crm_v1 checks that the rate is its tax's rate, so a tax read from
        # it goes back as it came and a stale rate is refused instead of charged. Without one,
        # the bare rate, as the doc's example writes it.
        if taxes[0].tax_id is not None:
            body["tax_id"] = taxes[0].tax_id
        body["tax_rate"] = taxes[0].rate
    return body


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


# -- crm_v1 → canonical ------------------------------------------------------------------------


@reads_provider_figures
def read_invoice(data: Any, mapping: Mapping, connection: Connection) -> Invoice:
    """The canonical invoice for a ``GET /v1/invoices/{id}`` answer (before reconciliation).

    An answer that does not fit the canonical model (a currency the connection does not know,
    a value beyond the canonical limits) is an ``UpstreamError`` naming the invoice and field.
    """
    if not isinstance(data, dict):
        raise unreadable(PROVIDER, "an invoice", "it is not an object")
    try:
        return Invoice.model_validate(_invoice_fields(data, mapping, connection))
    except READ_ERRORS as exc:
        raise unreadable(PROVIDER, invoice_label(data.get("inv_id")), exc) from None


def _invoice_fields(data: dict[str, Any], mapping: Mapping, connection: Connection) -> Any:
    meaning = mapping.read_status(data.get("inv_status"))
    customer_id = data.get("customer_id")
    return {
        "id": identifier(data.get("inv_id"), "inv_id"),
        "number": data.get("inv_number"),
        "status": meaning.status,
        "payment_status": meaning.payment_status,
        "overdue": meaning.overdue,
        "provider_status": {"inv_status": data.get("inv_status")},
        "customer": {"id": str(customer_id) if customer_id is not None else None},
        "issue_date": data.get("transaction_date"),
        "due_date": data.get("due_date"),
        "currency": _currency(data.get("org_currency_id"), connection),
        "exchange_rate": data.get("conversion_rate"),
        "tax_mode": "exclusive",
        "lines": [_line(item, mapping, connection) for item in array(data, "items")],
        "discount": _discount(
            data.get("overall_discount"),
            data.get("overall_discount_type"),
            mapping.document_discount_read,
        ),
        "reference": data.get("reference"),
        "notes": data.get("notes"),
        "terms": data.get("terms_conditions"),
        "billing_address": data.get("billing_address"),
        "shipping_address": data.get("shipping_address"),
        "provider_fields": {
            name: data.get(name) for name in mapping.provider_fields if name in data
        },
        "payments": [_payment(raw) for raw in data.get("payments") or []],
        "totals": {
            "subtotal": data["sub_total"],
            "discount": data["discount_total"],
            "tax": data["tax_total"],
            "shipping": 0,  # crm_v1 has neither shipping nor an adjustment
            "adjustment": 0,
            "total": data["total"],
            "paid": data["amount_paid"],
            "due": data["amount_due"],
        },
        "remote_data": data,
    }


# The fields of a summary a list row may carry, by crm_v1's name; the doc's rows carry all but
# org_currency_id (docs/providers/crm_v1.md, "List rows").
_SUMMARY_FIELDS = {
    "inv_status": "status",
    "inv_number": "number",
    "customer_id": "customer.id",
    "transaction_date": "issue_date",
    "due_date": "due_date",
    "org_currency_id": "currency",
    "total": "totals.total",
    "amount_due": "totals.due",
}


@reads_provider_figures
def read_summary(row: Any, mapping: Mapping, connection: Connection) -> InvoiceSummary:
    """The summary of one ``GET /v1/invoices`` row: its fields read as ``read_invoice`` reads
    them, ``absent`` naming those it lacks (and ``lines``, which no row has)."""
    if not isinstance(row, dict):
        raise unreadable(PROVIDER, "a list row", "it is not an object")
    try:
        return InvoiceSummary.model_validate(_summary_fields(row, mapping, connection))
    except READ_ERRORS as exc:
        raise unreadable(PROVIDER, invoice_label(row.get("inv_id")), exc) from None


def _summary_fields(row: dict[str, Any], mapping: Mapping, connection: Connection) -> Any:
    fields: dict[str, Any] = {
        "id": identifier(row.get("inv_id"), "inv_id"),
        "number": row.get("inv_number"),
        "issue_date": row.get("transaction_date"),
        "due_date": row.get("due_date"),
        "totals": {"total": row.get("total"), "due": row.get("amount_due")},
        "absent": [path for name, path in _SUMMARY_FIELDS.items() if name not in row] + ["lines"],
        "remote_data": row,
    }
    if "inv_status" in row:
        meaning = mapping.read_status(row["inv_status"])
        fields["status"] = meaning.status
        fields["payment_status"] = meaning.payment_status
        fields["overdue"] = meaning.overdue
        fields["provider_status"] = {"inv_status": row["inv_status"]}
    if row.get("customer_id") is not None:
        fields["customer"] = {"id": str(row["customer_id"])}
    if "org_currency_id" in row:
        fields["currency"] = _currency(row["org_currency_id"], connection)
    return fields


def _currency(org_currency_id: Any, connection: Connection) -> str:
    code = connection.currency_code(org_currency_id)
    if code is not None:
        return code
    raise ValueError(
        f"its org_currency_id {org_currency_id} is not in the currencies of connection "
        f"{connection.name}; add the currency code with that id"
    )


def _line(item: dict[str, Any], mapping: Mapping, connection: Connection) -> dict[str, Any]:
    item_id = item.get("item_id")
    line: dict[str, Any] = {
        "item_id": str(item_id) if item_id is not None else None,
        "name": item.get("item_name"),
        "description": item.get("description"),
    }
    if item.get("type") != ITEM:
        # A heading: whatever numbers it was sent take no part in the totals (they stay in
        # remote_data), and a canonical section line carries none.
        return {"kind": "section", **line}
    tax_rate = item.get("tax_rate")
    return {
        "kind": "item",
        **line,
        "quantity": item.get("quantity"),
        "unit_price": item.get("price"),
        "discount": _discount(
            item.get("discount"), item.get("discount_type"), mapping.line_discount_read
        ),
        "taxes": _taxes(item.get("tax_id"), tax_rate, connection),
        "net_amount": item.get("line_total"),
    }


def _taxes(tax_id: Any, rate: Any, connection: Connection) -> list[Tax]:
    if tax_id is None:
        # A bare rate is a tax crm_v1 keeps no record of: it has a rate and nothing else.
        return [] if rate is None else [Tax(rate=rate)]
    if rate is None and connection.tax_by_id(str(tax_id)) is None:
        # A tax_id alone stands for its tax's rate, which only the connection's table knows.
        raise ValueError(
            f"a line's tax_id {tax_id} comes without a tax_rate and is not in the taxes of "
            f"connection {connection.name}; add it with its rate"
        )
    tax = canonical_tax(connection, tax_id, rate)
    if rate is not None and tax.rate != Decimal(rate):
        # The provider charged its own rate; the connection's table is out of date.
        tax = Tax(id=tax.id, rate=rate)
    return [tax]


def _discount(value: Any, code: Any, table: dict[str, str]) -> Discount | None:
    """A discount from its value and type code; None without a value or with an unknown code.

    An unknown code leaves the provider's figures unexplained, so the totals check lists the
    difference, and the raw pair stays in remote_data.
    """
    kind = table.get(str(code))
    if value is None or kind not in ("percent", "amount"):
        return None
    return Discount.model_validate({"type": kind, "value": value})


def _payment(raw: dict[str, Any]) -> Payment:
    return Payment.model_validate(
        {
            "id": str(raw["payment_id"]),
            "amount": raw["amount"],
            "date": raw["payment_date"],
            "method": raw.get("payment_method"),
            "reference": raw.get("reference"),
        }
    )
