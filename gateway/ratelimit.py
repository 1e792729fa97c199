"""A token bucket: the rate limit of an API key, and of the gateway towards one provider."""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.config import RateLimit

if TYPE_CHECKING:
    from gateway.store import Store

Pacer = Callable[[], Awaitable[None]]
_MAX_WAITS = 1000


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
        burst = float(limit.burst or max(1, math.ceil(limit.per_second)))
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


def shared_pacer(store: Store, name: str, limit: RateLimit) -> Pacer:
    """Pace calls by a token bucket kept in the store: every process pacing by ``name`` shares
    one quota (several migration workers never exceed a provider's rate limit together)."""
    burst = float(limit.burst or max(1, math.ceil(limit.per_second)))

    async def pace() -> None:
        for _ in range(_MAX_WAITS):
            wait = await store.take_token(name, limit.per_second, burst, now=time.time())
            if wait <= 0:
                return
            await asyncio.sleep(wait)
        # Other processes keep taking every token first: go rather than wait for ever.

    return pace
