"""item_envelope's wire format: request bodies built from canonical invoices, answers read back.

Writes nest the lines inside the invoice (``{"Invoice": {..., "InvoiceItem": [...]}}``, as the
provider documents); reads put them beside it (``{"Invoice": {...}, "InvoiceItem": [...]}``).
Ids are JSON integers and amounts JSON numbers, written from exact decimals. Which provider code
means what (status, discount types, the document discount's two fields) comes from the mapping.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from adapters.mapping import Mapping
from adapters.reference import canonical_tax
from adapters.unreadable import array, identifier
from adapters.unreadable import kind as kind_of
from gateway.canonical.decimals import reads_provider_figures
from gateway.canonical.errors import FieldError
from gateway.canonical.model import Customer, Discount, Invoice, Line, Totals
from gateway.canonical.money import exponent, quantum
from gateway.config import Connection, TaxSetting

ENVELOPE = "Invoice"
ITEMS = "InvoiceItem"
LINE_COLUMNS = ("col_3", "col_4", "col_5")

# A positive integer, leading zeros allowed as crm_v1 and bill_crm allow them (007 is 7).
_ID = re.compile(r"0*[1-9][0-9]{0,17}")

# Header fields a replacing write must send even when the caller left them out, and the value
# that clears each one: a partial update keeps whatever is not sent.
_CLEARED: dict[str, Any] = {
    "discount": Decimal(0),
    "discount_amount": Decimal(0),
    "notes": None,
    "po_number": None,
    "is_offline": 0,
}


class UnreadableAnswer(ValueError):
    """The provider answered with a shape the adapter cannot read."""


def provider_id(text: str | None) -> int | None:
    """The integer id the provider uses for ``text``, or None when it cannot be one."""
    if text is None or not _ID.fullmatch(text):
        return None
    return int(text)


# --- outgoing ------------------------------------------------------------------------------------


def reference_errors(invoice: Invoice, *, keep_line_ids: bool) -> list[FieldError]:
    """The ids the provider needs as integers: the client, each line's product, kept line ids."""
    errors: list[FieldError] = []
    customer_id = invoice.customer.id if invoice.customer else None
    if customer_id is None:
        errors.append(FieldError("/customer/id", "is required by item_envelope (its client_id)"))
    elif provider_id(customer_id) is None:
        errors.append(
            FieldError("/customer/id", "must be an item_envelope client id (a positive integer)")
        )
    for i, line in enumerate(invoice.lines):
        if line.item_id is None:
            errors.append(
                FieldError(
                    f"/lines/{i}/item_id",
                    "is required by item_envelope: every line names a product (its product_id)",
                )
            )
        elif provider_id(line.item_id) is None:
            errors.append(
                FieldError(
                    f"/lines/{i}/item_id",
                    "must be an item_envelope product id (a positive integer)",
                )
            )
        if keep_line_ids and line.id is not None and provider_id(line.id) is None:
            errors.append(
                FieldError(
                    f"/lines/{i}/id",
                    "must be the id of one of this invoice's item_envelope lines, or left out",
                )
            )
    return errors


def tax_id_errors(taxes: list[list[TaxSetting]]) -> list[FieldError]:
    """Configured tax ids the provider could not take (it wants integers): a configuration slip."""
    return [
        FieldError(
            f"/lines/{i}/taxes/{j}",
            f"the connection maps this tax to id {setting.id!r}, "
            "but item_envelope tax ids are positive integers; fix the connection's taxes",
        )
        for i, line_taxes in enumerate(taxes)
        for j, setting in enumerate(line_taxes)
        if provider_id(setting.id) is None
    ]


def repeated_tax_errors(taxes: list[list[TaxSetting]]) -> list[FieldError]:
    """A line's second tax that is its first again: the provider takes ``tax2`` only when it
    differs from ``tax1`` (docs/providers/item_envelope.md), and refuses the create."""
    return [
        FieldError(
            f"/lines/{i}/taxes/1",
            f"is tax {line_taxes[1].id} again, as /lines/{i}/taxes/0 is: item_envelope takes "
            "two different taxes on a line",
        )
        for i, line_taxes in enumerate(taxes)
        if len(line_taxes) > 1 and line_taxes[0].id == line_taxes[1].id
    ]


def invoice_body(
    invoice: Invoice,
    *,
    mapping: Mapping,
    taxes: list[list[TaxSetting]],
    provider_values: dict[str, Any],
    draft: Any,
    replace: bool,
) -> dict[str, Any]:
    """The write body. ``replace`` sends every writable field, cleared ones included, so that a
    partial update leaves nothing of the previous version behind; it also keeps line ids."""
    assert invoice.customer is not None and invoice.customer.id is not None  # checked before
    header: dict[str, Any] = {
        "client_id": int(invoice.customer.id),
        "store_id": provider_values.get("store_id"),
        "currency_code": invoice.currency,
    }
    if invoice.issue_date is not None:
        header["date"] = invoice.issue_date.isoformat()
    if draft is not None:
        header["draft"] = draft
    if replace:
        header.update(_CLEARED)
    if invoice.discount is not None:
        header[mapping.document_discount_write[invoice.discount.type]] = invoice.discount.value
    if invoice.notes is not None:
        header["notes"] = invoice.notes
    if invoice.reference is not None:
        header["po_number"] = invoice.reference
    if provider_values.get("is_offline") is not None:
        # Documented as "boolean … (0/1)": the 0/1 form is the one the provider's table shows.
        header["is_offline"] = int(bool(provider_values["is_offline"]))
    header[ITEMS] = [
        _item(line, line_taxes, mapping, keep_id=replace)
        for line, line_taxes in zip(invoice.lines, taxes, strict=True)
    ]
    return {ENVELOPE: header}


def _item(
    line: Line, taxes: list[TaxSetting], mapping: Mapping, *, keep_id: bool
) -> dict[str, Any]:
    assert line.item_id is not None  # checked before
    item: dict[str, Any] = {}
    if keep_id and line.id is not None:
        item["id"] = int(line.id)
    item.update(product_id=int(line.item_id), quantity=line.quantity, unit_price=line.unit_price)
    if line.discount is not None:
        # Always with its type: the provider's default type (1) is a percentage.
        item["discount"] = line.discount.value
        item["discount_type"] = mapping.line_discount_write[line.discount.type]
    for slot, setting in zip(("tax1", "tax2"), taxes, strict=False):
        item[slot] = int(setting.id)
    for column in LINE_COLUMNS:
        if line.provider_fields.get(column) is not None:
            item[column] = line.provider_fields[column]
    return item


def issue_body(mapping: Mapping) -> dict[str, Any]:
    return {ENVELOPE: {"draft": mapping.write_status("open")}}


# --- incoming ------------------------------------------------------------------------------------


def record(body: Any) -> dict[str, Any]:
    """The ``data`` of a get answer: ``{"Invoice": {...}, "InvoiceItem": [...]}``."""
    data = body.get("data") if isinstance(body, dict) else None
    if not _is_record(data):
        raise UnreadableAnswer("the answer has no invoice record in data")
    assert isinstance(data, dict)
    return data


def page(body: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The records of a list answer and its ``pagination``."""
    rows = body.get("data") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not all(_is_record(row) for row in rows):
        raise UnreadableAnswer("the answer has no list of invoice records in data")
    pagination = body.get("pagination")
    return rows, pagination if isinstance(pagination, dict) else {}


def _is_record(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get(ENVELOPE), dict)
        and isinstance(data.get(ITEMS, []), list)
    )


@reads_provider_figures
def read_invoice(data: dict[str, Any], *, mapping: Mapping, connection: Connection) -> Invoice:
    """The canonical invoice for one record (not yet reconciled: see ``Adapter.finish_read``)."""
    header: dict[str, Any] = data[ENVELOPE]
    currency = header.get("currency_code") or connection.currency
    if not isinstance(currency, str):
        raise UnreadableAnswer("the invoice has no currency_code and the connection no currency")
    status_fields = (mapping.status_field or "").split("/")
    raw_status = {name: header.get(name) for name in status_fields}
    meaning = mapping.read_status("/".join(str(value) for value in raw_status.values()))
    payment_field = mapping.payment_status_field
    payment_status = None
    if payment_field is not None:
        raw_status.setdefault(payment_field, header.get(payment_field))
        payment_status = mapping.read_payment_status(header.get(payment_field))
    client_id = header.get("client_id")
    return Invoice.model_validate(
        {
            "id": identifier(header.get("id"), "id"),
            "number": header.get("no"),
            "status": meaning.status,
            "payment_status": payment_status,
            "provider_status": raw_status,
            "customer": Customer(id=None if client_id is None else str(client_id)),
            "issue_date": header.get("date"),
            "currency": currency,
            "discount": _document_discount(header, mapping),
            "reference": header.get("po_number"),
            "notes": header.get("notes"),
            "lines": [_read_line(item, mapping, connection) for item in array(data, ITEMS)],
            "totals": _totals(header, currency),
            "provider_fields": {
                "store_id": header.get("store_id"),
                "is_offline": bool(header.get("is_offline")),
            },
            "remote_data": data,
        }
    )


def _document_discount(header: dict[str, Any], mapping: Mapping) -> Discount | None:
    for field, kind in mapping.document_discount_read.items():
        value = _number(header.get(field), field)
        if value and kind in ("percent", "amount"):
            return Discount(type=kind, value=value)
    return None


def _read_line(item: dict[str, Any], mapping: Mapping, connection: Connection) -> Line:
    discount = None
    value = _number(item.get("discount"), "discount")
    kind = mapping.line_discount_read.get(str(item.get("discount_type", 1)))
    # An unknown type code leaves the discount out; the record in remote_data still has it and
    # reconciliation reports the amounts that no longer add up.
    if value and kind in ("percent", "amount"):
        discount = Discount(type=kind, value=value)
    taxes = [canonical_tax(connection, item[slot]) for slot in ("tax1", "tax2") if item.get(slot)]
    product_id = item.get("product_id")
    return Line(
        id=None if item.get("id") is None else str(item["id"]),
        item_id=None if product_id is None else str(product_id),
        name=item.get("item"),
        quantity=_number(item.get("quantity"), "quantity"),
        unit_price=_number(item.get("unit_price"), "unit_price"),
        discount=discount,
        taxes=taxes,
        provider_fields={c: item[c] for c in LINE_COLUMNS if item.get(c) is not None},
        # The provider's line `subtotal` is after the line's own discount, before the document
        # discount and tax: the canonical net amount.
        net_amount=_number(item.get("subtotal"), "subtotal"),
    )


_SUMMARY = (
    "summary_subtotal",
    "summary_discount",
    "summary_tax1",
    "summary_tax2",
    "summary_total",
    "summary_paid",
    "summary_unpaid",
)


def _totals(header: dict[str, Any], currency: str) -> Totals | None:
    figures = {name: _number(header.get(name), name) for name in _SUMMARY}
    if figures["summary_total"] is None:
        # Read-only and always sent (docs/providers.md): without it, this is not an invoice.
        raise UnreadableAnswer("summary_total is missing")
    if any(value is None for value in figures.values()):
        return None  # not the provider's full figures: the engine's alone are shown
    zero = quantum(exponent(currency)) * 0  # no shipping or adjustment on this provider
    return Totals.model_validate(
        {
            "subtotal": figures["summary_subtotal"],
            "discount": figures["summary_discount"],
            "tax": _add(figures["summary_tax1"], figures["summary_tax2"]),
            "shipping": zero,
            "adjustment": zero,
            "total": figures["summary_total"],
            "paid": figures["summary_paid"],
            "due": figures["summary_unpaid"],
        }
    )


def _add(a: Decimal | None, b: Decimal | None) -> Decimal:
    assert a is not None and b is not None
    return a + b


def _number(value: Any, name: str) -> Decimal | None:
    """A provider number as an exact Decimal (JSON integers arrive as int); ``name`` is the
    field's, for the message when it is not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    raise UnreadableAnswer(f"{name} is {kind_of(value)}, not a number")


def errors(body: Any, mapping: Mapping) -> list[FieldError]:
    """The provider's ``errors`` object, each field named by its canonical pointer where known.

    A field the mapping cannot place points at the whole body and keeps the provider's name.
    """
    raw = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(raw, dict):
        return []
    found = []
    for field, messages in raw.items():
        text = "; ".join(str(m) for m in messages) if isinstance(messages, list) else str(messages)
        pointer = mapping.pointer_for(str(field))
        found.append(FieldError(pointer or "", text if pointer else f"{field}: {text}"))
    return found


def message(body: Any) -> str:
    text = body.get("message") if isinstance(body, dict) else None
    return str(text) if text else "no message"
