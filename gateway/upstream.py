"""The one way to talk to a provider: timeouts, retries with backoff, credentials, exact JSON.

Adapters get an ``UpstreamClient`` for their connection and never open sockets themselves.
Retrying follows one rule: a request is retried only when doing so cannot write twice.
Reads, ``PUT`` and ``DELETE`` are idempotent and retried on timeouts, connection failures, 5xx
and 429. A ``POST`` is retried only when it never left (the connection could not be opened) or
the provider refused it unprocessed (429); once it was sent, a timeout, a dropped connection or
a 5xx raises ``OutcomeUncertain``.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from gateway import jsonwire
from gateway.config import Connection
from gateway.errors import (
    OutcomeUncertain,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.ratelimit import TokenBucket

# Set by the HTTP facade for the request being served; sent upstream as X-Request-ID.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
# The provider calls of the request being served, for its log line.
request_calls_var: contextvars.ContextVar[CallStats | None] = contextvars.ContextVar(
    "request_calls", default=None
)
# Called after every provider call: (connection, provider, seconds, outcome).
CallObserver = Callable[[str, str, float, str], None]

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    headers: CIMultiDictProxy[str]
    text: str
    body: Any  # parsed JSON (fractions as Decimal), or None when the body is not JSON

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class CallStats:
    """What one client did, for logs, metrics and the connection's health."""

    calls: int = 0
    retries: int = 0
    failures: int = 0
    last_failure: str | None = None  # the last error's class, e.g. "UpstreamTimeout"

    def health(self) -> dict[str, object]:
        status = "unknown" if self.calls == 0 else ("failing" if self.last_failure else "ok")
        return {
            "status": status,
            "calls": self.calls,
            "retries": self.retries,
            "failures": self.failures,
            "last_failure": self.last_failure,
        }


class UpstreamClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        connection: Connection,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        observer: CallObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.connection = connection
        self.provider = connection.provider
        self.stats = CallStats()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._base = connection.base_url.rstrip("/")
        self._observer = observer
        self._clock = clock
        limit = connection.rate_limit
        self._bucket = TokenBucket.of(limit, clock()) if limit else None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> UpstreamResponse:
        """Send one logical request (retrying where safe) and return the provider's answer.

        4xx answers other than 401/403/429 are returned for the adapter to read in the
        provider's own envelope; the failures above raise ``UpstreamError`` subclasses.
        """
        try:
            response = await self._attempts(method.upper(), path, params, json, data, headers)
        except UpstreamError as exc:
            self.stats.failures += 1
            self.stats.last_failure = type(exc).__name__
            raise
        self.stats.last_failure = None
        return response

    async def _attempts(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Any,
        headers: Mapping[str, str] | None,
    ) -> UpstreamResponse:
        idempotent = method in _IDEMPOTENT
        retries = self.connection.retries
        body = jsonwire.dumps(json) if json is not None else data
        send_headers = self._headers(headers, has_json=json is not None)
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
        last: UpstreamError | None = None
        for attempt in range(1, retries.max_attempts + 1):
            if attempt > 1:
                self._count(retry=True)
                await self._sleep(self._backoff(attempt, last))
            self._count(retry=False)
            await self._paced()
            try:
                response = await self._send(method, path, query, body, send_headers)
            except aiohttp.ClientConnectorError:
                # Never connected: nothing was sent, so even a POST may go again.
                last = UpstreamUnavailable(
                    self._says("could not be reached"), provider=self.provider
                )
                continue
            except (TimeoutError, aiohttp.ServerTimeoutError):
                if not idempotent:
                    raise self._uncertain("did not answer in time") from None
                last = UpstreamTimeout(self._says("did not answer in time"), provider=self.provider)
                continue
            except aiohttp.ClientError:
                if not idempotent:
                    raise self._uncertain("dropped the connection") from None
                last = UpstreamUnavailable(
                    self._says("dropped the connection"), provider=self.provider
                )
                continue
            if response.status in (401, 403):
                raise UpstreamAuthFailed(
                    self._says(f"rejected the gateway's credentials ({response.status})"),
                    provider=self.provider,
                    status=response.status,
                )
            if response.status == 429:
                last = UpstreamUnavailable(
                    self._says("is rate-limiting the gateway"),
                    provider=self.provider,
                    status=429,
                    retry_after=_retry_after(response.headers),
                )
                continue
            if response.status >= 500:
                if not idempotent:
                    raise self._uncertain(f"failed with {response.status}", status=response.status)
                last = UpstreamError(
                    self._says(f"failed with {response.status}"),
                    provider=self.provider,
                    status=response.status,
                )
                continue
            return response
        assert last is not None
        raise last

    async def _send(
        self, method: str, path: str, query: dict[str, str], body: Any, headers: dict[str, str]
    ) -> UpstreamResponse:
        timeout = aiohttp.ClientTimeout(total=self.connection.timeout_s)
        started = time.perf_counter()
        outcome = "error"
        try:
            async with self.session.request(
                method, self._base + path, params=query, data=body, headers=headers, timeout=timeout
            ) as raw:
                text = await raw.text()
                outcome = str(raw.status)
                return UpstreamResponse(raw.status, raw.headers, text, _parse(text))
        finally:
            if self._observer is not None:
                elapsed = time.perf_counter() - started
                self._observer(self.connection.name, self.provider, elapsed, outcome)

    async def _paced(self) -> None:
        """Wait for the connection's rate limit (config ``rate_limit``) before calling out."""
        if self._bucket is None:
            return
        while (wait := self._bucket.take(self._clock())) > 0:
            await self._sleep(wait)

    def _count(self, *, retry: bool) -> None:
        for stats in (self.stats, request_calls_var.get()):
            if stats is not None:
                if retry:
                    stats.retries += 1
                else:
                    stats.calls += 1

    def _headers(self, extra: Mapping[str, str] | None, *, has_json: bool) -> dict[str, str]:
        auth = self.connection.auth
        headers = {"Accept": "application/json"}
        if has_json:
            headers["Content-Type"] = "application/json"
        if auth.type == "bearer":
            headers["Authorization"] = f"Bearer {auth.secret()}"
        else:
            headers[auth.header] = auth.secret()
        request_id = request_id_var.get()
        if request_id:
            headers["X-Request-ID"] = request_id
        headers.update(extra or {})
        return headers

    def _backoff(self, attempt: int, last: UpstreamError | None) -> float:
        retries = self.connection.retries
        if last is not None and last.retry_after is not None:
            return min(last.retry_after, retries.backoff_max_s)
        ceiling = min(retries.backoff_max_s, retries.backoff_base_s * 2 ** (attempt - 2))
        return self._rng.uniform(ceiling / 2, ceiling)  # jitter, so clients don't move in step

    def _says(self, what: str) -> str:
        return f"{self.provider} (connection {self.connection.name}) {what}"

    def _uncertain(self, what: str, *, status: int | None = None) -> OutcomeUncertain:
        return OutcomeUncertain(
            self._says(what) + "; the write may or may not have taken effect",
            provider=self.provider,
            status=status,
        )


def _parse(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return jsonwire.loads(text)
    except ValueError:
        return None


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _retry_after(headers: CIMultiDictProxy[str]) -> float | None:
    value = headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
