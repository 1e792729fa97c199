"""The circuit breaker on its own, on an injected clock: closed, open, half-open."""

from __future__ import annotations

import pytest

from gateway.breaker import CircuitBreaker, CircuitOpen, CircuitState
from gateway.config import BreakerSettings
from gateway.errors import UpstreamUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, failures: int = 3, open_s: float = 30) -> CircuitBreaker:
    settings = BreakerSettings(failures=failures, open_s=open_s)
    return CircuitBreaker(settings, connection="crm", provider="crm_v1", clock=clock)


def fail(b: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        probe = b.admit()
        b.record(False, probe=probe)


def test_opens_after_failures_in_a_row_and_refuses_with_the_time_left() -> None:
    clock = Clock()
    b = breaker(clock)
    fail(b, 2)
    assert b.state is CircuitState.CLOSED
    fail(b)
    assert b.state is CircuitState.OPEN
    clock.now += 12
    with pytest.raises(CircuitOpen) as info:
        b.admit()
    assert isinstance(info.value, UpstreamUnavailable)
    assert info.value.retry_after == pytest.approx(18)
    assert "circuit for connection crm is open" in info.value.message
    assert b.describe() == {"state": "open", "retry_after": 18, "consecutive_failures": 3}


def test_an_answer_ends_the_row() -> None:
    clock = Clock()
    b = breaker(clock)
    fail(b, 2)
    b.record(True, probe=b.admit())  # a 4xx, a 429: the provider is there
    fail(b, 2)
    assert b.state is CircuitState.CLOSED
    assert b.consecutive_failures == 2


def test_half_open_lets_one_probe_through_and_its_success_closes() -> None:
    clock = Clock()
    b = breaker(clock)
    fail(b, 3)
    clock.now += 30
    assert b.state is CircuitState.HALF_OPEN
    assert b.state.code == 1
    assert b.admit() is True  # the probe
    with pytest.raises(CircuitOpen) as info:
        b.admit()  # everyone else, while the probe is out
    assert info.value.retry_after == 1.0
    b.record(True, probe=True)
    assert b.state is CircuitState.CLOSED
    assert b.admit() is False and b.admit() is False
    assert b.describe() == {"state": "closed", "retry_after": None, "consecutive_failures": 0}


def test_a_failed_probe_reopens_for_the_whole_period() -> None:
    clock = Clock()
    b = breaker(clock)
    fail(b, 3)
    clock.now += 31
    probe = b.admit()
    assert probe is True
    b.record(False, probe=probe)
    assert b.state is CircuitState.OPEN
    assert b.retry_after() == pytest.approx(30)
    clock.now += 29.5
    assert b.state is CircuitState.OPEN
    clock.now += 0.5
    assert b.state is CircuitState.HALF_OPEN


def test_an_abandoned_probe_gives_its_turn_back() -> None:
    clock = Clock()
    b = breaker(clock)
    fail(b, 3)
    clock.now += 30
    b.record(None, probe=b.admit())  # cancelled before any answer
    assert b.state is CircuitState.HALF_OPEN
    assert b.admit() is True


def test_late_failures_of_calls_let_through_earlier_do_not_extend_the_open_period() -> None:
    clock = Clock()
    b = breaker(clock, failures=2)
    early = [b.admit() for _ in range(4)]  # four calls in flight while closed
    for probe in early[:2]:
        b.record(False, probe=probe)
    opened = b.retry_after()
    clock.now += 10
    for probe in early[2:]:
        b.record(False, probe=probe)
    assert b.retry_after() == pytest.approx((opened or 0) - 10)
    assert b.state.code == 2


def test_a_refusal_says_what_the_last_failed_call_did_until_a_call_answers() -> None:
    clock = Clock()
    b = breaker(clock, failures=2)
    b.record(False, probe=b.admit(), why="failed with 503")
    b.record(False, probe=b.admit(), why="did not answer in time")
    with pytest.raises(CircuitOpen) as info:
        b.admit()
    assert "is failing (its last call did not answer in time): the circuit" in info.value.message
    clock.now += 30
    b.record(True, probe=b.admit())  # the probe answered: closed, the cause forgotten
    fail(b, 2)  # failures that say nothing of themselves
    with pytest.raises(CircuitOpen) as info:
        b.admit()
    assert "crm_v1 (connection crm) is failing: the circuit" in info.value.message
