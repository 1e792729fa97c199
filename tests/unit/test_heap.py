"""``heap.settle``: what ``serve`` does to the collector once its app has started."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from gateway import heap
from gateway.workers import serving_app
from tests.security.support import client, settings


@pytest.fixture
def collector_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("collector_restored")
def test_settle_freezes_what_was_built_and_spaces_young_collections() -> None:
    kept = [object() for _ in range(10)]  # a live container made before settling
    gc.unfreeze()
    assert any(o is kept for o in gc.get_objects())  # walked by every full collection
    heap.settle()
    assert gc.get_threshold() == (heap.YOUNG_EVERY, heap.OLDER_EVERY, heap.OLDER_EVERY)
    assert gc.get_freeze_count() > 0
    assert not any(o is kept for o in gc.get_objects())  # frozen: out of the collector's walk


@pytest.mark.usefixtures("collector_restored")
def test_a_cycle_made_after_settling_is_still_collected() -> None:
    heap.settle()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2


@pytest.mark.usefixtures("collector_restored")
async def test_a_serving_process_settles_once_its_app_has_started(aiohttp_client: Any) -> None:
    gc.set_threshold(700, 10, 10)
    gateway = await aiohttp_client(serving_app(settings([], [client("heap", "k-heap")]), None))
    assert gc.get_threshold() == (heap.YOUNG_EVERY, heap.OLDER_EVERY, heap.OLDER_EVERY)
    assert gc.get_freeze_count() > 0
    async with gateway.get("/healthz") as response:
        assert response.status == 200  # it serves as create_app's app does
