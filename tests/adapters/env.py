"""One provider's adapter wired to its emulator on loopback, with a fixed "today".

What every provider's test environment shares: the adapter built from the registry with the
sandbox connection, the emulator's in-memory store (through the emulator's own app key), its
request log and fault injection, and raw calls with the connection's credentials. Each
``<provider>_env`` module adds only its own "today", seed and helpers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.base import Adapter, ListQuery, walk
from adapters.mapping import Mapping, load_mapping
from adapters.registry import adapter_class
from emulators.registry import create_app
from gateway import jsonwire
from gateway.canonical.model import Invoice
from gateway.config import Connection, RetrySettings
from gateway.sandbox import sandbox_connection
from gateway.upstream import UpstreamClient

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]

AdapterT = TypeVar("AdapterT", bound=Adapter)
StoreT = TypeVar("StoreT")
EnvT = TypeVar("EnvT", bound="Env[Any, Any]")


def build(
    cls: type[AdapterT],
    connection: Connection,
    session: aiohttp.ClientSession,
    mapping: Mapping,
    today: date,
) -> AdapterT:
    """An adapter for ``connection`` whose "today" is always ``today``."""
    return cls(UpstreamClient(session, connection), connection, mapping, today=lambda: today)


@dataclass
class Env(Generic[AdapterT, StoreT]):
    """The provider's adapter (``AdapterT``) and emulator, whose store is a ``StoreT``."""

    adapter: AdapterT
    app: web.Application
    base_url: str
    session: aiohttp.ClientSession
    store_key: web.AppKey[StoreT]
    today: date

    @property
    def store(self) -> StoreT:
        """The emulator's in-memory store: what the provider holds, without going over HTTP."""
        return self.app[self.store_key]

    def adapter_with(self, today: date | None = None, **connection_changes: Any) -> AdapterT:
        """The adapter with another clock or connection (values as the connection holds them)."""
        current = self.adapter.connection
        # Validated, unlike ``model_copy(update=...)``: a change of the wrong type fails here.
        connection = Connection.model_validate({**dict(current), **connection_changes})
        when = self.today if today is None else today
        return build(type(self.adapter), connection, self.session, self.adapter.mapping, when)

    def impatient(self) -> AdapterT:
        """One attempt per call: a fault shows at once instead of after the retries' backoff."""
        return self.adapter_with(retries=RetrySettings(max_attempts=1))

    async def log(self) -> list[dict[str, Any]]:
        """Every request the provider received, oldest first."""
        async with self.session.get(f"{self.base_url}/_emulator/requests") as response:
            requests: list[dict[str, Any]] = jsonwire.loads(await response.text())["requests"]
            return requests

    async def sent_since(self, start: int) -> list[tuple[str, str]]:
        """The method and path of each request from the ``start``-th on."""
        return [(r["method"], r["path"]) for r in (await self.log())[start:]]

    async def writes_since(self, start: int) -> list[tuple[str, str]]:
        """As ``sent_since``, without the reads."""
        return [(method, path) for method, path in await self.sent_since(start) if method != "GET"]

    async def faults(self, **settings: Any) -> None:
        """Set the emulator's fault injection (``/_emulator/faults``)."""
        async with self.session.post(f"{self.base_url}/_emulator/faults", json=settings) as answer:
            assert answer.status == 200, await answer.text()

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call the provider directly with the connection's credentials: status and JSON body."""
        auth = self.adapter.connection.auth
        if auth.type == "bearer":
            headers = {"Authorization": f"Bearer {auth.secret()}"}
        else:
            headers = {auth.sent_in: auth.secret()}
        data = None if body is None else jsonwire.dumps(body)
        async with self.session.request(
            method, self.base_url + path, data=data, headers=headers
        ) as response:
            return response.status, jsonwire.loads(await response.text())

    async def everything(self, page_size: int = 100) -> list[Invoice]:
        """Every invoice, read page by page through the adapter."""
        found: list[Invoice] = []
        async for page in walk(self.adapter, ListQuery(), page_size):
            found += page.invoices
        return found


async def start(
    env_class: type[EnvT],
    aiohttp_server: ServerFactory,
    provider: str,
    *,
    today: date,
    store_key: web.AppKey[Any],
    **emulator_options: Any,
) -> AsyncIterator[EnvT]:
    """A fresh seeded emulator of ``provider`` and its adapter; ``emulator_options`` go to its
    ``create_app``. For a fixture: ``async for env in start(...): yield env``."""
    app = create_app(provider, **emulator_options)
    server = await aiohttp_server(app)
    base_url = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as session:
        connection = sandbox_connection(provider, base_url)
        cls = adapter_class(provider)
        adapter = build(cls, connection, session, load_mapping(provider), today)
        yield env_class(adapter, app, base_url, session, store_key, today)
