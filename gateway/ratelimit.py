"""A token bucket: the rate limit of an API key, and of the gateway towards one provider."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.config import RateLimit


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
