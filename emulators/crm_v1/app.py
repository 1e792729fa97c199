"""Emulator of the crm_v1 invoices API (``/v1/invoices``), faithful to the provider's doc.

Responses use the provider's envelope: ``{"success": true, "data": …}`` on success and
``{"success": false, "message": …, "errors": {field: [messages]}}`` on failure. Amounts are
JSON numbers written from exact decimals, never through a binary float.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
from decimal import Decimal
from typing import Any

from aiohttp import web

from emulators.common import MalformedBody, bearer_token, is_control_path, read_json
from emulators.control import Control
from emulators.crm_v1.model import Invoice, Line, Payment, Rejected
from emulators.crm_v1.store import Store
from emulators.crm_v1.validate import parse_invoice, parse_list_query

log = logging.getLogger(__name__)

STORE = web.AppKey("crm_v1_store", Store)
TOKEN = web.AppKey("crm_v1_token", str)


def create_app(
    *, token: str = "sandbox-crm_v1", seed: int = 0, seed_invoices: int = 56
) -> web.Application:
    """Build the emulator with ``seed_invoices`` invoices seeded from ``seed``."""
    store = Store(seed=seed, seed_invoices=seed_invoices)
    control = Control(reset=store.reset, error_response=error_response)
    app = web.Application(middlewares=[control.middleware, _provider_middleware])
    app[STORE] = store
    app[TOKEN] = token
    control.add_routes(app)
    app.router.add_get("/v1/invoices", list_invoices)
    app.router.add_post("/v1/invoices", create_invoice)
    app.router.add_get(r"/v1/invoices/{id:\d+}", get_invoice)
    app.router.add_put(r"/v1/invoices/{id:\d+}", update_invoice)
    app.router.add_delete(r"/v1/invoices/{id:\d+}", delete_invoice)
    return app


def error_response(
    status: int, message: str, errors: dict[str, list[str]] | None = None
) -> web.Response:
    """The provider's error envelope; also what injected faults answer with."""
    return _reply({"success": False, "message": message, "errors": errors or {}}, status)


class _InvoiceNotFound(Exception):
    pass


@web.middleware
async def _provider_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Bearer auth, then every failure rendered in the provider's envelope."""
    if is_control_path(request):
        response: web.StreamResponse = await handler(request)
        return response
    given = bearer_token(request)
    if given is None or not hmac.compare_digest(given.encode(), request.app[TOKEN].encode()):
        response = error_response(401, "Unauthenticated.")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    try:
        response = await handler(request)
    except _InvoiceNotFound:
        return error_response(404, "Invoice not found.")
    except MalformedBody as exc:
        return error_response(400, f"The request body is not valid: {exc}.")
    except Rejected as exc:
        return error_response(422, exc.message, exc.errors)
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        response = error_response(
            405,
            f"The {request.method} method is not supported for route {request.path}. "
            f"Supported methods: {allowed}.",
        )
        response.headers["Allow"] = allowed
        return response
    except web.HTTPNotFound:
        return error_response(404, f"The route {request.path} could not be found.")
    except Exception:
        log.exception("crm_v1 emulator failed on %s %s", request.method, request.path)
        return error_response(500, "Server Error")
    return response


async def list_invoices(request: web.Request) -> web.Response:
    query = parse_list_query(request.query)
    rows, total = request.app[STORE].page(query)
    return _reply(
        {
            "success": True,
            "data": {
                "data": [_summary(invoice) for invoice in rows],
                "current_page": query.page_index + 1,
                "total_records": total,
                "total_pages": math.ceil(total / query.page_size),
            },
        }
    )


async def get_invoice(request: web.Request) -> web.Response:
    return _reply({"success": True, "data": _detail(_find(request))})


async def create_invoice(request: web.Request) -> web.Response:
    data = parse_invoice(await read_json(request))
    invoice = request.app[STORE].create(data)
    return _reply(
        {
            "success": True,
            "message": f"Invoice #{invoice.inv_number} has been created successfully",
            "data": {"inv_id": invoice.inv_id, "inv_number": invoice.inv_number},
        },
        201,
    )


async def update_invoice(request: web.Request) -> web.Response:
    invoice = _find(request)
    body = await read_json(request)
    store = request.app[STORE]
    # A paid or cancelled invoice is refused before its body is judged: no edit could pass.
    store.ensure_editable(invoice)
    store.update(invoice, parse_invoice(body))
    return _reply(
        {"success": True, "message": f"Invoice {invoice.inv_number} has been updated successfully"}
    )


async def delete_invoice(request: web.Request) -> web.Response:
    request.app[STORE].delete(_find(request))
    return _reply({"success": True, "message": "Invoice deleted successfully"})


def _find(request: web.Request) -> Invoice:
    invoice = request.app[STORE].get(int(request.match_info["id"]))
    if invoice is None:
        raise _InvoiceNotFound
    return invoice


def _summary(invoice: Invoice) -> dict[str, Any]:
    return {
        "inv_id": invoice.inv_id,
        "inv_number": invoice.inv_number,
        "customer_id": invoice.customer_id,
        "inv_status": invoice.inv_status,
        "total": invoice.total,
        "amount_due": invoice.amount_due,
        "transaction_date": invoice.transaction_date,
        "due_date": invoice.due_date,
    }


def _detail(invoice: Invoice) -> dict[str, Any]:
    return {
        "inv_id": invoice.inv_id,
        "inv_number": invoice.inv_number,
        "inv_status": invoice.inv_status,
        "customer_id": invoice.customer_id,
        "template_id": invoice.template_id,
        "transaction_date": invoice.transaction_date,
        "due_date": invoice.due_date,
        "reference": invoice.reference,
        "billing_address": invoice.billing_address,
        "shipping_address": invoice.shipping_address,
        "notes": invoice.notes,
        "terms_conditions": invoice.terms_conditions,
        "deal_id": invoice.deal_id,
        "assigned_to": invoice.assigned_to,
        "org_currency_id": invoice.org_currency_id,
        "conversion_rate": invoice.conversion_rate,
        "overall_discount": invoice.overall_discount,
        "overall_discount_type": invoice.overall_discount_type,
        "tag_ids": list(invoice.tag_ids),
        "items": [_line(line) for line in invoice.items],
        "sub_total": invoice.sub_total,
        "discount_total": invoice.discount_total,
        "tax_total": invoice.tax_total,
        "total": invoice.total,
        "amount_paid": invoice.amount_paid,
        "amount_due": invoice.amount_due,
        "payments": [_payment(payment) for payment in invoice.payments],
    }


def _line(line: Line) -> dict[str, Any]:
    return {
        "item_id": line.item_id,
        "item_name": line.item_name,
        "description": line.description,
        "quantity": line.quantity,
        "price": line.price,
        "type": line.type,
        "discount": line.discount,
        "discount_type": line.discount_type,
        "tax_id": line.tax_id,
        "tax_rate": line.tax_rate,
        "line_total": line.line_total,
    }


def _payment(payment: Payment) -> dict[str, Any]:
    return {
        "payment_id": payment.payment_id,
        "amount": payment.amount,
        "payment_date": payment.payment_date,
        "payment_method": payment.payment_method,
        "reference": payment.reference,
    }


def _reply(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(text=_to_json(payload), status=status, content_type="application/json")


def _to_json(value: Any) -> str:
    """JSON with each Decimal written as the number literal it is (``5250.00``, not ``5250.0``)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        members = (f"{json.dumps(key)}: {_to_json(item)}" for key, item in value.items())
        return "{" + ", ".join(members) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_to_json(item) for item in value) + "]"
    return json.dumps(value)
