"""The upstream client's rules, on a mocked network: retry only what can't write twice, back off
with full jitter, keep within the retry budget, stop at the open breaker, follow no redirect, read
no more than the cap, and never turn an unreadable body into anything but an ``UpstreamError``."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import ssl
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from unittest.mock import ANY

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aioresponses import CallbackResult
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from adapters.base import (
    BadIdentifier,
    OutcomeUncertain,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.breaker import CircuitState
from gateway.config import Connection
from gateway.http.errors import problem_for
from gateway.jsonwire import JsonNumber
from gateway.upstream import UnusableAnswer, UpstreamClient, request_id_var
from gateway.upstream_wire import retry_after
from gateway.write_calls import WriteCalls, write_calls_var
from tests.unit.mock_upstream import _Response, answer, mocked_network

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
    assert len(sleeps.calls) == 1 and 0 <= sleeps.calls[0] <= 0.2  # full jitter, base 0.2


async def test_a_write_is_read_back_only_by_a_successful_read_after_its_last_write_call(
    session: aiohttp.ClientSession,
) -> None:
    upstream, _ = client(session)
    seen: list[tuple[int, bool]] = []
    calls = WriteCalls()
    token = write_calls_var.set(calls)
    try:
        with mocked_network() as mock:
            mock.get(f"{BASE}/v1/invoices/8", status=200, payload={"id": 8})  # before any write
            mock.post(f"{BASE}/v1/invoices", status=201, payload={"id": 9})
            mock.get(f"{BASE}/v1/invoices/9", status=200, payload={"id": 9})
            mock.put(f"{BASE}/v1/invoices/9", status=200, payload={"id": 9})
            mock.get(f"{BASE}/v1/invoices/9", status=404, payload={})
            for method, path in [
                ("GET", "/v1/invoices/8"),
                ("POST", "/v1/invoices"),
                ("GET", "/v1/invoices/9"),
                ("PUT", "/v1/invoices/9"),
                ("GET", "/v1/invoices/9"),
            ]:
                await upstream.request(method, path, json={} if method != "GET" else None)
                seen.append((calls.sent, calls.read_back))
    finally:
        write_calls_var.reset(token)
    # no write yet; the write itself; its read-back; a later write; a read that failed
    assert seen == [(0, False), (1, False), (1, True), (2, False), (2, False)]


@pytest.mark.parametrize(
    ("status", "kind", "says", "retry_after"),
    [
        # A failure: no time to name.
        (500, UpstreamError, "failed with 500", None),
        # Rate-limited to the end without a Retry-After: the longest a third wait could be
        # (backoff_base_s 0.2 × 2^2), so that the caller's 503 says when to try again.
        (429, UpstreamUnavailable, "is rate-limiting the gateway", 0.8),
    ],
)
async def test_get_gives_up_after_max_attempts_with_the_last_error(
    session: aiohttp.ClientSession,
    status: int,
    kind: type[UpstreamError],
    says: str,
    retry_after: float | None,
) -> None:
    upstream, sleeps = client(session)  # backoff_base_s 0.2, backoff_max_s 5, 3 attempts
    with mocked_network() as mock:
        for _ in range(3):
            mock.get(f"{BASE}/x", status=status)
        with pytest.raises(kind) as info:
            await upstream.request("GET", "/x")
    assert info.value.status == status
    assert info.value.retryable is True
    assert upstream.stats.calls == 3
    assert len(sleeps.calls) == 2 and all(0 <= s <= 0.4 for s in sleeps.calls)  # jittered
    assert info.value.message == f"crm_v1 (connection crm) {says}"
    assert info.value.retry_after == (None if retry_after is None else pytest.approx(retry_after))


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        (503, {"success": False, "message": "maintenance until 10:00 UTC"}, "failed with 503"),
        (500, {"error": {"code": 17, "message": "database locked"}}, "failed with 500"),
        (
            429,
            {"result": "failed", "message": "quota: 60 a minute"},
            "is rate-limiting the gateway",
        ),
        (401, {"detail": "token expired"}, "rejected the gateway's credentials (401)"),
    ],
)
async def test_a_failure_the_client_reads_keeps_the_providers_own_words(
    session: aiohttp.ClientSession, status: int, body: dict[str, Any], says: str
) -> None:
    """A 5xx, a 429 or a 401/403 never reaches the adapter's reading of the provider's
    envelope: its detail said only the status, and "maintenance until 10:00 UTC" was lost."""
    upstream, _ = client(session)
    said = body.get("message") or body.get("detail") or body["error"]["message"]
    with mocked_network() as mock:
        for _ in range(3):
            mock.get(f"{BASE}/x", status=status, payload=body)
        with pytest.raises(UpstreamError) as info:
            await upstream.request("GET", "/x")
    assert info.value.message == f"crm_v1 (connection crm) {says} (it said: {said})"


async def test_a_providers_html_page_or_long_words_are_not_passed_on_whole(
    session: aiohttp.ClientSession,
) -> None:
    upstream, _ = client(session, breaker={"failures": 1000})
    with mocked_network() as mock:
        for _ in range(3):
            mock.get(
                f"{BASE}/x", status=500, body="<html><h1>Oops</h1></html>", content_type="text/html"
            )
        for _ in range(3):
            mock.get(f"{BASE}/y", status=500, payload={"message": "x\u202e" + "y" * 500})
        with pytest.raises(UpstreamError) as page:
            await upstream.request("GET", "/x")
        with pytest.raises(UpstreamError) as long:
            await upstream.request("GET", "/y")
    assert page.value.message == "crm_v1 (connection crm) failed with 500"
    assert long.value.message == (
        "crm_v1 (connection crm) failed with 500 (it said: x\\u202e" + "y" * 198 + "…)"
    )


@pytest.mark.parametrize("status", [500, 429, 401])
async def test_the_providers_words_never_give_back_the_credential_its_escapes_hid(
    session: aiohttp.ClientSession, status: int
) -> None:
    """The raw bytes are blanked of the credential; a message that writes it with JSON's
    ``\\u`` escapes gave it back once decoded, and "it said: …" showed it to the caller."""
    upstream, _ = client(session, breaker={"failures": 1000})
    escaped = "".join(f"\\u{ord(c):04x}" for c in SECRET)
    body = ('{"error": {"message": "bad token ' + escaped + ", and " + "x" * 180 + '"}}').encode()
    with mocked_network() as mock:
        for _ in range(3):
            mock.get(f"{BASE}/x", status=status, body=body, content_type="application/json")
        with pytest.raises(UpstreamError) as info:
            await upstream.request("GET", "/x")
    assert SECRET not in info.value.message and SECRET[:6] not in info.value.message
    assert "(it said: bad token [redacted], and xxx" in info.value.message


@pytest.mark.parametrize("charset", ["undefined", "punycode"])
@pytest.mark.parametrize("status", [200, 404, 500])
async def test_a_charset_that_decodes_nothing_is_no_500(
    session: aiohttp.ClientSession, charset: str, status: int
) -> None:
    """``charset=undefined`` (a codec that refuses every byte) raised a bare ``UnicodeError``
    where the client reads an answer: a 500 ``internal_error`` for a provider's label."""
    upstream, _ = client(session, breaker={"failures": 1000})
    with mocked_network() as mock:
        for _ in range(3):
            mock.get(
                f"{BASE}/x",
                status=status,
                body='{"message": "caf\u00e9 ü"}'.encode(),
                headers={"Content-Type": f"application/json; charset={charset}"},
            )
        with pytest.raises(UpstreamError) as info:
            await upstream.request("GET", "/x")
    if status == 500:  # the provider's words, read as UTF-8 as an unknown charset is
        assert info.value.message.endswith("failed with 500 (it said: café ü)"), info.value
    else:
        assert info.value.message.endswith(f"it is not {charset} text"), info.value


async def test_a_success_is_not_read_for_the_providers_words(
    session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider's words are read from a failure the client ends on; reading them from
    every answer cost each call a second JSON parse of its body (GET 0.59 → 0.70 ms of CPU)."""
    read: list[int] = []

    def said(answer: Any, secret: str) -> str | None:
        read.append(answer.status)
        return None

    monkeypatch.setattr("gateway.upstream.provider_said", said)
    upstream, _ = client(session)
    with mocked_network() as mock:
        mock.get(f"{BASE}/x", status=200, payload={"message": "fine"})
        mock.get(f"{BASE}/y", status=404, payload={"message": "no such invoice"})
        mock.get(f"{BASE}/z", status=503, payload={"message": "down"})
        mock.get(f"{BASE}/z", status=200, payload={"id": 1})
        await upstream.request("GET", "/x")
        await upstream.request("GET", "/y")
        await upstream.request("GET", "/z")
    assert read == [503]


async def test_a_providers_own_504_on_a_read_is_a_timeout(session: aiohttp.ClientSession) -> None:
    """facade.md: a provider that timed out is a 504 ``upstream_timeout``; a provider's own
    gateway answering 504 is one, as a socket timeout is (it was a 502 ``upstream_error``)."""
    upstream, _ = client(session)
    with mocked_network() as mock:
        for _ in range(3):
            mock.get(f"{BASE}/x", status=504)
        with pytest.raises(UpstreamTimeout) as info:
            await upstream.request("GET", "/x")
    assert (info.value.status, info.value.retryable) == (504, True)
    assert problem_for(info.value).status == 504


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


@pytest.mark.parametrize(
    ("answer", "status", "unanswered"),
    [
        ({"exception": TimeoutError()}, None, True),
        ({"exception": aiohttp.ServerDisconnectedError()}, None, False),
        ({"status": 504}, 504, True),  # the provider's own gateway stopped waiting
        ({"status": 503}, 503, False),
        ({"status": 500}, 500, False),
    ],
)
async def test_a_post_without_its_answer_is_uncertain_and_unanswered_only_if_none_came(
    session: aiohttp.ClientSession, answer: dict[str, Any], status: int | None, unanswered: bool
) -> None:
    """A timeout (or a 504) is no answer at all: the provider may still be working on it."""
    upstream, _ = client(session)
    with mocked_network() as mock:
        mock.post(f"{BASE}/v1/invoices", **answer)
        with pytest.raises(OutcomeUncertain) as info:
            await upstream.request("POST", "/v1/invoices", json={})
    assert upstream.stats.calls == 1
    assert (info.value.status, info.value.unanswered) == (status, unanswered)


_KEY = aiohttp.client_reqrep.ConnectionKey("provider.example", 443, True, None, None, None, None)


def _refused() -> aiohttp.ClientConnectorError:
    return aiohttp.ClientConnectorError(_KEY, OSError(111, "Connection refused"))


@pytest.mark.parametrize(
    ("failure", "says"),
    [
        (
            aiohttp.ClientConnectorDNSError(_KEY, OSError(-2, "Name or service not known")),
            "could not be reached: its host name did not resolve",
        ),
        (
            aiohttp.ClientConnectorSSLError(_KEY, ssl.SSLError(1, "wrong version number")),
            "could not be reached: the TLS handshake failed (does it speak https there?)",
        ),
        (_refused(), "could not be reached: the connection was refused"),
        (
            aiohttp.ClientConnectorError(_KEY, OSError(113, "No route to host")),
            "could not be reached",
        ),
    ],
)
async def test_why_a_provider_could_not_be_reached_is_said_without_its_address(
    session: aiohttp.ClientSession, failure: Exception, says: str
) -> None:
    """A host name that does not resolve, a refusal and a TLS failure read alike ("could not
    be reached"), though each is fixed somewhere else; the driver's words name the address."""
    upstream, _ = client(session)
    with mocked_network() as mock:
        for _ in range(3):
            mock.add(f"{BASE}/x", "GET", exception=failure)
        with pytest.raises(UpstreamUnavailable) as info:
            await upstream.request("GET", "/x")
    assert info.value.message.endswith(says), info.value.message
    assert "provider.example" not in info.value.message and "443" not in info.value.message


@pytest.mark.parametrize(
    ("method", "failure", "says"),
    [
        ("GET", aiohttp.ServerDisconnectedError(), "dropped the connection"),
        (
            "DELETE",
            aiohttp.ClientOSError(104, "Connection reset by peer"),
            "dropped the connection",
        ),
        ("GET", _refused(), "could not be reached: the connection was refused"),
        ("POST", _refused(), "could not be reached: the connection was refused"),
        ("GET", aiohttp.ClientPayloadError("cut"), "broke off its answer before the end"),
        (
            "GET",
            aiohttp.ClientResponseError(None, (), status=400, message="Invalid status line"),  # type: ignore[arg-type]
            "answered with something that is not HTTP",
        ),
    ],
)
async def test_unreachable_or_dropping_to_the_end_is_unavailable_with_retry_after(
    session: aiohttp.ClientSession, method: str, failure: Exception, says: str
) -> None:
    """The caller's 503 ``upstream_unavailable`` says when to try again, as every 503 of the
    error table does: the longest the next wait could have been (0.2 × 2^2)."""
    upstream, sleeps = client(session)  # backoff_base_s 0.2, backoff_max_s 5, 3 attempts
    with mocked_network() as mock:
        for _ in range(3):
            mock.add(f"{BASE}/x", method, exception=failure)
        with pytest.raises(UpstreamUnavailable) as info:
            await upstream.request(method, "/x", json={} if method != "GET" else None)
    assert upstream.stats.calls == 3 and len(sleeps.calls) == 2
    assert info.value.message == f"crm_v1 (connection crm) {says}"
    assert info.value.retryable is True
    assert info.value.retry_after == pytest.approx(0.8)
    assert problem_for(info.value).headers == {"Retry-After": "1"}


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


@pytest.mark.parametrize(
    ("answers", "sent"),
    [
        ([429, 429, 201], 1),  # two refused unprocessed, the third taken
        ([429], 0),  # refused, and the Retry-After too long to wait here
        ([401], 0),
        ([403], 0),
        ([503], 1),  # answered after it was sent: it may have written
    ],
)
async def test_a_write_call_the_provider_refused_unprocessed_is_not_counted_as_sent(
    session: aiohttp.ClientSession, answers: list[int], sent: int
) -> None:
    upstream, _ = client(session)
    calls = WriteCalls()
    token = write_calls_var.set(calls)
    try:
        with mocked_network() as mock:
            for status in answers:
                wait = "1" if len(answers) > 1 else "60"
                mock.post(f"{BASE}/v1/invoices", status=status, headers={"Retry-After": wait})
            with contextlib.suppress(UpstreamError):
                await upstream.request("POST", "/v1/invoices", json={})
    finally:
        write_calls_var.reset(token)
    assert (upstream.stats.calls, calls.sent) == (len(answers), sent)


async def test_rate_limit_to_the_end_is_unavailable_with_retry_after(
    session: aiohttp.ClientSession,
) -> None:
    upstream, sleeps = client(session)
    with mocked_network() as mock:
        for _ in range(3):
            mock.get(f"{BASE}/x", status=429, headers={"Retry-After": "2"})
        with pytest.raises(UpstreamUnavailable) as info:
            await upstream.request("GET", "/x")
    assert info.value.retry_after == 2.0
    assert sleeps.calls == [2.0, 2.0]
    assert upstream.stats.calls == 3


async def test_a_retry_after_longer_than_backoff_max_is_not_slept_but_handed_on(
    session: aiohttp.ClientSession,
) -> None:
    upstream, sleeps = client(session)  # backoff_max_s 5
    with mocked_network() as mock:
        for _ in range(3):
            mock.get(f"{BASE}/x", status=429, headers={"Retry-After": "30"})
        with pytest.raises(UpstreamUnavailable) as info:
            await upstream.request("GET", "/x")
    assert info.value.retry_after == 30.0
    assert sleeps.calls == []
    assert upstream.stats.calls == 1


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
                "POST",
                "/v1/invoices",
                json={"price": Decimal("500.00"), "q": 10, "n": JsonNumber("1e3"), "to": "Müller"},
            )
    finally:
        request_id_var.reset(token)
    # Compact UTF-8; a decimal as its exact literal, a number read from a provider as it was read.
    assert seen["data"] == '{"price":500.00,"q":10,"n":1e3,"to":"Müller"}'.encode()
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


# -- backoff: full jitter, Retry-After ------------------------------------------------------------


class TopOfRange(random.Random):
    """Answers the top of every range asked for, and remembers the ranges."""

    def __init__(self) -> None:
        super().__init__(0)
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return b


async def test_backoff_is_full_jitter_up_to_the_exponential_ceiling(
    session: aiohttp.ClientSession,
) -> None:
    sleeps = Sleeps()
    rng = TopOfRange()
    settings = connection(
        retries={"max_attempts": 7, "backoff_base_s": 0.5, "backoff_max_s": 5},
        retry_budget={"min_retries": 100},
        breaker={"failures": 1000},
    )
    upstream = UpstreamClient(session, settings, sleep=sleeps, rng=rng)
    with mocked_network() as mock:
        for _ in range(7):
            mock.get(f"{BASE}/x", status=503)
        with pytest.raises(UpstreamError):
            await upstream.request("GET", "/x")
    assert rng.ranges == [(0, 0.5), (0, 1.0), (0, 2.0), (0, 4.0), (0, 5), (0, 5)]
    assert sleeps.calls == [0.5, 1.0, 2.0, 4.0, 5, 5]


async def test_backoff_draws_spread_over_the_whole_range(session: aiohttp.ClientSession) -> None:
    sleeps = Sleeps()
    settings = connection(
        retries={"max_attempts": 2, "backoff_base_s": 1, "backoff_max_s": 5},
        retry_budget={"min_retries": 1000},
        breaker={"failures": 1000},
    )
    upstream = UpstreamClient(session, settings, sleep=sleeps, rng=random.Random(7))
    with mocked_network() as mock:
        for _ in range(200):
            mock.get(f"{BASE}/x", status=500)
        for _ in range(100):
            with pytest.raises(UpstreamError):
                await upstream.request("GET", "/x")
    assert len(sleeps.calls) == 100 and all(0 <= s <= 1 for s in sleeps.calls)
    # Half jitter would never go below 0.5; full jitter does about half the time.
    assert 30 <= sum(s < 0.5 for s in sleeps.calls) <= 70


async def test_retry_after_as_an_http_date_is_honoured(session: aiohttp.ClientSession) -> None:
    upstream, sleeps = client(session)
    soon = email.utils.formatdate(time.time() + 3, usegmt=True)
    with mocked_network() as mock:
        mock.get(f"{BASE}/x", status=503, headers={"Retry-After": soon})
        mock.get(f"{BASE}/x", status=200, payload={"ok": True})
        response = await upstream.request("GET", "/x")
    assert response.body == {"ok": True}
    assert len(sleeps.calls) == 1 and 1.5 <= sleeps.calls[0] <= 3.0


async def test_a_far_http_date_is_handed_to_the_caller_unslept(
    session: aiohttp.ClientSession,
) -> None:
    upstream, sleeps = client(session)
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    with mocked_network() as mock:
        mock.get(f"{BASE}/x", status=429, headers={"Retry-After": later})
        with pytest.raises(UpstreamUnavailable) as info:
            await upstream.request("GET", "/x")
    assert sleeps.calls == []
    assert info.value.retry_after is not None and 3590 <= info.value.retry_after <= 3600


@pytest.mark.parametrize(
    ("said", "read"),
    [
        ("30", 30.0),
        ("1e400", 86400.0),  # past a float: the longest wait, not "no wait said"
        ("9" * 400, 86400.0),
        ("inf", 86400.0),
        ("-5", 0.0),
        ("nan", None),
        ("soon", None),
    ],
)
def test_retry_after_past_any_wait_is_the_longest_not_absent(said: str, read: float | None) -> None:
    """A provider's ``Retry-After`` too large for a float was read as no ``Retry-After``: a
    rate-limited call was then retried at once, and the caller told nothing of the wait."""
    assert retry_after(CIMultiDictProxy(CIMultiDict({"Retry-After": said}))) == read


# -- the retry budget and the breaker inside the client ---------------------------------------


async def test_the_retry_budget_caps_retries_on_a_failing_provider(
    session: aiohttp.ClientSession,
) -> None:
    # max_attempts 3; budget: ratio 0.2, min_retries 3; a breaker that stays out of the way
    upstream, _ = client(session, breaker={"failures": 1000})
    with mocked_network() as mock:
        mock.get(f"{BASE}/x", status=503, repeat=True)
        for _ in range(30):
            with pytest.raises(UpstreamError) as info:
                await upstream.request("GET", "/x")
            assert info.value.status == 503
        sent = sum(len(calls) for calls in mock.requests.values())
    # 30 first attempts + max(3, 0.2 × 30) retries, where max_attempts alone would send 90.
    assert sent == 36
    assert (upstream.stats.calls, upstream.stats.retries) == (36, 6)


async def test_the_breaker_opens_and_answers_without_calling(
    session: aiohttp.ClientSession,
) -> None:
    now = [0.0]
    settings = connection(
        retries={"max_attempts": 1, "backoff_base_s": 0, "backoff_max_s": 0},
        breaker={"failures": 3, "open_s": 30},
    )
    upstream = UpstreamClient(session, settings, sleep=Sleeps(), clock=lambda: now[0])
    with mocked_network() as mock:
        mock.get(f"{BASE}/x", status=502, repeat=True)
        for _ in range(3):
            with pytest.raises(UpstreamError):
                await upstream.request("GET", "/x")
        now[0] = 10.0
        with pytest.raises(UpstreamUnavailable) as info:
            await upstream.request("GET", "/x")
        assert len(mock.requests[("GET", URL(f"{BASE}/x"))]) == 3
    assert info.value.retry_after == 20.0
    assert "circuit for connection crm is open" in info.value.message
    assert "(its last call failed with 502)" in info.value.message  # why it opened
    assert upstream.health()["circuit"] == {
        "state": "open",
        "retry_after": 20,
        "consecutive_failures": 3,
    }


async def test_a_failed_half_open_probe_is_named_in_the_refusal_the_caller_gets(
    session: aiohttp.ClientSession,
) -> None:
    # The probe's own failure opens the breaker again; the retry it would have had is refused
    # by the breaker, and the caller learns what the probe met, not only that it is open.
    now = [0.0]
    settings = connection(
        retries={"max_attempts": 2, "backoff_base_s": 0, "backoff_max_s": 0},
        breaker={"failures": 1, "open_s": 30},
    )
    upstream = UpstreamClient(session, settings, sleep=Sleeps(), clock=lambda: now[0])
    with mocked_network() as mock:
        mock.get(f"{BASE}/x", status=503)
        with pytest.raises(UpstreamUnavailable):
            await upstream.request("GET", "/x")
        now[0] = 31.0  # half-open: one probe
        mock.get(f"{BASE}/x", exception=_refused())
        with pytest.raises(UpstreamUnavailable) as info:
            await upstream.request("GET", "/x")
    assert "is open" in info.value.message
    assert "(its last call could not be reached: the connection was refused)" in info.value.message
    assert "503" not in info.value.message  # the earlier failure is not the one said


async def test_a_4xx_or_429_is_no_failure_for_the_breaker(session: aiohttp.ClientSession) -> None:
    settings = connection(
        retries={"max_attempts": 1, "backoff_base_s": 0, "backoff_max_s": 0},
        breaker={"failures": 2, "open_s": 30},
    )
    upstream = UpstreamClient(session, settings, sleep=Sleeps())
    with mocked_network() as mock:
        for status in (500, 404, 500, 429, 500, 422):
            mock.get(f"{BASE}/x", status=status, payload={})
        for _ in range(6):
            with contextlib.suppress(UpstreamError):
                await upstream.request("GET", "/x")
    assert upstream.breaker.state is CircuitState.CLOSED


async def test_half_open_probe_success_closes_failure_reopens(
    session: aiohttp.ClientSession,
) -> None:
    now = [0.0]
    settings = connection(
        retries={"max_attempts": 1, "backoff_base_s": 0, "backoff_max_s": 0},
        breaker={"failures": 1, "open_s": 5},
    )
    upstream = UpstreamClient(session, settings, sleep=Sleeps(), clock=lambda: now[0])
    with mocked_network() as mock:
        mock.get(f"{BASE}/x", exception=TimeoutError())
        mock.get(f"{BASE}/x", status=503)
        mock.get(f"{BASE}/x", status=200, payload={"ok": 1})
        with pytest.raises(UpstreamTimeout):
            await upstream.request("GET", "/x")
        assert upstream.breaker.state is CircuitState.OPEN
        now[0] = 5.0
        assert upstream.breaker.state is CircuitState.HALF_OPEN
        with pytest.raises(UpstreamError) as failed_probe:
            await upstream.request("GET", "/x")
        assert failed_probe.value.status == 503
        assert upstream.breaker.state is CircuitState.OPEN
        now[0] = 10.0
        response = await upstream.request("GET", "/x")
        assert response.body == {"ok": 1}
    assert upstream.breaker.state is CircuitState.CLOSED


async def test_a_retry_the_open_breaker_stops_is_a_503_with_retry_after(
    session: aiohttp.ClientSession,
) -> None:
    settings = connection(breaker={"failures": 2, "open_s": 30})  # max_attempts 3
    upstream, sleeps = (
        UpstreamClient(session, settings, sleep=(s := Sleeps()), rng=random.Random(1)),
        s,
    )
    with mocked_network() as mock:
        mock.get(f"{BASE}/x", status=500, repeat=True)
        with pytest.raises(UpstreamUnavailable) as info:
            await upstream.request("GET", "/x")
        assert len(mock.requests[("GET", URL(f"{BASE}/x"))]) == 2
    assert info.value.retry_after == pytest.approx(30, abs=1)
    assert len(sleeps.calls) == 1


# -- what the client sends and reads -------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_never_followed(session: aiohttp.ClientSession, status: int) -> None:
    seen: dict[str, Any] = {}

    def capture(url: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return CallbackResult(
            status=status,
            headers={"Location": "http://internal.example/steal"},
            response_class=_Response,
        )

    upstream, sleeps = client(session)
    with mocked_network() as mock:
        mock.get(f"{BASE}/x", callback=capture)
        with pytest.raises(UnusableAnswer) as info:
            await upstream.request("GET", "/x")
    assert seen["allow_redirects"] is False
    assert info.value.message == (
        f"crm_v1 (connection crm) answered a redirect ({status}); the gateway follows no redirects"
    )
    assert "internal.example" not in str(info.value)
    assert info.value.retryable is False
    assert (upstream.stats.calls, sleeps.calls) == (1, [])


async def test_a_body_over_the_cap_is_refused(session: aiohttp.ClientSession) -> None:
    upstream, _ = client(session, max_response_bytes=1024)
    with mocked_network() as mock:
        mock.get(f"{BASE}/x", status=200, body=b"[" + b"1," * 600 + b"1]")
        with pytest.raises(UnusableAnswer) as info:
            await upstream.request("GET", "/x")
    assert info.value.message == (
        "crm_v1 (connection crm) answered more than 1024 bytes, more than the gateway reads"
    )


async def test_a_body_at_the_cap_is_read(session: aiohttp.ClientSession) -> None:
    upstream, _ = client(session, max_response_bytes=1024)
    body = b'{"a": "' + b"x" * 1015 + b'"}'
    assert len(body) == 1024
    with mocked_network() as mock:
        mock.get(f"{BASE}/x", status=200, body=body, content_type="application/json")
        response = await upstream.request("GET", "/x")
    assert response.body == {"a": "x" * 1015}


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        (b"[" * 100_000, "application/json", "nested deeper than 100 levels"),
        (b"[" * 101 + b"]" * 101, "application/json", "nested deeper than 100 levels"),
        (b'{"a": ' * 150 + b"1" + b"}" * 150, "text/plain", "nested deeper than 100 levels"),
        (b'{"total": 1,}', "application/json", "Expecting property name enclosed in double"),
        (b'{"total": NaN}', "application/json", "NaN is not a JSON number"),
        (b'{"name": "\xff\xfe"}', "application/json", "it is not UTF-8 text"),
        (b'[{"broken"', "text/html", "Expecting"),
    ],
)
async def test_json_that_cannot_be_read_is_an_unusable_answer(
    session: aiohttp.ClientSession, body: bytes, content_type: str, detail: str
) -> None:
    upstream, _ = client(session)
    with mocked_network() as mock:
        mock.get(f"{BASE}/x", status=200, body=body, content_type=content_type)
        with pytest.raises(UnusableAnswer) as info:
            await upstream.request("GET", "/x")
    assert info.value.message.startswith(
        "crm_v1 (connection crm) answered JSON the gateway cannot read: "
    )
    assert detail in info.value.message
    assert upstream.stats.calls == 1


@pytest.mark.parametrize(
    ("body", "content_type", "status", "parsed"),
    [
        (b"", "application/json", 204, None),
        (b"  \n", "application/json", 200, None),
        (b"404: Not Found", "text/plain", 404, None),
        (b"<html>nope</html>", "text/html", 404, None),
        (b'\xef\xbb\xbf{"a": 1.10}', "application/json", 200, {"a": Decimal("1.10")}),
        (b"[" * 100 + b"]" * 100, "application/json", 200, ANY),  # at the limit
        (b"42", "text/plain", 422, 42),  # an error answer: any label (a 2xx must say JSON)
    ],
)
async def test_bodies_that_are_not_json_or_empty_are_still_tolerated(
    session: aiohttp.ClientSession, body: bytes, content_type: str, status: int, parsed: Any
) -> None:
    upstream, _ = client(session)
    with mocked_network() as mock:
        mock.get(f"{BASE}/x", status=status, body=body, content_type=content_type)
        response = await upstream.request("GET", "/x")
    assert response.status == status
    assert response.body == parsed


@pytest.mark.parametrize("path", ["/v1/invoices/..", "/v1/invoices/%2e%2E", "/a/%252e/b"])
async def test_a_path_with_a_dot_segment_is_never_sent(
    session: aiohttp.ClientSession, path: str
) -> None:
    upstream, _ = client(session)
    with mocked_network() as mock, pytest.raises(BadIdentifier):
        await upstream.request("GET", path)
    assert mock.requests == {}
    assert upstream.stats.calls == 0


async def test_an_answer_broken_off_mid_body_is_counted_an_error_not_its_status(
    session: aiohttp.ClientSession,
) -> None:
    """A provider that sends its status line, then part of the body, then hangs up: the call
    failed (the caller is told it broke off), and the metrics heard "200" for each try."""

    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n"
            b'\r\n{"success": true, "data": {'
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(half, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    heard: list[str] = []
    upstream = UpstreamClient(
        session,
        connection(base_url=f"http://127.0.0.1:{port}"),
        sleep=Sleeps(),
        rng=random.Random(1),
        observer=lambda _name, _provider, _seconds, outcome: heard.append(outcome),
    )
    try:
        with pytest.raises(UpstreamUnavailable) as info:
            await upstream.request("GET", "/x")
    finally:
        server.close()
        await server.wait_closed()
    assert "broke off its answer before the end" in info.value.message
    assert heard == ["error", "error", "error"]


async def test_a_call_without_a_body_names_no_content_type(session: aiohttp.ClientSession) -> None:
    """An action sent with no body (publish, void, cancel) says nothing of a body's type:
    aiohttp would label it application/octet-stream, which a provider that checks media types
    refuses with 415. A call with a JSON body still says so."""
    seen: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/{tail:.*}", record)
    server = TestServer(app)
    await server.start_server()
    try:
        upstream = UpstreamClient(
            session,
            connection(base_url=str(server.make_url("")).rstrip("/")),
            sleep=Sleeps(),
            rng=random.Random(1),
        )
        await upstream.request("POST", "/invoices/7/publish")
        await upstream.request("POST", "/invoices", json={"a": 1})
    finally:
        await server.close()
    assert "Content-Type" not in seen[0]
    assert seen[0]["Content-Length"] == "0"
    assert seen[1]["Content-Type"] == "application/json"
