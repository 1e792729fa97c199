"""``create_app``: the only place where the gateway's HTTP application is wired."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from adapters.registry import build_adapter
from gateway.background import alongside
from gateway.config import MAX_WRITE_SETTLE_S, Settings
from gateway.http.arriving import ArrivingBodies
from gateway.http.auth import auth_middleware
from gateway.http.keys import (
    ADAPTERS,
    ARRIVING,
    CURSORS,
    KEYRING,
    METRICS,
    READINESS,
    SERVICE,
    SETTINGS,
    SHARED_TOKENS,
    STORE,
)
from gateway.http.middlewares import (
    idempotency_key_middleware,
    problem_middleware,
    request_id_middleware,
)
from gateway.http.observability import access_log_middleware
from gateway.http.query_names import query_middleware
from gateway.http.readiness import StoreReadiness
from gateway.http.routes import setup_routes
from gateway.http.unread_bodies import unread_compressed_body_middleware
from gateway.http.unreadable_requests import answer_unreadable_requests_in_our_words
from gateway.keyring import FAILURES_BUCKET_PREFIX, KeyRing
from gateway.listing import Cursors
from gateway.metrics import Metrics
from gateway.provider_sessions import provider_sessions
from gateway.ratelimit import SharedTokens
from gateway.service.idempotency import KeyedWrites
from gateway.service.invoices import InvoiceService
from gateway.store import Store, open_store

_log = structlog.get_logger("gateway.app")
# How often expired idempotency records are deleted (and once at start).
REAP_EVERY_S = 600.0
# How long an address's failed-authentication bucket is kept after its last failure.
FAILURES_IDLE_S = 3600.0


def create_app(settings: Settings, *, cursor_secret: bytes | None = None) -> web.Application:
    answer_unreadable_requests_in_our_words()
    app = web.Application(
        middlewares=[
            unread_compressed_body_middleware,
            request_id_middleware,
            access_log_middleware,
            problem_middleware,
            auth_middleware,
            query_middleware,
            idempotency_key_middleware,
        ],
        client_max_size=settings.server.max_body_bytes,
    )
    app[SETTINGS] = settings
    keyring = KeyRing.from_clients(settings.clients, auth_failures=settings.server.auth_failures)
    app[KEYRING] = keyring
    app[METRICS] = Metrics()
    app[METRICS].watch_auth_failures(lambda: len(keyring.failures))
    # Instances behind one load balancer must share the secret to honour each other's cursors
    # (server.cursor_secret); so must one instance across restarts.
    secret = cursor_secret or settings.server.cursor_key() or secrets.token_bytes(32)
    app[CURSORS] = Cursors(secret)
    app[ARRIVING] = ArrivingBodies()
    app.on_shutdown.append(_stop_reading)
    app.cleanup_ctx.append(_store)
    app.cleanup_ctx.append(_upstream)
    setup_routes(app)
    return app


async def _stop_reading(app: web.Application) -> None:
    """Stopping: aiohttp reads no more request bytes, so a body still arriving is answered now
    (``arriving.py``), not after ``body_timeout_s``."""
    app[ARRIVING].stop()


async def _store(app: web.Application) -> AsyncIterator[None]:
    """The store (opened and migrated at start) and its reaper. With several workers, the API
    keys' rate limits and the failed-authentication throttle are counted in it, once for all."""
    settings = app[SETTINGS]
    store = open_store(settings.store.url)
    await store.open()
    app[STORE] = store
    app[READINESS] = StoreReadiness(store)
    app[SHARED_TOKENS] = SharedTokens(store)
    if settings.server.workers > 1:
        app[KEYRING].shared = app[SHARED_TOKENS]
    try:
        async with alongside(_reap(store)):
            yield
    finally:
        await store.close()


async def _upstream(app: web.Application) -> AsyncIterator[None]:
    """A client session per connection (its own pool), opened and closed with the app, and the
    use cases over the adapters and the store. A connection's ``rate_limit`` is a bucket in the
    store, shared by every process that calls the provider with this store: the workers, and a
    migration run beside them."""
    settings = app[SETTINGS]
    store, tokens = app[STORE], app[SHARED_TOKENS]
    async with provider_sessions(settings.connections) as sessions:
        metrics = app[METRICS]
        app[ADAPTERS] = {
            c.name: build_adapter(
                c,
                sessions[c.name],
                observer=metrics.upstream_call,
                retried=metrics.upstream_retry,
                circuits=metrics.watch_circuit,
                shared=tokens,
            )
            for c in settings.connections
        }
        writes = KeyedWrites(
            store,
            lease_s=settings.store.lease_seconds,
            ttl_s=settings.store.idempotency_ttl_hours * 3600,
            same_records=settings.same_records(),
            observer=metrics.write_event,
        )
        app[SERVICE] = InvoiceService(app[ADAPTERS], writes)
        yield
        await writes.drain()  # before the store closes (``_store``'s cleanup comes after)


async def _reap(store: Store) -> None:
    """Delete expired idempotency records now and then, and the failed-authentication buckets
    of addresses idle for an hour (full again: a bucket refills in a minute); a failure waits
    for the next round."""
    while True:
        try:
            now = time.time()
            # A dead holder's invoice lock outlives its lease by any connection's settle time,
            # which a taker waits out before taking it over (invoice_locks.take_lock).
            removed = await store.reap(now, lock_grace_s=MAX_WRITE_SETTLE_S)
            if removed:
                _log.info("idempotency_keys_reaped", removed=removed)
            await store.forget_buckets(FAILURES_BUCKET_PREFIX, now - FAILURES_IDLE_S)
        except Exception as exc:  # the store may be down for a while: try again later
            _log.warning("store_reap_failed", error=str(exc))
        await asyncio.sleep(REAP_EVERY_S)
