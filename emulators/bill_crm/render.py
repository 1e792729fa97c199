"""How the bill_crm emulator writes JSON: its envelope, and invoices with amounts as numbers."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from emulators.bill_crm.model import Invoice, LineItem
from emulators.bill_crm.store import CATEGORIES, CLIENTS, STATUSES
from emulators.bill_crm.totals import PLACES, Computation, Totals, compute


def dumps(value: Any) -> str:
    """JSON text in which a ``Decimal`` is a number literal written exactly, never via float."""
    if isinstance(value, Decimal):
        # "-0.00" is a valid literal but reads as a bug to anyone looking at the payload.
        return format(abs(value) if value == 0 else value, "f")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps(item) for item in value) + "]"
    return json.dumps(value)


def json_response(payload: Any, *, status: int = 200) -> web.Response:
    return web.Response(text=dumps(payload), status=status, content_type="application/json")


def success(data: Any, *, status: int = 200, **extra: Any) -> web.Response:
    return json_response({"success": True, "data": data, **extra}, status=status)


def error_response(
    status: int, message: str, errors: dict[str, list[str]] | None = None
) -> web.Response:
    return json_response(
        {"success": False, "message": message, "errors": errors or {}}, status=status
    )


def figure(value: Decimal, min_places: int = PLACES) -> Decimal:
    """``value`` with at least ``min_places`` decimals and no trailing zeros beyond them."""
    exponent = value.normalize().as_tuple().exponent
    places = max(min_places, -exponent if isinstance(exponent, int) and exponent < 0 else 0)
    return value.quantize(Decimal(1).scaleb(-places))


def render_totals(totals: Totals) -> dict[str, Decimal]:
    return {
        "subtotal": figure(totals.subtotal),
        "discount_amount": figure(totals.discount_amount),
        "amount_before_tax": figure(totals.amount_before_tax),
        "tax_amount": figure(totals.tax_amount),
        "adjustment_amount": figure(totals.adjustment_amount),
        "final_amount": figure(totals.final_amount),
        "paid_amount": figure(totals.paid_amount),
        "balance_due": figure(totals.balance_due),
    }


def _render_line(item: LineItem, computation: Computation) -> dict[str, Any]:
    amounts = computation.lines[item.id]
    return {
        "id": item.id,
        "description": item.description,
        "long_description": item.long_description,
        "quantity": figure(item.quantity, 0),
        "unit": item.unit,
        "rate": figure(item.rate),
        "amount": figure(amounts.amount),
        "discount_type": item.discount_type,
        "discount_value": figure(item.discount_value),
        "discount_amount": figure(amounts.discount_amount),
        "tax_rate_id": item.tax_rate_id,
        "total": figure(amounts.total),
    }


def render_invoice(invoice: Invoice) -> dict[str, Any]:
    computation = compute(invoice)
    status = STATUSES[invoice.status_id]
    client = CLIENTS[invoice.client_id]
    category = CATEGORIES[invoice.category_id]
    return {
        "id": invoice.id,
        "status": {"id": status.id, "title": status.title, "color": status.color},
        "client": {"id": client.id, "name": client.name, "email": client.email},
        "project_id": invoice.project_id,
        "category": {"id": category.id, "name": category.name},
        "dates": {
            "date": invoice.bill_date.isoformat(),
            "due_date": invoice.due_date.isoformat(),
            "created": invoice.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "tax_type": invoice.tax_type,
        "discount": {
            "type": invoice.discount_type,
            "percentage": figure(invoice.discount_percentage),
            "amount": figure(invoice.discount_amount),
        },
        "adjustment": {
            "description": invoice.adjustment_description,
            "amount": figure(invoice.adjustment_amount),
        },
        "notes": invoice.notes,
        "terms": invoice.terms,
        "totals": render_totals(computation.totals),
        "line_items": [_render_line(item, computation) for item in invoice.line_items],
        "taxes": [
            {
                "id": record.id,
                "taxrate_id": record.taxrate_id,
                "name": record.name,
                "rate": figure(record.rate),
                "lineitem_id": record.lineitem_id,
                "amount": figure(computation.taxes[record.id]),
            }
            for record in invoice.taxes
        ],
        "tags": list(invoice.tags),
    }
