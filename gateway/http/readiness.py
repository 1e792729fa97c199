"""``/readyz``'s question to the store, asked once however many ask it at once.

Anyone may ask ``/readyz`` (a load balancer has no key), so a flood of it was a flood of store
statements at once: on PostgreSQL each held one of the pool's connections, and the writes
waited behind them. Callers that ask while a ping is out now share its answer, so readiness
holds at most one of the store's connections. An answer is never reused once given: a prober
learns of an outage from the next ping.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.store import Store

WAIT_S = 5.0  # how long an asker waits for the store's answer


class StoreReadiness:
    """The store's answer to ``ping``, one ping at a time."""

    def __init__(self, store: Store, *, wait_s: float = WAIT_S) -> None:
        self._store = store
        self.wait_s = wait_s
        self._pending: asyncio.Future[dict[str, Any]] | None = None

    async def check(self) -> dict[str, Any]:
        """The store's description (``ping``); ``StoreError`` or ``TimeoutError`` (after
        ``wait_s``) when it does not answer."""
        if self._pending is None or self._pending.done():
            self._pending = asyncio.ensure_future(self._store.ping())
            # Its error is read here too, for when every asker has given up waiting on it.
            self._pending.add_done_callback(lambda done: done.cancelled() or done.exception())
        # Shielded: an asker that hangs up or times out leaves the ping to the others.
        return await asyncio.wait_for(asyncio.shield(self._pending), timeout=self.wait_s)
