"""A write whose answer was lost, looked for at its provider and judged against the other
writes the store keeps: what another key's write made is never this write's.

``KeyedWrites`` (``gateway/service/idempotency.py``) asks ``LostAnswers.find`` before anything
is sent again: found, the write completes with what it made; not there, it is safe to send
again, once the provider has had its ``write_settle_s`` to finish a write it never answered;
cannot tell, the caller is told the outcome is uncertain. What a write made without a key is
kept too (``keep_made``), so that a keyed write's lookup does not take it for its own.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from adapters.resolution import Resolution
from gateway.errors import AdapterError, UpstreamError
from gateway.service.outcomes import Outcome
from gateway.service.write_request import UNKEYED_CLIENT, Write, WriteObserver
from gateway.store import KeyScope, Store, StoreError

_log = structlog.get_logger("gateway.writes")

# In a write's recovery: when the runner last sent it (Unix time), for the settle window.
SENT_AT = "gateway_sent_at"


@dataclass(frozen=True)
class LostAnswers:
    """Looks for a write whose answer was lost, and keeps what writes without a key made."""

    store: Store
    # A connection's name → those whose writes reach the same provider records
    # (``Settings.same_records``): what one of them made is another write's to each.
    same_records: Mapping[str, Sequence[str]]
    clock: Callable[[], float]
    observer: WriteObserver | None
    lease_s: float  # a key's, and a key's time to live: those of what ``keep_made`` keeps
    ttl_s: float

    async def find(
        self,
        write: Write,
        recovery: dict[str, Any],
        error: UpstreamError | None,
        unseen: str | None,
        scope: KeyScope | None = None,
        fingerprint: str | None = None,
    ) -> tuple[Resolution, float | None]:
        """What the provider says the write did; with the seconds left before a lookup that
        finds nothing can be believed, where the write may be there unseen (``unseen``: why, as
        "the provider …") and that time is not up (the resolution is then "unknown")."""
        wait = None
        try:
            resolution = await write.find(recovery)
        except AdapterError as exc:
            resolution = Resolution.failed("looking it up", exc)
        # Found by what it looks like (no marker), or among payments alike: what other writes
        # made is not this one's.
        if resolution.among and not (makes_invoice(write) and "marker" in recovery):
            resolution = await self._without_anothers(write, resolution, scope)
        if makes_invoice(write) and "marker" not in recovery and resolution.state == "done":
            resolution = await self._not_anothers(write, resolution, scope, fingerprint)
        if resolution.state in ("not_done", "unknown") and unseen and not write.idempotent:
            sent = recovery.get(SENT_AT)
            waited = max(0.0, self.clock() - sent) if isinstance(sent, int | float) else 0.0
            if waited < write.settle_s:
                wait = write.settle_s - waited
                if resolution.state == "not_done":
                    resolution = Resolution.unknown(
                        f"{resolution.detail} yet, but the provider {unseen} and may still "
                        f"be working on it: it was sent {waited:.0f} s ago, and finding nothing "
                        f"proves nothing before {write.settle_s:g} s"
                    )
        _log.info(
            "write_resolved",
            connection=write.connection,
            state=resolution.state,
            detail=resolution.detail,
            after=type(error).__name__ if error is not None else "takeover",
        )
        self.observe(write.connection, f"resolved_{resolution.state}")
        return resolution, wait

    async def keep_made(self, write: Write, outcome: Outcome, owner: str) -> None:
        """An invoice a create without a key made, or a payment such a write recorded, kept as
        made (under a key of its own, which no caller can send: ``UNKEYED_CLIENT``) for the
        key's time to live: a keyed create whose answer was lost, matching look-alikes by what
        was sent (the caller's own notes), must not take it for its own (``_not_anothers``), as
        it does not take another key's; nor a keyed payment, counting the payments alike new
        since it was sent. A store that fails here fails nothing: the write is made and
        answered."""
        made = made_by(write, outcome)
        if made is None:
            return
        operation = "create" if makes_invoice(write) else "payment"
        scope = KeyScope(UNKEYED_CLIENT, write.connection, operation, f"made-{uuid.uuid4().hex}")
        try:
            await self.store.claim(
                scope, "", owner, now=self.clock(), lease_s=self.lease_s, ttl_s=self.ttl_s
            )
            await self.store.finish(scope, owner, {}, made=str(made))
        except Exception as exc:  # a task of its own: nothing else would hear of it
            _log.warning("unkeyed_create_not_kept", connection=write.connection, error=str(exc))

    async def _without_anothers(
        self, write: Write, resolution: Resolution, scope: KeyScope | None
    ) -> Resolution:
        """Several look-alikes found (no marker: the caller's own notes), judged again without
        those the store keeps as another write's (two keys sending one body make two invoices
        alike, and each key has its own): one left is this write's, as a single look-alike
        would be (``_not_anothers`` still asks after unfinished writes of the same request)."""
        if resolution.without is None:
            return resolution
        try:
            others = frozenset(
                [
                    found
                    for found in resolution.among
                    if await self._made_by_another(write, found, scope)
                ]
            )
        except StoreError as exc:
            return Resolution.unknown(
                f"{resolution.detail}; which of them other writes made could not be checked ({exc})"
            )
        if not others:
            return resolution
        judged = await resolution.without(others)
        return dataclasses.replace(
            judged,
            detail=f"{judged.detail} (besides {', '.join(sorted(others))}, alike but made by "
            "another write under another Idempotency-Key)",
        )

    async def _not_anothers(
        self,
        write: Write,
        resolution: Resolution,
        scope: KeyScope | None,
        fingerprint: str | None,
    ) -> Resolution:
        """A look-alike found (no marker: the caller's own notes) is this write's only if no
        other write is kept as having made it and none with the same request is unfinished: two
        keys sending one body make two invoices alike, and the first to lose its answer must
        not take the other's for its own (both would be told "created" of one invoice)."""
        outcome = resolution.result
        found = outcome.invoice.id if isinstance(outcome, Outcome) and outcome.invoice else None
        if found is None:
            return resolution
        try:
            if await self._made_by_another(write, found, scope):
                return Resolution.not_done(
                    f"{resolution.detail}, but another write (another Idempotency-Key) made "
                    "that invoice"
                )
            other = None
            if scope is not None and fingerprint is not None:
                other = await self.store.alike_unfinished(scope, fingerprint, now=self.clock())
        except StoreError as exc:
            return Resolution.unknown(
                f"{resolution.detail}; whether another write made it could not be checked ({exc})"
            )
        if other == "running":
            return Resolution.unknown(
                f"{resolution.detail}, but another write of the same request under another "
                "Idempotency-Key is still running and may have made it"
            )
        if other == "uncertain":
            return Resolution.untellable(
                f"{resolution.detail}, but another write of the same request under another "
                "Idempotency-Key, whose outcome is uncertain too, may have made it: nothing "
                "tells which"
            )
        return resolution

    async def _made_by_another(self, write: Write, made: str, scope: KeyScope | None) -> bool:
        """Whether the store keeps ``made`` as made by a write other than ``scope``'s, on the
        write's connection or on another reaching the same records (any write there is
        another's: a key is its connection's)."""
        for connection in self.same_records.get(write.connection, (write.connection,)):
            own = scope if connection == write.connection else None
            if await self.store.made_by_another(connection, made, own):
                return True
        return False

    def observe(self, connection: str, event: str) -> None:
        """Tell the observer (the metrics) what happened to a write."""
        if self.observer is not None:
            self.observer(connection, event)


def resolved(resolution: Resolution) -> Outcome:
    """The outcome a lookup found, as the write's own answer (not a replay: it was resolved)."""
    outcome = resolution.result
    assert isinstance(outcome, Outcome)
    return dataclasses.replace(outcome, replayed=False, resolved=resolution.detail)


def made_by(write: Write, outcome: Outcome) -> str | None:
    """What the store keeps as made by the write (``Store.finish``'s ``made``): the payment it
    recorded, the invoice a create made; None for others."""
    if outcome.made is not None:
        return outcome.made
    if makes_invoice(write) and outcome.created and outcome.invoice is not None:
        return outcome.invoice.id
    return None


def makes_invoice(write: Write) -> bool:
    # A write of another shape (a test's, an older use case's) makes none.
    return bool(getattr(write, "makes_invoice", False))
