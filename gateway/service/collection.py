"""The writes on a connection's invoices as a whole: a batch, and the trash's restore and purge.

Run by ``KeyedWrites`` like every other write, so a repeated ``Idempotency-Key`` replays the
first answer (a batch's per-id results included) and never acts twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from adapters.base import BatchResult
from adapters.resolution import Resolution
from gateway.errors import NotFound
from gateway.service.outcomes import Outcome
from gateway.service.writes import _Write, repeated


def batch_json(result: BatchResult) -> dict[str, Any]:
    items = [item.as_dict() for item in result.items]
    done = sum(1 for item in result.items if item.error is None)
    return {
        "action": result.action,
        "succeeded": done,
        "failed": len(items) - done,
        "results": items,
    }


@dataclass
class Batch(_Write):
    action: str
    ids: list[str]

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        result = await self.adapter.batch(self.action, self.ids)
        return Outcome("batch", batch=batch_json(result))

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        # Each id may or may not have been reached; reading them back cannot tell one the batch
        # changed from one that was already so. Never sent again blind: the caller decides.
        return Resolution.untellable(
            f"{self.adapter.provider} offers no way to tell which ids of a batch it acted on; "
            "read the invoices before sending the batch again"
        )


@dataclass
class Restore(_Write):
    invoice_id: str

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        return Outcome("invoice", await self.adapter.restore(self.invoice_id))

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        """Out of the trash, an invoice reads again; in it, it does not."""
        try:
            invoice = await self.adapter.get(self.invoice_id)
        except NotFound:
            return Resolution.not_done(f"invoice {self.invoice_id} still does not read")
        return Resolution.done(
            Outcome("invoice", invoice), f"invoice {self.invoice_id} reads again"
        )


@dataclass
class Purge(_Write):
    invoice_id: str
    # Purging again converges: what is gone stays gone. A second purge is the provider's 404,
    # which, repeating a purge whose answer was lost, is the purge done.
    idempotent: ClassVar[bool] = True
    gone_when_repeated: ClassVar[bool] = True

    async def send(self, recovery: dict[str, Any]) -> Outcome:
        try:
            await self.adapter.purge(self.invoice_id)
        except NotFound as missing:
            if not repeated():
                raise
            # Not in the trash, after an attempt whose answer was lost: purged by it, or never
            # there (that attempt failed before it was handled, and the invoice is live).
            try:
                await self.adapter.get(self.invoice_id)
            except NotFound:
                return Outcome("deleted")  # gone everywhere: the lost purge took it
            raise missing from None
        return Outcome("deleted")
