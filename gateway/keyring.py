"""API keys and their rate limits.

Keys are configured as SHA-256 hashes (or read from the environment and hashed at start), so
neither the configuration nor memory holds a key to compare against.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gateway.config import Client, RateLimit
from gateway.ratelimit import TokenBucket


@dataclass
class KeyRing:
    clients: dict[str, Client]  # SHA-256 hex of the key → client
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

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
            bucket = self._buckets[client.name] = TokenBucket.of(limit, now)
        return bucket.take(now)
