"""How the draft_publish emulator writes its documents: JSON objects, list pages and CSV.

Amounts, quantities and rates are JSON numbers, as in the provider's request examples; amounts
carry exactly the currency's decimals (``6480.00``, ``¥ 15000``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from emulators.draft_publish.errors import timestamp
from emulators.draft_publish.query import Page
from emulators.draft_publish.reference import CUSTOMERS
from emulators.draft_publish.store import Invoice, Payment

T = TypeVar("T")

CSV_COLUMNS = (
    "id",
    "number",
    "type",
    "status",
    "customer_id",
    "customer_name",
    "customer_email",
    "issue_date",
    "due_date",
    "currency",
    "subtotal",
    "discount_amount",
    "tax_amount",
    "total",
    "amount_paid",
    "balance_due",
    "created_at",
)


def invoice_json(doc: Invoice, today: date) -> dict[str, Any]:
    fields = doc.fields
    customer = CUSTOMERS[fields.customer_id]
    return {
        "id": doc.id,
        "number": doc.number,
        "type": doc.type,
        "original_invoice_id": doc.original_invoice_id,
        "status": doc.status_on(today),
        "customer_id": customer.id,
        "customer": {"id": customer.id, "name": customer.name, "email": customer.email},
        "issue_date": fields.issue_date,
        "due_date": fields.due_date,
        "currency": fields.currency,
        "notes": fields.notes,
        "payment_terms": fields.payment_terms,
        "discount_type": fields.discount_type,
        "discount_value": fields.discount_value,
        "template_id": fields.template_id,
        "items": [
            {
                "id": item.id,
                "product_id": item.product_id,
                "description": item.description,
                "quantity": item.quantity,
                "unit_price": item.unit_price,
                "unit": item.unit,
                "tax_id": item.tax_id,
                "tax_rate": item.tax_rate,
                "amount": item.amount,
            }
            for item in doc.items
        ],
        "subtotal": doc.subtotal,
        "discount_amount": doc.discount_amount,
        "tax_amount": doc.tax_amount,
        "total": doc.total,
        "amount_paid": doc.amount_paid,
        "balance_due": doc.balance_due,
        "share_token": doc.share_token,
        "payments": [payment_json(doc, payment) for payment in doc.payments],
        "created_at": doc.created_at,
        "updated_at": doc.updated_at,
    }


def trashed_json(doc: Invoice, today: date) -> dict[str, Any]:
    return {**invoice_json(doc, today), "deleted_at": doc.deleted_at}


def payment_json(doc: Invoice, payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "invoice_id": doc.id,
        "amount": payment.amount,
        "method": payment.method,
        "reference": payment.reference,
        "date": payment.date,
        "created_at": payment.created_at,
    }


def page_json(
    rows: Sequence[T], page: Page, render: Callable[[T], dict[str, Any]]
) -> dict[str, Any]:
    start = (page.page - 1) * page.limit
    total = len(rows)
    return {
        "data": [render(row) for row in rows[start : start + page.limit]],
        "meta": {
            "page": page.page,
            "limit": page.limit,
            "total": total,
            "total_pages": math.ceil(total / page.limit),
        },
    }


def invoices_csv(docs: Sequence[Invoice], today: date) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for doc in docs:
        customer = CUSTOMERS[doc.fields.customer_id]
        writer.writerow(
            [
                doc.id,
                doc.number,
                doc.type,
                doc.status_on(today),
                customer.id,
                customer.name,
                customer.email,
                doc.fields.issue_date.isoformat(),
                doc.fields.due_date.isoformat(),
                doc.fields.currency,
                *(
                    _plain(value)
                    for value in (
                        doc.subtotal,
                        doc.discount_amount,
                        doc.tax_amount,
                        doc.total,
                        doc.amount_paid,
                        doc.balance_due,
                    )
                ),
                timestamp(doc.created_at),
            ]
        )
    return out.getvalue()


def _plain(value: Decimal) -> str:
    return f"{value:f}"
