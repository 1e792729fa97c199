"""The gateway's Prometheus metrics, in a registry of their own (one per app).

A single process keeps its values in memory and reports them. The workers of ``serve --workers``
share them instead (``share_between_processes``, prometheus_client's multiprocess mode): each
writes its values to files of its own in its supervisor's directory, and a scrape, whichever
worker takes it, reports the counters and histograms summed over every worker of that
supervisor, the dead ones' included, so a total never goes down when a worker is replaced. The
two gauges read from a worker's own state (its breakers, its throttle table) carry a ``pid``
label, one series a live worker; each worker writes them every ``_GAUGES_EVERY_S``, and the
scraping worker its own once more as it answers.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

# A series' connection label (connection names are plain: no quote or backslash to escape).
_CONNECTION_LABEL = re.compile(rb'[{,]connection="([^"\\]*)"')
# Label sets whose children are kept at hand (far more than routes × methods × statuses).
_CACHED_CHILDREN = 4096
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# How often a worker writes the gauges it reads from its own state, for the other workers'
# scrapes (its breakers half-open with time, not on any call).
_GAUGES_EVERY_S = 1.0

# Where this process's metrics write their values, in a ``serve --workers`` worker; None: in
# memory. Process-wide, as prometheus_client's choice of value class is.
_shared_directory: str | None = None


def share_between_processes(directory: str) -> None:
    """Make the metrics built from now on in this process (a worker, just forked) write their
    values to files in ``directory`` and report what every process writes there.

    prometheus_client picks its value class when it is imported, from
    ``PROMETHEUS_MULTIPROC_DIR``, and the files' place from that variable when a value is
    made: the variable is set here, and the library's own choice made again."""
    global _shared_directory
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    _shared_directory = directory


def _in_memory() -> None:
    """Values in this process's memory, whatever ``PROMETHEUS_MULTIPROC_DIR`` the environment
    holds: one left set by another deployment (gunicorn's, say) made a single gateway write
    its metrics into that folder and leave the files behind, or stop at start with a traceback
    when the folder did not exist. ``serve --workers`` makes and names the folder itself."""
    if os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None) is not None:
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


class Metrics:
    """The gateway's metrics, in a registry of their own (one per app); in a worker, a registry
    that reports the files of every worker of its supervisor."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.shared = _shared_directory
        if self.shared is None:
            _in_memory()
        # Shared, the registry reports the files, and the metrics themselves are in none
        # (the files hold this process's values too).
        registry: CollectorRegistry | None = self.registry
        if self.shared is not None:
            MultiProcessCollector(self.registry, path=self.shared)  # type: ignore[no-untyped-call]
            registry = None
        self.requests = Counter(
            "gateway_requests",
            "Requests served",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "gateway_request_seconds",
            "Request latency",
            ["route", "method", "status"],
            buckets=_SECONDS,
            registry=registry,
        )
        self.upstream_calls = Counter(
            "gateway_upstream_calls",
            "Provider calls",
            ["connection", "provider", "outcome"],
            registry=registry,
        )
        self.upstream_latency = Histogram(
            "gateway_upstream_seconds",
            "Provider call latency",
            ["connection"],
            buckets=_SECONDS,
            registry=registry,
        )
        self.upstream_retries = Counter(
            "gateway_upstream_retries",
            "Provider calls retried",
            ["connection"],
            registry=registry,
        )
        self.upstream_circuit_state = Gauge(
            "gateway_upstream_circuit_state",
            "The connection's circuit breaker: 0 closed, 1 half-open, 2 open",
            ["connection"],
            registry=registry,
            multiprocess_mode="liveall",
        )
        self.totals_differences = Counter(
            "gateway_totals_differences",
            "Invoices read whose provider totals differ from the recomputation",
            ["connection"],
            registry=registry,
        )

        self.writes = Counter(
            "gateway_writes",
            "What happened to keyed and resolved writes: replayed, resolved_done, "
            "resolved_not_done, resolved_unknown",
            ["connection", "event"],
            registry=registry,
        )

        self.auth_failures = Counter(
            "gateway_auth_failures",
            "Requests that did not authenticate (reason: missing or invalid key); throttled: "
            "the address was over server.auth_failures (answered 429 rather than 401)",
            ["reason", "throttled"],
            registry=registry,
        )
        self.auth_failure_addresses = Gauge(
            "gateway_auth_failure_addresses",
            "Client addresses the failed-authentication throttle remembers (at most "
            "server.auth_failures.max_addresses)",
            registry=registry,
            multiprocess_mode="liveall",
        )

        # Children looked up once per label set: ``labels()`` takes a lock and builds its key on
        # every call, twice per request and twice per provider call.
        self._served: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._called: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._retried: dict[str, Any] = {}
        # Shared: the gauges read from this process's state, and how to read them.
        self._watched: list[tuple[Gauge, Callable[[], float]]] = []

    def request_served(self, route: str, method: str, status: int, seconds: float) -> None:
        count, latency = _children(
            self._served,
            (route, method, status),
            lambda: (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method, str(status)),
            ),
        )
        count.inc()
        latency.observe(seconds)

    def auth_failure(self, reason: str, *, throttled: bool) -> None:
        self.auth_failures.labels(reason, "true" if throttled else "false").inc()

    def watch_auth_failures(self, addresses: Callable[[], float]) -> None:
        self._watch(self.auth_failure_addresses, addresses)

    def write_event(self, connection: str, event: str) -> None:
        self.writes.labels(connection, event).inc()

    def watch_circuit(self, connection: str, state: Callable[[], float]) -> None:
        """Read the connection's breaker state (0, 1, 2) whenever the metrics are scraped."""
        self._watch(self.upstream_circuit_state.labels(connection), state)

    def _watch(self, gauge: Gauge, read: Callable[[], float]) -> None:
        """``gauge`` read when scraped; shared, a value written (a scrape reads files only)."""
        if self.shared is None:
            gauge.set_function(read)
            return
        self._watched.append((gauge, read))
        gauge.set(read())

    def write_gauges(self) -> None:
        """Shared: write the watched gauges' values now."""
        for gauge, read in self._watched:
            gauge.set(read())

    async def keep_gauges_written(self) -> None:
        """Shared: write the watched gauges every ``_GAUGES_EVERY_S``, for the scrapes that
        other workers answer."""
        while True:
            await asyncio.sleep(_GAUGES_EVERY_S)
            self.write_gauges()

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

    def upstream_retry(self, connection: str) -> None:
        retries = self._retried.get(connection)
        if retries is None:
            retries = self._retried[connection] = self.upstream_retries.labels(connection)
        retries.inc()

    def render(self, shown: Callable[[str], bool] | None = None) -> bytes:
        """The exposition; ``shown``: the connections whose series it holds (None: all), so that
        a key limited to some connections is not told of the others (their names, their calls)."""
        self.write_gauges()
        text = generate_latest(self.registry)
        if shown is None:
            return text
        return b"".join(
            line
            for line in text.splitlines(keepends=True)
            if (named := _CONNECTION_LABEL.search(line)) is None or shown(named.group(1).decode())
        )


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
