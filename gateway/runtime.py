"""The gateway's parts for a command that runs outside the HTTP server (export, migrate).

One function builds what ``create_app`` builds for the server: one HTTP client session for every
provider call, an adapter per connection, the store and the use cases over them; and closes them
in order. With ``shared_limits``, each connection's rate limit is a token bucket in the store, so
several processes together stay within the provider's quota.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from adapters.base import Adapter
from adapters.registry import build_adapter
from gateway.config import Settings
from gateway.provider_sessions import provider_sessions
from gateway.ratelimit import SharedTokens
from gateway.service.idempotency import KeyedWrites
from gateway.service.invoices import InvoiceService
from gateway.store import Store, open_store


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    adapters: dict[str, Adapter]
    store: Store | None  # None when the command writes nothing (a dry run, an export)
    service: InvoiceService | None


@asynccontextmanager
async def gateway_runtime(
    settings: Settings, *, with_store: bool = True, shared_limits: bool = False
) -> AsyncIterator[Runtime]:
    store: Store | None = None
    if with_store:
        store = open_store(settings.store.url)
        await store.open()
    try:
        async with provider_sessions(settings.connections) as sessions:
            adapters = {}
            tokens = SharedTokens(store) if shared_limits and store is not None else None
            for connection in settings.connections:
                adapters[connection.name] = build_adapter(
                    connection, sessions[connection.name], shared=tokens
                )
            service = None
            if store is not None:
                writes = KeyedWrites(
                    store,
                    lease_s=settings.store.lease_seconds,
                    ttl_s=settings.store.idempotency_ttl_hours * 3600,
                    same_records=settings.same_records(),
                    clock=time.time,
                )
                service = InvoiceService(adapters, writes)
            try:
                yield Runtime(settings, adapters, store, service)
            finally:  # before the store closes, whatever the command did
                if service is not None:
                    await service.writes.drain()
    finally:
        if store is not None:
            await store.close()
