"""``ArrivingBodies``: once the gateway stops, a body not arrived whole ends its wait at once,
whether its reading began before the stop or after it; one arrived whole is left to be read."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.http.arriving import ArrivingBodies


def request(*, whole: bool) -> Any:
    """What ``ArrivingBodies`` reads of a request: whether its body has arrived whole."""
    return SimpleNamespace(content=SimpleNamespace(is_eof=lambda: whole))


async def _wait(bodies: ArrivingBodies, *, whole: bool, stop_after: float | None) -> float:
    """Seconds a body's 30-second wait lasted (its reading given 0.3 s to finish)."""
    started = time.monotonic()
    async with asyncio.timeout(30) as deadline:
        with bodies.reading(request(whole=whole), deadline):
            if stop_after is not None:
                asyncio.get_running_loop().call_later(stop_after, bodies.stop)
            await asyncio.sleep(0.3)
    return time.monotonic() - started


async def test_a_stop_ends_the_wait_of_a_body_still_arriving() -> None:
    bodies = ArrivingBodies()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await _wait(bodies, whole=False, stop_after=0.05)
    assert time.monotonic() - started < 5  # not the 30 s deadline


async def test_a_body_whose_reading_begins_after_the_stop_ends_its_wait_at_once() -> None:
    bodies = ArrivingBodies()
    bodies.stop()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await _wait(bodies, whole=False, stop_after=None)
    assert time.monotonic() - started < 5  # not the 30 s deadline


async def test_a_body_arrived_whole_is_read_through_a_stop() -> None:
    bodies = ArrivingBodies()
    assert await _wait(bodies, whole=True, stop_after=0.05) >= 0.3
    bodies.stop()
    assert await _wait(bodies, whole=True, stop_after=None) >= 0.3
