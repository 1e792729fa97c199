"""What every connection-scoped view does: find the adapter, read the body, shape the answer."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import structlog
from aiohttp import web

from adapters.base import Adapter, Handling, WriteWarning
from adapters.reference import rates_from_tax_ids
from gateway.canonical.errors import FieldError
from gateway.canonical.model import Invoice, writable
from gateway.canonical.unchecked_amounts import invoice_wide_problems
from gateway.http.auth import check_connection
from gateway.http.body import read_json_object
from gateway.http.keys import ADAPTERS, CALLER, METRICS
from gateway.http.problems import Problem, echoed
from gateway.http.render import Rendered, json_bytes_response, list_body, render
from gateway.http.validation import parse, query_problem, validation_problem
from gateway.listing import Listing
from gateway.service.outcomes import Outcome
from gateway.service.write_request import WriteRequest
from gateway.service.writes import entity_tags

_log = structlog.get_logger("gateway.invoices")
REPLAYED = "Idempotent-Replayed"
# RFC 7240: a preference's name is case-insensitive, and its value may be a quoted string.
_HANDLING = re.compile(
    r'(?:^|[;,\s])handling\s*=\s*(?:"(strict|lenient)"|(strict|lenient))(?=$|[\s;,])',
    re.IGNORECASE,
)


def adapter_for(request: web.Request) -> Adapter:
    """The adapter of the connection in the path: 403 if the key may not use it, else 404."""
    return adapter_named(request, request.match_info["connection"])


def adapter_named(request: web.Request, name: str) -> Adapter:
    """The adapter of connection ``name``: 403 if the key may not use it, else 404."""
    check_connection(request, name)
    adapters = request.app[ADAPTERS]
    adapter = adapters.get(name)
    if adapter is None:
        shown = echoed(name)
        raise Problem(
            "not_found",
            f"No connection named '{shown}'.{_yours(request, adapters)}",
            connection=shown,
        )
    return adapter


_NAMED_AT_MOST = 10


def _yours(request: web.Request, adapters: dict[str, Adapter]) -> str:
    """The connections the caller's key may use, named for a caller who mistyped one (at
    most ten: ``GET /v1/connections`` lists them all)."""
    client = request[CALLER]
    names = sorted(name for name in adapters if client.may_use(name))
    if not names:
        return ""
    shown = ", ".join(names[:_NAMED_AT_MOST])
    more = f" and {len(names) - _NAMED_AT_MOST} more" if len(names) > _NAMED_AT_MOST else ""
    return f" This API key's connections: {shown}{more} (GET /v1/connections lists them)."


def handling(request: web.Request) -> Handling:
    """``Prefer: handling=lenient`` (any case, quoted or not, in any of the ``Prefer``
    headers) or the default, strict."""
    for value in request.headers.getall("Prefer", []):
        match = _HANDLING.search(value)
        if match:
            said = match.group(1) or match.group(2)
            return "lenient" if said.lower() == "lenient" else "strict"
    return "strict"


async def invoice_body(request: web.Request, adapter: Adapter) -> Invoice:
    """The request's invoice for ``adapter``'s connection: read-only fields ignored, a line tax
    given by its id alone taking the connection's rate for it, everything else validated
    (422)."""
    data, unknown = rates_from_tax_ids(
        writable(await read_json_object(request)), adapter.connection
    )
    errors: list[FieldError] = []
    invoice = parse(Invoice, data, errors)
    if unknown:  # said with every other error, in place of "rate is required" at the same place
        named = {error.pointer for error in unknown}
        errors = [*unknown, *(error for error in errors if error.pointer not in named)]
    if errors or invoice is None:
        raise validation_problem(errors + invoice_wide_problems(data, errors))
    return invoice


def note_differences(invoice: Invoice, request: web.Request) -> None:
    """Count and log an invoice read whose provider figures differ from the recomputation."""
    check = invoice.totals_check
    if check is not None and not check.consistent and invoice.connection is not None:
        # Information, not an error: the provider's figures are what the caller gets.
        request.app[METRICS].totals_differences.labels(invoice.connection).inc()
        _log.warning(
            "totals_difference",
            connection=invoice.connection,
            invoice_id=invoice.id,
            differences=[d.model_dump(mode="json") for d in check.differences],
        )


def rendered(
    invoice: Invoice, request: web.Request, *, remote_data: bool | None = None, **extra: Any
) -> Rendered:
    """The invoice's answer body and tag, written once (``gateway.http.render``);
    ``remote_data``: whether it is expanded, when the caller already read ``?expand``."""
    note_differences(invoice, request)
    if remote_data is None:
        remote_data = "remote_data" in expanded(request)
    return render(invoice, remote_data=remote_data, extra=extra or None)


def listing_response(listing: Listing, request: web.Request) -> web.Response:
    """One page of a list, in the list envelope every list route answers with."""
    remote_data = "remote_data" in expanded(request)
    bodies = [
        rendered(invoice, request, remote_data=remote_data).body for invoice in listing.invoices
    ]
    return json_bytes_response(
        list_body(bodies, has_more=listing.has_more, next_cursor=listing.next_cursor)
    )


def invoice_response(
    invoice: Invoice,
    request: web.Request,
    *,
    status: int = 200,
    warnings: list[WriteWarning] | None = None,
    preference: Handling | None = None,
) -> web.Response:
    extra: dict[str, Any] = {}
    if warnings or preference == "lenient":
        # Under strict too: a provider may change what it was sent (a tax it applies itself).
        extra["warnings"] = [w.as_dict() for w in warnings or []]
    answer = rendered(invoice, request, **extra)
    response = json_bytes_response(answer.body, status=status)
    response.headers["ETag"] = answer.tag
    if preference == "lenient":
        response.headers["Preference-Applied"] = "handling=lenient"
    if status == 201 and invoice.id is not None:
        connection = request.match_info["connection"]
        where = quote(str(invoice.id), safe="")  # the provider's id: never a header's breaker
        response.headers["Location"] = f"/v1/connections/{connection}/invoices/{where}"
    return response


def write_request(request: web.Request, *, checks_if_match: bool = False) -> WriteRequest:
    """The write the request asks for, as the service layer knows it (no HTTP in there).

    The key's scope is the caller, the connection, the method and the route; the fingerprint
    adds the path, so one key on ``/invoices/1/void`` and ``/invoices/2/void`` is a reuse.
    ``?expand`` is checked here, before anything is sent: a write is not made only to be
    answered 400 for how its answer was asked to be shown. So is an ``If-Match`` on a write
    that has no invoice's ETag to check it against (``checks_if_match`` false: a create, a
    batch, the trash's): a 400, never a condition passed over (RFC 9110 lets a server refuse
    it or evaluate it; a caller who sent one believes the write guarded).
    """
    if "If-None-Match" in request.headers:
        raise Problem(
            "bad_request",
            f"If-None-Match is not checked on {request.method} {request.path} (a write would "
            "be made as if it were not there); send If-Match with the ETag a read answered, "
            "which a write checks, or neither.",
        )
    if not checks_if_match and "If-Match" in request.headers:
        raise Problem(
            "bad_request",
            f"If-Match cannot be checked on {request.method} {request.path}: it has no "
            "invoice's ETag to compare (PUT, DELETE, actions, payments and notes on one invoice "
            "check it); send it without If-Match.",
        )
    expanded(request)
    route = request.match_info.route.resource
    template = route.canonical if route is not None else request.path
    return WriteRequest(
        client=request[CALLER].name,
        connection=request.match_info["connection"],
        operation=f"{request.method} {template}",
        target=request.path,
        idempotency_key=request.headers.get("Idempotency-Key"),
    )


def outcome_response(
    outcome: Outcome, request: web.Request, *, preference: Handling | None = None
) -> web.StreamResponse:
    """The answer of a write: the invoice (201 when it is a new document), 204, or the note."""
    response: web.StreamResponse
    if outcome.kind == "invoice" and outcome.invoice is not None:
        response = invoice_response(
            outcome.invoice,
            request,
            status=201 if outcome.created else 200,
            warnings=outcome.warnings,
            preference=preference,
        )
    elif outcome.kind == "note":
        invoice_id = request.match_info["invoice_id"]
        body = {"object": "note", "invoice_id": invoice_id, "note": outcome.note}
        # A new note is 201; files added to an existing one, 200.
        response = web.json_response(body, status=201 if outcome.created else 200)
    else:
        response = web.Response(status=204)
    if outcome.replayed:
        response.headers[REPLAYED] = "true"
    return response


def if_match(request: web.Request) -> str | None:
    """The ``If-Match`` list (``_one_list``); None without one."""
    return _one_list(request, "If-Match")


def not_modified(request: web.Request, tag: str) -> bool:
    """Whether a read's ``If-None-Match`` names ``tag``, or is ``*`` (RFC 9110 13.1.2: the weak
    comparison, ``W/"7"`` matching ``"7"``): its answer is then a 304, the body left out."""
    given = _one_list(request, "If-None-Match")
    if not given:
        return False
    return given == "*" or _opaque(tag) in {_opaque(t) for t in entity_tags(given)}


def _one_list(request: web.Request, name: str) -> str | None:
    """A list header's lines joined as one (RFC 9110: several lines of a list field are one
    list, in order); None without one."""
    lines = request.headers.getall(name, [])
    return ", ".join(line.strip() for line in lines) if lines else None


def _opaque(tag: str) -> str:
    return tag.removeprefix("W/")


def expanded(request: web.Request) -> set[str]:
    """What ``?expand=`` asks for; anything that cannot be expanded is a 400."""
    asked = {p.strip() for value in request.query.getall("expand", []) for p in value.split(",")}
    unknown = ", ".join(name or "an empty name" for name in sorted(asked - {"remote_data"}))
    if unknown:
        raise query_problem(
            {"expand": f"{unknown} cannot be expanded (remote_data can)"},
            f"expand: {unknown} cannot be expanded (remote_data can).",
        )
    return asked
