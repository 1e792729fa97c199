"""order_linked's invoice as it goes over the wire.

Amounts, rates, quantities, booleans and versions are strings, as the documents show them;
``kpis.total_items`` is the one integer. Dates are ``YYYY-MM-DD``, timestamps RFC 3339 in UTC.
A field the provider documents but the emulator has no value for is ``null``, never missing.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from emulators.common import round_money
from emulators.order_linked.records import ACTIVE, InvoiceRecord, LineRecord, Note, Payment
from emulators.order_linked.reference import ACCOUNTS, CURRENCIES, ITEMS, Order
from emulators.order_linked.totals import from_units, to_units


def invoice_json(record: InvoiceRecord, today: date) -> dict[str, Any]:
    exponent = record.currency.exponent
    totals = record.totals
    due = record.due
    zero = round_money(Decimal(0), exponent)
    active = record.status == ACTIVE
    overdue = due if active and due > 0 and record.due_date < today else zero
    last = record.last_payment
    currency = record.currency
    return {
        "status": record.status,
        "id": record.id,
        "type": record.type,
        "custom_form": {"uuid": record.form.uuid, "name": record.form.name},
        "currency": {"uuid": currency.uuid, "name": currency.name, "link": currency.link},
        "customer_purchase_order_id": record.customer_purchase_order_id,
        "billing_start_date": _date(record.billing_start_date),
        "alternate_billing_start_date": None,
        "billing_end_date": _date(record.billing_end_date),
        "alternate_billing_end_date": None,
        "issue_date": _date(record.issue_date),
        "alternate_issue_date": None,
        "due_date": _date(record.due_date),
        "alternate_due_date": None,
        "origin": record.origin,
        "subtotal": str(totals.subtotal),
        "tax": str(totals.tax),
        "tax_total": str(totals.tax),
        "total": str(totals.total),
        "paid": str(record.paid),
        "due": str(due),
        "shipping_cost": str(totals.shipping_cost),
        "payment_status": record.payment_status,
        "last_payment": _payment(last) if last else None,
        "discount_amount": str(totals.discount_amount),
        "price_tax_inclusive": "true" if record.price_tax_inclusive else "false",
        "invoice_note": record.invoice_note,
        "account_id": record.account.id,
        "account_name": record.account.name,
        "order_id": record.order_id,
        "kpis": {
            "outstanding": str(due if active else zero),
            "overdue": str(overdue),
            "last_payment_date": _date(last.date) if last else None,
            "payment_applied": str(record.paid),
            "credit_applied": str(zero),
            "credit_issued": str(zero),
            "last_reactivated_on": _timestamp(record.last_reactivated_on),
            "last_cancelled_on": _timestamp(record.last_cancelled_on),
            "last_amended_on": None,
            "voided_on": None,
            "deleted_on": None,
            "total_items": len(record.lines),
            "total_discount": str(totals.discount_amount),
            "average_item_cost": str(_average(totals.subtotal, len(record.lines), exponent)),
        },
        "created_by": record.created_by,
        "created_on": _timestamp(record.created_on),
        "last_updated_by": record.last_updated_by,
        "last_updated_on": _timestamp(record.last_updated_on),
        "uuid": record.uuid,
        "version": str(record.version),
        "custom_attributes": [{"name": n, "value": v} for n, v in record.custom_attributes],
        "custom_objects": [],
        "lines": [_line(line, exponent) for line in record.lines],
    }


def note_created_json(note: Note) -> dict[str, Any]:
    return {"invoice": {"notes": {"uuid": note.uuid}}}


def note_updated_json(note: Note) -> dict[str, Any]:
    files = [{"name": f.name} for f in note.files]
    return {"invoice": {"notes": {"content": note.content, "files": files}}}


def order_json(order: Order) -> dict[str, Any]:
    """``GET /orders/{order_id}`` (assumed): what an invoice made from the order takes from it,
    in the invoice's own key names and formats."""
    currency = CURRENCIES[order.currency]
    exponent = currency.exponent
    return {
        "id": order.id,
        "uuid": order.uuid,
        "order_date": _date(order.order_date),
        "currency": {"uuid": currency.uuid, "name": currency.name, "link": currency.link},
        "customer_purchase_order_id": order.customer_purchase_order_id,
        "shipping_cost": str(round_money(order.shipping_cost, exponent)),
        "discount_amount": str(round_money(order.discount_amount, exponent)),
        "price_tax_inclusive": "true" if order.price_tax_inclusive else "false",
        "account_id": order.account_id,
        "account_name": ACCOUNTS[order.account_id].name,
        "custom_attributes": [{"name": n, "value": v} for n, v in order.custom_attributes],
        "lines": [
            {
                "item_id": line.item_id,
                "item_name": ITEMS[line.item_id].name,
                "item_order_quantity": _plain(line.quantity),
                "item_price_snapshot": {"pricing_rule": {"price": _price(line.price, exponent)}},
            }
            for line in order.lines
        ],
    }


def notes_state_json(notes: list[Note]) -> dict[str, Any]:
    """The emulator's own view of an invoice's notes (control layer; the provider documents no
    read): every file with its type and bytes, so tests can see what was kept."""
    return {
        "notes": [
            {
                "uuid": note.uuid,
                "content": note.content,
                "files": [
                    {
                        "name": f.name,
                        "content_type": f.content_type,
                        "size": f.size,
                        "sha256": hashlib.sha256(f.content).hexdigest(),
                        "content_base64": base64.b64encode(f.content).decode("ascii"),
                    }
                    for f in note.files
                ],
            }
            for note in notes
        ]
    }


def _line(line: LineRecord, exponent: int) -> dict[str, Any]:
    tax = line.tax
    return {
        "item_serial_or_batch_number": None,
        "subtotal": str(line.amounts.subtotal),
        "total": str(line.amounts.total),
        "tax": {
            "amount": str(line.amounts.tax),
            "uuid": tax.uuid,
            "code": tax.code,
            "rate": str(tax.rate),
            "link": tax.link,
        },
        "accounting_code": {"sales_revenue": line.item.sales_revenue},
        "item_uuid": line.item.uuid,
        "item_id": line.item.id,
        "item_name": line.item.name,
        "item_order_quantity": _plain(line.quantity),
        "item_uom": line.item.uom,
        "item_warehouse": line.warehouse,
        "item_price_snapshot": {"pricing_rule": {"price": _price(line.price, exponent)}},
        "package_name": line.package_name,
        "pricing_snapshot_uuid": line.pricing_snapshot_uuid,
        "charging_start_date": _date(line.charging_start_date),
        "alternate_charging_start_date": None,
        "charging_end_date": _date(line.charging_end_date),
        "alternate_charging_end_date": None,
        "uuid": line.uuid,
        "version": str(line.version),
    }


def _payment(payment: Payment) -> dict[str, Any]:
    return {
        "uuid": payment.uuid,
        "amount": str(payment.amount),
        "date": _date(payment.date),
        "method": payment.method,
        "reference": payment.reference,
    }


def _average(total: Decimal, count: int, exponent: int) -> Decimal:
    """``total / count`` rounded half-up from its exact value (never from a cut quotient)."""
    return from_units(to_units(Fraction(total) / count, exponent), exponent)


def _date(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _timestamp(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _plain(value: Decimal) -> str:
    """``7.5`` and ``12``, never ``1.2E+1``: quantities as a person writes them."""
    return format(value.normalize(), "f")


def _price(value: Decimal, exponent: int) -> str:
    """At least the currency's minor units, and every decimal the price was given with."""
    places = max(exponent, -int(value.as_tuple().exponent))
    # format(), not quantize(): exact whatever the value's size (quantize stops at the context's
    # 28 digits); no digit is rounded off, as places keeps every one the price has.
    return format(value, f".{places}f")
