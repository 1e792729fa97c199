"""Emulator of the bill_crm invoices API: numeric ``bill_*`` invoices with server-computed totals.

Paths live under ``/api/v1/invoices``; requests authenticate with an API key in ``X-API-Key``.
Answers use ``{"success": true, "data": …}``; errors use
``{"success": false, "message": …, "errors": {field: [messages]}}``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import astuple, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from emulators.bill_crm.fields import ValidationFailed
from emulators.bill_crm.input import (
    parse_clone,
    parse_create,
    parse_line_items,
    parse_status,
    parse_tags,
    parse_update,
)
from emulators.bill_crm.listing import parse_list_query, select
from emulators.bill_crm.model import (
    STATUS_DRAFT,
    STATUS_DUE,
    SUMMARY,
    Invoice,
)
from emulators.bill_crm.render import (
    error_response,
    render_invoice,
    render_totals,
    success,
)
from emulators.bill_crm.store import CLIENTS, Store
from emulators.bill_crm.totals import compute
from emulators.common import MalformedBody, is_control_path, read_json
from emulators.control import Control

BASE = "/api/v1/invoices"
STORE = web.AppKey("bill_crm_store", Store)

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Conflict(Exception):
    """The invoice's state does not allow the action (409)."""


class NotFound(Exception):
    """No invoice with that id (404)."""


def create_app(
    *, token: str = "sandbox-bill_crm", seed: int = 0, seed_invoices: int = 56
) -> web.Application:
    store = Store(seed=seed, seed_invoices=seed_invoices)
    control = Control(reset=store.reset, error_response=error_response)
    app = web.Application(middlewares=[control.middleware, _guard(token)])
    app[STORE] = store
    control.add_routes(app)
    app.router.add_get(BASE, list_invoices)
    app.router.add_post(BASE, create_invoice)
    item = BASE + r"/{id:\d+}"
    app.router.add_get(item, get_invoice)
    app.router.add_put(item, update_invoice)
    app.router.add_delete(item, delete_invoice)
    app.router.add_put(item + "/line-items", set_line_items)
    app.router.add_post(item + "/status", change_status)
    app.router.add_put(item + "/tags", set_tags)
    app.router.add_post(item + "/clone", clone_invoice)
    app.router.add_post(item + "/publish", publish_invoice)
    app.router.add_post(item + "/email", email_invoice)
    return app


def _guard(token: str) -> Middleware:
    """Check the API key, then turn every failure into the CRM's error envelope."""
    expected = token.encode()

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_control_path(request):
            return await handler(request)
        key = request.headers.get("X-API-Key", "")
        if not key or not hmac.compare_digest(key.encode(), expected):
            return error_response(401, "Unauthenticated.")
        try:
            return await handler(request)
        except ValidationFailed as exc:
            return error_response(422, exc.message, exc.errors)
        except MalformedBody as exc:
            return error_response(400, f"Malformed request body: {exc}.")
        except NotFound as exc:
            return error_response(404, str(exc))
        except Conflict as exc:
            return error_response(409, str(exc))
        except web.HTTPException as exc:
            if exc.status == 404:
                return error_response(404, f"No route for {request.method} {request.path}.")
            response = error_response(exc.status, exc.reason)
            if "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        except Exception:
            log.exception("bill_crm emulator failed on %s %s", request.method, request.path)
            return error_response(500, "Server error.")

    return guard


async def _body(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise MalformedBody(f"expected a JSON object, got {type(body).__name__}")
    return body


def _invoice(request: web.Request) -> Invoice:
    invoice_id = int(request.match_info["id"])
    invoice = request.app[STORE].invoices.get(invoice_id)
    if invoice is None:
        raise NotFound(f"Invoice {invoice_id} not found.")
    return invoice


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def list_invoices(request: web.Request) -> web.StreamResponse:
    query = parse_list_query(request.query)
    page, total = select(request.app[STORE].invoices.values(), query)
    meta = {"current_page": query.page, "per_page": query.limit, "total": total}
    return success([render_invoice(invoice) for invoice in page], meta=meta)


async def get_invoice(request: web.Request) -> web.StreamResponse:
    return success(render_invoice(_invoice(request)))


async def create_invoice(request: web.Request) -> web.StreamResponse:
    new = parse_create(await _body(request))
    store = request.app[STORE]
    invoice = Invoice(
        id=store.next_invoice_id(),
        client_id=new.client_id,
        category_id=new.category_id,
        bill_date=new.bill_date,
        due_date=new.due_date,
        created=_now(),
        project_id=new.project_id,
        tax_type=new.tax_type,
        notes=new.notes,
        terms=new.terms,
    )
    store.insert(invoice)
    return success(render_invoice(invoice), status=201)


async def update_invoice(request: web.Request) -> web.StreamResponse:
    invoice = _invoice(request)
    changes = parse_update(await _body(request), invoice)
    if "tax_type" in changes:
        request.app[STORE].change_tax_type(invoice, changes.pop("tax_type"))
    for attribute, value in changes.items():
        setattr(invoice, attribute, value)
    return success(render_invoice(invoice))


# What the emulator's arithmetic (28 digits, 2 of them decimals) keeps exact, with room to spare:
# a total at or past it is refused (the doc names no bound; each item field has its own).
_TOTAL_LIMIT = Decimal(10) ** 24


async def set_line_items(request: web.Request) -> web.StreamResponse:
    invoice = _invoice(request)
    items, tax_rate_ids = parse_line_items(await _body(request), invoice)
    before = (invoice.line_items, invoice.taxes)
    request.app[STORE].replace_lines(invoice, items, tax_rate_ids)
    try:
        totals = compute(invoice).totals
        too_large = any(abs(figure) >= _TOTAL_LIMIT for figure in astuple(totals))
    except ArithmeticError:
        too_large = True
    if too_large:
        # Items each within bounds whose sum is not: refused, and the invoice left as it was
        # (stored, it would fail every read of it, and every list page holding it).
        invoice.line_items, invoice.taxes = before
        raise ValidationFailed({"line_items": ["The line items' total is too large."]})
    return success(render_totals(totals))


async def delete_invoice(request: web.Request) -> web.StreamResponse:
    invoice = _invoice(request)
    del request.app[STORE].invoices[invoice.id]
    return success({"id": invoice.id}, message=f"Invoice {invoice.id} deleted.")


async def change_status(request: web.Request) -> web.StreamResponse:
    invoice = _invoice(request)
    invoice.status_id = parse_status(await _body(request))
    return success(render_invoice(invoice))


async def set_tags(request: web.Request) -> web.StreamResponse:
    invoice = _invoice(request)
    invoice.tags = parse_tags(await _body(request))
    return success(render_invoice(invoice))


async def clone_invoice(request: web.Request) -> web.StreamResponse:
    source = _invoice(request)
    wanted = parse_clone(await _body(request))
    store = request.app[STORE]
    clone = Invoice(
        id=store.next_invoice_id(),
        client_id=wanted.client_id,
        category_id=source.category_id,
        bill_date=wanted.bill_date,
        due_date=wanted.due_date,
        created=_now(),
        project_id=wanted.project_id,
        tax_type=source.tax_type,
        notes=source.notes,
        terms=source.terms,
        discount_type=source.discount_type,
        discount_percentage=source.discount_percentage,
        discount_amount=source.discount_amount,
        adjustment_description=source.adjustment_description,
        adjustment_amount=source.adjustment_amount,
        tags=list(source.tags),
    )
    summary_rates = [record.taxrate_id for record in source.taxes if record.lineitem_id is None]
    store.replace_lines(
        clone,
        [replace(item) for item in source.line_items],
        summary_rates if source.tax_type == SUMMARY else [],
    )
    store.insert(clone)
    return success(render_invoice(clone), status=201)


async def publish_invoice(request: web.Request) -> web.StreamResponse:
    invoice = _invoice(request)
    if invoice.status_id != STATUS_DRAFT:
        raise Conflict(f"Invoice {invoice.id} has already been published.")
    invoice.status_id = STATUS_DUE
    return success(render_invoice(invoice))


async def email_invoice(request: web.Request) -> web.StreamResponse:
    invoice = _invoice(request)
    if invoice.status_id == STATUS_DRAFT:
        raise Conflict(f"Invoice {invoice.id} is a draft; publish it before emailing it.")
    email = CLIENTS[invoice.client_id].email
    return success(render_invoice(invoice), message=f"Invoice {invoice.id} emailed to {email}.")
