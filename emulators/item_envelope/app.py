"""Emulator of the item_envelope invoice API (``/api2/api2/invoices.json``).

Documented: ``POST {{subdomain}}/api2/api2/invoices.json`` (the doc's base URL ends in ``/api2``
and its path repeats it) with ``{"Invoice": {..., "InvoiceItem": [...]}}`` sent as
``Content-Type: text/plain``, answered ``{"code": 202, "result": "successful", "id": 124}``,
bearer auth. Only the doc's URL is served (the un-doubled ``/api2/invoices.json`` is a 404) and
a body of any other type is a 415. Assumed by the project where the provider is silent: list,
get, update, delete (under the same prefix, bodies as text/plain), and the error envelope
``{"code", "result": "failed", "message", "errors"}``. ``docs/providers/item_envelope.md``
describes every choice.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from aiohttp import web

from emulators.common import MalformedBody, bearer_token, is_control_path, read_json, round_money
from emulators.control import Control
from emulators.item_envelope.store import Conflict, Invoice, InvoiceStore
from emulators.item_envelope.validate import Errors, ValidationFailed, parse_invoice
from emulators.registry import default_token

PROVIDER = "item_envelope"
# The doc's base URL is {{subdomain}}/api2 and its request path /api2/invoices.json: the URL it
# calls is {{subdomain}}/api2/api2/invoices.json, and nothing else is served.
PREFIX = "/api2/api2"
BODY_TYPE = "text/plain"
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
SORT_FIELDS: Mapping[str, Callable[[Invoice], Any]] = {
    "id": lambda invoice: invoice.id,
    "no": lambda invoice: invoice.no,
    "date": lambda invoice: invoice.date,
    "client_id": lambda invoice: invoice.client_id,
    "summary_total": lambda invoice: invoice.totals.total,
}

STORE = web.AppKey("item_envelope_store", InvoiceStore)
TOKEN = web.AppKey("item_envelope_token", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_log = logging.getLogger(__name__)


class Failure(Exception):
    """An answer in the provider's error envelope."""

    def __init__(self, status: int, message: str, errors: Errors | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or {}


def create_app(
    *, token: str = default_token(PROVIDER), seed: int = 0, seed_invoices: int = 56
) -> web.Application:
    if seed_invoices < 0:
        raise ValueError("seed_invoices must be 0 or more")
    store = InvoiceStore(seed=seed, seed_invoices=seed_invoices)
    control = Control(reset=store.reset, error_response=error_response)
    app = web.Application(middlewares=[control.middleware, _envelope_errors, _authenticate])
    app[STORE] = store
    app[TOKEN] = token
    control.add_routes(app)
    app.router.add_get(f"{PREFIX}/invoices.json", list_invoices)
    app.router.add_post(f"{PREFIX}/invoices.json", create_invoice)
    app.router.add_get(f"{PREFIX}/invoices/{{id}}.json", get_invoice)
    app.router.add_put(f"{PREFIX}/invoices/{{id}}.json", update_invoice)
    app.router.add_delete(f"{PREFIX}/invoices/{{id}}.json", delete_invoice)
    return app


# --- wire format ---------------------------------------------------------------------------------


def _encode(value: Any) -> str:
    """JSON text in which a Decimal is a number literal written exactly (``245.00``, not 245.0)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_encode(v) for v in value) + "]"
    return json.dumps(value)


def _respond(status: int, payload: dict[str, Any]) -> web.Response:
    return web.Response(status=status, text=_encode(payload), content_type="application/json")


def error_response(status: int, message: str, errors: Errors | None = None) -> web.Response:
    """The provider's failure envelope; the body's ``code`` repeats the HTTP status."""
    body = {"code": status, "result": "failed", "message": message, "errors": errors or {}}
    return _respond(status, body)


def _render(invoice: Invoice) -> dict[str, Any]:
    totals = invoice.totals
    return {
        "Invoice": {
            "id": invoice.id,
            "no": invoice.no,
            "client_id": invoice.client_id,
            "store_id": invoice.store_id,
            "currency_code": invoice.currency_code,
            "date": invoice.date,
            "draft": invoice.draft,
            "discount": invoice.discount,
            "discount_amount": round_money(invoice.discount_amount, invoice.places),
            "notes": invoice.notes,
            "po_number": invoice.po_number,
            "is_offline": invoice.is_offline,
            "summary_subtotal": totals.subtotal,
            "summary_discount": totals.discount,
            "summary_tax1": totals.tax1,
            "summary_tax2": totals.tax2,
            "summary_total": totals.total,
            "summary_paid": totals.paid,
            "summary_unpaid": totals.unpaid,
            "payment_status": totals.payment_status(invoice.draft),
        },
        "InvoiceItem": [
            {
                "id": line.id,
                "product_id": line.product_id,
                "item": line.item,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "discount": line.discount,
                "discount_type": line.discount_type,
                "tax1": line.tax1,
                "tax2": line.tax2,
                "col_3": line.col_3,
                "col_4": line.col_4,
                "col_5": line.col_5,
                "subtotal": amounts.subtotal,
            }
            for line, amounts in zip(invoice.items, totals.lines, strict=True)
        ],
    }


# --- middlewares ---------------------------------------------------------------------------------


@web.middleware
async def _envelope_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every failure to the provider's envelope: status codes are decided here only."""
    try:
        return await handler(request)
    except Failure as failure:
        return error_response(failure.status, failure.message, failure.errors)
    except MalformedBody as exc:
        return error_response(400, f"Malformed JSON body: {exc}")
    except ValidationFailed as exc:
        return error_response(422, f"Validation failed: {', '.join(exc.errors)}", exc.errors)
    except Conflict as exc:
        return error_response(409, exc.message, exc.errors)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            return error_response(404, f"No endpoint at {request.method} {request.path}")
        response = error_response(exc.status, exc.reason)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        _log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "Internal server error")


@web.middleware
async def _authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_control_path(request):
        return await handler(request)
    token = bearer_token(request)
    if token is None or not hmac.compare_digest(token.encode(), request.app[TOKEN].encode()):
        message = "Missing bearer token" if token is None else "Invalid bearer token"
        response = error_response(401, message)
        response.headers["WWW-Authenticate"] = 'Bearer realm="api2"'
        return response
    return await handler(request)


# --- handlers ------------------------------------------------------------------------------------


async def list_invoices(request: web.Request) -> web.Response:
    query = _ListQuery(request.query)
    listed = request.app[STORE].of_client(query.client_id)
    invoices = [invoice for invoice in listed if query.keeps(invoice)]
    invoices.sort(key=lambda inv: (query.sort_key(inv), inv.id), reverse=query.descending)
    start = (query.page - 1) * query.limit
    return _respond(
        200,
        {
            "code": 200,
            "result": "successful",
            "data": [_render(invoice) for invoice in invoices[start : start + query.limit]],
            "pagination": {
                "page": query.page,
                "limit": query.limit,
                "total": len(invoices),
                "page_count": math.ceil(len(invoices) / query.limit),
            },
        },
    )


async def get_invoice(request: web.Request) -> web.Response:
    invoice = _find(request)
    return _respond(200, {"code": 200, "result": "successful", "data": _render(invoice)})


async def create_invoice(request: web.Request) -> web.Response:
    data = parse_invoice(await _body(request), creating=True)
    invoice = request.app[STORE].create(data, today=dt.datetime.now(dt.UTC).date().isoformat())
    return _respond(202, {"code": 202, "result": "successful", "id": invoice.id})


async def update_invoice(request: web.Request) -> web.Response:
    body = await _body(request)
    # Looked up after the last await, so a delete that lands while the body is read is seen.
    invoice = _find(request)
    data = parse_invoice(body, creating=False)
    updated = request.app[STORE].update(invoice, data)
    return _respond(202, {"code": 202, "result": "successful", "id": updated.id})


async def delete_invoice(request: web.Request) -> web.Response:
    invoice = _find(request)
    request.app[STORE].delete(invoice)
    return _respond(200, {"code": 200, "result": "successful", "id": invoice.id})


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type != BODY_TYPE:
        # The doc's one request sends its JSON as text/plain ("Body Params text/plain"); a body
        # of any other type is refused, so a client straying from the doc is seen at once.
        given = request.headers.get("Content-Type") or "none"
        raise Failure(415, f"Unsupported Content-Type {given}: send the JSON body as {BODY_TYPE}")
    body = await read_json(request)
    if not isinstance(body, dict):
        raise MalformedBody('the body must be a JSON object such as {"Invoice": {...}}')
    return body


def _find(request: web.Request) -> Invoice:
    raw = request.match_info["id"]
    invoice = request.app[STORE].get(int(raw)) if raw.isascii() and raw.isdigit() else None
    if invoice is None:
        raise Failure(404, f"Invoice {raw} not found")
    return invoice


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class _ListQuery:
    """``page``, ``limit`` (default 20; above 100 reads as 100), filters and sorting."""

    def __init__(self, query: Mapping[str, str]) -> None:
        self._query = query
        self.errors: Errors = {}
        self.page = self._positive("page", 1)
        self.limit = min(self._positive("limit", DEFAULT_LIMIT), MAX_LIMIT)
        self.client_id = self._positive("client_id", None)
        self.draft = self._choice("draft", ("0", "1"), None)
        self.date_from = self._date("date_from")
        self.date_to = self._date("date_to")
        sort = self._choice("sort", tuple(SORT_FIELDS), "id") or "id"
        self.sort_key = SORT_FIELDS[sort]
        self.descending = self._choice("direction", ("asc", "desc"), "asc") == "desc"
        if self.errors:
            raise Failure(400, f"Invalid query: {', '.join(self.errors)}", self.errors)

    def keeps(self, invoice: Invoice) -> bool:
        return (
            (self.client_id is None or invoice.client_id == self.client_id)
            and (self.draft is None or invoice.draft == int(self.draft))
            and (self.date_from is None or invoice.date >= self.date_from)
            and (self.date_to is None or invoice.date <= self.date_to)
        )

    def _positive(self, name: str, default: Any) -> Any:
        raw = self._query.get(name)
        if raw is None:
            return default
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
            self.errors[name] = [f"{name} must be a positive integer"]
            return default or 1
        return int(raw)

    def _choice(self, name: str, allowed: tuple[str, ...], default: str | None) -> str | None:
        raw = self._query.get(name)
        if raw is None:
            return default
        if raw not in allowed:
            self.errors[name] = [f"{name} must be one of {', '.join(allowed)}"]
            return default
        return raw

    def _date(self, name: str) -> str | None:
        raw = self._query.get(name)
        if raw is None:
            return None
        try:
            if not _DATE.fullmatch(raw):
                raise ValueError(raw)
            dt.date.fromisoformat(raw)
        except ValueError:
            self.errors[name] = [f"{name} must be a date in the form YYYY-MM-DD"]
            return None
        return raw
