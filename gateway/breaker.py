"""A circuit breaker for one connection: stop calling a provider that keeps failing.

    closed ──(``failures`` failures in a row)──▶ open ──(``open_s`` later)──▶ half-open
      ▲                                           ▲                             │
      └────────────(the probe succeeds)───────────┼─────────────────────────────┤
                                                  └────(the probe fails)────────┘

Every exchange with the provider counts, retries included: a connection error, a timeout or a
5xx is a failure; any other answer (a 4xx, a 429, a redirect) shows the provider is there and
ends the row. While open, calls are refused at once with ``UpstreamUnavailable`` and
``retry_after`` set to the seconds until the breaker half-opens. Half-open lets one probe
through (everyone else is still refused); its outcome closes or reopens the breaker.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable

from gateway.config import BreakerSettings
from gateway.errors import UpstreamUnavailable

# Refused callers while the one probe is out are told to come back this soon.
_PROBE_RETRY_AFTER_S = 1.0


class CircuitState(enum.Enum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"

    @property
    def code(self) -> int:
        """The value of ``gateway_upstream_circuit_state``: 0 closed, 1 half-open, 2 open."""
        return _CODES[self]


_CODES = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


class CircuitOpen(UpstreamUnavailable):
    """Refused by the breaker: no request was sent."""


class CircuitBreaker:
    def __init__(
        self,
        settings: BreakerSettings,
        *,
        connection: str,
        provider: str,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.connection = connection
        self.provider = provider
        self.clock = clock  # monotonic seconds; tests step a clock of their own
        self._failures = 0  # in a row
        self._opened_at: float | None = None  # set while open or half-open
        self._probing = False
        self.last_failure: str | None = None  # what the last failed exchange did, for refusals

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self.clock() - self._opened_at < self.settings.open_s:
            return CircuitState.OPEN
        return CircuitState.HALF_OPEN

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_after(self) -> float | None:
        """Seconds until the breaker half-opens, while it is open."""
        if self._opened_at is None:
            return None
        return max(0.0, self._opened_at + self.settings.open_s - self.clock())

    def admit(self) -> bool:
        """Let one exchange through, or raise ``CircuitOpen``; settle it with ``record``.

        True when it is the half-open breaker's one probe.
        """
        state = self.state
        if state is CircuitState.CLOSED:
            return False
        if state is CircuitState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        raise self.refusal()

    def refusal(self) -> CircuitOpen:
        """The error a refused call raises (also for a retry the open breaker stops)."""
        wait = self.retry_after() or 0.0
        if wait <= 0:  # half-open, the probe is out
            wait = _PROBE_RETRY_AFTER_S
        cause = f" (its last call {self.last_failure})" if self.last_failure else ""
        return CircuitOpen(
            f"{self.provider} (connection {self.connection}) is failing{cause}: the circuit for "
            f"connection {self.connection} is open, so the gateway is not calling it for "
            f"{math.ceil(wait)} s",
            provider=self.provider,
            retry_after=wait,
        )

    def record(self, ok: bool | None, *, probe: bool, why: str | None = None) -> None:
        """The outcome of an admitted exchange: True answered, False failed (``why``: what it
        did, e.g. "could not be reached", said by every refusal until a call answers), None
        abandoned (cancelled before any outcome: the probe's turn is given back, nothing is
        counted)."""
        if probe:
            self._probing = False
        if ok is None:
            return
        if ok:
            self._failures = 0
            self._opened_at = None
            self.last_failure = None
            return
        self._failures += 1
        if why:
            self.last_failure = why
        if probe or (self._opened_at is None and self._failures >= self.settings.failures):
            self._opened_at = self.clock()
        # A late failure of a call let through before it opened leaves the open period alone.

    def describe(self) -> dict[str, object]:
        """For the connection's health: its state and, while open, when it half-opens."""
        wait = self.retry_after() if self.state is CircuitState.OPEN else None
        return {
            "state": self.state.value,
            "retry_after": math.ceil(wait) if wait is not None else None,
            "consecutive_failures": self._failures,
        }
