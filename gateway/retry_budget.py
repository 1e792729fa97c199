"""A retry budget for one connection, in the manner of Envoy's: retries are a share of the load.

Per-request retries alone multiply the load on a provider that fails every call by
``max_attempts``, just when it can least take it. The budget allows a retry only while the
retries sent over the last ``window_s`` stay within ``ratio`` × the first attempts sent in the
same window, or ``min_retries``, whichever is larger (so a quiet connection can still retry).
A provider that fails everything then sees about ``1 + ratio`` times its load.

The window slides in ``_BUCKETS`` steps: counts live in a fixed ring of buckets, so memory does
not grow with the request rate.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.config import RetryBudget

_BUCKETS = 20


class RetryBudgetWindow:
    def __init__(self, settings: RetryBudget, *, clock: Callable[[], float]) -> None:
        self.settings = settings
        self._clock = clock
        self._width = settings.window_s / _BUCKETS
        self._ticks = [-1] * _BUCKETS  # which step of time each bucket counts
        self._firsts = [0] * _BUCKETS
        self._retries = [0] * _BUCKETS

    def first_attempt(self) -> None:
        """Count a request's first attempt (it is never refused)."""
        self._firsts[self._bucket()] += 1

    def try_retry(self) -> bool:
        """Count a retry and return True when the budget allows it; False (nothing counted)
        when it does not."""
        firsts, retries = self.counts()
        if retries + 1 > max(self.settings.min_retries, self.settings.ratio * firsts):
            return False
        self._retries[self._bucket()] += 1
        return True

    def counts(self) -> tuple[int, int]:
        """First attempts and retries within the window."""
        tick = self._tick()
        live = [i for i in range(_BUCKETS) if tick - self._ticks[i] < _BUCKETS]
        return sum(self._firsts[i] for i in live), sum(self._retries[i] for i in live)

    def _tick(self) -> int:
        return int(self._clock() // self._width)

    def _bucket(self) -> int:
        tick = self._tick()
        i = tick % _BUCKETS
        if self._ticks[i] != tick:
            self._ticks[i], self._firsts[i], self._retries[i] = tick, 0, 0
        return i
