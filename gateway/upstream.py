"""The one way to talk to a provider: timeouts, retries with backoff, credentials, exact JSON.

Adapters get an ``UpstreamClient`` for their connection and never open sockets themselves.
Retrying follows one rule: a request is retried only when doing so cannot write twice.
Reads, ``PUT`` and ``DELETE`` are idempotent and retried on timeouts, connection failures, 5xx
and 429. A ``POST`` is retried only when it never left (the connection could not be opened) or
the provider refused it unprocessed (429); once it was sent, a timeout, a dropped connection or
a 5xx raises ``OutcomeUncertain``.

A client fails safely (docs/decisions.md, "The provider client fails safely"):
- a circuit breaker per connection (``gateway/breaker.py``) stops calling a provider that keeps
  failing; a retry budget (``gateway/retry_budget.py``) keeps retries a share of the load;
- backoff is full jitter; a ``Retry-After`` longer than ``backoff_max_s`` is not slept through
  but handed to the caller;
- no redirect is followed, so the credential only ever goes to the connection's ``base_url``;
- bodies are read up to ``max_response_bytes``, and JSON that cannot be read (invalid, not
  UTF-8, nested too deep) is an ``UnusableAnswer``, never an exception the facade does not know;
- the path is sent exactly as the adapter built it (``adapters/paths.py``), never normalized.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from gateway import jsonwire
from gateway.breaker import CircuitBreaker, CircuitState
from gateway.config import Connection
from gateway.credential_blanking import (
    ChunkBlanking,
    blanked_answer,
    blanked_decoded,
    blanked_labels,
)
from gateway.errors import (
    OutcomeUncertain,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    is_refusal,
)
from gateway.provider_sessions import counted_sends, pool_slot
from gateway.ratelimit import MAX_PACING_WAITS, SharedTokens, TokenBucket, connection_bucket
from gateway.retry_budget import RetryBudgetWindow
from gateway.upstream_answers import (
    RawAnswer,
    UnusableAnswer,
    UpstreamResponse,
    in_utf8,
    provider_said,
    read_answer,
    read_capped,
)
from gateway.upstream_wire import failed, provider_url, retry_after, unreached
from gateway.write_calls import idempotency_key_var, write_calls_var

__all__ = [
    "CallObserver",
    "CallStats",
    "UnusableAnswer",
    "UpstreamClient",
    "UpstreamResponse",
    "UpstreamStream",
    "request_calls_var",
    "request_id_var",
]

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
# How an uncertain write's message ends (``UpstreamClient._uncertain``).
MAY_HAVE_TAKEN_EFFECT = "; the write may or may not have taken effect"

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_READS = frozenset({"GET", "HEAD", "OPTIONS"})

# How much of a streamed body is read and handed on at a time.
_STREAM_CHUNK_BYTES = 64 * 1024
_NO_TYPE = ("Content-Type",)  # skipped from the headers aiohttp adds itself, on an empty call


@dataclass(frozen=True)
class _Open:
    """A 2xx answer whose body is still to be read, chunk by chunk (``UpstreamClient.stream``)."""

    status: int
    headers: CIMultiDictProxy[str]
    raw: aiohttp.ClientResponse
    started: float  # perf_counter when it was sent: the call is observed once its body ends


@dataclass(frozen=True)
class UpstreamStream:
    """What ``UpstreamClient.stream`` yields: a 2xx answer's body as chunks, or any other
    answer read (capped) as ``answer`` for the adapter to read in the provider's envelope."""

    status: int
    headers: CIMultiDictProxy[str]
    answer: UpstreamResponse | None
    chunks: AsyncIterator[bytes]

    @property
    def ok(self) -> bool:
        return self.answer is None


async def _no_chunks() -> AsyncIterator[bytes]:
    return
    yield  # pragma: no cover - makes this an async generator


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
        retried: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedTokens | None = None,
    ) -> None:
        """``observer`` hears every provider call (its connection, provider, seconds and
        outcome); ``retried`` the connection's name at every retry."""
        self.session = session
        self.connection = connection
        self.provider = connection.provider
        self.stats = CallStats()
        self._sleep = sleep
        self._rng = rng or random.Random()
        # Normalized once; paths are appended to it as they are, never normalized again.
        self._base = str(URL(connection.base_url)).rstrip("/")
        self._observer = observer
        self._retried = retried
        self._clock = clock
        limit = connection.rate_limit
        self._bucket = TokenBucket.of(limit, clock()) if limit else None
        # Several processes sharing one provider quota pace by its bucket in the store (this
        # process's own bucket, while the store fails).
        self._shared = shared
        self.breaker = CircuitBreaker(
            connection.breaker, connection=connection.name, provider=self.provider, clock=clock
        )
        self.budget = RetryBudgetWindow(connection.retry_budget, clock=clock)

    def health(self) -> dict[str, object]:
        """The connection's health: its calls and failures, and its circuit breaker."""
        return {**self.stats.health(), "circuit": self.breaker.describe()}

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> UpstreamResponse:
        """Send one logical request (retrying where safe) and return the provider's answer.

        ``path`` is sent exactly as given (build ids into it with ``adapters.paths``). 4xx
        answers other than 401/403/429 are returned for the adapter to read in the provider's
        own envelope; the failures above raise ``UpstreamError`` subclasses. ``idempotent``: a
        ``POST`` that converges when sent again (a purge of one invoice), re-sent after a lost
        answer as a ``PUT`` is (None: by its method).
        """
        try:
            verb = method.upper()
            answer = await self._attempts(
                verb, path, params, json, data, headers, idempotent=idempotent
            )
            assert isinstance(answer, RawAnswer)
            response = read_answer(answer, says=self._who(), provider=self.provider, method=verb)
            response = blanked_decoded(answer, response, self.connection.auth.secret())
        except UpstreamError as exc:
            self.stats.failures += 1
            self.stats.last_failure = type(exc).__name__
            raise
        self.stats.last_failure = None
        return response

    @contextlib.asynccontextmanager
    async def stream(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        accept: str = "*/*",
    ) -> AsyncIterator[UpstreamStream]:
        """A GET whose 2xx body is handed on in chunks as it arrives, never held whole (a
        provider's file export): ``max_response_bytes`` does not apply to it, memory stays at
        one chunk. Everything else is as ``request``: credentials, retries until the body
        starts (a GET is safe to send again), the breaker, no redirects, the credential blanked
        out of what is handed on. ``timeout_s`` bounds each wait (connecting, every read), not
        the whole transfer. A non-2xx answer is read, capped, into ``answer``. A transfer that
        breaks off raises ``UpstreamError`` from ``chunks``: the caller must not present what
        it already had as the whole body.

        The stream holds one of the connection's ``max_connections`` from its sending until it
        is closed: it holds one of aiohttp's connections that long, and the calls queued behind
        it wait for a slot (not part of their ``timeout_s``) rather than inside aiohttp, where
        the wait counted as the provider not answering and opened the breaker."""
        async with pool_slot(self.session), self._stream(path, params, accept) as opened:
            yield opened

    @contextlib.asynccontextmanager
    async def _stream(
        self, path: str, params: Mapping[str, Any] | None, accept: str
    ) -> AsyncIterator[UpstreamStream]:
        try:
            opened = await self._attempts(
                "GET", path, params, None, None, {"Accept": accept}, keep_open=True
            )
            answer = (
                read_answer(opened, says=self._who(), provider=self.provider, method="GET")
                if isinstance(opened, RawAnswer)
                else None
            )
        except UpstreamError as exc:
            self.stats.failures += 1
            self.stats.last_failure = type(exc).__name__
            raise
        self.stats.last_failure = None
        if answer is not None or not isinstance(opened, _Open):
            assert answer is not None
            yield UpstreamStream(answer.status, answer.headers, answer, _no_chunks())
            return
        raw = opened.raw
        broken: list[UpstreamError] = []  # a transfer that broke off (``_chunks``)
        secret = self.connection.auth.secret()
        labels = blanked_labels(raw.headers, raw.content_type, raw.charset, secret)
        headers = labels.get("headers", raw.headers)
        try:
            yield UpstreamStream(raw.status, headers, None, self._chunks(raw, broken))
        finally:
            # Counted by its status once its body has ended; one that broke off is an error.
            # (One its reader stopped taking, a caller gone, is counted by its status.)
            self._observe(opened.started, "error" if broken else str(raw.status))
            if raw.content.at_eof():
                raw.release()
                await raw.wait_for_close()
            else:
                raw.close()  # not drained: the rest is not wanted

    async def _chunks(
        self, raw: aiohttp.ClientResponse, broken: list[UpstreamError]
    ) -> AsyncIterator[bytes]:
        """The body as it arrives, with the credential blanked out even across chunk ends
        (``broken``: where the error that ends a transfer broken off is put)."""
        try:
            async for chunk in self._blanked_chunks(raw):
                yield chunk
        except UpstreamError as exc:
            broken.append(exc)
            raise

    async def _blanked_chunks(self, raw: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        sent = 0
        try:
            blanking = ChunkBlanking(self.connection.auth.secret(), raw.charset)
        except LookupError:
            raise UnusableAnswer(
                self._says("labelled its answer with a charset the gateway does not know"),
                provider=self.provider,
            ) from None
        try:
            async for chunk in raw.content.iter_chunked(_STREAM_CHUNK_BYTES):
                if ready := blanking.feed(chunk):
                    sent += len(ready)
                    yield ready
            rest = blanking.end()
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamTimeout(
                self._says(f"stopped sending after {sent} bytes (no data in time)"),
                provider=self.provider,
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(
                self._says(f"broke off after {sent} bytes ({type(exc).__name__})"),
                provider=self.provider,
            ) from None
        except (UnicodeDecodeError, ValueError):
            raise UnusableAnswer(
                self._says(f"sent text that is not {raw.charset} after {sent} bytes"),
                provider=self.provider,
            ) from None
        if rest:
            yield rest

    async def _attempts(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Any,
        headers: Mapping[str, str] | None,
        *,
        keep_open: bool = False,
        idempotent: bool | None = None,
    ) -> RawAnswer | _Open:
        """The answer of the first attempt that settles the request (``keep_open``: a 2xx
        answer's body left unread, for ``stream``)."""
        if idempotent is None:
            idempotent = method in _IDEMPOTENT
        url = provider_url(self._base, path, params, provider=self.provider)
        body = jsonwire.compact_bytes(json) if json is not None else data
        send_headers = self._headers(headers, has_json=json is not None)
        calls = write_calls_var.get()
        writes = calls if method not in _READS else None
        key = idempotency_key_var.get()
        if key is not None and method not in _READS:
            send_headers.setdefault("Idempotency-Key", key)
        last: UpstreamError | None = None
        lost = False  # an attempt was sent and its answer lost: a later one repeats it
        for attempt in range(1, self.connection.retries.max_attempts + 1):
            if last is not None:
                await self._before_retry(attempt - 1, last)
            probe = self.breaker.admit()
            if last is None:
                self.budget.first_attempt()
            self._count(retry=False)
            answered: bool | None = None
            why: str | None = None  # what a failed exchange did, for the breaker's refusals
            try:
                await self._paced()
                if writes is not None:
                    writes.sent += 1  # from here on the write may have reached the provider
                    writes.read_after = False
                with counted_sends() as sends:
                    try:
                        answer = await self._send(
                            method, url, body, send_headers, keep_open=keep_open
                        )
                    finally:
                        if len(sends) > 1:
                            # aiohttp sent it again itself (its connection dropped): what comes
                            # back answers a repeat of a call that may have taken effect.
                            lost = True
                            self._count_retry()
                            if writes is not None:
                                writes.sent += len(sends) - 1
                answered = answer.status < 500
                if not answered:
                    why = f"failed with {answer.status}"
            except UnusableAnswer:
                answered = True
                raise
            except aiohttp.ClientConnectorError as exc:
                # Never connected: nothing was sent, so even a POST may go again, and the write
                # call counted as it went is taken back (a repeat aiohttp sent after a dropped
                # connection stays counted: the send before it may have reached the provider).
                if writes is not None:
                    writes.sent -= 1
                answered, why = False, unreached(exc)
                last = UpstreamUnavailable(self._says(why), provider=self.provider)
                continue
            except (TimeoutError, aiohttp.ServerTimeoutError):
                answered, why = False, "did not answer in time"
                if not idempotent:
                    raise self._uncertain(why, unanswered=True) from None
                last = UpstreamTimeout(self._says(why), provider=self.provider)
                lost = True
                continue
            except aiohttp.ClientError as exc:
                answered, why = False, failed(exc)
                if not idempotent:
                    raise self._uncertain(why) from None
                last = UpstreamUnavailable(self._says(why), provider=self.provider)
                lost = True
                continue
            finally:
                self.breaker.record(answered, probe=probe, why=why)
            status = answer.status
            if 300 <= status < 400:
                # Never followed: the credential must not go anywhere else, and the Location
                # (which may name an internal host) is not repeated.
                raise UnusableAnswer(
                    self._says(f"answered a redirect ({status}); the gateway follows no redirects"),
                    provider=self.provider,
                    status=status,
                )
            if writes is not None and status in (401, 403, 429):
                writes.sent -= 1  # refused before the provider processed anything
            # The provider's words, read only from a failure the client ends on: a success's
            # body is the adapter's to read (reading it here cost every call a JSON parse).
            failing = status in (401, 403, 429) or status >= 500
            said = (
                _in_its_words(answer, self.connection.auth.secret())
                if failing and isinstance(answer, RawAnswer)
                else ""
            )
            if status in (401, 403):
                raise UpstreamAuthFailed(
                    self._says(f"rejected the gateway's credentials ({status}){said}"),
                    provider=self.provider,
                    status=status,
                )
            if status == 429:
                last = UpstreamUnavailable(
                    self._says(f"is rate-limiting the gateway{said}"),
                    provider=self.provider,
                    status=429,
                    retry_after=retry_after(answer.headers),
                )
                continue
            if status >= 500:
                if not idempotent:
                    # 504: the provider's own gateway stopped waiting, not the provider.
                    raise self._uncertain(
                        f"failed with {status}{said}", status=status, unanswered=status == 504
                    )
                # 504: the provider's own gateway stopped waiting: a timeout, as the table says.
                kind = UpstreamTimeout if status == 504 else UpstreamError
                last = kind(
                    self._says(f"failed with {status}{said}"),
                    provider=self.provider,
                    status=status,
                    retry_after=retry_after(answer.headers),
                )
                lost = True
                continue
            if writes is not None and lost:
                writes.repeated = True
            elif writes is not None and is_refusal(status):
                # Refused on its first sending: this call changed nothing. (After a lost attempt
                # it may be a repeat's answer to a call that took effect: not counted.)
                writes.refused += 1
            if calls is not None:
                calls.read_after = writes is None and 200 <= status < 300
            return answer
        assert last is not None
        raise self._with_wait(last, retry=self.connection.retries.max_attempts)

    async def _before_retry(self, retry: int, last: UpstreamError) -> None:
        """Wait before retry number ``retry``, or raise when no retry may go: the breaker is
        open, the retry budget is spent, or the provider asked for a longer wait than a request
        should sit through (the caller gets ``retry_after``)."""
        retries = self.connection.retries
        if last.retry_after is not None and last.retry_after > retries.backoff_max_s:
            raise last
        if self.breaker.state is CircuitState.OPEN:
            raise self.breaker.refusal() from last
        if not self.budget.try_retry():
            raise self._with_wait(last, retry=retry)
        self._count_retry()
        await self._sleep(self._backoff(retry, last))

    def _with_wait(self, last: UpstreamError, *, retry: int) -> UpstreamError:
        """``last`` as the caller gets it, ``retry`` being the retry that did not go. A provider
        that rate-limited the gateway to the end without a ``Retry-After``, or could not be
        reached, or dropped the connection every time, is given one, the longest wait that
        retry would have had, so that the caller's 503 says when to try again."""
        if isinstance(last, UpstreamUnavailable) and last.retry_after is None:
            last.retry_after = self._ceiling(retry)
        return last

    def _backoff(self, retry: int, last: UpstreamError | None) -> float:
        """Full jitter: uniform in [0, min(max, base × 2^(retry-1))]; a Retry-After the provider
        sent (at most ``backoff_max_s``, see ``_before_retry``) is waited as it is."""
        retries = self.connection.retries
        if last is not None and last.retry_after is not None:
            return min(last.retry_after, retries.backoff_max_s)
        return self._rng.uniform(0, self._ceiling(retry))

    def _ceiling(self, retry: int) -> float:
        """The longest wait before retry number ``retry``: ``min(max, base × 2^(retry-1))``."""
        retries = self.connection.retries
        return float(min(retries.backoff_max_s, retries.backoff_base_s * 2 ** (retry - 1)))

    async def _send(
        self,
        method: str,
        url: URL,
        body: Any,
        headers: dict[str, str],
        *,
        keep_open: bool = False,
    ) -> RawAnswer | _Open:
        wait = self.connection.timeout_s
        # A body handed on as it arrives may take longer than any one wait: each is bounded.
        timeout = (
            aiohttp.ClientTimeout(total=None, connect=wait, sock_connect=wait, sock_read=wait)
            if keep_open
            else aiohttp.ClientTimeout(total=wait)
        )
        # A call waits for a free connection of the pool (``max_connections``) before its
        # timeout starts: waiting in the gateway is not the provider failing to answer (a write
        # never sent would be told "uncertain", and the waits would open the breaker). A body
        # handed on as it arrives holds its connection past this call: ``stream`` holds its
        # slot until it is closed.
        slot = contextlib.nullcontext() if keep_open else pool_slot(self.session)
        started = time.perf_counter()
        outcome: str | None = "error"
        try:
            async with slot:
                started = time.perf_counter()
                raw = await self.session.request(
                    method,
                    url,
                    data=body,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,
                    # aiohttp labels a POST with no body application/octet-stream: a call
                    # that sends nothing (an action: publish, void, cancel) names no type.
                    skip_auto_headers=_NO_TYPE if body is None else None,
                )
                if keep_open and 200 <= raw.status < 300:
                    outcome = None  # observed by ``stream`` once the body has ended
                    return _Open(raw.status, raw.headers, raw, started)
                async with raw:
                    try:
                        answer = await read_capped(
                            raw,
                            self.connection.max_response_bytes,
                            says=self._who(),
                            provider=self.provider,
                        )
                    except UnusableAnswer:
                        outcome = "too_large"
                        raise
                    # Counted by its status once its body has come whole: one broken off is
                    # an error, whatever its status line said.
                    outcome = str(raw.status)
                    return blanked_answer(in_utf8(answer), self.connection.auth.secret())
        finally:
            if outcome is not None:
                self._observe(started, outcome)

    def _observe(self, started: float, outcome: str) -> None:
        if self._observer is not None:
            elapsed = time.perf_counter() - started
            self._observer(self.connection.name, self.provider, elapsed, outcome)

    async def _paced(self) -> None:
        """Wait for the connection's rate limit (config ``rate_limit``) before calling out: its
        bucket in the store when it is shared (``SharedTokens``), else this process's own."""
        bucket = self._bucket
        if bucket is None:
            return
        for _ in range(MAX_PACING_WAITS):
            if self._shared is None:
                wait = bucket.take(self._clock())
            else:
                name = connection_bucket(self.connection.name)
                wait = await self._shared.take(
                    name, bucket.rate, bucket.burst, lambda: bucket.take(self._clock())
                )
            if wait <= 0:
                return
            await self._sleep(wait)
        # Other processes keep taking every token first: go rather than wait for ever.

    def _count_retry(self) -> None:
        """A call sent again: in the request's and the client's counts, and the metrics'."""
        self._count(retry=True)
        if self._retried is not None:
            self._retried(self.connection.name)

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
            headers[auth.sent_in] = auth.secret()
        request_id = request_id_var.get()
        if request_id:
            headers["X-Request-ID"] = request_id
        headers.update(extra or {})
        return headers

    def _who(self) -> str:
        return f"{self.provider} (connection {self.connection.name})"

    def _says(self, what: str) -> str:
        return f"{self._who()} {what}"

    def _uncertain(
        self, what: str, *, status: int | None = None, unanswered: bool = False
    ) -> OutcomeUncertain:
        uncertain = OutcomeUncertain(
            self._says(what) + MAY_HAVE_TAKEN_EFFECT,
            provider=self.provider,
            status=status,
        )
        uncertain.unanswered = unanswered
        return uncertain


def _in_its_words(answer: RawAnswer, secret: str) -> str:
    """`` (it said: …)`` with the provider's own message in an answer the client fails on."""
    said = provider_said(answer, secret)
    return f" (it said: {said})" if said else ""
