"""After a run, from its crosswalk: check every copy again (``verify``), or undo it (``revert``).

``verify`` reads each source invoice and its copy and compares their money as the run did
(``compare.py``). ``revert`` deletes each copy the run made, or voids it where the target cannot
delete it (a provider that keeps issued invoices), through the service layer with keys of its
own, so a revert that is interrupted and run again deletes nothing twice; the crosswalk then
says ``reverted``, and a later run copies the invoice again.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

from adapters.base import Adapter
from gateway.errors import (
    AdapterError,
    Conflict,
    IdempotencyError,
    IdempotencyInProgress,
    NotFound,
    NotSupported,
    OutcomeUncertain,
)
from gateway.migration.compare import compare
from gateway.migration.copy import BUSY_ATTEMPTS, CLIENT, settling, wait_for_key
from gateway.migration.report import Entry
from gateway.service.invoices import InvoiceService
from gateway.service.write_request import WriteRequest
from gateway.store import CrosswalkEntry, Store

# A copy whose create was under way when its run was cut off (killed, or stopped at once), or
# whose create's outcome its run could not tell (the target's answer said nothing usable).
UNSETTLED = (
    "its create was under way when the run was cut off, or the target's answer to it could not "
    "tell whether it was made, and no copy is recorded: the copy may exist at the target. Run "
    "the migration again with the same --run to settle it (the run resumes: it finds what the "
    "create made, by the create's key or the marker it carried, before sending anything), then "
    "this command again"
)


async def run_entries(
    store: Store, run: str, *, not_copied: bool = False
) -> AsyncIterator[CrosswalkEntry]:
    """Every crosswalk entry of ``run`` with a copy at the target, or whose create was under way
    when the run was cut off or left untold (``pending``: there may be one), in order, a batch
    in memory at a time; ``not_copied``: the invoices it skipped or failed to copy too (verify
    accounts for every invoice of the run; revert has nothing to undo for those)."""
    after: tuple[str, str] | None = None
    while True:
        batch = await store.crosswalk_by_run(run, after=after)
        for entry in batch:
            if entry.target_id is not None or entry.state == "pending" or not_copied:
                yield entry
        if len(batch) == 0:
            return
        last = batch[-1]
        after = (last.source_connection, last.source_id)


def _unsettled(entry: CrosswalkEntry) -> Entry | None:
    """A copy whose create was cut off (``pending``): failed, saying it may exist."""
    if entry.target_id is None and entry.state == "pending":
        said = entry.detail.get("reason")  # what the last run that took it up said
        last = f" The last run said: {said}" if isinstance(said, str) and said else ""
        return Entry(entry.source_id, "failed", reason=UNSETTLED + last)
    return None


async def verify_entry(entry: CrosswalkEntry, source: Adapter, target: Adapter) -> Entry:
    if unsettled := _unsettled(entry):
        return unsettled
    if entry.target_id is None and entry.state in ("skipped", "failed"):
        # Counted as its run counted it: a copy the run failed to make is no skip (verify's
        # summary and exit status would call the migration complete).
        why = entry.detail.get("reason") or "no reason was recorded"
        skipped = entry.state == "skipped"
        did = "skipped it" if skipped else "could not copy it"
        said = f"not copied: the run {did} ({why})"
        return Entry(entry.source_id, "skipped" if skipped else "failed", reason=said)
    if entry.target_id is None or entry.state == "reverted":
        return Entry(entry.source_id, "skipped", target_id=entry.target_id, reason=entry.state)
    if entry.state == "failed":  # made, but a status or payment step failed: not finished
        why = entry.detail.get("reason") or "a step of the copy failed"
        reason = f"the copy is not finished ({why})"
        return Entry(entry.source_id, "failed", target_id=entry.target_id, reason=reason)
    try:
        original = await source.get(entry.source_id)
    except AdapterError as exc:
        return Entry(entry.source_id, "failed", target_id=entry.target_id, reason=exc.message)
    try:
        copy = await target.get(entry.target_id)
    except NotFound as exc:
        # Deleted at the target since: a later run still counts it copied (a finished copy is
        # not read again), so the way to copy it anew is said.
        revert = f"`migrate revert --run {entry.run}`" if entry.run else "its run's revert"
        gone = (
            f"{exc.message}: the target no longer holds this copy; {revert} records it undone "
            "(already gone), and a run then copies it anew"
        )
        return Entry(entry.source_id, "failed", target_id=entry.target_id, reason=gone)
    except AdapterError as exc:
        return Entry(entry.source_id, "failed", target_id=entry.target_id, reason=exc.message)
    verdict = compare(original, copy, target)
    return Entry(
        entry.source_id,
        "verified",
        target_id=entry.target_id,
        totals_differences=verdict.differences,
        verification=verdict.verification,
    )


async def revert_entry(
    entry: CrosswalkEntry, target: Adapter, service: InvoiceService, store: Store
) -> Entry:
    """Undo one copy. Its key held by a revert that was killed (or one still at it, in
    another process) is waited for, as a copy's step is: free once the lease runs out, then
    taken over, or its answer replayed. Still held after that, or unusable: ``failed``, with
    the reason, and the revert goes on to the next copy."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await _revert(entry, target, service, store)
        except (IdempotencyInProgress, OutcomeUncertain) as exc:
            # Held, or a void whose answer a killed revert never got: its key's retry settles
            # it once the connection's settle time has passed.
            waits = isinstance(exc, IdempotencyInProgress) or settling(exc)
            if attempt == BUSY_ATTEMPTS or not waits:
                return _failed(entry, exc.message)
            await wait_for_key(exc)
        except IdempotencyError as exc:
            return _failed(entry, exc.message)


def _failed(entry: CrosswalkEntry, reason: str) -> Entry:
    return Entry(entry.source_id, "failed", target_id=entry.target_id, reason=reason)


async def _revert(
    entry: CrosswalkEntry, target: Adapter, service: InvoiceService, store: Store
) -> Entry:
    if unsettled := _unsettled(entry):
        return unsettled
    if entry.target_id is None or entry.state == "reverted":
        return Entry(entry.source_id, "reverted", target_id=entry.target_id, reason="already")
    request = WriteRequest(
        client=CLIENT,
        connection=target.connection.name,
        operation="migrate revert",
        target=f"{entry.target_connection}/{entry.target_id}",
        idempotency_key=f"revert:{entry.target_id}",
    )
    how = "deleted"
    try:
        try:
            await service.delete(request, entry.target_id)
        except (NotSupported, Conflict):
            # The target keeps this invoice (issued, or no delete at all): void it instead.
            how = "voided"
            try:
                await service.act(
                    replace(request, operation="migrate revert void"), entry.target_id, "void"
                )
            except Conflict:
                # Voided since it was copied (by hand, or by its own run): nothing left to undo.
                if (await target.get(entry.target_id)).status != "void":
                    raise
                how = "already void"
    except NotFound:
        how = "already gone"
    except OutcomeUncertain:
        raise  # waited out by ``revert_entry``
    except AdapterError as exc:
        return _failed(entry, exc.message)
    await store.crosswalk_put(
        replace(
            entry,
            state="reverted",
            detail={**entry.detail, "reverted": how},
            updated_at=time.time(),
        )
    )
    return Entry(entry.source_id, "reverted", target_id=entry.target_id, reason=how)
