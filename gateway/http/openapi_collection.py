"""The OpenAPI description of the routes on a connection's invoices as a whole
(``views/collection.py``): next number, CSV export, batches, the trash.

Imported by ``openapi.openapi_document`` when it builds the document (its helpers are used here).
"""

from __future__ import annotations

from typing import Any

from adapters.base import BATCH_ACTIONS
from gateway.http.openapi_paths import UPSTREAM, body, ok, operation
from gateway.http.views.collection import MAX_BATCH_IDS

_INVOICES = "/v1/connections/{connection}/invoices"
_TRASH = "/v1/connections/{connection}/trash/invoices"
_NOT_HERE = (
    " A connection whose provider has none answers 501 not_supported (its capabilities say)."
)


def collection_schemas() -> dict[str, Any]:
    return {
        "NextNumber": {
            "type": "object",
            "required": ["object", "number"],
            "properties": {
                "object": {"const": "next_number"},
                "number": {
                    "type": "string",
                    "description": "The number the provider gives the next invoice it creates, "
                    "as it numbers them (read only: nothing is reserved).",
                },
            },
        },
        "BatchRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["action", "ids"],
            "properties": {
                "action": {
                    "enum": list(BATCH_ACTIONS),
                    "description": "delete (to the trash), void, mark_sent; restore and purge "
                    "act on invoices in the trash. Which a connection takes: its "
                    "capabilities.batch_actions.",
                },
                "ids": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_BATCH_IDS,
                    "items": {"type": "string", "minLength": 1},
                    "description": "Invoice ids; a repeated id is acted on, and answered, once.",
                },
            },
        },
        "BatchResult": {
            "type": "object",
            "required": ["object", "action", "succeeded", "failed", "results"],
            "properties": {
                "object": {"const": "batch"},
                "action": {"enum": list(BATCH_ACTIONS)},
                "succeeded": {"type": "integer", "minimum": 0},
                "failed": {"type": "integer", "minimum": 0},
                "results": {
                    "type": "array",
                    "description": "One per id, in the order asked: each id succeeds or fails "
                    "on its own, with the problem code it would have had alone.",
                    "items": {
                        "type": "object",
                        "required": ["id", "outcome"],
                        "properties": {
                            "id": {"type": "string"},
                            "outcome": {"enum": ["done", "failed"]},
                            "code": {
                                "enum": [
                                    "bad_request",
                                    "not_found",
                                    "conflict",
                                    "validation_error",
                                    "upstream_error",
                                ]
                            },
                            "detail": {"type": "string"},
                        },
                    },
                },
            },
        },
    }


def collection_parameters() -> dict[str, Any]:
    return {
        "export_status": {
            "name": "status",
            "in": "query",
            "required": False,
            "description": "Document status (the provider's own filter; open is its sent and "
            "overdue exports, one after the other under one header).",
            "schema": {"enum": ["draft", "open", "paid", "void"]},
        }
    }


def collection_paths(invoice_path: str) -> dict[str, Any]:
    conn = ["connection"]
    inv = ["connection", "invoice_id"]
    return {
        _INVOICES + "/next-number": {
            "get": operation(
                "The number the next invoice gets",
                "getNextInvoiceNumber",
                "invoices",
                ok("200", "NextNumber", "The next number." + _NOT_HERE),
                parameters=conn,
            )
        },
        _INVOICES + "/export.csv": {
            "get": operation(
                "Export invoices as the provider's CSV, streamed",
                "exportInvoicesCsv",
                "invoices",
                {
                    "200": {
                        "description": "The provider's own CSV (its columns, its statuses), "
                        "passed through as it arrives: a transfer that breaks off ends without "
                        "its final chunk, never as a shorter file." + _NOT_HERE,
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    }
                },
                parameters=[
                    *conn,
                    "export_status",
                    "customer_id",
                    "issued_from",
                    "issued_to",
                    "search",
                ],
            )
        },
        _INVOICES + "/batch": {
            "post": operation(
                "One action on many invoices",
                "batchInvoices",
                "invoices",
                ok("200", "BatchResult", "What was done to each id." + _NOT_HERE),
                parameters=[*conn, "idempotency_key"],
                body=body("BatchRequest"),
                errors=(*UPSTREAM, 408, 409, 413, 415, 422),
            )
        },
        invoice_path + "/restore": {
            "post": operation(
                "Restore an invoice from the trash",
                "restoreInvoice",
                "trash",
                ok("200", "Invoice", "The invoice, out of the trash." + _NOT_HERE),
                parameters=[*inv, "idempotency_key", "expand"],
                # It takes no body: one sent is refused (408, 413 or 415 as any body is).
                errors=(*UPSTREAM, 408, 409, 413, 415, 422),
            )
        },
        _TRASH: {
            "get": operation(
                "List the invoices in the trash",
                "listTrash",
                "trash",
                ok(
                    "200",
                    "InvoiceList",
                    "Deleted invoices, latest deletion first where the provider says; "
                    "remote_data has deleted_at." + _NOT_HERE,
                ),
                parameters=[*conn, "limit", "cursor", "expand"],
            )
        },
        _TRASH + "/{invoice_id}": {
            "delete": operation(
                "Delete an invoice in the trash for good",
                "purgeInvoice",
                "trash",
                ok("204", None, "Purged: it cannot be restored." + _NOT_HERE),
                parameters=[*inv, "idempotency_key"],
                errors=(*UPSTREAM, 409, 422),
            )
        },
    }
