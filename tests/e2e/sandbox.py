"""The whole sandbox (five emulators and the gateway) in a thread, shared by a test module."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any, TypeVar

from gateway.sandbox.serve import Sandbox, running_sandbox

T = TypeVar("T")


@contextmanager
def sandbox_in_thread(**options: Any) -> Iterator[Sandbox]:
    with running_in_thread(lambda: running_sandbox("127.0.0.1", 0, **options)) as sandbox:
        yield sandbox


@contextmanager
def running_in_thread(
    running: Callable[[], AbstractAsyncContextManager[T]], *, within_s: float = 30
) -> Iterator[T]:
    """What ``running()`` yields, its event loop in a thread of its own until the block ends."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop: asyncio.Event | None = None
    box: dict[str, Any] = {}

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        try:
            async with running() as value:
                box["value"] = value
                started.set()
                await stop.wait()
        except BaseException as exc:  # reported to the test, not lost in the thread
            box["error"] = exc
            started.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not started.wait(within_s):
        raise RuntimeError(f"it did not start within {within_s:g} s")
    if "error" in box:
        raise box["error"]
    try:
        yield box["value"]
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(20)
        loop.close()
