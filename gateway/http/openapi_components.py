"""The OpenAPI document's shared components: the schemas every answer refers to (a problem,
the lists, a batch's result) and the parameters of the invoice routes, with the id pattern
read from the rule ``adapters.paths`` applies."""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Any

from adapters.base import ACTIONS, PROVIDER_FILTERS, SORTS
from adapters.paths import is_control
from gateway.canonical.model import DOCUMENT_TYPES
from gateway.http.openapi_read import read_name
from gateway.http.problems import PROBLEMS
from gateway.http.reserved import RESERVED

REF = "#/components/schemas/"


def shared_schemas() -> dict[str, Any]:
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


def parameters() -> dict[str, Any]:
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
