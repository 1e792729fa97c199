"""The gateway's Prometheus metrics, in a registry of their own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

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
        self.totals_differences = Counter(
            "gateway_totals_differences",
            "Invoices read whose provider totals differ from the recomputation",
            ["connection"],
            registry=self.registry,
        )

    def upstream_call(self, connection: str, provider: str, seconds: float, outcome: str) -> None:
        self.upstream_calls.labels(connection, provider, outcome).inc()
        self.upstream_latency.labels(connection).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
