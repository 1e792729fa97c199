"""API keys, their rate limits, and the throttle of failed authentications.

Keys are configured as SHA-256 hashes (or read from the environment and hashed at start), so
neither the configuration nor memory holds a key to compare against.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gateway.config import AuthFailures, Client, RateLimit
from gateway.ratelimit import FailureThrottle, TokenBucket


@dataclass
class KeyRing:
    clients: dict[str, Client]  # SHA-256 hex of the key → client
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)
    # Failed authentications by client address (valid keys never go through it).
    failures: FailureThrottle = field(default_factory=lambda: _throttle(AuthFailures()))

    @classmethod
    def from_clients(
        cls,
        clients: list[Client],
        environ: Mapping[str, str] | None = None,
        *,
        auth_failures: AuthFailures | None = None,
    ) -> KeyRing:
        environ = os.environ if environ is None else environ
        by_hash = {}
        for client in clients:
            digest = client.key_sha256
            if digest is None and client.key_env:
                digest = hashlib.sha256(environ[client.key_env].encode()).hexdigest()
            if digest is not None:
                by_hash[digest] = client
        return cls(by_hash, failures=_throttle(auth_failures or AuthFailures()))

    def identify(self, key: str) -> Client | None:
        return self.clients.get(hashlib.sha256(key.encode()).hexdigest())

    def failed(self, address: str) -> float:
        """Count a failed authentication from ``address`` (``ratelimit.client_address``): 0
        while it is within its allowance, else the seconds it should wait."""
        return self.failures.fail(address, self.clock())

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


def _throttle(limits: AuthFailures) -> FailureThrottle:
    return FailureThrottle(limits.per_minute, limits.max_addresses)
