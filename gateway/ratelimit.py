"""A token bucket: the rate limit of an API key, and of the gateway towards one provider."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
