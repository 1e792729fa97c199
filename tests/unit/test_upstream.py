"""The upstream client's rules, on a mocked network: retry only what can't write twice."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from adapters.base import (
    OutcomeUncertain,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.config import Connection
from gateway.upstream import UpstreamClient, request_id_var
from tests.unit.mock_upstream import answer, mocked_network

BASE = "https://provider.example"
SECRET = "s3cr3t-token-value"


def connection(**changes: Any) -> Connection:
    data: dict[str, Any] = {
        "name": "crm",
        "provider": "crm_v1",
        "base_url": BASE,
        "auth": {"type": "bearer", "token": SECRET},
        "retries": {"max_attempts": 3, "backoff_base_s": 0.2, "backoff_max_s": 5},
    }
    data.update(changes)
    return Connection.model_validate(data)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def client(session: aiohttp.ClientSession, **changes: Any) -> tuple[UpstreamClient, Sleeps]:
    sleeps = Sleeps()
    return UpstreamClient(
        session, connection(**changes), sleep=sleeps, rng=random.Random(1)
    ), sleeps


async def test_get_is_retried_on_5xx_then_succeeds(session: aiohttp.ClientSession) -> None:
    upstream, sleeps = client(session)
    with mocked_network() as mock:
        mock.get(f"{BASE}/v1/invoices/8", status=503)
        mock.get(f"{BASE}/v1/invoices/8", status=200, payload={"total": 1})
        response = await upstream.request("GET", "/v1/invoices/8")
    assert (response.status, response.body) == (200, {"total": 1})
    assert (upstream.stats.calls, upstream.stats.retries) == (2, 1)
    assert len(sleeps.calls) == 1 and 0.1 <= sleeps.calls[0] <= 0.2


async def test_get_gives_up_after_max_attempts_with_the_last_error(
    session: aiohttp.ClientSession,
) -> None:
    upstream, _sleeps = client(session)
    with mocked_network() as mock:
        for _ in range(3):
            mock.get(f"{BASE}/x", status=500)
        with pytest.raises(UpstreamError) as info:
            await upstream.request("GET", "/x")
    assert info.value.status == 500
    assert info.value.retryable is True
    assert upstream.stats.calls == 3
    assert info.value.message == "crm_v1 (connection crm) failed with 500"


async def test_get_timeouts_become_upstream_timeout(session: aiohttp.ClientSession) -> None:
    upstream, _ = client(session)
    with mocked_network() as mock:
        for _ in range(3):
            mock.get(f"{BASE}/x", exception=TimeoutError())
        with pytest.raises(UpstreamTimeout):
            await upstream.request("GET", "/x")
    assert upstream.stats.calls == 3


async def test_post_is_never_resent_after_a_5xx(session: aiohttp.ClientSession) -> None:
    upstream, sleeps = client(session)
    with mocked_network() as mock:
        mock.post(f"{BASE}/v1/invoices", status=502)
        mock.post(f"{BASE}/v1/invoices", status=201, payload={"id": 2})
        with pytest.raises(OutcomeUncertain) as info:
            await upstream.request("POST", "/v1/invoices", json={"a": 1})
    assert upstream.stats.calls == 1
    assert sleeps.calls == []
    assert "may or may not have taken effect" in info.value.message


@pytest.mark.parametrize("failure", [TimeoutError(), aiohttp.ServerDisconnectedError()])
async def test_post_timeout_or_dropped_connection_is_uncertain(
    session: aiohttp.ClientSession, failure: Exception
) -> None:
    upstream, _ = client(session)
    with mocked_network() as mock:
        mock.post(f"{BASE}/v1/invoices", exception=failure)
        with pytest.raises(OutcomeUncertain):
            await upstream.request("POST", "/v1/invoices", json={})
    assert upstream.stats.calls == 1


async def test_post_that_never_connected_is_retried(session: aiohttp.ClientSession) -> None:
    upstream, _ = client(session)
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("provider.example", 443, True, None, None, None, None),
        OSError(111, "Connection refused"),
    )
    with mocked_network() as mock:
        mock.post(f"{BASE}/v1/invoices", exception=refused)
        mock.post(f"{BASE}/v1/invoices", status=201, payload={"id": 3})
        response = await upstream.request("POST", "/v1/invoices", json={})
    assert response.body == {"id": 3}
    assert upstream.stats.calls == 2


async def test_rate_limit_waits_for_retry_after_even_for_post(
    session: aiohttp.ClientSession,
) -> None:
    upstream, sleeps = client(session)
    with mocked_network() as mock:
        mock.post(f"{BASE}/v1/invoices", status=429, headers={"Retry-After": "2"})
        mock.post(f"{BASE}/v1/invoices", status=201, payload={"id": 4})
        response = await upstream.request("POST", "/v1/invoices", json={})
    assert response.status == 201
    assert sleeps.calls == [2.0]


async def test_rate_limit_to_the_end_is_unavailable_with_retry_after(
    session: aiohttp.ClientSession,
) -> None:
    upstream, sleeps = client(session)
    with mocked_network() as mock:
        for _ in range(3):
            mock.get(f"{BASE}/x", status=429, headers={"Retry-After": "30"})
        with pytest.raises(UpstreamUnavailable) as info:
            await upstream.request("GET", "/x")
    assert info.value.retry_after == 30.0
    assert sleeps.calls == [5.0, 5.0]  # capped by backoff_max_s


@pytest.mark.parametrize("status", [401, 403])
async def test_rejected_credentials_are_not_retried_and_not_shown(
    session: aiohttp.ClientSession, status: int
) -> None:
    upstream, _ = client(session)
    with mocked_network() as mock:
        mock.get(f"{BASE}/x", status=status, payload={"message": "bad token"})
        with pytest.raises(UpstreamAuthFailed) as info:
            await upstream.request("GET", "/x")
    assert upstream.stats.calls == 1
    assert SECRET not in str(info.value) and BASE not in str(info.value)
    assert info.value.retryable is False


async def test_client_errors_come_back_to_the_adapter(session: aiohttp.ClientSession) -> None:
    upstream, _ = client(session)
    with mocked_network() as mock:
        mock.post(
            f"{BASE}/v1/invoices", status=422, body='{"errors": {"price": ["bad"]}, "n": 1.10}'
        )
        response = await upstream.request("POST", "/v1/invoices", json={})
    assert response.status == 422
    assert response.body == {"errors": {"price": ["bad"]}, "n": Decimal("1.10")}


async def test_request_carries_credentials_exact_json_and_request_id(
    session: aiohttp.ClientSession,
) -> None:
    seen: dict[str, Any] = {}

    def capture(url: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return answer(201, {})

    upstream, _ = client(session)
    token = request_id_var.set("req-42")
    try:
        with mocked_network() as mock:
            mock.post(f"{BASE}/v1/invoices", callback=capture)
            await upstream.request(
                "POST", "/v1/invoices", json={"price": Decimal("500.00"), "q": 10}
            )
    finally:
        request_id_var.reset(token)
    assert seen["data"] == '{"price": 500.00, "q": 10}'
    assert seen["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert seen["headers"]["Content-Type"] == "application/json"
    assert seen["headers"]["X-Request-ID"] == "req-42"


async def test_api_key_auth_uses_its_header(session: aiohttp.ClientSession) -> None:
    seen: dict[str, Any] = {}

    def capture(url: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return answer(200, {})

    upstream, _ = client(session, auth={"type": "api_key", "header": "X-API-Key", "token": "k-1"})
    with mocked_network() as mock:
        mock.get(f"{BASE}/x", callback=capture)
        await upstream.request("GET", "/x")
    assert seen["headers"]["X-API-Key"] == "k-1"
    assert "Authorization" not in seen["headers"]


async def test_token_from_the_environment(
    session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_TOKEN", "from-env")
    upstream, _ = client(session, auth={"type": "bearer", "token_env": "CRM_TOKEN"})
    seen: dict[str, Any] = {}

    def capture(url: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return answer(200, {})

    with mocked_network() as mock:
        mock.get(f"{BASE}/x", callback=capture)
        await upstream.request("GET", "/x")
    assert seen["headers"]["Authorization"] == "Bearer from-env"


async def test_calls_are_paced_by_the_connections_rate_limit(
    session: aiohttp.ClientSession,
) -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limited = connection(rate_limit={"per_second": 2, "burst": 1})
    upstream = UpstreamClient(session, limited, sleep=sleep, clock=lambda: now[0])
    with mocked_network() as mock:
        for _ in range(3):
            mock.get(f"{BASE}/x", status=200, payload={})
        for _ in range(3):
            await upstream.request("GET", "/x")
    assert slept == [0.5, 0.5]
    assert now[0] == 1.0
