"""API keys, their rate limits, and the throttle of failed authentications.

Keys are configured as SHA-256 hashes (or read from the environment and hashed at start), so
neither the configuration nor memory holds a key to compare against.

A gateway of one process keeps its buckets in memory. The workers of ``serve --workers N`` share
them through the store (``shared``, set once the store is open), so that a key's rate limit and an
address's failed authentications are counted once for the gateway, not once per worker (N
times the limit). A failure is still counted here first: an address this process already
refuses costs the store nothing, and one the store refuses is held here for the wait it was
told.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gateway.config import AuthFailures, Client, RateLimit
from gateway.ratelimit import FailureThrottle, SharedTokens, TokenBucket, burst_of


@dataclass
class KeyRing:
    clients: dict[str, Client]  # SHA-256 hex of the key → client
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)
    # Failed authentications by client address (valid keys never go through it).
    failures: FailureThrottle = field(default_factory=lambda: _throttle(AuthFailures()))
    # The buckets kept in the store, shared by the workers of one gateway; None: this process's.
    shared: SharedTokens | None = None

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
            digest = client_digest(client.key_sha256, client.key_env, environ)
            if digest is not None:
                by_hash[digest] = client
        return cls(by_hash, failures=_throttle(auth_failures or AuthFailures()))

    def identify(self, key: str) -> Client | None:
        try:
            return self.clients.get(key_digest(key))
        except UnicodeEncodeError:
            return None  # a surrogate no byte stands for: matches no key

    async def failed(self, address: str) -> float:
        """Count a failed authentication from ``address`` (``ratelimit.client_address``): 0
        while it is within its allowance, else the seconds it should wait."""
        now = self.clock()
        wait = self.failures.fail(address, now)
        if wait > 0 or self.shared is None:
            return wait
        per_minute = self.failures.per_minute
        wait = await self.shared.take(
            failures_bucket(address), per_minute / 60, float(per_minute), lambda: 0.0
        )
        if wait > 0:
            self.failures.hold(address, wait, now)
        return wait

    async def wait(self, client: Client) -> float:
        """Seconds before this client may call again (0: go ahead)."""
        limit: RateLimit | None = client.rate_limit
        if limit is None:
            return 0.0
        if self.shared is None:
            return self._wait_here(client, limit)
        return await self.shared.take(
            client_bucket(client.name),
            limit.per_second,
            burst_of(limit),
            lambda: self._wait_here(client, limit),
        )

    def _wait_here(self, client: Client, limit: RateLimit) -> float:
        now = self.clock()
        bucket = self._buckets.get(client.name)
        if bucket is None:
            bucket = self._buckets[client.name] = TokenBucket.of(limit, now)
        return bucket.take(now)


def client_bucket(name: str) -> str:
    """The store's bucket of client ``name``'s rate limit."""
    return f"client:{name}"


def failures_bucket(address: str) -> str:
    """The store's bucket of an address's failed authentications (``Store.reap`` deletes those
    idle for an hour: such a bucket is full again, as a new one is)."""
    return f"{FAILURES_BUCKET_PREFIX}{address}"


FAILURES_BUCKET_PREFIX = "auth-failures:"


def _throttle(limits: AuthFailures) -> FailureThrottle:
    return FailureThrottle(limits.per_minute, limits.max_addresses)


def client_digest(
    key_sha256: str | None, key_env: str | None, environ: Mapping[str, str]
) -> str | None:
    """A client's key as the keyring holds it: the digest configured, else the key its
    variable holds, digested; None for a client with neither (check-config says so)."""
    if key_sha256:
        return key_sha256
    key = environ.get(key_env) if key_env else None
    return key_digest(key) if key else None


def key_digest(key: str) -> str:
    """The SHA-256 (hex) an API key is known by (``key_sha256``), of its bytes as sent: a byte
    that is not UTF-8 (aiohttp and ``os.environ`` keep it as a surrogate escape) is that byte,
    and matches no key written as text, so it fails as any wrong key does. ``UnicodeEncodeError``
    for a surrogate no byte stands for."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
