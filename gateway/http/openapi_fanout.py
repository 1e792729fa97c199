"""The OpenAPI description of ``GET /v1/invoices``, one list across several connections
(``views/fanout.py``).

Imported by ``openapi.openapi_document`` when it builds the document (its helpers are used here).
"""

from __future__ import annotations

from typing import Any

from adapters.base import FILTERS
from gateway.fanout import ASCENDING, DESCENDING
from gateway.http.openapi_paths import UPSTREAM, ok, operation


def fanout_parameters() -> dict[str, Any]:
    return {
        "connections": {
            "name": "connection",
            "in": "query",
            "required": True,
            "description": "The connections to list, the parameter repeated for each "
            "(connection=a&connection=b), each once. The API key must be allowed on every one "
            "(else 403 naming it); an unknown one is a 404 naming it. Any connection can be "
            "merged, whether or not its provider sorts by issue date (docs/facade.md).",
            "schema": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"type": "string", "minLength": 1},
            },
            "style": "form",
            "explode": True,
        },
        "merge_sort": {
            "name": "sort",
            "in": "query",
            "required": False,
            "description": f"{ASCENDING}: oldest first (the default); {DESCENDING}: newest "
            "first. Invoices of the same day come in connection-name order, then each "
            "connection's own order.",
            "schema": {"enum": [ASCENDING, DESCENDING], "default": ASCENDING},
        },
    }


def fanout_paths() -> dict[str, Any]:
    return {
        "/v1/invoices": {
            "get": {
                **operation(
                    "List invoices across connections, merged by issue date",
                    "listInvoicesAcrossConnections",
                    "invoices",
                    ok(
                        "200",
                        "InvoiceOrSummaryList",
                        "A page of the connections' invoices (or, with view=summary, their "
                        "rows as listed) in issue-date order, each naming its connection",
                    ),
                    parameters=[
                        "connections",
                        *FILTERS,
                        "merge_sort",
                        "limit",
                        "cursor",
                        "expand",
                        "view",
                    ],
                    errors=UPSTREAM,
                ),
                "description": "The connections are read concurrently, each as its own list "
                "reads it (its provider asked for pages sorted by issue date; a filter it "
                "cannot apply applied by the gateway), and merged behind one cursor that holds "
                "every connection's position; walking it visits every invoice of every "
                "connection once. A provider with no issue-date sort (draft_publish, "
                "order_linked) is read whole on each call and sorted by the gateway; a listing "
                "of more than 20 of its pages is a 400 naming the connection. A connection "
                "whose read fails fails the call, named in the "
                "problem's connection member: there is no partial answer. search and the "
                "provider-only filters are each provider's own, and a 400 here. view=summary hands "
                "out each connection's rows as its provider lists them, with no read of a "
                "summary row in full (crm_v1's rows: one provider call a page).",
            }
        }
    }
