"""The OpenAPI document's invoice routes: each operation with its parameters, bodies, answers
and the problems it can answer, and the helpers the other route families' documents build on
(``openapi_collection``, ``openapi_fanout``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from adapters.base import FILTERS, PROVIDER_FILTERS
from gateway.http.openapi_components import REF
from gateway.http.openapi_examples import request_examples, with_examples
from gateway.http.openapi_read import read_name
from gateway.http.problems import PROBLEMS

# Models an answer holds in their answer form (``openapi_read``): provider figures of any size.
ANSWERED = frozenset({"Invoice", "Payment", "InvoiceSummary"})
INVOICE = "/v1/connections/{connection}/invoices/{invoice_id}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def body(schema: str, media: str = "application/json") -> dict[str, Any]:
    return {"required": True, "content": {media: {"schema": {"$ref": REF + schema}}}}


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


# What an answer holding an invoice carries beside its body (views.common.invoice_response).
_INVOICE_HEADERS = {
    "ETag": _header("The invoice's version tag, for If-Match on a later write to it"),
    "Preference-Applied": _header("handling=lenient, where Prefer asked for it"),
    "Idempotent-Replayed": _header(
        "true: the kept answer of an earlier request with the same Idempotency-Key"
    ),
}
_LOCATION = _header("Where the new invoice is read: /v1/connections/{connection}/invoices/{id}")


def ok(status: str, schema: str | None, description: str) -> dict[str, Any]:
    """An answer holding ``schema``: a model's answer form (``openapi_read``) where it has one."""
    if schema is None:
        return {status: {"description": description}}
    held = read_name(schema) if schema in ANSWERED else schema
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF + held}}},
    }
    if schema in ("Invoice", "InvoiceWithWarnings"):
        answer["headers"] = dict(_INVOICE_HEADERS)
        if status == "201":
            answer["headers"]["Location"] = _LOCATION
    return {status: answer}


def _problems(*statuses: int) -> dict[str, Any]:
    wanted = {status for status, _ in PROBLEMS.values() if status in statuses}
    answers: dict[str, Any] = {
        str(status): {
            "description": ", ".join(code for code, (s, _) in PROBLEMS.items() if s == status),
            "content": {"application/problem+json": {"schema": {"$ref": REF + "Problem"}}},
        }
        for status in sorted(wanted)
    }
    # Sent with a 429 or 503, with a 409 of a key still in use, with an uncertain 502.
    for status in ("409", "429", "502", "503"):
        if status in answers:
            answers[status]["headers"] = {
                "Retry-After": _header("Seconds to wait before sending the request again")
            }
    return answers


# Problems any call on a connection can answer: reading the provider can fail in all these ways.
UPSTREAM = (400, 401, 403, 404, 429, 500, 501, 502, 503, 504)
_WRITE = (*UPSTREAM, 408, 409, 412, 413, 415, 422)
# A write with no one invoice's ETag to check If-Match against (it is refused there: a 400).
_NEW = tuple(code for code in _WRITE if code != 412)
# A preview calls no provider and keeps no key: what it answers is the request's own.
_PREVIEW = (400, 401, 403, 404, 408, 413, 415, 422, 429, 500, 501)


def operation(
    summary: str,
    operation_id: str,
    tag: str,
    responses: dict[str, Any],
    *,
    parameters: list[str] = (),  # type: ignore[assignment]
    body: dict[str, Any] | None = None,
    errors: tuple[int, ...] = UPSTREAM,
    public: bool = False,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": operation_id,
        "tags": [tag],
        "parameters": [_ref(p) for p in parameters],
        "responses": {**responses, **_problems(*errors)},
    }
    if body is not None:
        operation["requestBody"] = body
    if public:
        operation["security"] = []
    return operation


def invoice_paths(today: date) -> dict[str, Any]:
    examples = request_examples(today)
    conn = ["connection"]
    inv = ["connection", "invoice_id"]
    write = ["prefer", "idempotency_key", "expand"]  # a write answering an invoice
    return {
        "/": {
            "get": operation(
                "Where the documentation is, and the gateway's version",
                "index",
                "health",
                ok("200", "Index", "Links to /docs, /openapi.json and /healthz"),
                errors=(400,),
                public=True,
            )
        },
        "/healthz": {
            "get": operation(
                "Liveness",
                "healthz",
                "health",
                ok("200", "ServiceStatus", "Alive"),
                errors=(400,),
                public=True,
            )
        },
        "/readyz": {
            "get": operation(
                "Readiness",
                "readyz",
                "health",
                {
                    **ok("200", "ServiceStatus", "Ready"),
                    # A status like the 200's, not a problem: a probe reads one shape.
                    **ok(
                        "503",
                        "ServiceStatus",
                        "Not ready: starting, or the store cannot be reached (status "
                        "starting or not_ready)",
                    ),
                },
                errors=(400,),
                public=True,
            )
        },
        "/metrics": {
            "get": operation(
                "Prometheus metrics (an admin key's)",
                "metrics",
                "health",
                {
                    "200": {
                        "description": "The gateway's metrics in Prometheus' text format "
                        "(docs/operations.md, Metrics)",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
                errors=(400, 401, 403, 429),
            )
        },
        "/v1/invoices/calculate": {
            "post": operation(
                "Calculate an invoice's amounts",
                "calculateInvoice",
                "invoices",
                ok("200", "Invoice", "The invoice with every amount computed"),
                parameters=["idempotency_key_unkept"],
                body={
                    **with_examples(body("CalculateRequest"), examples["calculate"]),
                    "description": "The invoice's fields and an optional policy, as JSON. A "
                    "body with no Content-Type, or labelled application/x-www-form-urlencoded "
                    "as `curl -d` labels it, is read as JSON too (this route writes nothing).",
                },
                errors=(400, 408, 413, 415, 422),
                public=True,
            )
        },
        "/v1/connections": {
            "get": operation(
                "List connections",
                "listConnections",
                "connections",
                ok("200", "ConnectionList", "Connections"),
                errors=(400, 401, 403, 429),
            )
        },
        "/v1/connections/{connection}": {
            "get": operation(
                "Get a connection",
                "getConnection",
                "connections",
                ok("200", "Connection", "The connection"),
                parameters=conn,
                errors=(400, 401, 403, 404, 429),
            )
        },
        "/v1/connections/{connection}/invoices": {
            "get": operation(
                "List invoices",
                "listInvoices",
                "invoices",
                ok("200", "InvoiceOrSummaryList", "A page of invoices (or of summaries)"),
                parameters=[
                    *conn,
                    *FILTERS,
                    "sort",
                    "search",
                    *PROVIDER_FILTERS,
                    "limit",
                    "cursor",
                    "expand",
                    "view",
                ],
            ),
            "post": operation(
                "Create an invoice",
                "createInvoice",
                "invoices",
                ok("201", "InvoiceWithWarnings", "Created"),
                parameters=[*conn, *write],
                body=with_examples(body("Invoice"), examples["invoices"]),
                errors=_NEW,
            ),
        },
        "/v1/connections/{connection}/invoices/preview": {
            "post": operation(
                "Preview the totals this provider would compute",
                "previewInvoice",
                "invoices",
                ok("200", "InvoiceWithWarnings", "The invoice with every amount computed"),
                parameters=[*conn, "prefer", "idempotency_key_unkept"],
                body=with_examples(body("Invoice"), examples["invoices"]),
                errors=_PREVIEW,
            )
        },
        INVOICE: {
            "get": operation(
                "Get an invoice",
                "getInvoice",
                "invoices",
                {
                    **ok("200", "Invoice", "The invoice"),
                    "304": {
                        "description": "Not modified: If-None-Match names the invoice's ETag",
                        "headers": {"ETag": _INVOICE_HEADERS["ETag"]},
                    },
                },
                parameters=[*inv, "expand", "if_none_match"],
                errors=(*UPSTREAM, 405),  # 405: an invoice_id that names a route (RESERVED)
            ),
            "put": operation(
                "Replace an invoice's writable fields",
                "replaceInvoice",
                "invoices",
                ok("200", "InvoiceWithWarnings", "Replaced"),
                parameters=[*inv, "prefer", "if_match", "idempotency_key", "expand"],
                # The create's: a body of writable fields each connection takes (a provider that
                # keeps an invoice's customer takes it for an invoice of the same customer).
                body=with_examples(body("Invoice"), examples["invoices"]),
                errors=(*_WRITE, 405),
            ),
            "delete": operation(
                "Delete an invoice",
                "deleteInvoice",
                "invoices",
                ok("204", None, "Deleted"),
                parameters=[*inv, "if_match", "idempotency_key"],
                errors=(*UPSTREAM, 405, 409, 412, 422),
            ),
        },
        INVOICE + "/{action}": {
            "post": operation(
                "Change an invoice's state (issue, void…)",
                "actOnInvoice",
                "invoices",
                {
                    **ok("200", "Invoice", "The invoice after the action"),
                    **ok("201", "Invoice", "The new document (duplicate, credit_note)"),
                },
                parameters=[*inv, "action", "if_match", "idempotency_key", "expand"],
                body={
                    **with_examples(body("DuplicateInputs"), examples["action"]),
                    "required": False,
                },
                errors=(*UPSTREAM, 408, 409, 412, 413, 415, 422),
            )
        },
        INVOICE + "/payments": {
            "get": operation(
                "List an invoice's payments",
                "listPayments",
                "payments",
                ok("200", "PaymentList", "Payments"),
                parameters=inv,
            ),
            "post": operation(
                "Record a payment",
                "recordPayment",
                "payments",
                ok("201", "Invoice", "The invoice with the payment"),
                parameters=[*inv, "if_match", "idempotency_key", "expand"],
                body=with_examples(body("Payment"), examples["payment"]),
                errors=_WRITE,
            ),
        },
        INVOICE + "/payments/{payment_id}": {
            "delete": operation(
                "Delete a payment",
                "deletePayment",
                "payments",
                ok("200", "Invoice", "The invoice without it"),
                parameters=[*inv, "payment_id", "if_match", "idempotency_key", "expand"],
                errors=(*UPSTREAM, 409, 412, 422),
            )
        },
        INVOICE + "/notes": {
            "post": operation(
                "Add a note, with its files",
                "addNote",
                "notes",
                ok("201", "Note", "The note"),
                parameters=[*inv, "if_match", "idempotency_key"],
                body=body("NoteRequest", "multipart/form-data"),
                errors=_WRITE,
            ),
            "get": operation(
                "List an invoice's notes (where the provider can read them back)",
                "listNotes",
                "notes",
                ok("200", "NoteList", "The notes"),
                parameters=inv,
            ),
        },
        INVOICE + "/notes/{note_id}": {
            "get": operation(
                "Read a note back (where the provider can)",
                "getNote",
                "notes",
                ok("200", "Note", "The note"),
                parameters=[*inv, "note_id"],
            )
        },
        INVOICE + "/notes/{note_id}/files": {
            "post": operation(
                "Add files to an existing note, or replace its text",
                "addNoteFiles",
                "notes",
                ok("200", "Note", "The note with every file it now has"),
                parameters=[*inv, "note_id", "if_match", "idempotency_key"],
                body=body("NoteFilesRequest", "multipart/form-data"),
                errors=_WRITE,
            )
        },
        "/v1/connections/{connection}/orders/{order_id}/invoices": {
            "post": operation(
                "Create an invoice from an order",
                "createInvoiceFromOrder",
                "invoices",
                ok("201", "InvoiceWithWarnings", "Created"),
                parameters=[*conn, "order_id", *write],
                body={**with_examples(body("OrderInvoice"), examples["order"]), "required": False},
                errors=_NEW,
            )
        },
    }
