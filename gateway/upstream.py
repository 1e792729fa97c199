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
import codecs
import contextlib
import contextvars
import dataclasses
import email.utils
import errno
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from gateway import jsonwire
from gateway.breaker import CircuitBreaker, CircuitState
from gateway.config import MIN_TOKEN_CHARS, Connection
from gateway.errors import (
    BadIdentifier,
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
    base64_forms,
    escapes_hide,
    held_for_wrapped_base64,
    in_utf8,
    is_utf8,
    read_answer,
    read_capped,
    secret_forms,
    secret_text_forms,
    without_text,
    without_wrapped_base64,
    wrapped_base64_span,
)

__all__ = [
    "CallObserver",
    "CallStats",
    "UnusableAnswer",
    "UpstreamClient",
    "UpstreamResponse",
    "UpstreamStream",
    "WriteCalls",
    "idempotency_key_var",
    "request_calls_var",
    "request_id_var",
    "write_calls_var",
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
# Awaited before every provider call when set: waits for a token of a rate limit kept elsewhere.
# How an uncertain write's message ends (``UpstreamClient._uncertain``).
MAY_HAVE_TAKEN_EFFECT = "; the write may or may not have taken effect"

# Set by the service layer around one logical write: sent upstream as Idempotency-Key with
# each of its write calls (no provider documents one; their request logs show it).
idempotency_key_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "idempotency_key", default=None
)
# Set by the service layer around one logical write: counts the write calls that may have
# reached the provider, so that a failure before any of them is known to have written nothing.
write_calls_var: contextvars.ContextVar[WriteCalls | None] = contextvars.ContextVar(
    "write_calls", default=None
)

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_READS = frozenset({"GET", "HEAD", "OPTIONS"})

# Characters a built path keeps as they are (RFC 3986 pchar and "/"; "%" starts an escape).
_PATH_SAFE = "/%!$&'()*+,;=:@-._~"
_MAX_DECODINGS = 8
# A longer Retry-After is read as this: a day is already "not in this request".
_MAX_RETRY_AFTER_S = 86400.0
# How much of a streamed body is read and handed on at a time.
_STREAM_CHUNK_BYTES = 64 * 1024
_NO_TYPE = ("Content-Type",)  # skipped from the headers aiohttp adds itself, on an empty call


@dataclass
class WriteCalls:
    """The write calls (anything but a read) of one logical write that may have reached the
    provider's records; and whether its last call was a read the provider answered (2xx) after
    the last of them. A call counts from the moment it is sent, and no more once the provider
    refused it unprocessed (429: rate-limited; 401, 403: the gateway's credentials)."""

    sent: int = 0
    # Of those, the calls the provider refused on their first sending (``errors.is_refusal``):
    # each changed nothing. A refusal is the provider's final word, kept as a key's outcome.
    refused: int = 0
    read_after: bool = False
    # A write call was sent again after an attempt whose answer was lost (a timeout, a dropped
    # connection, a 5xx: only idempotent calls are): its answer may be to a repeat of a call
    # that already took effect (a DELETE told 404 by the repeat).
    repeated: bool = False

    @property
    def read_back(self) -> bool:
        """The write ended on a successful read sent after its last write call (the adapter's
        read-back of what it wrote)."""
        return self.sent > 0 and self.read_after


def refused_in_envelope(
    response: UpstreamResponse, says: str, *, provider: str, refusal: int
) -> UpstreamError:
    """The error for a refusal a provider wrote in a success's envelope (crm_v1's ``"success":
    false``, item_envelope's ``"result": "failed"``) that the adapter's own rules (a field, a
    lifecycle conflict) did not read; ``refusal`` is the status it says. It is counted as the
    client counts that status: a 401, 403 or 429 un-counts the write call (the provider
    processed nothing) and is the client's error for it (the credentials refused; rate-limited,
    its ``Retry-After`` or a second); another 4xx is final, and the call counted refused
    (``WriteCalls.refused``: a key keeps it as its answer), but not after a lost attempt (it may
    answer a repeat). Never with a status: a success's would read as a success the gateway
    could not use."""
    writes = write_calls_var.get() if response.method != "GET" else None
    if refusal in (401, 403, 429):
        if writes is not None and writes.sent > 0:
            writes.sent -= 1
        if refusal != 429:
            return UpstreamAuthFailed(
                f"{says} (the gateway's credentials refused, {refusal})", provider=provider
            )
        wait = _retry_after(response.headers) or 1.0
        return UpstreamUnavailable(
            f"{says} (rate-limited, {refusal})", provider=provider, retry_after=wait
        )
    final = is_refusal(refusal)
    if final and writes is not None and not writes.repeated and writes.refused < writes.sent:
        writes.refused += 1
    error = UpstreamError(says, provider=provider)
    error.retryable = not final
    return error


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
            response = self._decoded_without_credential(answer, response)
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
        it already had as the whole body."""
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
        labels = self._labels_without_credential(raw.headers, raw.content_type, raw.charset)
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
        secret = self.connection.auth.secret()
        forms = secret_forms(secret) if len(secret) >= MIN_TOKEN_CHARS else ()
        keep = max((len(form) for form in forms), default=1) - 1
        # Its base64 written in lines, a break inside it (``without_wrapped_base64``): kept
        # back as long as it can span, so that it is searched whole with the next chunk.
        wrapped = base64_forms(secret) if forms else ()
        hold = max(keep, wrapped_base64_span(wrapped))
        carry = b""
        sent = 0
        try:
            recode = _to_utf8(raw.charset)
        except LookupError:
            raise UnusableAnswer(
                self._says("labelled its answer with a charset the gateway does not know"),
                provider=self.provider,
            ) from None
        try:
            async for chunk in raw.content.iter_chunked(_STREAM_CHUNK_BYTES):
                data = carry + (chunk if recode is None else recode(chunk))
                for form in forms:  # longest first
                    data = data.replace(form, b"[redacted]")
                if forms:  # ``hold`` covers the plain forms' ``keep`` too
                    data = without_wrapped_base64(data, wrapped)
                    cut = held_for_wrapped_base64(data, hold)
                else:
                    cut = len(data)
                carry = data[cut:]
                if cut:
                    sent += cut
                    yield data[:cut]
            if recode is not None:  # a character cut short at the end is an error too
                carry += recode(b"", final=True)
                for form in forms:
                    carry = carry.replace(form, b"[redacted]")
                if forms:
                    carry = without_wrapped_base64(carry, wrapped)
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
        if carry:
            yield carry

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
        url = self._url(path, params)
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
                # Never connected: nothing was sent, so even a POST may go again.
                answered, why = False, _unreached(exc)
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
                answered, why = False, _failed(exc)
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
            if status in (401, 403):
                raise UpstreamAuthFailed(
                    self._says(f"rejected the gateway's credentials ({status})"),
                    provider=self.provider,
                    status=status,
                )
            if status == 429:
                last = UpstreamUnavailable(
                    self._says("is rate-limiting the gateway"),
                    provider=self.provider,
                    status=429,
                    retry_after=_retry_after(answer.headers),
                )
                continue
            if status >= 500:
                if not idempotent:
                    # 504: the provider's own gateway stopped waiting, not the provider.
                    raise self._uncertain(
                        f"failed with {status}", status=status, unanswered=status == 504
                    )
                last = UpstreamError(
                    self._says(f"failed with {status}"),
                    provider=self.provider,
                    status=status,
                    retry_after=_retry_after(answer.headers),
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
        # handed on as it arrives holds its connection past this call: it waits in aiohttp.
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
                    return self._without_credential(in_utf8(answer))
        finally:
            if outcome is not None:
                self._observe(started, outcome)

    def _observe(self, started: float, outcome: str) -> None:
        if self._observer is not None:
            elapsed = time.perf_counter() - started
            self._observer(self.connection.name, self.provider, elapsed, outcome)

    def _url(self, path: str, params: Mapping[str, Any] | None) -> URL:
        """The base URL and ``path`` as they are: encoded=True, so that yarl neither decodes
        ``%2e`` nor removes dot segments. A dot segment is refused here too, whatever builds
        the path."""
        if not path.startswith("/") or any(ch in path for ch in "?#"):
            raise ValueError(f"a provider path starts with / and has no query: {path!r}")
        for part in path.split("/"):
            if _dot_segment(part):
                raise BadIdentifier(
                    f"{self.provider} paths carry no dot segments: {part!r} was refused",
                    provider=self.provider,
                )
        url = URL(self._base + quote(path, safe=_PATH_SAFE), encoded=True)
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
        return url.extend_query(query) if query else url

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

    def _without_credential(self, answer: RawAnswer) -> RawAnswer:
        """The answer with the connection's credential blanked out wherever the provider
        repeated it (an error that echoes the request's headers): nothing read from it, an
        error's detail, ``remote_data`` or a stored answer, can carry it on."""
        secret = self.connection.auth.secret()
        if len(secret) < MIN_TOKEN_CHARS:
            # Too short to tell from ordinary text: check-config refuses one; a configuration
            # built in code may still hold one.
            return answer
        content = answer.content
        for form in secret_forms(secret):
            content = content.replace(form, b"[redacted]")
        content = without_wrapped_base64(content, base64_forms(secret))
        changed = self._labels_without_credential(
            answer.headers, answer.content_type, answer.charset
        )
        if content != answer.content:
            changed["content"] = content
        return dataclasses.replace(answer, **changed) if changed else answer

    def _labels_without_credential(
        self, headers: CIMultiDictProxy[str], content_type: str, charset: str | None
    ) -> dict[str, Any]:
        """An answer's headers, media type and charset with the credential blanked out where
        the provider echoed it in one (a header the adapters read, or a label an error quotes:
        "labelled …", "it is not … text"), as ``RawAnswer``'s fields; empty where none holds
        it."""
        secret = self.connection.auth.secret()
        if len(secret) < MIN_TOKEN_CHARS:
            return {}
        forms = secret_text_forms(secret)

        def blanked(value: str) -> str:
            for form in forms:
                value = value.replace(form, "[redacted]")
            return value

        labels = "\n".join([*headers.values(), content_type, charset or ""])
        if not any(form in labels for form in forms):
            return {}
        cleaned: CIMultiDict[str] = CIMultiDict()
        for name, value in headers.items():
            cleaned.add(name, blanked(value))
        return {
            "headers": CIMultiDictProxy(cleaned),
            "content_type": blanked(content_type),
            "charset": None if charset is None else blanked(charset),
        }

    def _decoded_without_credential(
        self, answer: RawAnswer, response: UpstreamResponse
    ) -> UpstreamResponse:
        """JSON escapes hide the credential from the blanking of the raw bytes and give it
        back once decoded (``\\u002B`` for ``+``, as .NET's encoder writes it, or every
        character escaped): where a string written with escapes holds it once decoded, each
        decoded string is blanked too. Other answers (all but a hostile one) are not walked:
        a list of 25 invoices naming a "Rheinm\\u00f6bel GmbH" cost 1.5 ms walked."""
        secret = self.connection.auth.secret()
        if len(secret) < MIN_TOKEN_CHARS or response.body is None or b"\\" not in answer.content:
            return response
        if not escapes_hide(response.text, secret):
            return response
        body = without_text(response.body, secret, "[redacted]")
        return response if body is response.body else dataclasses.replace(response, body=body)

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


def _to_utf8(charset: str | None) -> Callable[..., bytes] | None:
    """For a stream labelled with a charset other than UTF-8: a function that turns each chunk
    into UTF-8 (an incremental decoder: a character may span two chunks), so that the
    credential is blanked in the form it is looked for, and the text is handed on as the
    UTF-8 it is labelled with. ``UnicodeDecodeError`` for bytes that are not that charset."""
    if charset is None or is_utf8(charset):
        return None
    # LookupError for an unknown charset, and for a codec that is no text encoding (hex,
    # base64, zlib, rot13), which str.encode refuses where the incremental decoder would not.
    "".encode(charset)
    decoder = codecs.getincrementaldecoder(charset)()

    def recode(chunk: bytes, final: bool = False) -> bytes:
        return decoder.decode(chunk, final).encode("utf-8", "surrogatepass")

    return recode


def _unreached(exc: aiohttp.ClientConnectorError) -> str:
    """Why no connection was made, in words of its kind only: the driver's own message names
    the host and port, an address the caller is never shown. A name that does not resolve, a
    refusal and a TLS failure are each fixed in another place (the URL, the service, the
    scheme or the certificates), so they are told apart."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "could not be reached: its host name did not resolve"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "could not be reached: its TLS certificate was not accepted"
    if isinstance(exc, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError):
        return "could not be reached: the TLS handshake failed (does it speak https there?)"
    if exc.os_error.errno == errno.ECONNREFUSED:
        return "could not be reached: the connection was refused"
    return "could not be reached"


def _failed(exc: aiohttp.ClientError) -> str:
    """What went wrong once the request was sent, as the caller's message says it: an answer
    that is not HTTP (another service on the provider's port) is not a dropped connection."""
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "broke off its answer before the end"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "answered with something that is not HTTP"
    return "dropped the connection"


def _dot_segment(part: str) -> bool:
    for _ in range(_MAX_DECODINGS):
        if part in (".", ".."):
            return True
        decoded = unquote(part)
        if decoded == part:
            return False
        part = decoded
    return True  # encoded over and over: not a segment anyone means


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _retry_after(headers: CIMultiDictProxy[str]) -> float | None:
    """``Retry-After`` in seconds, given as seconds or as an HTTP date; None when absent or
    unreadable."""
    value = headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), _MAX_RETRY_AFTER_S)
