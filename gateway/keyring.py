"""API keys and their rate limits.

Keys are configured as SHA-256 hashes (or read from the environment and hashed at start), so
neither the configuration nor memory holds a key to compare against.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gateway.config import Client, RateLimit


@dataclass
class _Bucket:
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


@dataclass
class KeyRing:
    clients: dict[str, Client]  # SHA-256 hex of the key → client
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    @classmethod
    def from_clients(
        cls, clients: list[Client], environ: Mapping[str, str] | None = None
    ) -> KeyRing:
        environ = os.environ if environ is None else environ
        by_hash = {}
        for client in clients:
            digest = client.key_sha256
            if digest is None and client.key_env:
                digest = hashlib.sha256(environ[client.key_env].encode()).hexdigest()
            if digest is not None:
                by_hash[digest] = client
        return cls(by_hash)

    def identify(self, key: str) -> Client | None:
        return self.clients.get(hashlib.sha256(key.encode()).hexdigest())

    def wait(self, client: Client) -> float:
        """Seconds before this client may call again (0: go ahead)."""
        limit: RateLimit | None = client.rate_limit
        if limit is None:
            return 0.0
        now = self.clock()
        bucket = self._buckets.get(client.name)
        if bucket is None:
            burst = float(limit.burst or max(1, math.ceil(limit.per_second)))
            bucket = self._buckets[client.name] = _Bucket(limit.per_second, burst, burst, now)
        return bucket.take(now)
