"""Store objects in operating-system processes of their own, for the races across processes.

Each process (``python -m tests.store.workers URL NAME``) opens the store, so processes started
together also migrate a new store at once, prints "ready", then follows orders: one JSON line
on stdin each, answered by one JSON line on stdout. ``Workers.each`` gives the same order to
every process at once (after all are ready) and gathers their answers, so a test can run a
race in waves: every process finishes one before any starts the next.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from gateway.store import KeyScope, Store, open_store

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 30.0


class Workers:
    def __init__(self, procs: list[asyncio.subprocess.Process]) -> None:
        self.procs = procs

    async def each(self, order: dict[str, Any]) -> list[Any]:
        """Every process's answer to ``order``, in process order."""
        line = json.dumps(order).encode() + b"\n"
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(line)
        await asyncio.gather(*(proc.stdin.drain() for proc in self.procs if proc.stdin))
        return list(await asyncio.gather(*(_answer(proc) for proc in self.procs)))


async def _answer(proc: asyncio.subprocess.Process) -> Any:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT_S)
    assert line, f"worker {proc.pid} ended without answering"
    return json.loads(line)


@asynccontextmanager
async def workers(url: str, count: int) -> AsyncIterator[Workers]:
    """``count`` processes named p0, p1, …, each with its store open on ``url``."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.store.workers",
            url,
            f"p{n}",
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for n in range(count)
    ]
    try:
        for proc in procs:
            assert await _answer(proc) == "ready"
        yield Workers(procs)
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
        codes = [await asyncio.wait_for(proc.wait(), TIMEOUT_S) for proc in procs]
        assert codes == [0] * count
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


# -- in the worker process -----------------------------------------------------------------------


async def _claim(store: Store, name: str, order: dict[str, Any]) -> list[list[Any]]:
    """``claims`` concurrent claims of one key: each one's result and the owner it saw."""
    scope = KeyScope(**order["scope"])
    results = await asyncio.gather(
        *(
            store.claim(
                scope,
                order["fingerprint"],
                f"{name}-{i}",
                now=order["now"],
                lease_s=order["lease_s"],
                ttl_s=order["ttl_s"],
            )
            for i in range(order["claims"])
        )
    )
    return [[type(r).__name__, r.record.owner] for r in results]


async def _chunks(store: Store, name: str, order: dict[str, Any]) -> list[list[Any]]:
    """``tasks`` concurrent workers, each claiming chunks of ``run`` and marking them done
    until none is free: [owner, seq, whether done succeeded] of every claim."""

    async def one_worker(owner: str) -> list[list[Any]]:
        got = []
        while chunk := await store.chunk_claim(
            order["run"], owner, now=order["now"], lease_s=order["lease_s"]
        ):
            got.append([owner, chunk.seq, await store.chunk_done(chunk.run, chunk.seq, owner)])
        return got

    done = await asyncio.gather(*(one_worker(f"{name}-{i}") for i in range(order["tasks"])))
    return [claim for claims in done for claim in claims]


async def _take(store: Store, order: dict[str, Any]) -> list[float]:
    """``takes`` concurrent takes from one bucket: their answers."""
    return list(
        await asyncio.gather(
            *(
                store.take_token(order["bucket"], order["rate"], order["burst"], now=order["now"])
                for _ in range(order["takes"])
            )
        )
    )


async def _main(url: str, name: str) -> None:
    store = open_store(url)
    await store.open()
    try:
        print(json.dumps("ready"), flush=True)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            order = json.loads(line)
            answer: Any
            if order["do"] == "claim":
                answer = await _claim(store, name, order)
            elif order["do"] == "chunks":
                answer = await _chunks(store, name, order)
            elif order["do"] == "take":
                answer = await _take(store, order)
            else:
                raise ValueError(f"unknown order {order!r}")
            print(json.dumps(answer), flush=True)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2]))
