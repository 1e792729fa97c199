"""order_linked's wire format: request bodies from canonical invoices, canonical invoices from
its answers, and its error envelope.

Amounts, quantities, rates and the tax-inclusion flag travel as strings, as the provider's
documents write them; the currency is a code on write and ``{uuid, name, link}`` on read.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingType
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.mapping import Mapping, StatusMeaning
from adapters.reference import canonical_tax
from adapters.unreadable import identifier, kind
from gateway.canonical.decimals import reads_provider_figures
from gateway.canonical.model import Invoice, Tax
from gateway.canonical.money import exponent, quantum
from gateway.config import Connection

LINKED = "LINKED_WITH_ORDER"
NOT_LINKED = "NOT_LINKED_WITH_ORDER"
# Status table keys that need the payment state too are "<status>+<payment_status>".
PAIR = "+"


class WireError(ValueError):
    """An answer the adapter cannot read as the provider documents it."""


# -- requests ------------------------------------------------------------------------------------


def invoice_body(invoice: Invoice, custom_attributes: list[Any] | None) -> dict[str, Any]:
    """``POST /invoices``: keys in the order of the provider's request example and table."""
    assert invoice.customer is not None and invoice.customer.id is not None
    assert invoice.issue_date is not None and invoice.due_date is not None
    body: dict[str, Any] = {
        "type": LINKED if invoice.order_id is not None else NOT_LINKED,
        "currency": invoice.currency,
    }
    if invoice.reference is not None:
        body["customer_purchase_order_id"] = invoice.reference
    body["issue_date"] = invoice.issue_date.isoformat()
    body["due_date"] = invoice.due_date.isoformat()
    body["price_tax_inclusive"] = _flag(invoice.tax_mode == "inclusive")
    if invoice.notes is not None:
        body["invoice_note"] = invoice.notes
    body["account_id"] = invoice.customer.id
    if invoice.order_id is not None:
        body["order_id"] = invoice.order_id
    if custom_attributes is not None:
        body["custom_attributes"] = custom_attributes
    body["lines"] = [_line_body(line) for line in invoice.lines]
    return {"invoice": body}


def _line_body(line: Any) -> dict[str, Any]:
    assert line.quantity is not None and line.unit_price is not None
    body: dict[str, Any] = {"item_id": line.item_id, "item_quantity": _plain(line.quantity)}
    package = line.provider_fields.get("package_name")
    if package is not None:
        body["package_name"] = package
    # Always sent: left out, the item's own price rule would apply instead of the caller's price.
    body["item_price_snapshot"] = {"pricing_rule": {"price": _plain(line.unit_price)}}
    return body


def order_invoice_body(invoice: Invoice | None) -> dict[str, Any]:
    """``POST /orders/{id}/invoices``: the few fields an order leaves to the invoice."""
    body: dict[str, Any] = {}
    if invoice is not None:
        if invoice.reference is not None:
            body["customer_purchase_order_id"] = invoice.reference
        if invoice.issue_date is not None:
            body["issue_date"] = invoice.issue_date.isoformat()
        if invoice.due_date is not None:
            body["due_date"] = invoice.due_date.isoformat()
        if invoice.notes is not None:
            body["invoice_note"] = invoice.notes
    return {"invoice": body}


def status_query(mapping: Mapping, status: str) -> dict[str, str] | None:
    """List parameters narrowing to a canonical status, from the status table.

    ``None`` when no provider value means it (nothing can match); ``{}`` when the provider
    cannot narrow to it, and the adapter filters the page itself.
    """
    if status == "unknown":
        return {}
    keys = [key for key, meaning in mapping.status_read.items() if meaning.status == status]
    if not keys:
        return None
    pairs = [key.split(PAIR, 1) for key in keys]
    if len(pairs) == 1:
        params = {"status": pairs[0][0]}
        if len(pairs[0]) == 2:
            params["payment_status"] = pairs[0][1]
        return params
    statuses = {pair[0] for pair in pairs}
    return {"status": statuses.pop()} if len(statuses) == 1 else {}


# -- answers -------------------------------------------------------------------------------------


def error_of(body: Any) -> tuple[str | None, str | None]:
    """``(code, message)`` from ``{"error": {"code", "message"}}``."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
    )


def error_field(message: str) -> tuple[str | None, str]:
    """A message naming a field starts with its path: ``invoice.lines[0].item_id: …``."""
    field, sep, problem = message.partition(": ")
    if not sep or not field or " " in field:
        return None, message
    return field.removeprefix("invoice."), problem


def status_meaning(mapping: Mapping, status: Any, payment_status: Any) -> StatusMeaning:
    """The pair first (``ACTIVE+PAID``), then the status alone; unmapped is ``unknown``."""
    pair = mapping.status_read.get(f"{status}{PAIR}{payment_status}")
    return pair if pair is not None else mapping.read_status(status)


@reads_provider_figures
def read_invoice(raw: MappingType[str, Any], connection: Connection, mapping: Mapping) -> Invoice:
    """The canonical invoice of one provider invoice, ``remote_data`` being the raw payload."""
    status_raw, payment_raw = raw.get("status"), raw.get("payment_status")
    meaning = status_meaning(mapping, status_raw, payment_raw)
    stated = mapping.read_payment_status(payment_raw) if payment_raw is not None else None
    currency = currency_code(raw.get("currency"), connection)
    inclusive = _is_true(raw.get("price_tax_inclusive"))
    places = exponent(currency)
    zero = quantum(places) * 0
    kpis = _dig(raw, "kpis")
    overdue_amount = _decimal(kpis.get("overdue"), "kpis.overdue")
    discount = _decimal(raw.get("discount_amount"), "discount_amount") or zero
    shipping = _decimal(raw.get("shipping_cost"), "shipping_cost") or zero
    lines = raw.get("lines")
    if not isinstance(lines, list):
        raise WireError("lines: expected an array of lines")
    data: dict[str, Any] = {
        "id": identifier(raw.get("id"), "id"),
        "number": identifier(raw.get("id"), "id"),
        "status": meaning.status,
        "payment_status": stated or meaning.payment_status,
        "overdue": meaning.overdue or (overdue_amount is not None and overdue_amount > 0),
        "provider_status": {"status": status_raw, "payment_status": payment_raw},
        "customer": {
            "id": _text(raw.get("account_id"), "account_id"),
            "name": raw.get("account_name"),
        },
        "issue_date": issue_date(raw),
        "due_date": _date(raw.get("due_date"), "due_date"),
        "currency": currency,
        "tax_mode": "inclusive" if inclusive else "exclusive",
        "discount": {"type": "amount", "value": discount} if discount else None,
        "shipping": shipping,
        "reference": raw.get("customer_purchase_order_id"),
        "notes": raw.get("invoice_note"),
        "order_id": _text(raw.get("order_id"), "order_id"),
        "lines": [
            _line(line, f"lines[{i}]", inclusive, connection) for i, line in enumerate(lines)
        ],
        "totals": _totals(raw, discount, shipping, zero),
        "provider_fields": _provider_fields(raw),
        "created_at": _timestamp(raw.get("created_on"), "created_on"),
        "updated_at": _timestamp(raw.get("last_updated_on"), "last_updated_on"),
        "version": _text(raw.get("version"), "version"),
        "remote_data": dict(raw),
    }
    return Invoice.model_validate(data)


def issue_date(raw: Any) -> date | None:
    """The issue date of one provider invoice (``read_invoice`` reads it so too)."""
    if not isinstance(raw, dict):
        raise WireError("expected an invoice object")
    return _date(raw.get("issue_date"), "issue_date")


def currency_code(value: Any, connection: Connection) -> str:
    """The ISO code of a read currency (an object naming the provider's record) or a code."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise WireError("currency: expected an object with its uuid")
    uuid = value.get("uuid")
    code = connection.currency_code(uuid)
    if code is not None:
        return code
    raise WireError(
        f"currency {uuid} ({value.get('name')}) is not in the currencies of connection "
        f"{connection.name}; add its ISO code there"
    )


def _line(raw: Any, where: str, inclusive: bool, connection: Connection) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise WireError(f"{where}: expected an object")
    quantity = _decimal(raw.get("item_order_quantity"), f"{where}.item_order_quantity")
    if quantity is None:
        quantity = _decimal(raw.get("item_quantity"), f"{where}.item_quantity")
    tax_raw = _dig(raw, "tax")
    tax_amount = _decimal(tax_raw.get("amount"), f"{where}.tax.amount")
    total = _decimal(raw.get("total"), f"{where}.total")
    # The canonical line subtotal is round(quantity × price): gross in inclusive mode, where
    # the provider's own subtotal is the amount before tax and its total the gross amount.
    gross = total if inclusive else _decimal(raw.get("subtotal"), f"{where}.subtotal")
    rule = _dig(raw, "item_price_snapshot", "pricing_rule")
    price = _decimal(rule.get("price"), f"{where}.item_price_snapshot.pricing_rule.price")
    if price is None and gross is not None and quantity:
        # Not every answer carries the price; the gross amount over the quantity is the best
        # reading, and reconciliation shows it wherever that is not exact.
        price = (gross / quantity).quantize(quantum(4))
    package = raw.get("package_name")
    return {
        "id": _text(raw.get("uuid"), f"{where}.uuid"),
        "item_id": _text(raw.get("item_id"), f"{where}.item_id"),
        "name": raw.get("item_name"),
        "unit": raw.get("item_uom"),
        "quantity": quantity,
        "unit_price": price,
        "taxes": _taxes(tax_raw, where, connection),
        "provider_fields": {"package_name": package} if package is not None else {},
        "subtotal": gross,
        "tax_amount": tax_amount,
        "total": total,
    }


def _taxes(raw: MappingType[str, Any], where: str, connection: Connection) -> list[Tax]:
    code = raw.get("code") if raw.get("code") is not None else raw.get("uuid")
    rate = _decimal(raw.get("rate"), f"{where}.tax.rate")
    if code is None and rate is None:
        return []
    tax = canonical_tax(connection, code if code is not None else "", rate)
    if rate is not None and tax.rate != rate:
        # The line was taxed at the provider's rate, whatever the connection says of the code.
        tax = tax.model_copy(update={"rate": rate})
    return [tax]


def _totals(
    raw: MappingType[str, Any], discount: Decimal, shipping: Decimal, zero: Decimal
) -> dict[str, Any]:
    total = _decimal(raw.get("total"), "total")
    if total is None:
        raise WireError("total: missing")
    tax = _decimal(raw.get("tax"), "tax")
    if tax is None:
        tax = _decimal(raw.get("tax_total"), "tax_total") or zero
    subtotal = _decimal(raw.get("subtotal"), "subtotal")
    if subtotal is None:
        subtotal = total + discount - tax - shipping
    paid = _decimal(raw.get("paid"), "paid")
    due = _decimal(raw.get("due"), "due")
    if paid is None:
        paid = total - due if due is not None else zero
    return {
        "subtotal": subtotal,
        "discount": discount,
        "tax": tax,
        "shipping": shipping,
        "adjustment": zero,
        "total": total,
        "paid": paid,
        "due": due if due is not None else total - paid,
    }


def _provider_fields(raw: MappingType[str, Any]) -> dict[str, Any]:
    attributes = raw.get("custom_attributes")
    if not isinstance(attributes, list):
        return {}
    return {"custom_attributes": [dict(a) if isinstance(a, dict) else a for a in attributes]}


# -- values --------------------------------------------------------------------------------------


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _plain(value: Decimal) -> str:
    return format(value, "f")


def _text(value: Any, name: str) -> str | None:
    """A text or id field: a string or a whole number (as the provider writes ids), or null."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise WireError(f"{name} is {kind(value)}, not a text")
    return str(value)


def _dig(raw: MappingType[str, Any], *keys: str) -> MappingType[str, Any]:
    current: Any = raw
    for key in keys:
        current = current.get(key) if isinstance(current, dict) else None
    return current if isinstance(current, dict) else {}


def _decimal(value: Any, where: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool | float):
        raise WireError(f"{where}: {value!r} is not an exact decimal")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError):
        raise WireError(f"{where}: {value!r} is not a decimal") from None
    if not number.is_finite():
        raise WireError(f"{where}: {value!r} is not a finite decimal")
    return number


def _date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise WireError(f"{where}: {value!r} is not a date")
    try:
        # The documents type dates as "String (DateTime)": a time part, where one comes, is
        # not part of the date.
        return date.fromisoformat(value[:10])
    except ValueError:
        raise WireError(f"{where}: {value!r} is not a date") from None


def _timestamp(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise WireError(f"{where}: {value!r} is not an RFC 3339 timestamp")
