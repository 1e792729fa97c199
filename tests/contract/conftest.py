from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.base import Adapter
from adapters.mapping import load_mapping
from adapters.registry import build_adapter
from emulators.registry import create_app
from gateway.sandbox import sandbox_connection
from tests.contract.profile import Profile
from tests.contract.profiles.load import PROVIDERS, profile

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


@dataclass
class Pair:
    """One adapter wired to its provider's emulator on a loopback port."""

    adapter: Adapter
    profile: Profile
    base_url: str
    session: aiohttp.ClientSession

    @property
    def provider(self) -> str:
        return self.profile.provider

    async def wire_log(self) -> list[dict[str, Any]]:
        """What the emulator received, oldest first (credentials redacted)."""
        async with self.session.get(f"{self.base_url}/_emulator/requests") as response:
            requests: list[dict[str, Any]] = (await response.json())["requests"]
            return requests

    async def reset(self) -> None:
        async with self.session.post(f"{self.base_url}/_emulator/reset") as response:
            assert response.status == 200

    def adapter_with(self, **connection_changes: Any) -> Adapter:
        connection = self.adapter.connection.model_copy(update=connection_changes)
        return build_adapter(connection, self.session)


def providers(
    *, operations: tuple[str, ...] = (), payments: tuple[str, ...] = (), when: Any = None
) -> list[str]:
    """The providers whose mapping declares these capabilities (and for which ``when`` holds)."""
    chosen = []
    for provider in PROVIDERS:
        caps = load_mapping(provider).capabilities
        declared = set(operations) <= caps.operations and set(payments) <= caps.payments
        if declared and (when is None or when(caps, profile(provider))):
            chosen.append(provider)
    return chosen


@pytest.fixture
async def pair(request: pytest.FixtureRequest, aiohttp_server: Any) -> AsyncIterator[Pair]:
    """Parametrize indirectly with provider ids: ``@pytest.mark.parametrize("pair", …, indirect=True)``."""
    provider: str = request.param
    prof = profile(provider)
    app = create_app(provider, seed_invoices=prof.seed_invoices, **prof.emulator_options)
    server = await aiohttp_server(app)
    base_url = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as session:
        adapter = build_adapter(sandbox_connection(provider, base_url), session)
        yield Pair(adapter, prof, base_url, session)
