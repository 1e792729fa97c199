"""The list parameters only a provider can serve: ``sort``, ``search`` and provider-only filters.

A gateway that reads a listing a page at a time cannot sort it, and a search is the provider's
own (what it looks in is its choice), so these always go upstream. One the connection's provider
lacks is a 400 that says what it does offer, never a silent gateway-side approximation.
"""

from __future__ import annotations

from typing import Any

from multidict import MultiMapping

from adapters.base import PROVIDER_FILTERS, SORTS, Capabilities
from gateway.http.validation import query_problem

NAMES = frozenset({"sort", "search", *PROVIDER_FILTERS})


def upstream_options(
    params: MultiMapping[str], caps: Capabilities, provider: str
) -> dict[str, Any]:
    """``ListQuery`` keyword arguments for the upstream-only parameters given. An empty text
    (``search=``, a filter) is absent; ``sort=`` is a 400, as for every parameter that takes one
    of a list of values (``status``, ``document_type``, ``expand``): docs/decisions.md."""
    options: dict[str, Any] = {}
    sort = params.get("sort")
    if sort is not None:
        options["sort"] = _sort(sort, caps, provider)
    search = params.get("search") or None
    if search is not None:
        if caps.search is None:
            raise query_problem(
                {"search": f"is not available: {provider} has no search of its own"},
                f"search: {provider} has no search; filter with number, customer_id, "
                "issued_from and issued_to instead.",
            )
        options["search"] = search
    for name in PROVIDER_FILTERS:
        value = params.get(name) or None
        if value is None:
            continue
        if name not in caps.provider_filters:
            takes = ", ".join(sorted(caps.provider_filters)) or "none"
            raise query_problem(
                {name: f"is not a filter {provider} has (its provider-only filters: {takes})"}
            )
        options[name] = value
    return options


def _sort(sort: str, caps: Capabilities, provider: str) -> str:
    name = sort.removeprefix("-")
    if name not in SORTS:
        every = ", ".join(SORTS)
        raise query_problem(
            {"sort": f"must be one of {every}, with a leading - for descending order"}
        )
    if name not in caps.sorts:
        raise query_problem({"sort": f"is not available here: {offered(caps, provider)}"})
    return sort


def offered(caps: Capabilities, provider: str) -> str:
    """The sorts a connection offers, as a sentence."""
    if not caps.sorts:
        return f"{provider} has no sort; its list comes in the provider's own order"
    names = [name for name in SORTS if name in caps.sorts]
    every = ", ".join(f"{name}, -{name}" for name in names)
    return f"{provider} sorts by {every}"
