"""Emulator of the draft_publish invoices API (``/api/v1/invoices``).

UUID ids, a draft → publish lifecycle with share tokens, payments, credit notes, a trash and
batch actions. Bodies and answers use ``{"data": ...}``; lists add ``"meta"``; every error is
``{"error": {"code", "message", "details"}}``. See ``docs/providers/draft_publish.md``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from emulators.common import MalformedBody, bearer_token, is_control_path, read_json
from emulators.control import Control
from emulators.draft_publish.errors import (
    ApiError,
    BadRequest,
    Detail,
    Unauthorized,
    error_response,
    json_response,
    status_error_response,
)
from emulators.draft_publish.query import ListQuery, parse_list_query, parse_page
from emulators.draft_publish.reference import CUSTOMERS, reference_data
from emulators.draft_publish.seed import seed_store
from emulators.draft_publish.store import Invoice, Store
from emulators.draft_publish.validate import (
    BATCH_ACTIONS,
    TRASH_ACTIONS,
    parse_batch,
    parse_invoice,
    parse_payment,
    require_object,
)
from emulators.draft_publish.wire import (
    invoice_json,
    invoices_csv,
    page_json,
    payment_json,
    trashed_json,
)

LOG = logging.getLogger(__name__)
PROVIDER = "draft_publish"
BASE = "/api/v1/invoices"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


STORE = web.AppKey("draft_publish_store", Store)
SMTP_CONFIGURED = web.AppKey("draft_publish_smtp_configured", bool)


def create_app(
    *,
    token: str = f"sandbox-{PROVIDER}",
    seed: int = 0,
    seed_invoices: int = 56,
    smtp_configured: bool = True,
    clock: Callable[[], datetime] | None = None,
) -> web.Application:
    """Build a seeded emulator.

    ``smtp_configured=False`` makes ``send`` fail as an account without a mail server does;
    ``clock`` (an aware UTC ``datetime`` source) fixes "now" for timestamps and overdue checks.
    """
    store = Store(clock=clock or _utc_now, seed=seed)

    def reset() -> None:
        store.clear()
        seed_store(store, seed_invoices)

    reset()
    control = Control(reset=reset, error_response=status_error_response)
    app = web.Application(middlewares=[control.middleware, _api_middleware(token)])
    app[STORE] = store
    app[SMTP_CONFIGURED] = smtp_configured
    control.add_routes(app)
    _add_routes(app)
    return app


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _add_routes(app: web.Application) -> None:
    router = app.router
    # Fixed paths first: they would otherwise be taken as an invoice id.
    router.add_get(BASE, list_invoices)
    router.add_post(BASE, create_invoice)
    router.add_get(f"{BASE}/next-number", next_number)
    router.add_get(f"{BASE}/export/csv", export_csv)
    router.add_post(f"{BASE}/batch", batch)
    router.add_get(f"{BASE}/trash/list", trash_list)
    router.add_post(f"{BASE}/trash/batch", trash_batch)
    router.add_get(BASE + "/{id}", get_invoice)
    router.add_put(BASE + "/{id}", update_invoice)
    router.add_delete(BASE + "/{id}", delete_invoice)
    for action, operation in _ACTIONS.items():
        router.add_post(BASE + "/{id}/" + action, _action_handler(operation))
    router.add_post(BASE + "/{id}/duplicate", duplicate_invoice)
    router.add_post(BASE + "/{id}/credit-note", credit_note)
    router.add_get(BASE + "/{id}/payments", list_payments)
    router.add_post(BASE + "/{id}/payments", record_payment)
    router.add_delete(BASE + "/{id}/payments/{payment_id}", delete_payment)


def _api_middleware(token: str) -> Any:
    @web.middleware
    async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_control_path(request):
            return await handler(request)
        try:
            presented = bearer_token(request)
            if presented is None or not secrets.compare_digest(presented, token):
                raise Unauthorized(
                    "Missing or invalid API token",
                    [Detail("Authorization", "expected 'Bearer <token>'")],
                )
            return await handler(request)
        except Unauthorized as exc:
            response = error_response(exc)
            response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
            return response
        except ApiError as exc:
            return error_response(exc)
        except web.HTTPException as exc:
            return _routing_error(request, exc)
        except Exception:
            # A bug in the emulator still answers in the envelope clients parse; the log has it.
            LOG.exception("unhandled error on %s %s", request.method, request.path)
            return status_error_response(500, "Internal server error")

    return api_middleware


def _routing_error(request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
    if exc.status == 404:
        message = f"No route for {request.method} {request.path}"
    elif exc.status == 405:
        message = f"Method {request.method} is not allowed on {request.path}"
    else:
        message = exc.reason
    response = status_error_response(exc.status, message)
    if "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


# -- helpers ------------------------------------------------------------------------------------


def _store(request: web.Request) -> Store:
    return request.app[STORE]


def _invoice(request: web.Request) -> Invoice:
    return _store(request).get(request.match_info["id"])


async def _body(request: web.Request) -> Any:
    try:
        return await read_json(request)
    except MalformedBody as exc:
        raise BadRequest(str(exc), [Detail("body", str(exc))], code="malformed_json") from None


def _one(request: web.Request, doc: Invoice, *, status: int = 200) -> web.Response:
    headers = {"Location": f"{BASE}/{doc.id}"} if status == 201 else None
    return json_response(
        {"data": invoice_json(doc, _store(request).today())}, status=status, headers=headers
    )


def _matches(doc: Invoice, query: ListQuery, today_status: str) -> bool:
    fields = doc.fields
    if query.status is not None and today_status != query.status:
        return False
    if query.customer_id is not None and fields.customer_id != query.customer_id:
        return False
    if query.from_date is not None and fields.issue_date < query.from_date:
        return False
    if query.to_date is not None and fields.issue_date > query.to_date:
        return False
    if query.search is not None:
        needle = query.search.casefold()
        name = CUSTOMERS[fields.customer_id].name.casefold()
        return needle in doc.number.casefold() or needle in name
    return True


def _filtered(store: Store, query: ListQuery) -> list[Invoice]:
    today = store.today()
    docs = [d for d in store.live() if _matches(d, query, d.status_on(today))]
    docs.sort(key=lambda d: d.created_seq, reverse=True)
    return docs


# -- invoices -----------------------------------------------------------------------------------


async def list_invoices(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    query = parse_list_query(request.query)
    today = store.today()
    return json_response(
        page_json(_filtered(store, query), query.page, lambda d: invoice_json(d, today))
    )


async def create_invoice(request: web.Request) -> web.StreamResponse:
    fields = parse_invoice(await _body(request))
    return _one(request, _store(request).create(fields), status=201)


async def get_invoice(request: web.Request) -> web.StreamResponse:
    return _one(request, _invoice(request))


async def update_invoice(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    doc = _invoice(request)
    body = require_object(await _body(request))  # body JSON (400) before the lifecycle (409)
    store.require_draft(doc, "edited")
    return _one(request, store.update(doc, parse_invoice(body)))


async def delete_invoice(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    doc = _invoice(request)
    store.delete(doc)
    return json_response({"data": trashed_json(doc, store.today())})


Operation = Callable[[web.Request, Store, Invoice], Invoice]

_ACTIONS: dict[str, Operation] = {
    "publish": lambda _, store, doc: store.publish(doc),
    "unpublish": lambda _, store, doc: store.unpublish(doc),
    "void": lambda _, store, doc: store.void(doc),
    "mark-paid": lambda _, store, doc: store.mark_paid(doc),
    "mark-sent": lambda _, store, doc: store.mark_sent(doc),
    "send": lambda request, store, doc: store.send(
        doc, smtp_configured=request.app[SMTP_CONFIGURED]
    ),
}


def _action_handler(operation: Operation) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return _one(request, operation(request, _store(request), _invoice(request)))

    return handle


async def duplicate_invoice(request: web.Request) -> web.StreamResponse:
    return _one(request, _store(request).duplicate(_invoice(request)), status=201)


async def credit_note(request: web.Request) -> web.StreamResponse:
    return _one(request, _store(request).credit_note(_invoice(request)), status=201)


async def next_number(request: web.Request) -> web.StreamResponse:
    return json_response({"data": {"number": _store(request).peek_number()}})


async def export_csv(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    docs = _filtered(store, parse_list_query(request.query))
    return web.Response(
        text=invoices_csv(docs, store.today()),
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="invoices.csv"'},
    )


# -- payments -----------------------------------------------------------------------------------


async def list_payments(request: web.Request) -> web.StreamResponse:
    doc = _invoice(request)
    payments = sorted(doc.payments, key=lambda p: (p.date, p.created_at))
    return json_response(
        page_json(payments, parse_page(request.query), lambda p: payment_json(doc, p))
    )


async def record_payment(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    doc = _invoice(request)
    body = await _body(request)
    store.require_payable(doc)
    payment = store.add_payment(doc, parse_payment(body, doc.places))
    return json_response({"data": payment_json(doc, payment)}, status=201)


async def delete_payment(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    doc = _invoice(request)
    store.delete_payment(doc, request.match_info["payment_id"])
    return _one(request, doc)


# -- batches and trash --------------------------------------------------------------------------


_BATCH: dict[str, Callable[[Store, Invoice], object]] = {
    "delete": Store.delete,
    "void": Store.void,
    "mark-sent": Store.mark_sent,
}


async def batch(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    action, ids = parse_batch(await _body(request), BATCH_ACTIONS)
    operation = _BATCH[action]
    return _batch_result(action, ids, lambda invoice_id: operation(store, store.get(invoice_id)))


async def trash_list(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    page = parse_page(request.query)
    today = store.today()
    docs = sorted(store.trashed(), key=lambda d: d.deleted_seq, reverse=True)
    return json_response(page_json(docs, page, lambda d: trashed_json(d, today)))


async def trash_batch(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    action, ids = parse_batch(await _body(request), TRASH_ACTIONS)
    operation = store.restore if action == "restore" else store.purge
    return _batch_result(action, ids, lambda invoice_id: operation(store.get_trashed(invoice_id)))


def _batch_result(
    action: str, ids: list[str], apply: Callable[[str], object]
) -> web.StreamResponse:
    """Each id succeeds or fails on its own; one bad id never blocks the others."""
    succeeded: list[str] = []
    failed: list[dict[str, str]] = []
    for invoice_id in ids:
        try:
            apply(invoice_id)
        except ApiError as exc:
            failed.append({"id": invoice_id, "code": exc.code, "message": exc.message})
        else:
            succeeded.append(invoice_id)
    return json_response({"data": {"action": action, "succeeded": succeeded, "failed": failed}})


__all__ = ["SMTP_CONFIGURED", "STORE", "create_app", "reference_data"]
