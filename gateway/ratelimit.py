"""Token buckets: the rate limit of an API key, of the gateway towards one provider, and of
failed authentications from one address; in this process, or kept in the store and shared by
every process that uses it (``SharedTokens``)."""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from gateway.config import RateLimit
from gateway.store.base import StoreError

if TYPE_CHECKING:
    from gateway.store import Store

_log = structlog.get_logger("gateway.ratelimit")
# How many times a provider call waits for its turn before it goes anyway (other processes
# taking every token first).
MAX_PACING_WAITS = 1000


@dataclass
class TokenBucket:
    """A token bucket: ``rate`` tokens a second, holding at most ``burst``."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """0 when a token was taken; otherwise the seconds until one is there."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    @classmethod
    def of(cls, limit: RateLimit, now: float) -> TokenBucket:
        burst = burst_of(limit)
        return cls(limit.per_second, burst, burst, now)


@dataclass
class FailureThrottle:
    """Failed authentications per client address: ``per_minute`` allowed (in bursts of as
    many), then a wait. Only failures are counted: a request that authenticates never takes a
    token and is never refused here.

    At most ``max_addresses`` buckets are kept, the least recently failing forgotten first (an
    address forgotten starts again with a full bucket, as one that had waited would), so many
    addresses cannot grow the table without limit.
    """

    per_minute: int
    max_addresses: int
    _buckets: OrderedDict[str, TokenBucket] = field(default_factory=OrderedDict)

    def fail(self, address: str, now: float) -> float:
        """Count a failure from ``address``: 0 while it is within its allowance, else the
        seconds until it is again (the failure is then not counted further)."""
        bucket = self._buckets.get(address)
        if bucket is None:
            burst = float(self.per_minute)
            bucket = self._buckets[address] = TokenBucket(self.per_minute / 60, burst, burst, now)
            while len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(address)
        return bucket.take(now)

    def hold(self, address: str, wait: float, now: float) -> None:
        """Refuse ``address`` here for ``wait`` seconds from ``now`` (what the shared bucket
        answered), so that its next failures meanwhile are refused without asking the store."""
        bucket = self._buckets.get(address)
        if bucket is not None:
            bucket.tokens = min(bucket.tokens, 1 - wait * bucket.rate)
            bucket.updated = now

    def __len__(self) -> int:
        return len(self._buckets)


def client_address(remote: str | None) -> str:
    """What the failure throttle counts by: an IPv4 address, or an IPv6 address's /64 (one
    site's hosts share a /64, so a site cannot multiply its allowance by its addresses)."""
    if not remote:
        return "unknown"
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return remote
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class SharedTokens:
    """Token buckets kept in the store, so that every process using it draws on one quota: the
    workers of one ``serve --workers N``, and a migration beside them.

    While the store cannot be reached, or does not answer within ``ANSWER_WITHIN_S``, each take
    falls back on a bucket of this process's own (``fallback``): the limit is then kept per
    process, loosely, rather than every call failing (or waiting) with the store. The store is
    asked again only every ``RETRY_EVERY_S`` meanwhile, so that an outage costs one wait, not
    one a call. It is logged when it begins and when it ends, not on every call.
    """

    ANSWER_WITHIN_S = 1.0
    RETRY_EVERY_S = 5.0

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._clock = clock  # wall time: every process must read the same clock
        self._monotonic = monotonic
        self._failing_until: float | None = None  # while set: the store is not asked

    async def take(
        self, name: str, rate: float, burst: float, fallback: Callable[[], float]
    ) -> float:
        """Take a token from the bucket ``name`` (0) or answer the seconds until one is there;
        ``fallback()`` answers instead while the store fails."""
        failing = self._failing_until
        if failing is not None and self._monotonic() < failing:
            return fallback()
        try:
            wait = await answer_within(
                self._store.take_token(name, rate, burst, now=self._clock()), self.ANSWER_WITHIN_S
            )
        except (StoreError, TimeoutError) as exc:
            if failing is None:
                error = str(exc) or f"no answer within {self.ANSWER_WITHIN_S:g} s"
                _log.warning("shared_rate_limits_unavailable", bucket=name, error=error)
            self._failing_until = self._monotonic() + self.RETRY_EVERY_S
            return fallback()
        if failing is not None:
            self._failing_until = None
            _log.info("shared_rate_limits_available", bucket=name)
        return wait


async def answer_within(call: Awaitable[float], seconds: float) -> float:
    """``call``'s answer, or TimeoutError after ``seconds``, without waiting for the call to
    finish being cancelled (``asyncio.wait_for`` does: a PostgreSQL statement's cancel waits on
    a server that does not answer, up to the statement timeout)."""
    task = asyncio.ensure_future(call)
    try:
        await asyncio.wait({task}, timeout=seconds)
    finally:
        given_up = not task.done()
        if given_up:  # timed out, or this waiter cancelled: the call is left to end on its own
            task.cancel()
            task.add_done_callback(_forget)
    if given_up:
        raise TimeoutError
    return task.result()


def _forget(task: asyncio.Future[float]) -> None:
    """Retrieve an abandoned call's end (its failure is the outage already told)."""
    if not task.cancelled():
        task.exception()


def burst_of(limit: RateLimit) -> float:
    """A limit's burst: as configured, else one second's worth (at least one token)."""
    return float(limit.burst or max(1, math.ceil(limit.per_second)))


def connection_bucket(name: str) -> str:
    """The store's bucket of a connection's ``rate_limit`` (the provider's quota)."""
    return f"connection:{name}"
