"""draft_publish ⇄ canonical: request bodies built from canonical invoices, answers read back.

The provider takes and returns amounts, quantities, prices and rates as JSON numbers; they
arrive here as ``Decimal`` (fractions) or ``int`` and leave as ``Decimal``, so no value passes
through a binary float. Field names are those of ``mappings/draft_publish.yaml``.
"""

from __future__ import annotations

import functools
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter

from adapters.base import ListQuery
from adapters.mapping import Mapping
from adapters.reference import canonical_tax
from adapters.unreadable import array, identifier
from adapters.unreadable import kind as kind_of
from gateway.canonical.decimals import reads_provider_figures
from gateway.canonical.model import DocumentType, Invoice, IsoDate, Line, Payment, Tax
from gateway.canonical.money import UnknownCurrency, round_money
from gateway.config import Connection, TaxSetting

# Where a published invoice can be opened by its customer; the doc names the token, not the page.
SHARE_PATH = "/share/"
# The provider's `type` → the canonical document_type (another value reads as unknown).
DOCUMENT_TYPES: dict[str, DocumentType] = {"invoice": "invoice", "credit_note": "credit_note"}


# -- canonical → provider ----------------------------------------------------------------------


def invoice_body(
    invoice: Invoice,
    mapping: Mapping,
    taxes: list[list[TaxSetting]],
    provider_values: dict[str, Any],
) -> dict[str, Any]:
    """The create/update body ("same body as create"), every key present.

    Update replaces the whole draft, so an optional field sent as ``null`` is cleared there;
    sending every key keeps create and update the same and leaves nothing to the provider's
    reading of a missing key.
    """
    assert invoice.customer is not None and invoice.issue_date and invoice.due_date  # pre-checked
    discount = invoice.discount
    return {
        "customer_id": invoice.customer.id,
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "currency": invoice.currency,
        "notes": invoice.notes,
        "payment_terms": invoice.terms,
        "discount_type": mapping.document_discount_write[discount.type] if discount else None,
        "discount_value": discount.value if discount else None,
        "template_id": provider_values.get("template_id"),
        "items": [
            _item_body(line, line_taxes)
            for line, line_taxes in zip(invoice.lines, taxes, strict=True)
        ],
    }


def _item_body(line: Line, taxes: list[TaxSetting]) -> dict[str, Any]:
    return {
        "product_id": line.item_id,
        "description": line.description,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "unit": line.unit,
        "tax_id": taxes[0].id if taxes else None,  # at most one: the capabilities say so
    }


def filter_params(query: ListQuery, search: str | None) -> dict[str, Any]:
    """The filters the list and the CSV export both take: ``customer_id``, ``from_date`` and
    ``to_date`` (the issue dates), and ``search``."""
    params: dict[str, Any] = {}
    if query.customer_id is not None:
        params["customer_id"] = query.customer_id
    if query.issued_from is not None:
        params["from_date"] = query.issued_from.isoformat()
    if query.issued_to is not None:
        params["to_date"] = query.issued_to.isoformat()
    if search:
        params["search"] = search
    return params


def payment_body(payment: Payment) -> dict[str, Any]:
    return {
        "amount": payment.amount,
        "method": payment.method,
        "reference": payment.reference,
        "date": payment.date.isoformat(),
    }


# -- provider → canonical ----------------------------------------------------------------------


def issue_date(data: Any) -> date | None:
    """The issue date of one provider invoice, as ``read_invoice`` reads it: the canonical
    field's own validation of the provider's value."""
    if not isinstance(data, dict):
        raise TypeError("expected an invoice object")
    issued: date | None = _issue_dates().validate_python(data.get("issue_date"))
    return issued


@functools.cache
def _issue_dates() -> TypeAdapter[date | None]:
    return TypeAdapter(IsoDate | None)  # as ``Invoice.issue_date`` is typed


@reads_provider_figures
def read_invoice(data: dict[str, Any], mapping: Mapping, connection: Connection) -> Invoice:
    """The canonical invoice for one provider invoice object (before ``finish_read``).

    Raises one of ``adapters.unreadable.READ_ERRORS`` when the object is not the shape the
    provider documents; the adapter reports that as an unusable answer.
    """
    raw_status = data["status"]
    meaning = mapping.read_status(raw_status)
    customer = data.get("customer") or {}
    token = data.get("share_token")
    kind, credited = _document_type(data.get("type")), data.get("original_invoice_id")
    return Invoice.model_validate(
        {
            "id": identifier(data.get("id"), "id"),
            "document_type": kind,
            # Only a credit note credits: a link on an invoice stays in remote_data alone.
            "credited_invoice_id": None if kind == "invoice" else _text_id(credited),
            "number": data.get("number"),
            "status": meaning.status,
            "payment_status": meaning.payment_status,
            "overdue": meaning.overdue,
            "provider_status": {mapping.status_field or "status": raw_status},
            "customer": {"id": data.get("customer_id"), "name": customer.get("name")},
            "issue_date": data.get("issue_date"),
            "due_date": data.get("due_date"),
            "currency": data["currency"],
            "tax_mode": "exclusive",
            "notes": data.get("notes"),
            "terms": data.get("payment_terms"),
            "discount": _discount(data, mapping),
            "lines": [_line(item, connection) for item in array(data, "items")],
            "totals": _totals(data),
            "payments": [read_payment(p) for p in data.get("payments") or []],
            "provider_fields": {"template_id": data.get("template_id")},
            "public_url": share_url(connection, token) if token else None,
            "created_at": data.get("created_at"),
            "updated_at": data.get("updated_at"),
            "remote_data": data,
        }
    )


def _document_type(raw: Any) -> DocumentType:
    # No type at all is an invoice: the provider's own doc never names the field.
    return "invoice" if raw is None else DOCUMENT_TYPES.get(str(raw), "unknown")


def _text_id(raw: Any) -> str | None:
    return None if raw is None else identifier(raw, "original_invoice_id")


def share_url(connection: Connection, token: str) -> str:
    return connection.base_url.rstrip("/") + SHARE_PATH + token


@reads_provider_figures
def read_payment(data: dict[str, Any]) -> Payment:
    return Payment.model_validate(
        {
            "id": str(data["id"]),
            "amount": number(data["amount"], "amount"),
            "date": data["date"],
            "method": data.get("method"),
            "reference": data.get("reference"),
        }
    )


def number(value: Any, name: str = "a figure") -> Decimal:
    """A JSON number as read (``int`` or ``Decimal``) as a ``Decimal``; anything else is refused
    (``ValueError`` naming ``name``)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError(f"{name} is {kind_of(value)}, not a number")
    return Decimal(value)


def _discount(data: dict[str, Any], mapping: Mapping) -> dict[str, Any] | None:
    kind = mapping.document_discount_read.get(str(data.get("discount_type")))
    value = data.get("discount_value")
    # An unknown type has no canonical reading: left out, the totals check shows the difference
    # and remote_data keeps the provider's values.
    if kind is None or kind == "none" or value is None:
        return None
    return {"type": kind, "value": number(value, "discount_value")}


def _line(item: dict[str, Any], connection: Connection) -> dict[str, Any]:
    tax_id = item.get("tax_id")
    return {
        "id": str(item["id"]) if item.get("id") is not None else None,
        "kind": "item",
        "item_id": item.get("product_id"),
        "description": item.get("description"),
        "quantity": number(item["quantity"], "quantity"),
        "unit": item.get("unit"),
        "unit_price": number(item["unit_price"], "unit_price"),
        "taxes": [_tax(connection, tax_id, item.get("tax_rate"))] if tax_id is not None else [],
        # amount is round(quantity × unit_price): the line before the document discount and tax.
        "subtotal": number(item["amount"], "amount") if item.get("amount") is not None else None,
    }


def _tax(connection: Connection, tax_id: Any, rate: Any) -> Tax:
    """The line's tax: named from the connection's table, at the rate the provider applied.

    The provider copies the rate onto the line when it is written, so a tax changed since then
    still shows the rate this invoice was computed with; the configured name is kept only when
    it names that rate.
    """
    tax = canonical_tax(connection, tax_id, number(rate) if rate is not None else None)
    if rate is None or number(rate) == tax.rate:
        return tax
    return Tax(id=tax.id, name=None, rate=number(rate))


def _totals(data: dict[str, Any]) -> dict[str, Decimal]:
    # Written in the currency's minor units, as every other amount ("0.00", JPY "0").
    try:
        zero = round_money(Decimal(0), str(data["currency"]))
    except UnknownCurrency:
        zero = Decimal(0)  # the model names the currency it does not know
    return {
        "subtotal": number(data["subtotal"], "subtotal"),
        "discount": number(data["discount_amount"], "discount_amount"),
        "tax": number(data["tax_amount"], "tax_amount"),
        "shipping": zero,  # the provider has neither shipping nor an adjustment
        "adjustment": zero,
        "total": number(data["total"], "total"),
        "paid": number(data["amount_paid"], "amount_paid"),
        "due": number(data["balance_due"], "balance_due"),
    }
