"""Provider id → adapter class, and building an adapter for a configured connection."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import aiohttp

from adapters.base import Adapter
from adapters.mapping import load_mapping
from gateway.config import Connection
from gateway.ratelimit import SharedTokens
from gateway.upstream import CallObserver, UpstreamClient

ADAPTERS: dict[str, str] = {
    "crm_v1": "adapters.crm_v1.adapter:CrmV1Adapter",
    "draft_publish": "adapters.draft_publish.adapter:DraftPublishAdapter",
    "bill_crm": "adapters.bill_crm.adapter:BillCrmAdapter",
    "item_envelope": "adapters.item_envelope.adapter:ItemEnvelopeAdapter",
    "order_linked": "adapters.order_linked.adapter:OrderLinkedAdapter",
}

# Given a connection's name and a function that reads its breaker's state (0, 1, 2).
CircuitWatcher = Callable[[str, Callable[[], float]], None]


def adapter_class(provider: str) -> type[Adapter]:
    try:
        module_name, class_name = ADAPTERS[provider].split(":")
    except KeyError:
        known = ", ".join(ADAPTERS)
        raise KeyError(f"unknown provider {provider!r}; expected one of {known}") from None
    cls: type[Adapter] = getattr(importlib.import_module(module_name), class_name)
    return cls


def build_adapter(
    connection: Connection,
    session: aiohttp.ClientSession,
    *,
    observer: CallObserver | None = None,
    retried: Callable[[str], None] | None = None,
    circuits: CircuitWatcher | None = None,
    shared: SharedTokens | None = None,
) -> Adapter:
    """The adapter for ``connection``, talking through ``session`` (owned by the caller).

    ``observer`` hears every provider call, ``retried`` every retry; ``circuits`` is given the
    connection's breaker state to read (``Metrics.watch_circuit``); ``shared``, when given,
    holds the connection's rate limit as a bucket in the store, one quota for every process
    pacing by it.
    """
    cls = adapter_class(connection.provider)
    client = UpstreamClient(session, connection, observer=observer, retried=retried, shared=shared)
    if circuits is not None:
        breaker = client.breaker
        circuits(connection.name, lambda: breaker.state.code)
    return cls(client, connection, load_mapping(connection.provider))
