"""The answer of ``?view=summary``: the list envelope around summaries (and invoices, where the
provider's rows are whole invoices), each written once as bytes."""

from __future__ import annotations

from aiohttp import web

from gateway import jsonwire
from gateway.canonical.summary import InvoiceSummary
from gateway.http.render import json_bytes_response, list_body
from gateway.http.views.common import expanded, rendered
from gateway.listing import SummaryListing

_WITHOUT_REMOTE = frozenset({"remote_data"})


def summaries_response(listing: SummaryListing, request: web.Request) -> web.Response:
    remote_data = "remote_data" in expanded(request)
    bodies = [
        summary_body(row, remote_data=remote_data)
        if isinstance(row, InvoiceSummary)
        else rendered(row, request, remote_data=remote_data).body
        for row in listing.rows
    ]
    return json_bytes_response(
        list_body(bodies, has_more=listing.has_more, next_cursor=listing.next_cursor)
    )


def summary_body(summary: InvoiceSummary, *, remote_data: bool) -> bytes:
    """One summary as JSON; ``remote_data`` (the provider's row, numbers as it wrote them)
    when expanded."""
    body = jsonwire.model_json(summary, _WITHOUT_REMOTE)
    if not remote_data:
        return body
    return jsonwire.with_payload(body, "remote_data", summary.remote_data)
