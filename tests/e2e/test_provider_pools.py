"""Each connection has a pool of its own size (``max_connections``): the default lets 50
concurrent callers reach the provider at once; a configured size caps what is open to it, and
one connection's pool never holds back another's.

A provider on loopback counts the requests it holds open at once; it holds each until as many
as expected have arrived (or a bound passes), then answers 404, which the gateway passes on
without retrying. The figure checked is that count, not a time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.config import Connection
from gateway.http.app import create_app
from tests.security.support import client, connection, settings

KEY = {"Authorization": "Bearer k-pools"}
HOLD_BOUND_S = 3.0  # a request is held at most this long (only a bound: nothing is timed)


class HoldingProvider:
    """Holds every request until ``expected`` are open at once; records the most seen."""

    def __init__(self, expected: int, hold_s: float) -> None:
        self.expected = expected
        self.hold_s = hold_s
        self.open = 0
        self.most = 0
        self.seen = 0
        self._all_in = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.open += 1
        self.seen += 1
        self.most = max(self.most, self.open)
        if self.open >= self.expected:
            self._all_in.set()
        try:
            await asyncio.wait_for(self._all_in.wait(), self.hold_s)
        except TimeoutError:
            pass
        finally:
            self.open -= 1
        return web.json_response({"error": "not found"}, status=404)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


async def most_open_at_once(
    aiohttp_client: Any, callers: int, hold_s: float = HOLD_BOUND_S, **changes: Any
) -> HoldingProvider:
    provider = HoldingProvider(expected=callers, hold_s=hold_s)
    server = TestServer(provider.app())
    await server.start_server()
    try:
        crm: Connection = connection("crm_v1", str(server.make_url("")).rstrip("/"), **changes)
        gateway = await aiohttp_client(create_app(settings([crm], [client("pools", "k-pools")])))

        async def one(n: int) -> int:
            path = f"/v1/connections/crm_v1/invoices/{n + 1}"
            async with gateway.get(path, headers=KEY) as response:
                return int(response.status)

        statuses = await asyncio.gather(*(one(n) for n in range(callers)))
    finally:
        await server.close()
    assert statuses == [404] * callers  # every caller had its answer, none was retried
    assert provider.seen == callers
    return provider


async def test_the_default_pool_lets_50_callers_reach_the_provider_at_once(
    aiohttp_client: Any,
) -> None:
    provider = await most_open_at_once(aiohttp_client, 50)
    assert provider.most == 50


async def test_a_configured_pool_caps_what_is_open_to_the_provider(aiohttp_client: Any) -> None:
    # 12 callers through 4 connections: each batch is held the whole (short) bound.
    provider = await most_open_at_once(aiohttp_client, 12, hold_s=0.5, max_connections=4)
    assert provider.most == 4


def test_max_connections_is_checked_in_the_configuration() -> None:
    from pydantic import ValidationError

    try:
        connection("crm_v1", "http://127.0.0.1:1", max_connections=0)
    except ValidationError as exc:
        assert exc.errors()[0]["loc"] == ("max_connections",)
    else:
        raise AssertionError("max_connections 0 was accepted")


async def test_waiting_for_a_free_connection_is_not_the_provider_timing_out(
    aiohttp_client: Any,
) -> None:
    """Six callers through a pool of 2 to a provider that takes 0.6 s, with a timeout of 1 s:
    the last two wait 1.2 s in the gateway for a connection, then take 0.6 s at the provider.
    That wait is not the provider failing to answer (a write never sent was told "uncertain",
    and the waits opened the breaker): every caller gets the provider's own answer."""
    seen = []

    async def slow(request: web.Request) -> web.Response:
        seen.append(request.path)
        await asyncio.sleep(0.6)
        return web.json_response({"error": "not found"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", slow)
    server = TestServer(app)
    await server.start_server()
    try:
        crm = connection(
            "crm_v1", str(server.make_url("")).rstrip("/"), max_connections=2, timeout_s=1.0
        )
        gateway = await aiohttp_client(create_app(settings([crm], [client("pools", "k-pools")])))

        async def one(n: int) -> tuple[int, str]:
            path = f"/v1/connections/crm_v1/invoices/{n + 1}"
            async with gateway.get(path, headers=KEY) as response:
                return response.status, (await response.json())["code"]

        answers = await asyncio.gather(*(one(n) for n in range(6)))
        async with gateway.get("/v1/connections/crm_v1", headers=KEY) as response:
            health = (await response.json())["health"]
    finally:
        await server.close()
    assert answers == [(404, "not_found")] * 6
    assert len(seen) == 6  # each sent once: none timed out and retried
    assert (health["circuit"]["state"], health["circuit"]["consecutive_failures"]) == ("closed", 0)
