"""bill_crm's wire format: request bodies built from canonical invoices, invoices read back.

Amounts travel as JSON numbers (the doc types them ``numeric``), written exactly by the
upstream client; ids are integers. The code tables (statuses, discount types) live in
``mappings/bill_crm.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

from pydantic import ValidationError

from adapters.mapping import Mapping
from adapters.reference import canonical_tax
from adapters.unreadable import array, identifier
from gateway.canonical.decimals import reads_provider_figures
from gateway.canonical.model import (
    Adjustment,
    Customer,
    Discount,
    Invoice,
    Line,
    Tax,
    Totals,
)
from gateway.config import Connection, TaxSetting

TaxType = Literal["summary", "inline"]
SUMMARY: TaxType = "summary"
INLINE: TaxType = "inline"
TAX_TYPES: tuple[TaxType, ...] = (SUMMARY, INLINE)

# The header's discount value sits in a field named after its type.
_DISCOUNT_VALUE_FIELD = {"percent": "bill_discount_percentage", "amount": "bill_discount_amount"}


# -- requests ----------------------------------------------------------------------------------


def create_body(invoice: Invoice, fields: dict[str, Any], tax_type: TaxType) -> dict[str, Any]:
    """``POST /invoices``: the header the CRM takes on create (no lines, discount, adjustment)."""
    assert invoice.customer is not None and invoice.customer.id is not None
    assert invoice.issue_date is not None
    body: dict[str, Any] = {
        "bill_clientid": int(invoice.customer.id),
        "bill_categoryid": fields["bill_categoryid"],
        "bill_date": invoice.issue_date.isoformat(),
    }
    if invoice.due_date is not None:
        body["bill_due_date"] = invoice.due_date.isoformat()
    if fields.get("bill_projectid") is not None:
        body["bill_projectid"] = fields["bill_projectid"]
    body["bill_tax_type"] = tax_type
    if invoice.notes is not None:
        body["bill_notes"] = invoice.notes
    if invoice.terms is not None:
        body["bill_terms"] = invoice.terms
    return body


def header_body(
    invoice: Invoice,
    fields: dict[str, Any],
    tax_type: TaxType,
    mapping: Mapping,
    *,
    discount: Discount | None,
) -> dict[str, Any]:
    """``PUT /invoices/{id}``: every header field, so the update replaces rather than merges.

    ``null`` clears an optional field there. A due date cannot be cleared (``null`` counts as
    absent), so without one the CRM keeps the date it has.
    """
    assert invoice.issue_date is not None
    body: dict[str, Any] = {
        "bill_categoryid": fields["bill_categoryid"],
        "bill_date": invoice.issue_date.isoformat(),
    }
    if invoice.due_date is not None:
        body["bill_due_date"] = invoice.due_date.isoformat()
    body["bill_projectid"] = fields.get("bill_projectid")
    body["bill_tax_type"] = tax_type
    body["bill_notes"] = invoice.notes
    body["bill_terms"] = invoice.terms
    body.update(discount_fields(discount, mapping))
    adjustment = invoice.adjustment
    body["bill_adjustment_description"] = adjustment.description if adjustment else None
    body["bill_adjustment_amount"] = adjustment.amount if adjustment else Decimal("0.00")
    return body


def discount_fields(discount: Discount | None, mapping: Mapping) -> dict[str, Any]:
    if discount is None:
        return {"bill_discount_type": mapping.document_discount_write["none"]}
    return {
        "bill_discount_type": mapping.document_discount_write[discount.type],
        _DISCOUNT_VALUE_FIELD[discount.type]: discount.value,
    }


def line_items_body(
    invoice: Invoice,
    taxes: Sequence[Sequence[TaxSetting]],
    tax_type: TaxType,
    mapping: Mapping,
) -> dict[str, Any]:
    """``PUT /invoices/{id}/line-items``: every line, with the taxes of the invoice's tax type."""
    items = []
    for line, line_taxes in zip(invoice.lines, taxes, strict=True):
        item: dict[str, Any] = {
            "description": line.name,
            "quantity": line.quantity,
            "rate": line.unit_price,
        }
        if line.unit is not None:
            item["unit"] = line.unit
        if line.description is not None:
            item["long_description"] = line.description
        if tax_type == INLINE:
            if line_taxes:
                item["tax_rate_id"] = int(line_taxes[0].id)
            if line.discount is not None:
                item["discount_type"] = mapping.line_discount_write[line.discount.type]
                item["discount_value"] = line.discount.value
        items.append(item)
    body: dict[str, Any] = {"items": items}
    if tax_type == SUMMARY:
        # Summary taxes are the invoice's: every line carries the same ones (checked before).
        body["tax_rate_ids"] = [int(tax.id) for tax in taxes[0]] if taxes else []
    return body


def tags_body(tags: Sequence[str]) -> dict[str, Any]:
    return {"tags": list(tags)}


def status_body(status_id: Any) -> dict[str, Any]:
    return {"status": status_id}


# -- answers -----------------------------------------------------------------------------------


class Unreadable(ValueError):
    """A value of the CRM's answer the canonical model cannot hold; the text says which."""


# A line's canonical fields by the names bill_crm gives them, for messages about its answer.
_LINE_WIRE_NAMES = {
    "name": "description",
    "description": "long_description",
    "unit_price": "rate",
    "discount": "discount_value",
    "subtotal": "amount",
    "net_amount": "total",
}


def describe(exc: ValidationError, wire_names: dict[str, str] | None = None) -> str:
    """``field: problem`` for the first problem pydantic found, the field by its wire name."""
    first = exc.errors()[0]
    parts = [str(part) for part in first["loc"]]
    if parts and wire_names:
        parts[0] = wire_names.get(parts[0], parts[0])
    return f"{'.'.join(parts)}: {first['msg'].removeprefix('Value error, ')}"


def status_id(data: dict[str, Any]) -> Any:
    """The invoicestatus_id of an invoice (``status`` is documented as ``{id, title, color}``)."""
    status = data.get("status")
    return status.get("id") if isinstance(status, dict) else status


@reads_provider_figures
def read_invoice(data: dict[str, Any], mapping: Mapping, connection: Connection) -> Invoice:
    """The canonical invoice for one of bill_crm's invoice objects (before reconciliation)."""
    assert connection.currency is not None
    meaning = mapping.read_status(status_id(data))
    client = data.get("client") or {}
    dates = data.get("dates") or {}
    tax_type = data.get("tax_type")
    records = data.get("taxes") or []
    lines = []
    for i, item in enumerate(array(data, "line_items")):
        try:
            lines.append(_read_line(item, records, tax_type, mapping, connection))
        except ValidationError as exc:
            raise Unreadable(f"line_items.{i}.{describe(exc, _LINE_WIRE_NAMES)}") from exc
    provider_fields: dict[str, Any] = {}
    category = data.get("category")
    if isinstance(category, dict) and category.get("id") is not None:
        provider_fields["bill_categoryid"] = category["id"]
    if data.get("project_id") is not None:
        provider_fields["bill_projectid"] = data["project_id"]
    if tax_type is not None:
        provider_fields["bill_tax_type"] = tax_type
    return Invoice(
        id=identifier(data.get("id"), "id"),
        status=meaning.status,
        overdue=meaning.overdue,
        payment_status=meaning.payment_status,
        provider_status={"status": data.get("status")},
        customer=Customer(
            id=str(client["id"]) if client.get("id") is not None else None,
            name=client.get("name"),
        ),
        issue_date=dates.get("date"),
        due_date=dates.get("due_date"),
        currency=connection.currency,
        tax_mode="exclusive",
        discount=_read_discount(data.get("discount"), mapping),
        adjustment=_read_adjustment(data.get("adjustment")),
        notes=data.get("notes"),
        terms=data.get("terms"),
        tags=list(data.get("tags") or []),
        provider_fields=provider_fields,
        lines=lines,
        totals=_read_totals(data["totals"]),
        created_at=dates.get("created"),
        remote_data=data,
    )


def _read_line(
    item: dict[str, Any],
    records: list[dict[str, Any]],
    tax_type: str | None,
    mapping: Mapping,
    connection: Connection,
) -> Line:
    # Summary tax records (no line id) cover every line; inline ones name their line.
    line_id = item["id"] if tax_type == INLINE else None
    # (index in ``taxes``, record): the index names a record the model refuses.
    mine = [(k, r) for k, r in enumerate(records) if r.get("lineitem_id") == line_id]
    # An unknown code reads as no discount: the CRM's line amounts then disagree in totals_check,
    # and the raw value stays in remote_data.
    kind = mapping.line_discount_read.get(str(item.get("discount_type")), "none")
    return Line(
        id=str(item["id"]),
        name=item.get("description"),
        description=item.get("long_description"),
        quantity=item["quantity"],
        unit=item.get("unit"),
        unit_price=item["rate"],
        discount=_discount(kind, item.get("discount_value")),
        taxes=[_read_tax(record, k, connection) for k, record in mine],
        subtotal=item.get("amount"),
        discount_amount=item.get("discount_amount"),
        net_amount=item.get("total"),
        # An inline line's tax is its own records' amounts; a summary tax is rounded over the
        # whole invoice, so no line has a figure of its own (the engine fills it).
        tax_amount=sum((r["amount"] for _, r in mine), Decimal("0.00"))
        if tax_type == INLINE
        else None,
    )


def _read_tax(record: dict[str, Any], index: int, connection: Connection) -> Tax:
    """The canonical tax of one of the invoice's ``taxes`` records (``index`` in that list)."""
    try:
        return _tax_of(record, connection)
    except ValidationError as exc:
        raise Unreadable(f"taxes.{index}.{describe(exc)}") from exc


def _tax_of(record: dict[str, Any], connection: Connection) -> Tax:
    tax = canonical_tax(connection, record["taxrate_id"], record.get("rate"))
    updates: dict[str, Any] = {}
    # The record holds the rate the CRM applied (it snapshots rates): that is what was charged,
    # even if the connection's table says otherwise.
    if record.get("rate") is not None and tax.rate != record["rate"]:
        updates["rate"] = record["rate"]
    if tax.name is None and record.get("name") is not None:
        updates["name"] = record["name"]
    # Validated, not copied: the record's rate is the provider's text or number, checked here.
    return Tax.model_validate({**tax.model_dump(), **updates}) if updates else tax


def _read_discount(raw: Any, mapping: Mapping) -> Discount | None:
    if not isinstance(raw, dict):
        return None
    kind = mapping.document_discount_read.get(str(raw.get("type")), "none")
    return _discount(kind, raw.get("percentage" if kind == "percent" else "amount"))


def _discount(kind: str, value: Any) -> Discount | None:
    if kind == "percent":
        return Discount(type="percent", value=value)
    if kind == "amount":
        return Discount(type="amount", value=value)
    return None


def _read_adjustment(raw: Any) -> Adjustment | None:
    if not isinstance(raw, dict):
        return None
    amount = raw.get("amount") or Decimal(0)
    description = raw.get("description")
    if amount == 0 and description is None:
        return None
    return Adjustment(amount=amount, description=description)


def _read_totals(raw: dict[str, Any]) -> Totals:
    # Every figure is required: a zero standing in for a missing one would misstate what is owed.
    return Totals(
        subtotal=raw["subtotal"],
        discount=raw["discount_amount"],
        tax=raw["tax_amount"],
        shipping=Decimal("0.00"),  # the CRM has no shipping
        adjustment=raw["adjustment_amount"],
        total=raw["final_amount"],
        paid=raw["paid_amount"],
        due=raw["balance_due"],
    )


def problems(body: Any) -> tuple[str | None, dict[str, list[str]]]:
    """The message and field errors of bill_crm's error envelope (either may be missing)."""
    if not isinstance(body, dict):
        return None, {}
    message = body.get("message")
    errors = body.get("errors")
    fields: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for name, messages in errors.items():
            if isinstance(messages, list):
                fields[str(name)] = [str(m) for m in messages]
            else:
                fields[str(name)] = [str(messages)]
    return (str(message) if message is not None else None), fields
