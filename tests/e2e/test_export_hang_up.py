"""A caller who hangs up in the middle of a CSV export: the gateway stops writing, drops the
provider's transfer, and logs and counts a 499 ("client closed request"). It logged an
``unhandled_error`` with a traceback and counted a 500, which pages whoever watches errors,
for what is a person closing a download.

The provider is a stand-in for draft_publish's export on loopback (real HTTP), so that the
transfer is still going on when the caller hangs up, whatever the socket buffers hold."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.config import Client, LoggingSettings, Settings, StoreSettings
from gateway.http.app import create_app
from gateway.logging_setup import configure_logging
from gateway.sandbox import sandbox_connection
from tests.stores import sqlite_url

ROUTE = "/v1/connections/{connection}/invoices/export.csv"


class StandIn:
    """draft_publish's CSV export, written in two parts: the second only once the test says
    the caller has gone. ``finished`` tells whether the gateway read the transfer to its end."""

    def __init__(self) -> None:
        self.caller_gone = asyncio.Event()
        self.finished = False
        self.parts = 200  # of 14 KB: 3 MB, more than the gateway can hand on

    async def export(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/csv; charset=utf-8"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"id,number,status\n" + b"1,INV-1,draft\n" * 50)
        await self.caller_gone.wait()
        try:
            for _ in range(self.parts):
                await response.write(b"2,INV-2,draft\n" * 1000)
                await asyncio.sleep(0.005)
            await response.write_eof()
            self.finished = True
        except ConnectionResetError:  # the gateway dropped the transfer: as it should
            pass
        return response


@pytest.fixture
async def provider() -> AsyncIterator[tuple[StandIn, str]]:
    stand_in = StandIn()
    app = web.Application()
    app.router.add_get("/api/v1/invoices/export/csv", stand_in.export)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield stand_in, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def _settings(base_url: str) -> Settings:
    def client(name: str, key: str, scopes: list[str]) -> Client:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return Client.model_validate(
            {"name": name, "key_sha256": digest, "connections": ["*"], "scopes": scopes}
        )

    return Settings(
        store=StoreSettings(url=sqlite_url()),
        clients=[client("ops", "k-ops", ["admin"]), client("app", "k-app", ["invoices:read"])],
        connections=[sandbox_connection("draft_publish", base_url)],
    )


async def _hang_up_after_the_head(port: int) -> bytes:
    """Ask for the export, read its head, and close the connection at once (a reset)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /v1/connections/draft_publish/invoices/export.csv HTTP/1.1\r\n"
        b"Host: gateway\r\nAuthorization: Bearer k-app\r\n\r\n"
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
    return head


async def _export_counts(session: aiohttp.ClientSession, port: int) -> list[str]:
    """The export route's request counts, once there is one."""
    for _ in range(200):
        async with session.get(
            f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer k-ops"}
        ) as metrics:
            text = await metrics.text()
        counted = [
            line
            for line in text.splitlines()
            if line.startswith("gateway_requests_total{") and f'route="{ROUTE}"' in line
        ]
        if counted:
            return counted
        await asyncio.sleep(0.05)
    raise AssertionError("the export was never counted")


async def test_a_caller_who_hangs_up_mid_export_is_a_499_not_an_error(
    provider: tuple[StandIn, str], capsys: pytest.CaptureFixture[str]
) -> None:
    stand_in, base_url = provider
    configure_logging(LoggingSettings(level="info", format="json"))
    runner = web.AppRunner(create_app(_settings(base_url)), handler_cancellation=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port: int = runner.addresses[0][1]
    try:
        capsys.readouterr()
        head = await _hang_up_after_the_head(port)
        assert head.startswith(b"HTTP/1.1 200 "), head
        stand_in.caller_gone.set()
        async with aiohttp.ClientSession() as session:
            counted = await _export_counts(session, port)
        logged: list[dict[str, Any]] = [
            json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"
        ]
    finally:
        await runner.cleanup()
        structlog.reset_defaults()
    assert len(counted) == 1 and 'status="499"' in counted[0], counted
    assert [entry["event"] for entry in logged if entry["level"] == "error"] == []
    [entry] = [e for e in logged if e["event"] == "request" and e["route"] == ROUTE]
    assert entry["status"] == 499
    # The provider's transfer was dropped, not read to its end for no one.
    assert not stand_in.finished


async def test_a_caller_who_stops_reading_mid_export_is_cut_off(
    provider: tuple[StandIn, str],
) -> None:
    """A caller that read the head, then nothing more, held the export open for as long as it
    stayed connected, and with it one of the connection's provider connections (with
    ``max_connections: 1``, every other call on the connection waited that long). A caller that
    takes nothing for ``idle_timeout_s`` is cut off: the export ends without its last chunk,
    and the provider's transfer is dropped."""
    stand_in, base_url = provider
    stand_in.parts = 3000  # 42 MB: more than any socket buffers hold
    settings = _settings(base_url)
    server = settings.server.model_copy(update={"idle_timeout_s": 1.0})
    runner = web.AppRunner(
        create_app(settings.model_copy(update={"server": server})), handler_cancellation=False
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port: int = runner.addresses[0][1]
    try:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before the handshake
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(
            b"GET /v1/connections/draft_publish/invoices/export.csv HTTP/1.1\r\n"
            b"Host: gateway\r\nAuthorization: Bearer k-app\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), head
        stand_in.caller_gone.set()  # the provider goes on
        await asyncio.sleep(3.0)  # the caller takes nothing, three times idle_timeout_s
        rest = await asyncio.wait_for(reader.read(), 60)  # what was on the way, then the end
        writer.close()
    finally:
        await runner.cleanup()
    assert not rest.endswith(b"0\r\n\r\n"), "the export ran to its last chunk"
    assert len(rest) < 10_000_000
    assert not stand_in.finished


async def test_two_export_parts_join_on_a_row_end_when_the_first_has_none(
    aiohttp_client: Any,
) -> None:
    """status=open is two provider exports under the first's header: a first part whose last
    row had no line end would have run into the second's first row, one row of the two."""

    async def export(request: web.Request) -> web.Response:
        rows = {
            "sent": "id,number,status\r\n1,INV-1,sent",
            "overdue": "id,number,status\r\n2,INV-2,overdue\r\n",
        }
        return web.Response(body=rows[request.query["status"]].encode(), content_type="text/csv")

    app = web.Application()
    app.router.add_get("/api/v1/invoices/export/csv", export)
    provider = await aiohttp_client(app)
    gateway = await aiohttp_client(create_app(_settings(str(provider.make_url("")).rstrip("/"))))
    async with gateway.get(
        "/v1/connections/draft_publish/invoices/export.csv?status=open",
        headers={"Authorization": "Bearer k-app"},
    ) as response:
        text = await response.text()
    assert response.status == 200, text
    assert text.splitlines() == ["id,number,status", "1,INV-1,sent", "2,INV-2,overdue"]
