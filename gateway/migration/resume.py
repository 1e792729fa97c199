"""A copy an earlier run began and did not finish, taken up again by ``Copier``: the copy its
row names, read first (``_held``), finished or left for a person where its keys have expired
(``_keys_expired``), and a create whose answer no one recorded, found before it is sent again
once its key is forgotten (``_unrecorded``): by the key's kept answer, else by the marker it
carried, looked for as it was sent."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from adapters.base import Adapter, WriteWarning
from adapters.resolution import same_text
from gateway.canonical.model import Invoice
from gateway.errors import AdapterError, BadIdentifier, NotFound
from gateway.migration.compare import Verdict, compare
from gateway.migration.plan import Plan
from gateway.migration.reasons import EARLIER_COPY, LOOK_AGAIN, error_said
from gateway.migration.report import Entry, verdict_entry
from gateway.migration.rows import (
    BEGUN,
    as_sent_then,
    changed_since,
    create_pending,
    fingerprint,
    invoice_sent,
    names_copy,
    sent_as,
)
from gateway.migration.translate import Translation
from gateway.service.invoices import InvoiceService
from gateway.service.outcomes import Outcome, is_error
from gateway.service.write_request import WriteRequest
from gateway.store import CrosswalkEntry, Store
from gateway.store.records import forgettable

# ``Resuming._unrecorded``: the create begun made nothing (never sent, refused, not there).
NOTHING_MADE = "nothing made"


class Resuming:
    """``Copier``'s crosswalk row of a copy, recorded step by step, and its taking up of a copy
    begun: ``Copier`` holds what these read and write."""

    plan: Plan
    target: Adapter
    service: InvoiceService | None
    store: Store | None
    seen: Store | None
    _copies: dict[str, int]
    _fingerprints: dict[str, str]
    _refused: dict[str, dict[str, int]]
    _made_by: dict[str, str]

    if TYPE_CHECKING:  # ``Copier``'s

        def _request(self, step: str, source_id: str) -> WriteRequest: ...

    async def _crosswalk(self, source_id: str) -> CrosswalkEntry | None:
        store = self.store or self.seen
        if store is None:
            return None
        return await store.crosswalk_get(self.plan.source, source_id, self.plan.target)

    async def _record(
        self,
        source_id: str,
        target_id: str | None,
        state: str,
        invoice: Invoice,
        detail: dict[str, Any],
        *,
        keep_begun: bool = True,
    ) -> None:
        """``keep_begun``: a ``pending`` row keeps what it said of the create begun
        (``BEGUN``)."""
        if self.store is None:
            return
        if target_id is None and (state == "failed" or (state == "pending" and keep_begun)):
            # Read again: the attempt may have got as far as a copy (``created``), and a create
            # begun keeps its marker and since when it is pending (``_unrecorded``). A new
            # create's row (``keep_begun`` False: every new copy) has nothing to keep.
            known = await self._crosswalk(source_id)
            if state == "failed":
                target_id = known.target_id if names_copy(known) else None
            elif keep_begun and create_pending(known):
                assert known is not None
                begun = {k: known.detail[k] for k in BEGUN if k in known.detail}
                detail = {**detail, **begun}
        if self._copies.get(source_id):
            detail = {**detail, "copy": self._copies[source_id]}
        if self._refused.get(source_id):  # until the copy is finished, whatever is recorded
            detail = {**detail, "refused": self._refused[source_id]}
        await self.store.crosswalk_put(
            CrosswalkEntry(
                source_connection=self.plan.source,
                source_id=source_id,
                target_connection=self.plan.target,
                target_id=target_id,
                fingerprint=self._fingerprint(source_id, invoice),
                state=state,
                detail=detail,
                updated_at=time.time(),
                run=self._made_by.get(source_id, self.plan.run),
            )
        )

    def _fingerprint(self, source_id: str, invoice: Invoice) -> str:
        known = self._fingerprints.get(source_id)
        if known is None:
            known = self._fingerprints[source_id] = fingerprint(invoice)
        return known

    async def _finished(
        self,
        source_id: str,
        target_id: str,
        invoice: Invoice,
        warnings: list[WriteWarning],
        verdict: Verdict,
    ) -> Entry:
        """The copy done: recorded with its verdict, ``verified`` or ``differs``."""
        detail = {
            "warnings": [w.as_dict() for w in warnings],
            "verification": verdict.verification,
            "totals_differences": verdict.differences,
        }
        state = "verified" if not verdict.differences else "differs"
        await self._record(source_id, target_id, state, invoice, detail)
        return verdict_entry(source_id, "copied", target_id, warnings, verdict)

    async def _unrecorded(
        self, source_id: str, invoice: Invoice, known: CrosswalkEntry, translation: Translation
    ) -> Outcome | Entry | str | None:
        """The copy made by a create an earlier run began and never recorded (``pending``: its
        answer lost, or its process killed before the crosswalk heard of it), where its key can
        no longer tell (forgotten: ``idempotency_ttl_hours``, then reaped): sent again, the
        create would make a second copy. Taken up where the key's kept answer names it, or the
        target holds an invoice carrying the create's marker (kept in the row). None where its
        key settles it (replayed, or found first); ``NOTHING_MADE`` where it was never sent, or
        the target has no such invoice (the create is then sent anew). Anything else cannot be
        told: the entry says so, and the row stays ``pending``, naming it for verify and
        revert."""
        assert self.store is not None and self.service is not None
        assert translation.invoice is not None
        scope = self._request("create", source_id).scope()
        assert scope is not None
        record, now = await self.store.get(scope), time.time()
        if record is None:
            # A key claimed is kept its lifetime from then, so for that long after the row
            # said "pending" (before the claim), a key absent is a key never claimed.
            # (Its lifetime then: one claimed before a change of the setting keeps that one.)
            since = known.detail.get("pending_since", known.updated_at)
            keep = known.detail.get("keep_s", self.service.writes.ttl_s)
            numbers = isinstance(since, int | float) and isinstance(keep, int | float)
            if numbers and now - since < keep:
                return NOTHING_MADE
        elif record.expires_at > now or not forgettable(record, now):
            return None  # the key still names the create: replayed, or looked for first
        elif record.recovery_point == "claimed":
            return NOTHING_MADE  # never sent
        if record is not None and record.state == "done" and record.outcome:
            if is_error(record.outcome):
                return NOTHING_MADE  # refused
            made = Outcome.from_json(record.outcome, replayed=True)
        else:
            marker, path = known.detail.get("marker"), self.target.mapping.dedupe.marker
            by_marker = isinstance(marker, str) and path is not None
            recovery = {"marker": marker, "marker_field": path} if by_marker else {"existing": []}
            # Looked for as it was sent: the map may have changed its customer since, and
            # the source its notes or lines (a look-alike is judged by all of them).
            sent = invoice_sent(known.detail.get("sent")) or as_sent_then(
                translation.invoice, known.detail.get("sent_as")
            )
            found = await self.target.find_created(sent, recovery, handling=self.plan.handling)
            if found.among and found.without is not None:
                # Not this copy: a look-alike the crosswalk names as another invoice's copy, or
                # one without the notes that left no room for the marker (a copy has them).
                others = frozenset(
                    [each for each in found.among if not await self._may_be(source_id, each, sent)]
                )
                if others:
                    found = await found.without(others)
            if found.state == "not_done":
                return NOTHING_MADE
            if found.state != "done" or not by_marker:
                then = (
                    LOOK_AGAIN
                    # A look that failed, or one by a marker, may tell next time; a look-alike
                    # (the invoice's own notes leave no room for a marker) never will.
                    if by_marker or found.tellable
                    else f"If the copy is there, delete it at {self.plan.target} and run the "
                    "migration again to copy it anew"
                )
                return await self._untold(source_id, invoice, known, found.detail, then)
            result = found.result
            made = Outcome("invoice", result.invoice, list(result.warnings), replayed=True)
        if made.invoice is None or made.invoice.id is None:
            return NOTHING_MADE
        try:
            current = await self.target.get(made.invoice.id)  # as it is, not as it was made
        except (NotFound, BadIdentifier):
            return NOTHING_MADE  # deleted at the target since: made anew
        except AdapterError as exc:  # kept "pending": a row "failed" would name no copy
            what = f"its copy {made.invoice.id} could not be read: {error_said(exc)}"
            return await self._untold(source_id, invoice, known, what, LOOK_AGAIN)
        self._made_by[source_id] = known.run or self.plan.run
        warnings = list(made.warnings)
        sent_then = known.detail.get("sent_as")
        changed = changed_since(known.fingerprint, self._fingerprint(source_id, invoice))
        if changed or (isinstance(sent_then, dict) and sent_then != sent_as(translation.invoice)):
            # Made as the map and the source were then: said, as a resume under kept keys
            # says it; the row keeps what the copy was made of.
            warnings.append(WriteWarning("", EARLIER_COPY))
            self._fingerprints[source_id] = known.fingerprint
        return Outcome("invoice", current, warnings, replayed=True)

    async def _untold(
        self, source_id: str, invoice: Invoice, known: CrosswalkEntry, what: str, then: str
    ) -> Entry:
        """A forgotten create (``_unrecorded``) that the target cannot tell about now: failed,
        saying ``what`` was found and what to do, and its row kept ``pending``."""
        reason = (
            f"its create was sent by run {known.run or self.plan.run} and its answer never "
            f"recorded, and its Idempotency-Key has expired since (idempotency_ttl_hours): "
            f"{what}. {then}"
        )
        await self._record(source_id, None, "pending", invoice, {**known.detail, "reason": reason})
        return Entry(source_id, "failed", reason=reason)

    async def _may_be(self, source_id: str, target_id: str, sent: Invoice) -> bool:
        """Whether target invoice ``target_id``, like ``sent``, may be its copy: not one the
        crosswalk names as another invoice's, and carrying the notes that were sent."""
        assert self.store is not None
        for entry in await self.store.crosswalk_copies_as(self.plan.target, target_id):
            if (entry.source_connection, entry.source_id) != (self.plan.source, source_id):
                return False
        try:
            candidate = await self.target.get(target_id)
        except AdapterError:
            return True  # unread: not ruled out
        return bool(candidate.notes) and same_text(sent.notes, candidate.notes)

    async def _held(self, known: CrosswalkEntry | None) -> Invoice | None:
        """The copy the entry names (not reverted since), as the target holds it; None when
        it names none, or the target no longer has it."""
        if not names_copy(known):
            return None
        assert known is not None and known.target_id is not None
        try:
            return await self.target.get(known.target_id)
        except (NotFound, BadIdentifier):
            return None

    async def _keys_expired(
        self, source_id: str, invoice: Invoice, known: CrosswalkEntry | None, held: Invoice
    ) -> Entry:
        """A copy begun and not finished, still at the target, whose create's key the store no
        longer keeps (``idempotency_ttl_hours``), nor, then, its later steps' keys: sent again,
        the create would make a second copy, and a payment a second payment. Nothing is sent.
        A copy that now reads as its source does (finished at the target by hand) is finished;
        any other fails, naming it and the two ways to finish it."""
        assert known is not None and held.id is not None
        warnings = [WriteWarning(**w) for w in known.detail.get("warnings", [])]
        changed = changed_since(known.fingerprint, self._fingerprint(source_id, invoice))
        # The row keeps what the copy was made of: a source changed since is said by every run
        # after this one too (``already_copied``'s ``SOURCE_CHANGED``).
        self._fingerprints[source_id] = known.fingerprint
        verdict = compare(invoice, held, self.target)
        unlike = [str(d.get("field", "")) for d in verdict.differences]
        if held.status != invoice.status:  # its status step not done (a draft left unissued)
            unlike.append("status")
        if not unlike:
            if changed:
                # As a resume under kept keys says it (``KeyReusedAfterSuccess``): what the
                # source says since does not show in figures alone.
                warnings.append(WriteWarning("", EARLIER_COPY))
            if self.store is None:  # a dry run: the run would take it as it is
                return verdict_entry(source_id, "would_copy", held.id, warnings, verdict)
            return await self._finished(source_id, held.id, invoice, warnings, verdict)
        run = known.run or self.plan.run
        what = ", ".join(sorted(set(unlike) - {""})) or "it"
        reason = (
            f"copied as {held.id} by run {run} and not finished ({what} not as the "
            "source's), and its steps' Idempotency-Keys have expired since "
            "(idempotency_ttl_hours): finished now, a step it made could be made twice. Finish "
            f"the copy at {self.plan.target} and run again (a copy that then reads as its source "
            "is taken as finished), or delete it there and run again to copy it anew"
        )
        detail = {"reason": reason, "warnings": known.detail.get("warnings", [])}
        await self._record(source_id, held.id, "failed", invoice, detail)
        return Entry(source_id, "failed", target_id=held.id, reason=reason)

    async def _forgotten(self, source_id: str) -> bool:
        """Whether the copy's create key is no longer kept (expired, or reaped): sent again, the
        create would be a new one. A dry run reads the store it would write."""
        store = self.store or self.seen
        if store is None:
            return False
        scope = self._request("create", source_id).scope()
        assert scope is not None
        record = await store.get(scope)
        return record is None or record.expires_at <= time.time()
