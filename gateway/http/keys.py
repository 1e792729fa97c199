"""Typed application keys: everything the app holds, declared in one place."""

from __future__ import annotations

from aiohttp import web

from adapters.base import Adapter
from gateway.config import Client, Settings
from gateway.http.arriving import ArrivingBodies
from gateway.http.readiness import StoreReadiness
from gateway.keyring import KeyRing
from gateway.listing import Cursors
from gateway.metrics import Metrics
from gateway.ratelimit import SharedTokens
from gateway.service.invoices import InvoiceService
from gateway.store import Store

SETTINGS = web.AppKey("settings", Settings)
ARRIVING = web.AppKey("arriving", ArrivingBodies)
REQUEST_ID = web.RequestKey("request_id", str)
CALLER = web.RequestKey("caller", Client)
# The client whose key the request presented, known before its scope and rate limit are
# checked (CALLER is set only once both let it through): what the access log names.
IDENTIFIED = web.RequestKey("identified", Client)
# The connections a list across connections reads (``GET /v1/invoices``), for its log line.
CONNECTIONS = web.RequestKey("connections", str)
KEYRING = web.AppKey("keyring", KeyRing)
ADAPTERS = web.AppKey("adapters", dict[str, Adapter])
CURSORS = web.AppKey("cursors", Cursors)
METRICS = web.AppKey("metrics", Metrics)
STORE = web.AppKey("store", Store)
READINESS = web.AppKey("readiness", StoreReadiness)
# The token buckets kept in the store (one per process: an outage is told once).
SHARED_TOKENS = web.AppKey("shared_tokens", SharedTokens)
SERVICE = web.AppKey("service", InvoiceService)
