"""Emulator of the order_linked invoice API: ``{"invoice": {...}}`` documents linked to orders.

Documented: ``POST /invoices``, ``POST /orders/{order_id}/invoices``, ``POST
/invoices/{id}/cancel`` and ``/reactivate``, ``POST /invoices/{id}/notes`` and
``/notes/{note_uuid}`` (multipart). Assumed: ``GET /invoices/{id}``, ``GET /invoices`` with
``page``/``per_page`` pagination, ``GET /orders/{order_id}``, the error envelope ``{"error":
{"code", "message"}}`` and bearer auth. ``GET /_emulator/invoices/{id}/notes`` shows the notes
kept (the provider documents no read). There is no update and no delete. See
``docs/providers/order_linked.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from emulators.common import (
    CONTROL_PREFIX,
    MalformedBody,
    bearer_token,
    is_control_path,
    read_json,
)
from emulators.control import Control
from emulators.order_linked.errors import (
    ApiError,
    code_for_status,
    error_response,
    status_error_response,
)
from emulators.order_linked.records import InvoiceRecord
from emulators.order_linked.requests import (
    parse_invoice,
    parse_list_query,
    parse_note_form,
    parse_note_update_form,
    parse_order_invoice,
)
from emulators.order_linked.seed import populate
from emulators.order_linked.store import Store
from emulators.order_linked.wire import (
    invoice_json,
    note_created_json,
    note_updated_json,
    notes_state_json,
    order_json,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STORE_KEY = web.AppKey("order_linked_store", Store)
TOKEN_KEY = web.AppKey("order_linked_token", str)
# Who the provider records as the author of changes made through the API.
API_USER = "API User"
# Attachments ride in note requests; a few scanned pages must fit.
MAX_BODY_BYTES = 10 * 1024 * 1024


def create_app(
    *, token: str = "sandbox-order_linked", seed: int = 0, seed_invoices: int = 56
) -> web.Application:
    store = Store(seed=seed, populate=partial(populate, count=seed_invoices))
    control = Control(reset=store.reset, error_response=status_error_response)
    app = web.Application(
        middlewares=[control.middleware, _error_middleware, _auth_middleware],
        client_max_size=MAX_BODY_BYTES,
    )
    app[STORE_KEY] = store
    app[TOKEN_KEY] = token
    control.add_routes(app)
    app.router.add_get("/invoices", _list_invoices)
    app.router.add_post("/invoices", _create_invoice)
    app.router.add_get("/invoices/{invoice_id}", _get_invoice)
    app.router.add_post("/invoices/{invoice_id}/cancel", _cancel_invoice)
    app.router.add_post("/invoices/{invoice_id}/reactivate", _reactivate_invoice)
    app.router.add_post("/invoices/{invoice_id}/notes", _create_note)
    app.router.add_post("/invoices/{invoice_id}/notes/{note_uuid}", _update_note)
    app.router.add_get("/orders/{order_id}", _get_order)
    app.router.add_post("/orders/{order_id}/invoices", _create_order_invoice)
    app.router.add_get(CONTROL_PREFIX + "invoices/{invoice_id}/notes", _notes_state)
    return app


_log = logging.getLogger(__name__)

# -- middlewares --------------------------------------------------------------------------------


@web.middleware
async def _error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(
            exc.status, code_for_status(exc.status), _http_message(request, exc)
        )
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        # The emulator's own bug: answered in the provider's envelope, as a server of it would
        # answer, not aiohttp's plain text; the traceback goes to the log.
        _log.exception("order_linked emulator failed on %s %s", request.method, request.path)
        return error_response(500, code_for_status(500), "internal server error")


def _http_message(request: web.Request, exc: web.HTTPException) -> str:
    if exc.status == 404:
        return f"no resource at {request.path}"
    if exc.status == 405:
        return f"{request.method} is not supported on {request.path}"
    if exc.status == 413:
        return f"request body larger than {MAX_BODY_BYTES} bytes"
    return exc.reason


@web.middleware
async def _auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_control_path(request):
        return await handler(request)
    if bearer_token(request) != request.app[TOKEN_KEY]:
        response = error_response(
            401,
            "UNAUTHORIZED",
            "missing or invalid credentials: send Authorization: Bearer <token>",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="order_linked"'
        return response
    return await handler(request)


# -- handlers -----------------------------------------------------------------------------------


async def _list_invoices(request: web.Request) -> web.StreamResponse:
    query = parse_list_query(request.query)
    matches = request.app[STORE_KEY].list_invoices(
        status=query.status, payment_status=query.payment_status, account_id=query.account_id
    )
    start = (query.page - 1) * query.per_page
    today = _today()
    return web.json_response(
        {
            "invoices": [invoice_json(r, today) for r in matches[start : start + query.per_page]],
            "pagination": {"page": query.page, "per_page": query.per_page, "total": len(matches)},
        }
    )


async def _get_invoice(request: web.Request) -> web.StreamResponse:
    record = request.app[STORE_KEY].invoice(request.match_info["invoice_id"])
    return _invoice_response(record)


async def _create_invoice(request: web.Request) -> web.StreamResponse:
    draft = parse_invoice(await _json_body(request))
    record = request.app[STORE_KEY].create_invoice(draft, now=_now(), user=API_USER)
    return _invoice_response(record, status=201)


async def _get_order(request: web.Request) -> web.StreamResponse:
    order = request.app[STORE_KEY].order(request.match_info["order_id"])
    return web.json_response({"order": order_json(order)})


async def _notes_state(request: web.Request) -> web.StreamResponse:
    record = request.app[STORE_KEY].invoice(request.match_info["invoice_id"])
    return web.json_response(notes_state_json(list(record.notes.values())))


async def _create_order_invoice(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE_KEY]
    order = store.order(request.match_info["order_id"])
    body = await _json_body(request) if await _has_body(request) else None
    options = parse_order_invoice(body)
    record = store.create_from_order(order.id, options, now=_now(), user=API_USER)
    return _invoice_response(record, status=201)


async def _cancel_invoice(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE_KEY]
    record = store.cancel(request.match_info["invoice_id"], now=_now(), user=API_USER)
    return _invoice_response(record)


async def _reactivate_invoice(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE_KEY]
    record = store.reactivate(request.match_info["invoice_id"], now=_now(), user=API_USER)
    return _invoice_response(record)


async def _create_note(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE_KEY]
    invoice_id = request.match_info["invoice_id"]
    store.invoice(invoice_id)
    content, files = parse_note_form(await _form(request))
    note = store.add_note(invoice_id, content, files, now=_now())
    return web.json_response(note_created_json(note), status=201)


async def _update_note(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE_KEY]
    invoice_id, note_uuid = request.match_info["invoice_id"], request.match_info["note_uuid"]
    store.note(invoice_id, note_uuid)
    text, files = parse_note_update_form(await _form(request))
    note = store.update_note(invoice_id, note_uuid, text, files)
    return web.json_response(note_updated_json(note))


# -- helpers ------------------------------------------------------------------------------------


def _invoice_response(record: InvoiceRecord, *, status: int = 200) -> web.StreamResponse:
    return web.json_response({"invoice": invoice_json(record, _today())}, status=status)


async def _json_body(request: web.Request) -> Any:
    try:
        return await read_json(request)
    except MalformedBody as exc:
        raise ApiError(400, "MALFORMED_JSON", str(exc)) from exc


async def _has_body(request: web.Request) -> bool:
    return bool((await request.text()).strip())


async def _form(request: web.Request) -> MultiDictProxy[Any]:
    if request.content_type != "multipart/form-data":
        raise ApiError(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f"the request must be sent as multipart/form-data, not {request.content_type!r}",
        )
    try:
        form: MultiDictProxy[Any] = await request.post()
    except web.HTTPException:
        raise
    except Exception as exc:
        raise ApiError(400, "BAD_REQUEST", f"malformed multipart/form-data body: {exc}") from exc
    return form


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _today() -> date:
    return datetime.now(UTC).date()
