"""Leases renewed while a write runs, and an invoice's write lock held in the store.

A write that checks ``If-Match``, or one whose lost answer is found by counting (a payment),
holds its invoice's lock from its check to its answer, in this process or any other on the
store (docs/decisions.md, "`If-Match` writes one at a time per invoice"). A key's lease and a
lock's are renewed the same way (``Lease``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.errors import InvoiceBusy
from gateway.service.write_request import Write
from gateway.store import Store, StoreError

# How long a write that checks If-Match waits for another write to the same invoice (one that
# checks it too) before it is told to send again later.
GUARD_WAIT_S = 60.0


class Lease:
    """A lease renewed every third of it while the write runs, so that only a dead owner's
    key (or lock) is taken over. Most writes end well within a third: they cost one timer, and
    a renewal task is made only when one is due."""

    def __init__(self, renew: Callable[[], Awaitable[bool]], *, every: float) -> None:
        self._renew_lease = renew  # False: the key was taken over
        self._every = every
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(every, self._due)
        self._renewing: asyncio.Task[None] | None = None

    def _due(self) -> None:
        self._timer = None
        self._renewing = self._loop.create_task(self._renew())

    async def _renew(self) -> None:
        with contextlib.suppress(Exception):
            if not await self._renew_lease():
                return  # taken over: the write's own end tells it
        self._timer = self._loop.call_later(self._every, self._due)

    async def end(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        task = self._renewing
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._timer is not None:  # set again by a renewal that ended meanwhile
            self._timer.cancel()


@dataclass(frozen=True)
class HeldLock:
    """An invoice's write lock held, and the lease that keeps it."""

    name: str
    owner: str
    lease: Lease


async def take_lock(
    store: Store, write: Write, owner: str, *, clock: Callable[[], float], lease_s: float
) -> HeldLock | None:
    """For a write that checks ``If-Match``: its invoice's lock in the store, held (its lease
    renewed) from the check to the answer (``let_go``), so that of two writes sent with the
    same ETag the second checks it after the first has changed the invoice (a 412), in this
    process or any other on the store. The same for a write whose lost answer is found by
    counting (a payment): no other runs on the invoice meanwhile, so one more payment alike is
    this write's (``Write.serialized``). None for other writes: they go as they are."""
    name = write.serialized
    if name is None:
        return None
    loop = asyncio.get_running_loop()
    deadline, pause = loop.time() + GUARD_WAIT_S, 0.01
    try:
        # A holder that died may have sent its write, which may still land until the
        # connection's settle time has passed: its lock is taken over only then.
        while not await store.take_lock(
            name, owner, now=clock(), lease_s=lease_s, grace_s=write.settle_s
        ):
            if loop.time() >= deadline:
                checked = (
                    " (its If-Match is then checked against its result)"
                    if write.guarded is not None
                    else ""
                )
                raise InvoiceBusy(
                    f"Another write to this {write.connection} invoice that checks If-Match, "
                    f"or records a payment, is still running after {GUARD_WAIT_S:.0f} s; "
                    f"send this one again once it is done{checked}"
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.25)
    except BaseException:
        # A take cancelled or failed may have landed: let go of it, should it have.
        with contextlib.suppress(Exception):
            await asyncio.shield(store.release_lock(name, owner))
        raise
    # Renewed, never taken again: a renewal landing after the lock was let go changes
    # nothing (a take would hold it again, for a write that has ended).
    lease = Lease(
        lambda: store.renew_lock(name, owner, now=clock(), lease_s=lease_s),
        every=lease_s / 3,
    )
    return HeldLock(name, owner, lease)


async def let_go(store: Store, held: HeldLock | None) -> None:
    if held is None:
        return
    await held.lease.end()
    with contextlib.suppress(StoreError):  # its lease runs out: the reaper's then
        await asyncio.shield(store.release_lock(held.name, held.owner))
