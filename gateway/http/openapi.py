"""The OpenAPI 3.1 document, generated from the pydantic models the API itself uses, put
together from its parts: the shared components (``openapi_components``), the invoice routes
(``openapi_paths``), the collection and fan-out routes (``openapi_collection``,
``openapi_fanout``) and the answer forms (``openapi_read``)."""

from __future__ import annotations

import copy
from datetime import date
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from gateway.canonical.dates import utc_today
from gateway.canonical.model import Invoice, Line, Payment, RoundingPolicy
from gateway.canonical.order_invoice import OrderInvoice
from gateway.canonical.summary import InvoiceSummary
from gateway.http.openapi_components import REF, parameters, shared_schemas
from gateway.http.openapi_paths import ANSWERED, INVOICE, invoice_paths
from gateway.http.openapi_read import read_name, read_schemas


class CalculateRequest(Invoice):
    """An invoice plus the rounding policy to compute it with."""

    policy: RoundingPolicy | None = None


class NoteRequest(BaseModel):
    """A new note: its text and its files, one ``file`` part each (at most the connection's
    ``capabilities.note_files``; more is a 422 naming the limit)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, pattern=r"\S", examples=["Called the customer: paying Friday"])
    # Not nullable, no default: Swagger UI then offers a file input, where a nullable one with
    # a null default was a "Send empty value" box that sent a part ``file=null`` (422). An
    # empty example: without one, Swagger UI sent its sample item, a text part "string" (422).
    file: list[bytes] = Field(default_factory=list, examples=[[]])


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
    return _document(utc_today())


@lru_cache(maxsize=1)
def _document(today: date) -> dict[str, Any]:
    # Imported here: the collection routes' document reads the batch limit from their view,
    # whose query check (``query_names``) reads this document.
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
    if not has_read >= ANSWERED:  # the names _ok and the lists below refer to
        raise RuntimeError(f"no answer form for {sorted(ANSWERED - has_read)}")
    components.update(read)
    components.update(shared_schemas())
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
            {**invoice_paths(today), **fanout_paths(), **collection_paths(INVOICE)}
        ),
        "components": {
            "schemas": components,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "parameters": {
                **parameters(),
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
