"""Failed authentications are throttled per client address; valid keys never are.

The issue: 1,000 wrong keys from one address in 1.2 s were 1,000 × 401. Now an address gets
``server.auth_failures.per_minute`` (20) answers 401, then 429 ``rate_limited`` with
``Retry-After``, each counted in ``gateway_auth_failures_total``; a known key from that same
address is served as usual; the table of addresses stays within ``max_addresses``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.config import AuthFailures, Client, ServerSettings, Settings, StoreSettings
from gateway.http.app import create_app
from gateway.http.keys import KEYRING
from gateway.ratelimit import FailureThrottle, client_address
from gateway.settings_file import ConfigError, parse_settings
from tests.stores import sqlite_url

ADMIN = "sk_admin_0123456789abcdef"
READER = "sk_reader_0123456789abcdef"
WRONG = {"Authorization": "Bearer sk_guess"}


def client(name: str, key: str, scopes: list[str]) -> Client:
    return Client.model_validate(
        {
            "name": name,
            "key_sha256": hashlib.sha256(key.encode()).hexdigest(),
            "connections": ["*"],
            "scopes": scopes,
        }
    )


def settings(**auth_failures: int) -> Settings:
    return Settings(
        server=ServerSettings(auth_failures=AuthFailures(**auth_failures)),
        store=StoreSettings(url=sqlite_url()),
        clients=[client("ops", ADMIN, ["admin"]), client("app", READER, ["invoices:read"])],
    )


async def start(aiohttp_client: Any, **auth_failures: int) -> tuple[TestClient, list[float]]:
    """The gateway, and a clock it reads (frozen unless a test moves it)."""
    gateway: TestClient = await aiohttp_client(create_app(settings(**auth_failures)))
    now = [1000.0]
    gateway.app[KEYRING].clock = lambda: now[0]
    return gateway, now


async def status_of(gateway: TestClient, headers: dict[str, str]) -> tuple[int, Any]:
    async with gateway.get("/v1/connections", headers=headers) as response:
        return response.status, response


async def metric(gateway: TestClient, name: str, **labels: str) -> float:
    async with gateway.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"}) as answer:
        assert answer.status == 200
        text = await answer.text()
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    series = f"{name}{{{wanted}}}" if labels else name
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_twenty_failures_a_minute_then_429_with_retry_after_and_counted(
    aiohttp_client: Any,
) -> None:
    gateway, now = await start(aiohttp_client)
    answers = []
    for _ in range(100):  # the burst, from one address, with no time passing
        async with gateway.get("/v1/connections", headers=WRONG) as response:
            answers.append((response.status, response.headers.get("Retry-After")))
            body = await response.json()
    assert [status for status, _ in answers] == [401] * 20 + [429] * 80
    assert {retry for _, retry in answers[20:]} == {"3"}  # 20 a minute: one every 3 s
    assert body["code"] == "rate_limited" and body["status"] == 429
    assert "sk_guess" not in str(body)
    counted = "gateway_auth_failures_total"
    assert await metric(gateway, counted, reason="invalid", throttled="false") == 20
    assert await metric(gateway, counted, reason="invalid", throttled="true") == 80

    now[0] += 3  # one more failure allowed after 3 s, then the wait again
    assert (await status_of(gateway, WRONG))[0] == 401
    assert (await status_of(gateway, WRONG))[0] == 429
    now[0] += 60  # a minute later the whole allowance is back
    assert [(await status_of(gateway, WRONG))[0] for _ in range(21)] == [401] * 20 + [429]


async def test_requests_without_any_key_count_too(aiohttp_client: Any) -> None:
    gateway, _ = await start(aiohttp_client, per_minute=3)
    statuses = [(await status_of(gateway, {}))[0] for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    assert (
        await metric(gateway, "gateway_auth_failures_total", reason="missing", throttled="false")
        == 3
    )
    assert (
        await metric(gateway, "gateway_auth_failures_total", reason="missing", throttled="true")
        == 2
    )


async def test_a_valid_key_from_a_throttled_address_is_served_and_not_counted(
    aiohttp_client: Any,
) -> None:
    gateway, _ = await start(aiohttp_client)
    for _ in range(25):
        await status_of(gateway, WRONG)
    assert (await status_of(gateway, WRONG))[0] == 429  # this address is throttled
    for _ in range(50):  # …and its valid keys are served, however many calls they make
        status, response = await status_of(gateway, {"Authorization": f"Bearer {READER}"})
        assert status == 200
        assert "Retry-After" not in response.headers
    # The valid calls neither took nor gave back anything: wrong keys are still refused.
    assert (await status_of(gateway, WRONG))[0] == 429
    failures = await metric(
        gateway, "gateway_auth_failures_total", reason="invalid", throttled="true"
    )
    assert failures == 7  # 5 + 1 + 1, none for the 50 valid calls


async def test_the_throttle_counts_by_address(aiohttp_client: Any) -> None:
    """Real connections from two loopback addresses: one throttled, the other not."""
    gateway, _ = await start(aiohttp_client, per_minute=5)
    url = gateway.make_url("/v1/connections")

    async def from_address(address: str, count: int) -> list[int]:
        connector = aiohttp.TCPConnector(local_addr=(address, 0))
        async with aiohttp.ClientSession(connector=connector) as session:
            statuses = []
            for _ in range(count):
                async with session.get(url, headers=WRONG) as response:
                    statuses.append(response.status)
            return statuses

    assert await from_address("127.0.0.2", 7) == [401] * 5 + [429] * 2
    assert await from_address("127.0.0.3", 6) == [401] * 5 + [429]
    assert await from_address("127.0.0.2", 1) == [429]


async def test_the_address_table_is_bounded(aiohttp_client: Any) -> None:
    """Many addresses do not grow the table past max_addresses (the gauge says how many)."""
    gateway, _ = await start(aiohttp_client, per_minute=2, max_addresses=10)
    url = gateway.make_url("/v1/connections")
    for n in range(2, 42):  # 40 addresses, 127.0.0.2 to 127.0.0.41
        connector = aiohttp.TCPConnector(local_addr=(f"127.0.0.{n}", 0))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(url, headers=WRONG) as response,
        ):
            assert response.status == 401
    assert len(gateway.app[KEYRING].failures) == 10
    assert await metric(gateway, "gateway_auth_failure_addresses") == 10


def test_a_million_addresses_hold_no_more_than_max_addresses() -> None:
    throttle = FailureThrottle(per_minute=20, max_addresses=1000)
    started = time.perf_counter()
    for n in range(200_000):
        throttle.fail(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", now=5.0)
    assert len(throttle) == 1000
    assert time.perf_counter() - started < 10  # constant work per failure
    # The most recently failing addresses are the ones kept: the last is still counted…
    last = "10.3.13.63"  # n = 199,999
    for _ in range(19):
        assert throttle.fail(last, now=5.0) == 0
    assert throttle.fail(last, now=5.0) == pytest.approx(3.0)
    # …and the oldest was forgotten: it starts again with its whole allowance.
    assert throttle.fail("10.0.0.0", now=5.0) == 0
    assert len(throttle) == 1000


def test_ipv6_addresses_count_by_their_64() -> None:
    assert client_address("2001:db8:1:2:aaaa::1") == client_address("2001:db8:1:2:bbbb::9")
    assert client_address("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_address("2001:db8:1:3::1") != client_address("2001:db8:1:2::1")
    assert client_address("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_address("192.0.2.7") == "192.0.2.7"
    assert client_address(None) == "unknown"


def test_the_limit_is_a_server_setting_with_a_default() -> None:
    base = "connections: []\n"
    assert parse_settings(base, "c.yaml", {}).server.auth_failures == AuthFailures(
        per_minute=20, max_addresses=10_000
    )
    custom = "server: {auth_failures: {per_minute: 5, max_addresses: 500}}\n" + base
    assert parse_settings(custom, "c.yaml", {}).server.auth_failures == AuthFailures(
        per_minute=5, max_addresses=500
    )
    with pytest.raises(ConfigError) as info:
        parse_settings("server: {auth_failures: {per_minute: 0}}\n" + base, "c.yaml", {})
    assert info.value.problems == [
        "server.auth_failures.per_minute: 0 is less than the minimum of 1"
    ]


async def test_a_key_that_is_not_utf8_fails_as_a_wrong_key_and_is_counted(
    aiohttp_client: Any,
) -> None:
    """A byte no UTF-8 text has (``caf\\xe9``) in the key: 401 like any wrong key, counted,
    and throttled with the rest; never a 500 that escapes the count."""
    gateway, _ = await start(aiohttp_client, per_minute=3)
    request = (
        b"GET /v1/connections HTTP/1.1\r\nHost: gateway\r\n"
        b"Authorization: Bearer caf\xe9\r\nConnection: close\r\n\r\n"
    )
    statuses = []
    for _ in range(5):
        reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
        writer.write(request)
        answer = await reader.read()
        writer.close()
        statuses.append(int(answer.split(b" ", 2)[1]))
        assert b"application/problem+json" in answer
    assert statuses == [401, 401, 401, 429, 429]
    counted = "gateway_auth_failures_total"
    assert await metric(gateway, counted, reason="invalid", throttled="false") == 3


@pytest.mark.parametrize(
    ("header", "said"),
    [
        (b"Authorization: Bearer " + ADMIN.encode() + b"\x00", "invalid header value char"),
        (b"Authorization: Bearer " + ADMIN.encode() + b"\x7f", "invalid header value char"),
        (b"Authorization: Bearer " + ADMIN.encode() + b"A" * 9000, "longer than the server"),
    ],
    ids=["nul", "del", "too-long"],
)
async def test_a_request_aiohttp_cannot_read_is_answered_without_quoting_it(
    aiohttp_client: Any, header: bytes, said: str
) -> None:
    """aiohttp answers a header it cannot parse itself, before any middleware, and its plain
    400 quoted the line, so the API key came back in the answer's body, where a proxy or a
    client's error log keeps it. The gateway's problem answer names the kind of mistake."""
    gateway, _ = await start(aiohttp_client)
    request = b"GET /v1/connections HTTP/1.1\r\nHost: gateway\r\n" + header + b"\r\n\r\n"
    answer = await _sent_as_is(gateway, request)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 400 ") or head.startswith(b"HTTP/1.1 400 "), head
    assert b"application/problem+json" in head
    problem = json.loads(body)
    assert (problem["code"], problem["status"]) == ("bad_request", 400)
    assert said in problem["detail"], problem
    assert ADMIN.encode() not in answer and b"Bearer" not in answer


@pytest.mark.parametrize(
    ("request_bytes", "said"),
    [
        (
            b"POST /v1/invoices/calculate HTTP/1.1\r\nHost: g\r\n"
            b"Transfer-Encoding: chunked\r\n\r\nZZ\r\n0\r\n\r\n",
            "invalid character in chunk size",
        ),
        (b"G\x01T /v1/connections HTTP/1.1\r\nHost: g\r\n\r\n", "its method is not"),
        (b"GET /v1/connections HTTP/1.1\r\nHost: g\r\nNo colon here\r\n\r\n", "header"),
        # aiohttp's words quote the header's name before any colon: kept, they say what is wrong
        (b"GET /v1/connections HTTP/1.1\r\nAccept: */*\r\n\r\n", "missing 'Host' header"),
    ],
    ids=["bad-chunk", "bad-method", "no-colon", "no-host"],
)
async def test_a_request_aiohttp_cannot_read_is_told_what_kind_of_mistake_it_is(
    aiohttp_client: Any, request_bytes: bytes, said: str
) -> None:
    gateway, _ = await start(aiohttp_client)
    answer = await _sent_as_is(gateway, request_bytes)
    problem = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert problem["code"] == "bad_request" and said in problem["detail"], problem


async def _sent_as_is(gateway: TestClient, request: bytes) -> bytes:
    """``request``'s bytes as they are over a socket (no client would send them): the answer."""
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def test_a_caller_that_hangs_up_mid_body_is_not_a_gateway_failure(
    aiohttp_client: Any,
) -> None:
    """A body cut off by the caller closing the connection was nothing the gateway did: no
    500 in the metrics alerts watch (anyone could raise them, the calculate route needs no
    key), and no traceback in the log."""
    gateway, _ = await start(aiohttp_client)
    await _hang_up_three_times(gateway.host, gateway.port)
    async with gateway.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"}) as answer:
        assert_only_499(await answer.text())


async def test_the_same_where_the_handler_is_not_cancelled_as_serve_runs_it(
    unused_tcp_port: int,
) -> None:
    """``serve`` does not cancel a handler whose caller left (aiohttp's default): its body read
    fails with "Connection lost" instead, which is the caller's doing all the same (499)."""
    runner = web.AppRunner(create_app(settings()), handler_cancellation=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
        await _hang_up_three_times("127.0.0.1", unused_tcp_port)
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"http://127.0.0.1:{unused_tcp_port}/metrics",
                headers={"Authorization": f"Bearer {ADMIN}"},
            ) as answer,
        ):
            assert_only_499(await answer.text())
    finally:
        await runner.cleanup()


async def _hang_up_three_times(host: str, port: int) -> None:
    for _ in range(3):
        _, writer = await asyncio.open_connection(host, port)
        writer.write(
            b"POST /v1/invoices/calculate HTTP/1.1\r\nHost: gateway\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":'
        )
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
    await asyncio.sleep(0.2)


def assert_only_499(metrics: str) -> None:
    calculate = [
        line for line in metrics.splitlines()
        if line.startswith("gateway_requests_total{") and "/v1/invoices/calculate" in line
    ]  # fmt: skip
    assert calculate and all('status="499"' in line for line in calculate), calculate


async def test_two_authorization_fields_are_a_400_whichever_comes_first(
    aiohttp_client: Any,
) -> None:
    """The first was taken: a reader's key then an admin's read the metrics as the reader, an
    admin's then a reader's as the admin, where a proxy in front may take the other."""
    gateway, _ = await start(aiohttp_client)
    for first, second in ((READER, ADMIN), (ADMIN, READER)):
        headers = [("Authorization", f"Bearer {first}"), ("Authorization", f"Bearer {second}")]
        async with gateway.get("/metrics", headers=headers) as answer:
            body = await answer.json()
        assert (answer.status, body["code"]) == (400, "bad_request"), body
        assert body["detail"] == "Authorization is given more than once: send one API key."
    async with gateway.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"}) as answer:
        assert answer.status == 200
