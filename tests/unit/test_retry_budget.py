"""The retry budget on its own, on an injected clock: retries stay a share of first attempts."""

from __future__ import annotations

from gateway.config import RetryBudget
from gateway.retry_budget import RetryBudgetWindow


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def window(clock: Clock, **settings: float) -> RetryBudgetWindow:
    values = {"ratio": 0.2, "min_retries": 3, "window_s": 10.0, **settings}
    return RetryBudgetWindow(RetryBudget.model_validate(values), clock=clock)


def test_min_retries_are_allowed_on_a_quiet_connection() -> None:
    budget = window(Clock())
    budget.first_attempt()
    assert [budget.try_retry() for _ in range(5)] == [True, True, True, False, False]
    assert budget.counts() == (1, 3)


def test_beyond_min_retries_retries_are_ratio_of_first_attempts() -> None:
    budget = window(Clock())
    allowed = 0
    for _ in range(100):
        budget.first_attempt()
        allowed += sum(budget.try_retry() for _ in range(2))  # every call wants two retries
    assert allowed == 20  # 0.2 × 100
    assert budget.counts() == (100, 20)


def test_the_window_slides() -> None:
    clock = Clock()
    budget = window(clock, min_retries=0, ratio=0.5)
    for _ in range(4):
        budget.first_attempt()
    assert budget.try_retry() and budget.try_retry()
    assert not budget.try_retry()
    clock.now += 5
    assert not budget.try_retry()  # still inside the window
    budget.first_attempt()
    budget.first_attempt()
    assert budget.try_retry()  # 6 first attempts → 3 retries
    clock.now += 5.6  # the first four attempts and two retries have left the window
    assert budget.counts() == (2, 1)
    assert not budget.try_retry()  # 2 × 0.5 = 1, and one was used
    clock.now += 10
    assert budget.counts() == (0, 0)


def test_a_zero_budget_allows_no_retry() -> None:
    budget = window(Clock(), ratio=0, min_retries=0)
    budget.first_attempt()
    assert not budget.try_retry()
