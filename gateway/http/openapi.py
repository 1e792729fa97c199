"""The OpenAPI 3.1 document, generated from the pydantic models the API itself uses."""

from __future__ import annotations

import copy
import unicodedata
from datetime import date
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from adapters.base import ACTIONS, FILTERS, PROVIDER_FILTERS, SORTS
from adapters.paths import is_control
from gateway.canonical.model import DOCUMENT_TYPES, Invoice, Line, Payment, RoundingPolicy
from gateway.canonical.order_invoice import OrderInvoice
from gateway.canonical.summary import InvoiceSummary
from gateway.http.openapi_examples import request_examples, with_examples
from gateway.http.openapi_read import read_name, read_schemas
from gateway.http.problems import PROBLEMS
from gateway.http.reserved import RESERVED

REF = "#/components/schemas/"
# Models an answer holds in their answer form (``openapi_read``): provider figures of any size.
_ANSWERED = frozenset({"Invoice", "Payment", "InvoiceSummary"})
_INVOICE = "/v1/connections/{connection}/invoices/{invoice_id}"


class CalculateRequest(Invoice):
    """An invoice plus the rounding policy to compute it with."""

    policy: RoundingPolicy | None = None


class NoteRequest(BaseModel):
    """A new note: its text and its files, one ``file`` part each (at most the connection's
    ``capabilities.note_files``; more is a 422 naming the limit)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, pattern=r"\S")
    # Not nullable, no default: Swagger UI then offers a file input, where a nullable one with
    # a null default was a "Send empty value" box that sent a part ``file=null`` (422).
    file: list[bytes] = Field(default_factory=list)


class NoteFilesRequest(BaseModel):
    """Files added to an existing note, one ``file`` part each, and ``note``, the note's new
    text: at least one of the two."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"anyOf": [{"required": ["file"]}, {"required": ["note"]}]},
    )

    file: list[bytes] = Field(default_factory=list)
    note: str | None = None


# What a line of each kind takes (``Line._amounts_fit_kind``): an item line (the default) its
# quantity and unit_price; a section line, a heading, no amounts, discount or taxes. Said in
# the schema, so that a body the description allows is one the gateway takes.
_NOT_NULL = {"not": {"type": "null"}}
_LINE_KINDS: dict[str, Any] = {
    "if": {"properties": {"kind": {"const": "item"}}},
    "then": {
        "required": ["quantity", "unit_price"],
        "properties": {"quantity": _NOT_NULL, "unit_price": _NOT_NULL},
    },
    "else": {
        "properties": {
            "quantity": {"type": "null"},
            "unit_price": {"type": "null"},
            "discount": {"type": "null"},
            "taxes": {"maxItems": 0},
        }
    },
}


def openapi_document() -> dict[str, Any]:
    """The document, built once a day: its examples are dated today (``request_examples``)."""
    return _document(date.today())


@lru_cache(maxsize=1)
def _document(today: date) -> dict[str, Any]:
    # Imported here: that module builds on this one's helpers.
    from gateway.http.openapi_collection import (
        collection_parameters,
        collection_paths,
        collection_schemas,
    )
    from gateway.http.openapi_fanout import fanout_parameters, fanout_paths

    _, schemas = models_json_schema(
        [
            (Invoice, "validation"),
            (Payment, "validation"),
            (CalculateRequest, "validation"),
            (RoundingPolicy, "validation"),
            (NoteRequest, "validation"),
            (NoteFilesRequest, "validation"),
            (OrderInvoice, "validation"),
            (InvoiceSummary, "validation"),
        ],
        ref_template=REF + "{model}",
    )
    components: dict[str, Any] = schemas["$defs"]
    for name, model in (("Invoice", Invoice), ("Line", Line), ("CalculateRequest", Invoice)):
        for key in model.read_only_keys:
            prop = components[name]["properties"].get(key)
            if prop is not None:
                prop["readOnly"] = True
    components["Line"].update(_LINE_KINDS)
    read, has_read = read_schemas([Invoice, Payment, InvoiceSummary], components, REF)
    if not has_read >= _ANSWERED:  # the names _ok and the lists below refer to
        raise RuntimeError(f"no answer form for {sorted(_ANSWERED - has_read)}")
    components.update(read)
    components.update(_shared_schemas())
    components.update(collection_schemas())
    with_warnings = copy.deepcopy(components[read_name("Invoice")])
    with_warnings["title"] = "InvoiceWithWarnings"
    with_warnings["properties"]["warnings"] = {
        "type": "array",
        "description": "What the provider could not carry or changed (see Prefer: handling).",
        "items": {
            "type": "object",
            "required": ["field", "reason"],
            "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
        },
    }
    components["InvoiceWithWarnings"] = with_warnings
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "invoice-gateway",
            "version": "1",
            "description": (
                "One invoice API over five invoice providers. Amounts are decimal strings; "
                "errors are RFC 9457 problem details. A request may name itself in an "
                f"`X-Request-ID` header ({_REQUEST_ID_RULE}; otherwise the gateway makes a "
                "name): every answer carries the name, which is logged and sent to the "
                "provider with each of the request's calls."
            ),
        },
        "paths": _with_request_id(
            {**_paths(today), **fanout_paths(), **collection_paths(_INVOICE)}
        ),
        "components": {
            "schemas": components,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "parameters": {
                **_parameters(),
                **collection_parameters(),
                **fanout_parameters(),
            },
            "headers": {"X-Request-ID": _REQUEST_ID_HEADER},
        },
        "security": [{"apiKey": []}],
    }


_REQUEST_ID_RULE = "1 to 128 of A-Z a-z 0-9 . _ : -"
# Every answer says the name of its request (middlewares.request_id_middleware). A request may
# give one in the same header; that is said in the document's description, not declared as a
# parameter of every operation: a header any string may fill has no wrong value for a negative
# test to send (Schemathesis' negative run fails every operation that has nothing else to break).
_REQUEST_ID_HEADER = {
    "description": "The request's name: the one the request gave, when it was "
    f"{_REQUEST_ID_RULE}, else one the gateway made. Quote it to find the request's log line.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:\\-]{1,128}$"},
}


def _with_request_id(paths: dict[str, Any]) -> dict[str, Any]:
    """Every answer, a problem included, carries ``X-Request-ID``."""
    for item in paths.values():
        for operation in item.values():
            for answer in operation["responses"].values():
                headers = answer.setdefault("headers", {})
                headers["X-Request-ID"] = {"$ref": "#/components/headers/X-Request-ID"}
    return paths


def _shared_schemas() -> dict[str, Any]:
    return {
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status", "detail", "code"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "code": {"enum": sorted(PROBLEMS)},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "pointer": {
                                "type": "string",
                                "description": "RFC 6901: into the request body as "
                                "/lines/0/quantity; to a query parameter as #/query/limit.",
                            },
                            "detail": {"type": "string"},
                        },
                    },
                },
                "errors_omitted": {
                    "type": "integer",
                    "description": "How many errors past the first 100 are not listed.",
                },
                "request_id": {"type": ["string", "null"]},
                "retryable": {"type": "boolean"},
                "connection": {"type": ["string", "null"]},
                "provider": {"type": ["string", "null"]},
                "outcome": {"type": "string"},
                "capabilities": {"type": ["string", "null"]},
            },
        },
        "InvoiceList": _list_of(REF + read_name("Invoice")),
        # ``view=summary`` answers summaries where the provider's rows are summaries.
        "InvoiceOrSummaryList": _list_of(
            REF + read_name("Invoice"), REF + read_name("InvoiceSummary")
        ),
        "PaymentList": _list_of(REF + read_name("Payment")),
        "Connection": {
            "type": "object",
            "required": ["object", "name", "provider", "capabilities"],
            "properties": {
                "object": {"const": "connection"},
                "name": {"type": "string"},
                "provider": {"type": "string"},
                "capabilities": {"type": "object"},
                "rounding": {"$ref": REF + "RoundingPolicy"},
                "currencies": {
                    "type": ["array", "null"],
                    "items": {"type": "string"},
                    "description": "The currencies its invoices can be in, where the provider "
                    "takes only some (crm_v1 and order_linked: those configured for the "
                    "connection; bill_crm: the account's): an invoice in another is a 422 at "
                    "/currency, before anything is sent. null where the gateway holds no such "
                    "list: the provider's account may still refuse a currency, in its own words.",
                },
                "health": {"$ref": REF + "ConnectionHealth"},
                "base_url": {"type": "string"},
            },
        },
        "ConnectionHealth": {
            "type": "object",
            "description": "The provider calls this gateway process made, and its circuit breaker.",
            "properties": {
                "status": {"enum": ["unknown", "ok", "failing"]},
                "calls": {"type": "integer", "minimum": 0},
                "retries": {"type": "integer", "minimum": 0},
                "failures": {"type": "integer", "minimum": 0},
                "last_failure": {"type": ["string", "null"]},
                "circuit": {
                    "type": "object",
                    "description": "Open: calls are refused (503) without calling the provider "
                    "until retry_after seconds have passed; then one probe call goes through "
                    "(half_open) and closes or reopens it.",
                    "required": ["state", "retry_after"],
                    "properties": {
                        "state": {"enum": ["closed", "half_open", "open"]},
                        "retry_after": {"type": ["integer", "null"], "minimum": 0},
                        "consecutive_failures": {"type": "integer", "minimum": 0},
                    },
                },
            },
        },
        "ConnectionList": _list_of(REF + "Connection"),
        "DuplicateInputs": {
            "type": "object",
            "additionalProperties": False,
            "description": "The optional body of POST …/duplicate: what the copy is made with "
            "instead of the source's own values (every key optional; another action takes no "
            "body). Which a connection takes: its capabilities' duplicate_inputs (bill_crm: "
            "customer.id, issue_date, due_date, provider_fields.bill_projectid); the others are "
            "422 unsupported_field, naming each. bill_crm: a new issue date without a due date "
            "keeps the source's payment term; a new customer without a project gets none.",
            "properties": {
                "customer": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id"],
                    "properties": {"id": {"type": ["string", "integer"]}},
                },
                "issue_date": {"type": "string", "format": "date"},
                "due_date": {"type": "string", "format": "date"},
                "provider_fields": {"type": "object"},
            },
        },
        # A note as adding it, or adding files to it, answers (views/notes.py).
        "Note": {
            "type": "object",
            "required": ["object", "invoice_id", "note"],
            "properties": {
                "object": {"const": "note"},
                "invoice_id": {"type": "string"},
                "note": {"$ref": REF + "NoteContent"},
            },
        },
        "NoteContent": {
            "type": "object",
            "required": ["id", "content", "files"],
            "properties": {
                "id": {
                    "type": "string",
                    "description": "The provider's id of the note: the note_id of "
                    "POST …/notes/{note_id}/files",
                },
                "content": {"type": "string", "description": "The note's text"},
                "files": {
                    "type": "array",
                    "description": "Its files, as the provider names them (adding files "
                    "answers every file the note now has)",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": {"type": "string"}},
                    },
                },
            },
        },
        "NoteList": _list_of(REF + "NoteContent"),
        "ServiceStatus": {"type": "object", "properties": {"status": {"type": "string"}}},
        "Index": {
            "type": "object",
            "required": ["name", "version", "docs", "openapi", "health"],
            "properties": {
                "name": {"const": "invoice-gateway"},
                "version": {"type": "string", "description": "The gateway's package version."},
                "docs": {"type": "string", "description": "This description, browsable."},
                "openapi": {"type": "string", "description": "This description."},
                "health": {"type": "string", "description": "Liveness."},
            },
        },
    }


def _list_of(item: str, *more: str) -> dict[str, Any]:
    items = {"oneOf": [{"$ref": one} for one in (item, *more)]} if more else {"$ref": item}
    return {
        "type": "object",
        "required": ["object", "data", "has_more", "next_cursor"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": items},
            "has_more": {"type": "boolean"},
            "next_cursor": {"type": ["string", "null"]},
        },
    }


# An id is one path segment naming one record (adapters/paths.py): no control characters, no
# path separator, not blank, not a dot segment. The rest of the rule (nothing that decodes to
# one of these, none of the provider's own path words) is beyond a pattern: a 400 too.
def _never_in_an_id(ch: str) -> bool:
    """A control or format character or a path separator, as itself or folded as NFKC folds it
    (the fullwidth solidus), as ``adapters.paths`` reads an id."""
    if is_control(ch) or ch in "/\\":
        return True
    if unicodedata.is_normalized("NFKC", ch):  # most characters: one cheap look
        return False
    return any(is_control(x) or x in "/\\" for x in unicodedata.normalize("NFKC", ch))


@lru_cache(maxsize=1)
def _id_pattern() -> str:
    """Not blank, not a dot segment, and none of the characters no id holds (``adapters.paths``:
    control and format characters, line and paragraph separators, path separators, as
    themselves or folded), read from the same rule; as ``\\uXXXX`` escapes."""
    # The Basic Multilingual Plane alone: a character beyond it is two code units to ECMA-262
    # outside its u mode (the /docs page's own check), where a class of them fails to compile.
    # The few such characters the gateway refuses (language tags, some format characters) are
    # left to its 400.
    ranges: list[list[int]] = []  # [first, last] of each run of refused characters
    for code in range(0x10000):
        if not _never_in_an_id(chr(code)):
            continue
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    spans = "".join(
        f"\\u{low:04x}" + (f"-\\u{high:04x}" if high != low else "") for low, high in ranges
    )
    # Not blank; not a dot segment, spaces around it (the gateway strips them) or not.
    return f"^(?!\\s*$)(?!\\s*\\.\\.?\\s*$)[^{spans}]+$"


_ID_RULE = (
    "An id that is blank, or holds control characters, a path separator (/ or \\) or a dot "
    "segment (. or ..), in any percent-encoding, is a 400 bad_request."
)


def _parameters() -> dict[str, Any]:
    def path(name: str, description: str, *, an_id: bool = True) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "minLength": 1}
        if an_id:  # what adapters/paths.py lets name a record, as far as a pattern can say
            schema["pattern"] = _id_pattern()
            description += f" {_ID_RULE}"
        return {
            "name": name,
            "in": "path",
            "required": True,
            "description": description,
            "schema": schema,
        }

    invoice_id = path(
        "invoice_id",
        f"The provider's id of the invoice; not {', '.join(RESERVED)}, which are routes of "
        "their own (405 with a method they do not take).",
    )
    invoice_id["schema"]["not"] = {"enum": list(RESERVED)}

    def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": schema,
        }

    return {
        "connection": path("connection", "A configured connection's name.", an_id=False),
        "invoice_id": invoice_id,
        "payment_id": path("payment_id", "The provider's id of the payment."),
        "order_id": path("order_id", "The provider's id of the order."),
        "note_id": path("note_id", "The provider's id of the note (as adding it answered)."),
        "action": {
            "name": "action",
            "in": "path",
            "required": True,
            "schema": {"enum": list(ACTIONS)},
        },
        "status": query(
            "status", {"enum": ["draft", "open", "paid", "void", "unknown"]}, "Document status."
        ),
        "customer_id": query("customer_id", {"type": "string"}, "The provider's customer id."),
        "issued_from": query(
            "issued_from", {"type": "string", "format": "date"}, "Issued on or after."
        ),
        "issued_to": query(
            "issued_to", {"type": "string", "format": "date"}, "Issued on or before."
        ),
        "number": query("number", {"type": "string"}, "Invoice number contains this."),
        "sort": query(
            "sort",
            {"enum": [f"{sign}{name}" for name in SORTS for sign in ("", "-")]},
            "The provider's own sort, ascending (a leading - for descending). Each connection "
            "offers the sorts in its capabilities.sorts; any other is a 400.",
        ),
        "search": query(
            "search",
            {"type": "string"},
            "The provider's own search (what it looks in: capabilities.search); a 400 where "
            "the connection's provider has none.",
        ),
        **{
            name: query(
                name,
                {"type": "string"},
                f"The provider's own {name.removesuffix('_id')} filter, where it has one "
                "(capabilities.provider_filters); a 400 elsewhere.",
            )
            for name in PROVIDER_FILTERS
        },
        "document_type": query(
            "document_type",
            {"enum": list(DOCUMENT_TYPES)},
            "Only invoices, or only credit notes (whose amounts count negative toward what is "
            "owed: see the Invoice schema's document_type).",
        ),
        "limit": query(
            "limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 25}, "Page size."
        ),
        "cursor": query(
            "cursor",
            {"type": "string", "minLength": 1},
            "next_cursor of the previous page (an empty one is a 400).",
        ),
        "expand": query("expand", {"enum": ["remote_data"]}, "Add the provider's raw payload."),
        "view": query(
            "view",
            {"enum": ["full", "summary"], "default": "full"},
            "full: whole invoices. summary: the rows as the provider lists them, in one "
            "provider call per page; where its rows are summaries (crm_v1), each is an "
            "InvoiceSummary (object invoice_summary, lines null, absent naming what the row "
            "lacks), elsewhere the same invoices as full. A cursor is bound to its view.",
        ),
        "prefer": {
            "name": "Prefer",
            "in": "header",
            "required": False,
            "description": "Preferences (RFC 7240); handling=strict (default) or handling=lenient.",
            "schema": {"type": "string", "examples": ["handling=strict", "handling=lenient"]},
        },
        "if_match": {
            "name": "If-Match",
            "in": "header",
            "required": False,
            "description": "The invoice's ETag (as a read answers it): the write is sent only "
            "if the invoice is still that one, else 412 precondition_failed. * matches any; "
            'a list of ETags (W/"7", "8") matches when one of them is the invoice\'s.',
            "schema": {"type": "string"},
        },
        "if_none_match": {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "ETags of the invoice already held (as a read answered them): when "
            "one of them is the invoice's (W/ aside), or with *, the answer is 304 with the "
            "ETag and no body. A write refuses it (400): it checks If-Match instead.",
            "schema": {"type": "string"},
        },
        "idempotency_key": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": (
                "1 to 255 printable ASCII characters. The first answer for a key is kept (24 h) "
                "and replayed for the same request with `Idempotent-Replayed: true`; another "
                "request with the key is 422 idempotency_key_reused; while the first still runs, "
                "409 idempotency_in_progress with Retry-After. See docs/facade.md, Writes."
            ),
            "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
        },
        # Calculate and preview write nothing: a key given to them is checked, and not kept.
        "idempotency_key_unkept": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": (
                "Taken, as on any POST, so that a client sending one with every POST is not "
                "refused here; checked for its form (1 to 255 printable ASCII characters, else "
                "400) and not kept, as nothing is written."
            ),
            "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
        },
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _body(schema: str, media: str = "application/json") -> dict[str, Any]:
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


def _ok(status: str, schema: str | None, description: str) -> dict[str, Any]:
    """An answer holding ``schema``: a model's answer form (``openapi_read``) where it has one."""
    if schema is None:
        return {status: {"description": description}}
    held = read_name(schema) if schema in _ANSWERED else schema
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
_UPSTREAM = (400, 401, 403, 404, 429, 500, 501, 502, 503, 504)
_WRITE = (*_UPSTREAM, 408, 409, 412, 413, 415, 422)
# A write with no one invoice's ETag to check If-Match against (it is refused there: a 400).
_NEW = tuple(code for code in _WRITE if code != 412)


def _operation(
    summary: str,
    operation_id: str,
    tag: str,
    responses: dict[str, Any],
    *,
    parameters: list[str] = (),  # type: ignore[assignment]
    body: dict[str, Any] | None = None,
    errors: tuple[int, ...] = _UPSTREAM,
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


def _paths(today: date) -> dict[str, Any]:
    examples = request_examples(today)
    conn = ["connection"]
    inv = ["connection", "invoice_id"]
    write = ["prefer", "idempotency_key", "expand"]  # a write answering an invoice
    return {
        "/": {
            "get": _operation(
                "Where the documentation is, and the gateway's version",
                "index",
                "health",
                _ok("200", "Index", "Links to /docs, /openapi.json and /healthz"),
                errors=(400,),
                public=True,
            )
        },
        "/healthz": {
            "get": _operation(
                "Liveness",
                "healthz",
                "health",
                _ok("200", "ServiceStatus", "Alive"),
                errors=(400,),
                public=True,
            )
        },
        "/readyz": {
            "get": _operation(
                "Readiness",
                "readyz",
                "health",
                {
                    **_ok("200", "ServiceStatus", "Ready"),
                    # A status like the 200's, not a problem: a probe reads one shape.
                    **_ok(
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
            "get": _operation(
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
            "post": _operation(
                "Calculate an invoice's amounts",
                "calculateInvoice",
                "invoices",
                _ok("200", "Invoice", "The invoice with every amount computed"),
                parameters=["idempotency_key_unkept"],
                body={
                    **with_examples(_body("CalculateRequest"), examples["calculate"]),
                    "description": "The invoice's fields and an optional policy, as JSON. A "
                    "body with no Content-Type, or labelled application/x-www-form-urlencoded "
                    "as `curl -d` labels it, is read as JSON too (this route writes nothing).",
                },
                errors=(400, 408, 413, 415, 422),
                public=True,
            )
        },
        "/v1/connections": {
            "get": _operation(
                "List connections",
                "listConnections",
                "connections",
                _ok("200", "ConnectionList", "Connections"),
                errors=(400, 401, 403, 429),
            )
        },
        "/v1/connections/{connection}": {
            "get": _operation(
                "Get a connection",
                "getConnection",
                "connections",
                _ok("200", "Connection", "The connection"),
                parameters=conn,
                errors=(400, 401, 403, 404, 429),
            )
        },
        "/v1/connections/{connection}/invoices": {
            "get": _operation(
                "List invoices",
                "listInvoices",
                "invoices",
                _ok("200", "InvoiceOrSummaryList", "A page of invoices (or of summaries)"),
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
            "post": _operation(
                "Create an invoice",
                "createInvoice",
                "invoices",
                _ok("201", "InvoiceWithWarnings", "Created"),
                parameters=[*conn, *write],
                body=with_examples(_body("Invoice"), examples["invoices"]),
                errors=_NEW,
            ),
        },
        "/v1/connections/{connection}/invoices/preview": {
            "post": _operation(
                "Preview the totals this provider would compute",
                "previewInvoice",
                "invoices",
                _ok("200", "InvoiceWithWarnings", "The invoice with every amount computed"),
                parameters=[*conn, "prefer", "idempotency_key_unkept"],
                body=with_examples(_body("Invoice"), examples["invoices"]),
                errors=_NEW,
            )
        },
        _INVOICE: {
            "get": _operation(
                "Get an invoice",
                "getInvoice",
                "invoices",
                {
                    **_ok("200", "Invoice", "The invoice"),
                    "304": {
                        "description": "Not modified: If-None-Match names the invoice's ETag",
                        "headers": {"ETag": _INVOICE_HEADERS["ETag"]},
                    },
                },
                parameters=[*inv, "expand", "if_none_match"],
                errors=(*_UPSTREAM, 405),  # 405: an invoice_id that names a route (RESERVED)
            ),
            "put": _operation(
                "Replace an invoice's writable fields",
                "replaceInvoice",
                "invoices",
                _ok("200", "InvoiceWithWarnings", "Replaced"),
                parameters=[*inv, "prefer", "if_match", "idempotency_key", "expand"],
                body=_body("Invoice"),
                errors=(*_WRITE, 405),
            ),
            "delete": _operation(
                "Delete an invoice",
                "deleteInvoice",
                "invoices",
                _ok("204", None, "Deleted"),
                parameters=[*inv, "if_match", "idempotency_key"],
                errors=(*_UPSTREAM, 405, 409, 412, 422),
            ),
        },
        _INVOICE + "/{action}": {
            "post": _operation(
                "Change an invoice's state (issue, void…)",
                "actOnInvoice",
                "invoices",
                {
                    **_ok("200", "Invoice", "The invoice after the action"),
                    **_ok("201", "Invoice", "The new document (duplicate, credit_note)"),
                },
                parameters=[*inv, "action", "if_match", "idempotency_key", "expand"],
                body={
                    **with_examples(_body("DuplicateInputs"), examples["action"]),
                    "required": False,
                },
                errors=(*_UPSTREAM, 409, 412, 415, 422),
            )
        },
        _INVOICE + "/payments": {
            "get": _operation(
                "List an invoice's payments",
                "listPayments",
                "payments",
                _ok("200", "PaymentList", "Payments"),
                parameters=inv,
            ),
            "post": _operation(
                "Record a payment",
                "recordPayment",
                "payments",
                _ok("201", "Invoice", "The invoice with the payment"),
                parameters=[*inv, "if_match", "idempotency_key", "expand"],
                body=with_examples(_body("Payment"), examples["payment"]),
                errors=_WRITE,
            ),
        },
        _INVOICE + "/payments/{payment_id}": {
            "delete": _operation(
                "Delete a payment",
                "deletePayment",
                "payments",
                _ok("200", "Invoice", "The invoice without it"),
                parameters=[*inv, "payment_id", "if_match", "idempotency_key", "expand"],
                errors=(*_UPSTREAM, 409, 412, 422),
            )
        },
        _INVOICE + "/notes": {
            "post": _operation(
                "Add a note, with its files",
                "addNote",
                "notes",
                _ok("201", "Note", "The note"),
                parameters=[*inv, "if_match", "idempotency_key"],
                body=_body("NoteRequest", "multipart/form-data"),
                errors=_WRITE,
            ),
            "get": _operation(
                "List an invoice's notes (where the provider can read them back)",
                "listNotes",
                "notes",
                _ok("200", "NoteList", "The notes"),
                parameters=inv,
            ),
        },
        _INVOICE + "/notes/{note_id}": {
            "get": _operation(
                "Read a note back (where the provider can)",
                "getNote",
                "notes",
                _ok("200", "Note", "The note"),
                parameters=[*inv, "note_id"],
            )
        },
        _INVOICE + "/notes/{note_id}/files": {
            "post": _operation(
                "Add files to an existing note, or replace its text",
                "addNoteFiles",
                "notes",
                _ok("200", "Note", "The note with every file it now has"),
                parameters=[*inv, "note_id", "if_match", "idempotency_key"],
                body=_body("NoteFilesRequest", "multipart/form-data"),
                errors=_WRITE,
            )
        },
        "/v1/connections/{connection}/orders/{order_id}/invoices": {
            "post": _operation(
                "Create an invoice from an order",
                "createInvoiceFromOrder",
                "invoices",
                _ok("201", "InvoiceWithWarnings", "Created"),
                parameters=[*conn, "order_id", *write],
                body={**with_examples(_body("OrderInvoice"), examples["order"]), "required": False},
                errors=_NEW,
            )
        },
    }
