"""``GET /v1/invoices?connection=a&connection=b…``: one list over several connections, merged by
issue date behind one cursor (``gateway.fanout``; docs/facade.md, "Lists across connections")."""

from __future__ import annotations

from aiohttp import web

from adapters.base import ListQuery
from gateway.canonical.errors import FieldError
from gateway.fanout import (
    ASCENDING,
    DESCENDING,
    ConnectionFailed,
    NotMergeable,
    list_across,
    list_summaries_across,
)
from gateway.http import list_filters, list_options
from gateway.http.auth import requires
from gateway.http.errors import problem_for
from gateway.http.keys import CONNECTIONS, CURSORS
from gateway.http.problems import Problem
from gateway.http.query_names import reads_own_query
from gateway.http.validation import (
    REPEATABLE,
    cursor_problem,
    query_pointer,
    query_problem,
    refuse_unknown,
)
from gateway.http.views.common import adapter_named, expanded, listing_response
from gateway.http.views.summaries import summaries_response
from gateway.listing import InvalidCursor

_QUERY = frozenset({*list_filters.NAMES, "connection", "sort", "cursor", "expand", "view"})
# Each provider's own, differing from one provider to the next: not offered across connections.
_PROVIDERS_OWN = list_options.NAMES - _QUERY


@requires("invoices:read")
@reads_own_query
async def list_across_view(request: web.Request) -> web.Response:
    adapters = [adapter_named(request, name) for name in _connections(request)]
    request[CONNECTIONS] = ",".join(adapter.connection.name for adapter in adapters)
    query, limit, cursor, summary = _query(request)
    cursors = request.app[CURSORS]
    try:
        if summary:
            summaries = await list_summaries_across(adapters, query, limit, cursor, cursors)
            return summaries_response(summaries, request)
        listing = await list_across(adapters, query, limit, cursor, cursors)
    except InvalidCursor as exc:
        raise cursor_problem(exc) from None
    except NotMergeable as exc:
        raise Problem(
            "bad_request",
            f"{exc.reason}; list it alone at /v1/connections/{exc.connection}/invoices.",
            errors=[FieldError(query_pointer("connection"), exc.reason)],
            connection=exc.connection,
            provider=exc.provider,
        ) from None
    except ConnectionFailed as exc:
        problem = problem_for(exc.error, connection=exc.connection)
        problem.detail = f"connection {exc.connection!r}: {problem.detail}"
        raise problem from None
    return listing_response(listing, request)


def _connections(request: web.Request) -> list[str]:
    names = request.query.getall("connection", [])
    if not names:
        raise query_problem(
            {"connection": "is required: name each connection to list, connection=a&connection=b"}
        )
    seen: set[str] = set()
    for name in names:
        if not name:
            raise query_problem({"connection": "must name a connection, not be empty"})
        if name in seen:
            raise query_problem({"connection": f"names {name!r} more than once"})
        seen.add(name)
    return names


def _query(request: web.Request) -> tuple[ListQuery, int, str | None, bool]:
    params = request.query
    own = sorted(set(params) & _PROVIDERS_OWN)
    if own:
        raise query_problem(
            dict.fromkeys(own, "is a provider's own and not offered across connections"),
            f"{', '.join(own)}: each provider's own, so not offered across connections; "
            "list one connection to use it.",
        )
    refuse_unknown(params, _QUERY | _PROVIDERS_OWN, repeatable=REPEATABLE | {"connection"})
    expanded(request)  # checked up front: an empty page must refuse a bad expand too
    summary = list_filters.summary_view(params)
    query_filters = list_filters.filters(params)
    sort = params.get("sort", ASCENDING)
    if sort not in (ASCENDING, DESCENDING):
        raise query_problem(
            {
                "sort": f"must be {ASCENDING} (oldest first, the default) or {DESCENDING} "
                "(newest first): a list across connections is merged by issue date"
            }
        )
    limit = list_filters.limit(params)
    query = ListQuery(**query_filters, sort=sort)
    return query, limit, list_filters.cursor(params), summary
