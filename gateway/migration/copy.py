"""One source invoice copied to the target, once, whatever fails in between.

The crosswalk (source connection and id → target connection and id, with a fingerprint, a state
and the run) records each step before the next one is taken: ``pending`` before the create,
``created`` once the target holds the invoice (where the copy is: ``revert`` finds it from
here on), then ``verified`` (the money matches) or ``differs``. Carrying the status and payments
records no state of its own: a resume redoes every step of an unfinished copy whatever its state
(each replays from its key), and nothing else reads one. Every write goes through the
service layer with an Idempotency-Key made from the source invoice (``migrate create``, ``migrate
issue``…), so a process killed between the target's create and the crosswalk's ``created``
resumes to the same invoice: the key's record replays it, or resolves the lost answer first.
A copy in ``verified`` or ``differs`` is never touched again (``already_copied``). A status or
payment step the target fails or refuses leaves the copy ``failed`` with its target id, never
finished, so the next run takes it up again; a refused step is then sent under a key of its own
(``refused`` in the crosswalk's detail), as its first key would only replay the refusal.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

import structlog

from adapters.base import Adapter, WriteWarning
from adapters.resolution import marker_of
from gateway.canonical.errors import InvalidInvoice
from gateway.canonical.model import Invoice, Payment
from gateway.errors import (
    AdapterError,
    IdempotencyError,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    OutcomeUncertain,
    UpstreamAuthFailed,
    UpstreamError,
)
from gateway.migration.carried import (
    ISSUED,
    beyond_due,
    carried_forecast,
    due_date_added,
    due_date_forecast,
    not_marked_paid,
    paid_not_carried,
    recorded_as,
)
from gateway.migration.compare import compare
from gateway.migration.origin import doubling
from gateway.migration.plan import Plan
from gateway.migration.reasons import (
    EARLIER_COPY,
    EARLIER_PAYMENT,
    RUN_AGAIN,
    SOURCE_CHANGED,
    begun_looked_for,
    error_said,
    fields_said,
    for_a_run,
    method_hint,
)
from gateway.migration.references import ReferenceMap
from gateway.migration.report import Entry, verdict_entry
from gateway.migration.resume import NOTHING_MADE, Resuming
from gateway.migration.rows import (
    changed_since,
    create_pending,
    generation,
    names_copy,
    refusals,
    sent_as,
)
from gateway.migration.translate import Translation, translate
from gateway.service.invoices import InvoiceService
from gateway.service.outcomes import Outcome
from gateway.service.preview import preview
from gateway.service.write_request import KeyReusedAfterSuccess, WriteRequest
from gateway.store import Store, StoreError

_log = structlog.get_logger("gateway.migration")
CLIENT = "migrate"
FINISHED = frozenset({"verified", "differs"})
# A step whose key another worker holds is tried again this often, after its lease's end.
BUSY_ATTEMPTS, _BUSY_WAIT_S = 3, 60.0


async def wait_for_key(exc: IdempotencyInProgress | OutcomeUncertain) -> None:
    """Wait until a step's held key may be free, or its unanswered write settled: as long as
    the answer says (a killed holder's lease runs out), at most a minute."""
    await asyncio.sleep(min(exc.retry_after or 1.0, _BUSY_WAIT_S) + 0.1)


@dataclass
class Copier(Resuming):
    plan: Plan
    source: Adapter
    target: Adapter
    service: InvoiceService | None  # None for a dry run, with the store
    store: Store | None  # None for a dry run: nothing is written anywhere
    refs: ReferenceMap
    # A dry run's view of what earlier runs copied (the store, only read), where there is one:
    # an invoice already copied is said to be, as the run would say it
    seen: Store | None = None
    # source id → which copy of it is being made (see ``generation``), while it is made
    _copies: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    # source id → its fingerprint, computed once per copy (each step's record carries it)
    _fingerprints: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    # source id → the copy as the target's answer to a read sent after the copy's last write
    # call (``Outcome.read_back``), while no later step was tried: the verification's read
    _read_back: dict[str, Invoice] = field(default_factory=dict, init=False, repr=False)
    # source id → step → how many times the target refused it (kept in the crosswalk): a step
    # refused is sent under a key of its own next time (``_request``), since its first key
    # would only replay the refusal, even after the map that caused it was fixed
    _refused: dict[str, dict[str, int]] = field(default_factory=dict, init=False, repr=False)
    # source id → the run that made the copy at the target, where an earlier run made it: the
    # crosswalk's run stays that one's, whichever run finishes or skips the copy later, so
    # ``revert --run`` undoes every copy a run made and none that another made
    _made_by: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    # source id → whether the copy's create, if any was begun before, made nothing (or none
    # was): a failure then leaves no "pending" row to keep (``_attempts``)
    _fresh: dict[str, bool] = field(default_factory=dict, init=False, repr=False)

    async def copy(self, invoice: Invoice) -> Entry:
        source_id = str(invoice.id)
        try:
            entry = await self._attempts(source_id, invoice)
            made_by = self._made_by.get(source_id)
            if entry.target_id is not None and made_by not in (None, self.plan.run):
                # A copy an earlier run made (finished or found here): `verify` and `revert`
                # work on it under that run's name, which the report says.
                entry.made_by_run = made_by
            return entry
        finally:
            self._copies.pop(source_id, None)
            self._fingerprints.pop(source_id, None)
            self._read_back.pop(source_id, None)
            self._refused.pop(source_id, None)
            self._made_by.pop(source_id, None)
            self._fresh.pop(source_id, None)

    async def _attempts(self, source_id: str, invoice: Invoice) -> Entry:
        state = "failed"
        keyed = False  # the last attempt ended at a step's key (held, or used otherwise)
        for attempt in range(1, BUSY_ATTEMPTS + 1):
            last = attempt == BUSY_ATTEMPTS
            try:
                return await self._copy(source_id, invoice, last=last)
            except IdempotencyInProgress as exc:
                # A step's key is still held: by a worker that was killed (free once its lease
                # runs out, then taken over) or by one still at it (its answer then replayed).
                reason = exc.message
                keyed = True
                if not last:
                    await wait_for_key(exc)
            except UpstreamAuthFailed:
                raise  # the target refuses the gateway's credentials: every copy would fail so
            except OutcomeUncertain as exc:
                # A write whose answer never came (a worker killed while it waited): the target
                # may still store it, so its key's retry asks again once the connection's
                # settle time has passed. Waited out here, so that a resumed run finishes.
                reason = for_a_run(exc)
                if last or not settling(exc):
                    # Its create may have been made: kept "pending", as a create cut off is,
                    # so that verify and revert name it (the next run settles it).
                    state = "pending"
                    break
                await wait_for_key(exc)
            except AdapterError as exc:
                reason = error_said(exc)  # with the fields the target named, and what of each
                if isinstance(exc, UpstreamError) and exc.retryable:
                    reason += f"; {RUN_AGAIN}"  # a passing failure: nothing to mend
                break
            except IdempotencyError as exc:
                reason = getattr(exc, "message", str(exc))
                keyed = True
                break
            except StoreError:
                raise  # without its store the run cannot go on safely: it stops, to be resumed
            except Exception as exc:  # one invoice's bug must not stop the others
                _log.exception("migration_copy_failed", source_id=source_id)
                reason = f"unexpected error ({type(exc).__name__}); see the log"
                break
        unsettled = keyed or not self._fresh.get(source_id, False)
        if unsettled and state == "failed" and create_pending(await self._crosswalk(source_id)):
            # A create an earlier attempt began, not settled (its key refused this one, or the
            # attempt failed before settling it): the row, "pending", keeps naming what it may
            # have made (verify, revert, the next run's lookup).
            state = "pending"
        await self._record(source_id, None, state, invoice, {"reason": reason})
        return Entry(source_id, "failed", reason=reason)

    async def _copy(self, source_id: str, invoice: Invoice, *, last: bool = True) -> Entry:
        known = await self._crosswalk(source_id)
        self._copies[source_id] = generation(known)
        self._refused[source_id] = refusals(known)
        if known is not None and known.target_id is not None and known.state != "reverted":
            self._made_by[source_id] = known.run or self.plan.run
        if known is not None and known.state in FINISHED:
            # Copied once: never again, but a source changed since is said, not hidden behind
            # the verification of the copy as it was then.
            changed = changed_since(known.fingerprint, self._fingerprint(source_id, invoice))
            return Entry(
                source_id,
                "already_copied",
                target_id=known.target_id,
                reason=SOURCE_CHANGED if changed else None,
                verification=known.detail.get("verification"),
                totals_differences=known.detail.get("totals_differences", []),
                # What the copy lost when it was made: a report of a resumed run, the last
                # word on each invoice, would otherwise say it lost nothing.
                warnings=known.detail.get("warnings", []),
            )
        # A copy begun by an earlier run (made and still there, or its create's answer lost) is
        # finished first: that run looked for the invoice's other copies before it began, and
        # its row is what names a copy that may be at the target. One made and gone since is
        # made again, as a new copy with keys of its own (its create's would replay the one
        # gone), and checked first as any new copy is.
        held = await self._held(known)
        if names_copy(known) and held is None:
            # Gone: a new copy, this run's, with keys of its own.
            self._copies[source_id] = generation(known) + 1
            self._made_by.pop(source_id, None)
        if held is not None and await self._forgotten(source_id):
            return await self._keys_expired(source_id, invoice, known, held)
        begun = held is not None or create_pending(known)
        store = self.store or self.seen
        doubled = None if begun else await doubling(store, self.source, self.target, invoice)
        if doubled is not None:
            await self._record(source_id, None, "skipped", invoice, {"reason": doubled})
            return Entry(source_id, "skipped", reason=doubled)
        translation = translate(
            invoice, self.target, self.refs, self.plan.handling, read_from=self.source
        )
        if translation.invoice is None:
            # Decided before anything is sent: the entry keeps where an earlier copy is, if any
            # (a reverted one is none: kept, this run's entry would make it this run's copy),
            # and a create begun stays "pending", naming what it may have made.
            earlier = known.target_id if names_copy(known) else None
            reason = {"reason": translation.skipped}
            state = "pending" if create_pending(known) else "skipped"
            await self._record(source_id, earlier, state, invoice, reason)
            return Entry(source_id, "skipped", reason=translation.skipped)
        if self.store is None:
            entry = self._preview(source_id, invoice, translation)
            if create_pending(known) and entry.outcome == "would_copy":
                entry.reason = begun_looked_for(known.run if known else None)
            return entry
        assert self.service is not None
        made_before: list[WriteWarning] = []
        unrecorded: Outcome | None = None
        fresh = True  # no create begun before, or none that made anything
        if known is not None and create_pending(known):
            taken = await self._unrecorded(source_id, invoice, known, translation)
            if isinstance(taken, Entry):
                return taken
            if isinstance(taken, Outcome):
                unrecorded = taken
            fresh = taken == NOTHING_MADE
            if not fresh and known.run:
                # The earlier run's create, settled by its key: what it made is that run's.
                self._made_by[source_id] = known.run
        self._fresh[source_id] = fresh
        try:
            created = unrecorded or await self._create(
                source_id,
                invoice,
                translation,
                made_before,
                # Its family looked at again where nothing of it may be at the target: a new
                # copy, or a begun one whose create made nothing (cut off before or in its
                # look; it was taken for begun, unchecked).
                recheck=fresh and held is None,
                fresh=fresh,
            )
        except _Doubled as since:
            await self._record(source_id, None, "skipped", invoice, {"reason": since.reason})
            return Entry(source_id, "skipped", reason=since.reason)
        warnings = [*made_before, *translation.warnings, *translation.as_source(created.warnings)]
        assert created.invoice is not None and created.invoice.id is not None
        self._wrote(source_id, created)
        target_id = created.invoice.id
        await self._record(source_id, target_id, "created", invoice, {})
        try:
            more = await self._carry(source_id, invoice, created.invoice, created.replayed)
        except StepFailed as failed:
            if settling(failed.error) and not last:
                raise failed.error from failed  # waited out by ``_attempts``, then tried again
            return await self._unfinished(source_id, target_id, invoice, warnings, failed)
        warnings += more
        copy = self._read_back.pop(source_id, None) or await self.target.get(target_id)
        warnings += due_date_added(translation.invoice, copy, self.target.provider)
        verdict = compare(invoice, copy, self.target)
        return await self._finished(source_id, target_id, invoice, warnings, verdict)

    async def _unfinished(
        self,
        source_id: str,
        target_id: str,
        invoice: Invoice,
        warnings: list[WriteWarning],
        failed: StepFailed,
    ) -> Entry:
        """The copy is made but a step the target can take failed: the copy is not finished
        (never ``verified``), so the run counts it failed and the next run of the migration
        takes it up again (the steps done replay from their keys)."""
        error = failed.error
        refused = self._refused.setdefault(source_id, {})
        if isinstance(error, UpstreamError):
            then = "run the migration again to finish it"
        else:  # the target's own refusal: the next run sends the step again, under a new key
            refused[failed.step] = refused.get(failed.step, 0) + 1
            then = "fix what it names (the map, or the invoice at the target) and run the "
            then += "migration again to finish it"
        said_error = error_said(error) + failed.hint
        reason = f"copied as {target_id}, but {failed.step} failed: {said_error}; {then}"
        said = [w.as_dict() for w in warnings]
        await self._record(
            source_id, target_id, "failed", invoice, {"reason": reason, "warnings": said}
        )
        return Entry(source_id, "failed", target_id=target_id, reason=reason, warnings=said)

    def _preview(self, source_id: str, invoice: Invoice, translation: Translation) -> Entry:
        """A dry run: the target's own checks before a create (a refusal is the failure the
        run would meet, with its reason), then its totals as its own rounding computes them."""
        assert translation.invoice is not None
        try:
            self.target.check_create(translation.invoice, self.plan.handling)
        except AdapterError as exc:
            return Entry(source_id, "failed", reason=error_said(exc))  # as the run would say it
        try:
            # Fitted already: the preview's own fit finds nothing more to drop.
            previewed, more = preview(self.target, translation.invoice, self.plan.handling)
        except InvalidInvoice as exc:
            reason = fields_said(exc.errors)
            return Entry(source_id, "skipped", reason=f"the target could not take it: {reason}")
        verdict = compare(invoice, previewed, self.target, preview=True)
        warnings = [*translation.warnings, *translation.as_source(more)]
        warnings += due_date_forecast(translation.invoice, self.target)
        warnings += carried_forecast(invoice, previewed, self.target)
        return verdict_entry(source_id, "would_copy", None, warnings, verdict)

    def _issued_at_once(self, source: Invoice) -> bool:
        """An issued source is created issued where the target's create can do that: one
        write instead of a create and an ``issue`` (``capabilities.create_issued``)."""
        return source.status in ISSUED and self.target.capabilities.create_issued

    async def _carry(
        self, source_id: str, source: Invoice, created: Invoice, earlier: bool
    ) -> list[WriteWarning]:
        """The source's status and payments, where the target can take them; else warnings.
        ``StepFailed`` when the target fails or refuses a step it can take: the copy is then
        not finished. ``earlier``: the copy was made by an earlier run (its create replayed),
        whose payment steps may have recorded payments the source no longer has."""
        caps = self.target.capabilities
        provider = self.target.provider
        warnings: list[WriteWarning] = []
        current = created
        wanted = source.status
        if wanted in ISSUED and current.status == "draft":
            step = next((a for a in ("issue", "mark_sent") if a in caps.actions), None)
            if step is None:
                warnings.append(WriteWarning("/status", f"{provider} cannot issue an invoice"))
            else:
                current = await self._act(source_id, step, current)
        if "create" in caps.payments:
            for n, payment in enumerate(source.payments):
                beyond = beyond_due(payment, current)
                if beyond is not None:
                    warnings.append(WriteWarning(f"/payments/{n}", beyond))
                    continue
                try:
                    current, replayed = await self._pay(source_id, n, payment, current)
                    earlier = earlier or replayed
                except KeyReusedAfterSuccess as reused:
                    # Recorded by an earlier run: this payment, before the map changed what it
                    # would send, only where the copy's payment there is the source's.
                    assert current.id is not None
                    current, earlier = await self.target.get(current.id), True
                    if not recorded_as(payment, current, n):
                        raise IdempotencyKeyReused(
                            f"payment {n} of the copy, recorded by an earlier run, is not the "
                            f"source's payment {n} now (the source's payments changed since); "
                            f"{_COPY_ANEW}"
                        ) from reused
                    warnings.append(WriteWarning(f"/payments/{n}", EARLIER_PAYMENT))
            if earlier:  # even where the source has no payment left
                current = await self._no_payments_beyond(source, current)
        elif source.payments:
            warnings.append(
                WriteWarning("/payments", f"{provider} cannot record payments; not carried")
            )
        paid_said = False  # a warning already says the copy shows less paid than the source
        if wanted == "paid" and current.status != "paid":
            paid_said = True
            unmarked = not_marked_paid(source, current, self.target)
            if unmarked is not None:
                warnings.append(unmarked)
            else:
                current = await self._act(source_id, "mark_paid", current)
        if wanted == "void" and current.status != "void":
            if "void" in caps.actions:
                current = await self._act(source_id, "void", current)
            else:
                warnings.append(WriteWarning("/status", f"{provider} cannot void an invoice"))
        if wanted == "draft" and current.status != "draft":
            warnings.append(
                WriteWarning("/status", f"{provider} keeps no drafts: the copy is {current.status}")
            )
        if not paid_said and not source.payments:
            warnings += paid_not_carried(source, current)
        return warnings

    async def _act(self, source_id: str, action: str, current: Invoice) -> Invoice:
        assert current.id is not None and self.service is not None
        # The previous step's fresh read of the copy (None after a replay or a lookup): the
        # action's record for a lost answer is taken from it, without a read of its own
        # (docs/migration.md, "Once, whatever fails"). Whatever this step does, it is older.
        read = self._read_back.pop(source_id, None)
        request = self._request(action, source_id)
        try:
            done = await self.service.act(request, current.id, action, current=read)
        except UpstreamAuthFailed:
            raise  # the run stops
        except AdapterError as exc:
            raise StepFailed(action, exc) from exc
        self._wrote(source_id, done)
        return done.invoice or current

    async def _no_payments_beyond(self, source: Invoice, current: Invoice) -> Invoice:
        """The copy as it now reads, once an earlier run recorded some of its payments:
        ``IdempotencyKeyReused`` where it holds more payments than the source has. A step's key
        names a payment's place, so payments the source no longer has (deleted since a run
        that failed at a later step) stay at the copy, each step there replaying its own: the
        copy would be finished showing more paid than its source. (Its payments, not those
        this run carried: one an earlier run recorded can read as beyond what the copy now
        has due, and is then not carried again. And one more where both are paid: an earlier
        run's ``mark_paid`` may have recorded the balance, settling no more than the source.)"""
        assert current.id is not None
        current = await self.target.get(current.id)
        settled = source.status == "paid" and current.status == "paid"
        if len(current.payments) > len(source.payments) + settled:
            raise IdempotencyKeyReused(
                f"the copy holds {len(current.payments)} payments, recorded by earlier runs, and "
                f"the source {len(source.payments)} now (the source's payments changed since); "
                f"{_COPY_ANEW}"
            )
        return current

    async def _pay(
        self, source_id: str, n: int, payment: Payment, current: Invoice
    ) -> tuple[Invoice, bool]:
        """The payment recorded on the copy: the copy as the answer shows it, and whether the
        answer was an earlier run's, replayed."""
        assert current.id is not None and self.service is not None
        request = self._request(f"payment {n}", source_id)
        method = self.refs.payment_method(payment.method)
        carried = payment.model_copy(update={"id": None, "method": method})
        self._read_back.pop(source_id, None)  # whatever this step does, that read is older
        try:
            done = await self.service.record_payment(request, current.id, carried)
        except UpstreamAuthFailed:
            raise  # the run stops
        except AdapterError as exc:
            raise StepFailed(f"payment {n}", exc, method_hint(exc, payment.method, method)) from exc
        self._wrote(source_id, done)
        return done.invoice or current, done.replayed

    def _wrote(self, source_id: str, done: Outcome) -> None:
        """Keep a step's answer for the verification when it is a read of the copy made after
        the step's last write call, here and now (never a replayed or looked-up answer)."""
        if done.read_back and not done.replayed and done.resolved is None and done.invoice:
            self._read_back[source_id] = done.invoice
        else:
            self._read_back.pop(source_id, None)

    def _request(self, step: str, source_id: str) -> WriteRequest:
        """The key of one step of one copy: the same in every run and after any crash. A copy
        made after a revert has keys of its own (``…:create#1``): the first copy's would replay
        what was reverted."""
        copy = self._copies.get(source_id, 0)
        refused = self._refused.get(source_id, {}).get(step, 0)
        key = f"{self.plan.source}:{source_id}:{step}" + (f"#{copy}" if copy else "")
        return WriteRequest(
            client=CLIENT,
            connection=self.target.connection.name,
            operation=f"migrate {step}",
            target=f"{self.plan.source}/{source_id}",
            idempotency_key=key + (f"~{refused}" if refused else ""),
        )

    async def _create(
        self,
        source_id: str,
        invoice: Invoice,
        translation: Translation,
        made_before: list[WriteWarning],
        *,
        recheck: bool = False,
        fresh: bool = True,
    ) -> Outcome:
        """The copy's create, under its key (``made_before``: what an earlier run's copy, taken
        for this one, says). ``recheck``: a new copy, whose family (``doubling``) is looked at
        again once its row says ``pending``: another run into the target may have passed its
        own look for the same family meanwhile, and of two such runs the later to write its row
        always sees the other's, so no two both send a create (both may skip). ``fresh``: no
        create of it was begun before, or none that made anything; else the row keeps what it
        says of the one begun (``BEGUN``), which its key settles."""
        assert self.service is not None and translation.invoice is not None
        request = self._request("create", source_id)
        # A marker its key always gives, kept in the row where the invoice carries it: found
        # by it, a copy whose key is forgotten before its run was resumed is not made twice.
        marker = marker_of(f"{request.client} {request.connection} {request.idempotency_key}")
        kept: dict[str, Any] = {}
        if fresh:
            kept = {
                "pending_since": math.floor(time.time()),
                # Whole seconds (the store keeps exact JSON), the safe way: a key absent
                # after them is looked for.
                "keep_s": math.floor(self.service.writes.ttl_s),
                "sent_as": sent_as(translation.invoice),
            }
            if self.target.marker_recovery(translation.invoice, marker) is not None:
                kept["marker"] = marker
            else:  # found again as an invoice like it: like what was sent, whatever changes
                kept["sent"] = translation.invoice.model_dump(mode="json", exclude_none=True)
        await self._record(source_id, None, "pending", invoice, kept, keep_begun=not fresh)
        if recheck:
            doubled = await doubling(self.store, self.source, self.target, invoice)
            if doubled is not None:
                raise _Doubled(doubled)
        try:
            return await self.service.create(
                request,
                translation.invoice,
                self.plan.handling,
                issued=self._issued_at_once(invoice),
                marker=marker,
            )
        except KeyReusedAfterSuccess as made:
            # Made by an earlier run whose later step failed; the map (or the source) changed
            # since, so this run's create is another request: the copy is that run's.
            made_before.append(WriteWarning("", EARLIER_COPY))
            return made.earlier
        except IdempotencyKeyReused as reused:
            if fresh:
                raise
            run = self._made_by.get(source_id, self.plan.run)
            raise IdempotencyKeyReused(
                f"its create was sent by run {run} as the map and the source were then, and "
                "what this run would send differs (the map or the source changed since): that "
                "create's outcome is not settled yet. Run the migration again as that run was "
                "(its map) to settle it, then this one"
            ) from reused
        except UpstreamAuthFailed as exc:
            # Refused unprocessed: the create recorded "pending" above is no copy that may
            # exist, unless an earlier one, not settled, may have made one.
            if fresh:
                await self._record(source_id, None, "failed", invoice, {"reason": exc.message})
            raise
        except AdapterError as exc:
            if not isinstance(exc, UpstreamError):
                # The target's own refusal: the next run sends the create under a key of its
                # own (its first would replay the refusal, even once the map is fixed).
                refused = self._refused.setdefault(source_id, {})
                refused["create"] = refused.get("create", 0) + 1
            raise


# What a copy whose source's payments changed since an earlier run is left for.
_COPY_ANEW = "compare them, then migrate revert the copy and run again to copy it anew"


class StepFailed(Exception):
    """A status or payment step of a copy failed at the target (``step``: its key's name;
    ``hint``: what to fix, where the error alone does not say it)."""

    def __init__(self, step: str, error: AdapterError, hint: str = "") -> None:
        super().__init__(step)
        self.step = step
        self.error = error
        self.hint = hint


class _Doubled(Exception):
    """The copy's family is found at the target once its row said ``pending``: a skip."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def settling(error: AdapterError) -> bool:
    """An uncertain write its key's retry can settle after a wait (``Retry-After``)."""
    return isinstance(error, OutcomeUncertain) and error.retryable and bool(error.retry_after)
