"""The whole sandbox (five emulators and the gateway) in a thread, shared by a test module."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gateway.sandbox.serve import Sandbox, running_sandbox


@contextmanager
def sandbox_in_thread(**options: Any) -> Iterator[Sandbox]:
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop: asyncio.Event | None = None
    box: dict[str, Any] = {}

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        try:
            async with running_sandbox("127.0.0.1", 0, **options) as sandbox:
                box["sandbox"] = sandbox
                started.set()
                await stop.wait()
        except BaseException as exc:  # reported to the test, not lost in the thread
            box["error"] = exc
            started.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not started.wait(20):
        raise RuntimeError("the sandbox did not start within 20 s")
    if "error" in box:
        raise box["error"]
    try:
        yield box["sandbox"]
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(20)
        loop.close()
