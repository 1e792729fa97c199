"""The gateway's Prometheus metrics, in a registry of their own (one per app)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Label sets whose children are kept at hand (far more than routes × methods × statuses).
_CACHED_CHILDREN = 4096
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """The gateway's metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_requests",
            "Requests served",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gateway_request_seconds",
            "Request latency",
            ["route", "method"],
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.upstream_calls = Counter(
            "gateway_upstream_calls",
            "Provider calls",
            ["connection", "provider", "outcome"],
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "gateway_upstream_seconds",
            "Provider call latency",
            ["connection"],
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.upstream_retries = Counter(
            "gateway_upstream_retries",
            "Provider calls retried",
            ["connection"],
            registry=self.registry,
        )
        self.upstream_circuit_state = Gauge(
            "gateway_upstream_circuit_state",
            "The connection's circuit breaker: 0 closed, 1 half-open, 2 open",
            ["connection"],
            registry=self.registry,
        )
        self.totals_differences = Counter(
            "gateway_totals_differences",
            "Invoices read whose provider totals differ from the recomputation",
            ["connection"],
            registry=self.registry,
        )

        self.writes = Counter(
            "gateway_writes",
            "What happened to keyed and resolved writes: replayed, resolved_done, "
            "resolved_not_done, resolved_unknown",
            ["connection", "event"],
            registry=self.registry,
        )

        self.auth_failures = Counter(
            "gateway_auth_failures",
            "Requests that did not authenticate (reason: missing or invalid key); throttled: "
            "the address was over server.auth_failures (answered 429 rather than 401)",
            ["reason", "throttled"],
            registry=self.registry,
        )
        self.auth_failure_addresses = Gauge(
            "gateway_auth_failure_addresses",
            "Client addresses the failed-authentication throttle remembers (at most "
            "server.auth_failures.max_addresses)",
            registry=self.registry,
        )

        # Children looked up once per label set: ``labels()`` takes a lock and builds its key on
        # every call, twice per request and twice per provider call.
        self._served: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._called: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def request_served(self, route: str, method: str, status: int, seconds: float) -> None:
        count, latency = _children(
            self._served,
            (route, method, status),
            lambda: (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            ),
        )
        count.inc()
        latency.observe(seconds)

    def auth_failure(self, reason: str, *, throttled: bool) -> None:
        self.auth_failures.labels(reason, "true" if throttled else "false").inc()

    def watch_auth_failures(self, addresses: Callable[[], float]) -> None:
        self.auth_failure_addresses.set_function(addresses)

    def write_event(self, connection: str, event: str) -> None:
        self.writes.labels(connection, event).inc()

    def watch_circuit(self, connection: str, state: Callable[[], float]) -> None:
        """Read the connection's breaker state (0, 1, 2) whenever the metrics are scraped."""
        self.upstream_circuit_state.labels(connection).set_function(state)

    def upstream_call(self, connection: str, provider: str, seconds: float, outcome: str) -> None:
        count, latency = _children(
            self._called,
            (connection, provider, outcome),
            lambda: (
                self.upstream_calls.labels(connection, provider, outcome),
                self.upstream_latency.labels(connection),
            ),
        )
        count.inc()
        latency.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _children(
    kept: dict[Any, tuple[Any, Any]], key: Any, make: Callable[[], tuple[Any, Any]]
) -> tuple[Any, Any]:
    """The children for ``key``, made once (at most ``_CACHED_CHILDREN`` label sets kept)."""
    children = kept.get(key)
    if children is None:
        children = make()
        if len(kept) < _CACHED_CHILDREN:
            kept[key] = children
    return children
