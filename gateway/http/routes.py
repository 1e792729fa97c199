"""Every route of the API, in one table (docs/facade.md)."""

from __future__ import annotations

import re

from aiohttp import web

from gateway.http.auth import scope_of
from gateway.http.reserved import RESERVED
from gateway.http.views import (
    collection,
    connections,
    docs,
    fanout,
    health,
    invoices,
    notes,
    orders,
    payments,
)
from gateway.http.views.calculate import calculate

_INVOICES = "/v1/connections/{connection}/invoices"
_NOT_RESERVED = "|".join(re.escape(word) for word in RESERVED)
# The id segment is none of them, before the end of the path or a further segment.
_INVOICE = _INVOICES + "/{invoice_id:(?!(?:" + _NOT_RESERVED + ")(?:/|$))[^{}/]+}"
_TRASH = "/v1/connections/{connection}/trash/invoices"


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/", docs.index)
    router.add_get("/healthz", health.healthz)
    router.add_get("/readyz", health.readyz)
    router.add_get("/metrics", health.metrics)
    router.add_get("/openapi.json", docs.openapi_json)
    router.add_get("/docs", docs.docs_page)
    router.add_get("/docs/assets/{name}", docs.docs_asset)
    router.add_post("/v1/invoices/calculate", calculate)
    router.add_get("/v1/invoices", fanout.list_across_view)
    router.add_get("/v1/connections", connections.list_connections_view)
    router.add_get("/v1/connections/{connection}", connections.get_connection_view)
    router.add_get("/v1/connections/{connection}/invoices", invoices.list_view)
    router.add_post("/v1/connections/{connection}/invoices", invoices.create_view)
    router.add_post("/v1/connections/{connection}/invoices/preview", invoices.preview_view)
    router.add_get(_INVOICES + "/next-number", collection.next_number_view)
    router.add_get(_INVOICES + "/export.csv", collection.export_csv_view)
    router.add_post(_INVOICES + "/batch", collection.batch_view)
    router.add_get(_INVOICE, invoices.get_view)
    router.add_put(_INVOICE, invoices.replace_view)
    router.add_delete(_INVOICE, invoices.delete_view)
    router.add_get(_INVOICE + "/payments", payments.list_payments_view)
    router.add_post(_INVOICE + "/payments", payments.record_payment_view)
    router.add_delete(_INVOICE + "/payments/{payment_id}", payments.delete_payment_view)
    router.add_post(_INVOICE + "/notes", notes.add_note_view)
    router.add_get(_INVOICE + "/notes", notes.list_notes_view)
    router.add_get(_INVOICE + "/notes/{note_id}", notes.get_note_view)
    router.add_post(_INVOICE + "/notes/{note_id}/files", notes.attach_files_view)
    router.add_post(_INVOICE + "/restore", collection.restore_view)
    router.add_post(_INVOICE + "/{action}", invoices.action_view)
    router.add_get(_TRASH, collection.trash_list_view)
    router.add_delete(_TRASH + "/{invoice_id}", collection.purge_view)
    router.add_post(
        "/v1/connections/{connection}/orders/{order_id}/invoices", orders.create_from_order_view
    )
    _check_scopes(app)


def _check_scopes(app: web.Application) -> None:
    """Refuse to start with a route that declares no scope: nothing is public by accident."""
    for route in app.router.routes():
        if route.method != "HEAD" and scope_of(route.handler) is None:
            raise RuntimeError(f"{route.method} {route.resource} declares no scope")
