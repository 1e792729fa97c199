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
import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypeGuard

import structlog

from adapters.base import Adapter, WriteWarning
from adapters.resolution import marker_of, same_text
from gateway.canonical.errors import FieldError, InvalidInvoice
from gateway.canonical.model import Customer, Invoice, Payment
from gateway.errors import (
    AdapterError,
    BadIdentifier,
    IdempotencyError,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    NotFound,
    OutcomeUncertain,
    UpstreamAuthFailed,
    UpstreamError,
)
from gateway.migration.compare import Verdict, compare
from gateway.migration.origin import doubling
from gateway.migration.plan import Plan
from gateway.migration.references import ReferenceMap
from gateway.migration.report import Entry
from gateway.migration.translate import Translation, translate
from gateway.service.invoices import InvoiceService
from gateway.service.outcomes import Outcome, is_error
from gateway.service.preview import preview
from gateway.service.versions import VOLATILE
from gateway.service.write_request import KeyReusedAfterSuccess, WriteRequest
from gateway.store import CrosswalkEntry, Store, StoreError
from gateway.store.records import forgettable

_log = structlog.get_logger("gateway.migration")
CLIENT = "migrate"
FINISHED = frozenset({"verified", "differs"})
SOURCE_CHANGED = (
    "the source invoice changed since it was copied; the copy was not updated (a run copies "
    "once): migrate verify compares them as they are now"
)
EARLIER_COPY = (
    "copied by an earlier run whose later step failed, before the map or the source changed: "
    "the changes since do not apply to this copy (migrate revert it, then run again, to copy "
    "it anew)"
)
EARLIER_PAYMENT = (
    "recorded by an earlier run, before the map changed what it would send (payment_methods): "
    "the change does not apply to this payment"
)
# What a ``pending`` row keeps of its create once begun, whatever is recorded of it later.
_BEGUN = ("marker", "pending_since", "keep_s", "sent_as")
# ``Copier._unrecorded``: the create begun made nothing (never sent, refused, not there).
NOTHING_MADE = "nothing made"
_ISSUED = ("open", "paid", "void")  # statuses an issued invoice goes on to
# A step whose key another worker holds is tried again this often, after its lease's end.
BUSY_ATTEMPTS, _BUSY_WAIT_S = 3, 60.0


async def wait_for_key(exc: IdempotencyInProgress | OutcomeUncertain) -> None:
    """Wait until a step's held key may be free, or its unanswered write settled: as long as
    the answer says (a killed holder's lease runs out), at most a minute."""
    await asyncio.sleep(min(exc.retry_after or 1.0, _BUSY_WAIT_S) + 0.1)


@dataclass
class Copier:
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
                reason = _for_a_run(exc)
                if last or not settling(exc):
                    # Its create may have been made: kept "pending", as a create cut off is,
                    # so that verify and revert name it (the next run settles it).
                    state = "pending"
                    break
                await wait_for_key(exc)
            except AdapterError as exc:
                reason = _said(exc)  # with the fields the target named, and what of each
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
        if keyed and state == "failed" and _pending(await self._crosswalk(source_id)):
            # Its create's key refused it: the create an earlier attempt began is not settled,
            # and the row, "pending", keeps naming it (verify, revert, the next run's lookup).
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
        if _a_copy(known) and held is None:
            # Gone: a new copy, this run's, with keys of its own.
            self._copies[source_id] = generation(known) + 1
            self._made_by.pop(source_id, None)
        if held is not None and await self._forgotten(source_id):
            return await self._keys_expired(source_id, invoice, known, held)
        begun = held is not None or _pending(known)
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
            # (a reverted one is none: kept, this run's entry would make it this run's copy).
            earlier = known.target_id if _a_copy(known) else None
            reason = {"reason": translation.skipped}
            await self._record(source_id, earlier, "skipped", invoice, reason)
            return Entry(source_id, "skipped", reason=translation.skipped)
        if self.store is None:
            return self._preview(source_id, invoice, translation)
        assert self.service is not None
        made_before: list[WriteWarning] = []
        unrecorded: Outcome | None = None
        fresh = True  # no create begun before, or none that made anything
        if known is not None and _pending(known):
            taken = await self._unrecorded(source_id, invoice, known, translation)
            if isinstance(taken, Entry):
                return taken
            if isinstance(taken, Outcome):
                unrecorded = taken
            fresh = taken == NOTHING_MADE
            if not fresh and known.run:
                # The earlier run's create, settled by its key: what it made is that run's.
                self._made_by[source_id] = known.run
        try:
            created = unrecorded or await self._create(
                source_id, invoice, translation, made_before, recheck=not begun, fresh=fresh
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
        warnings += _due_date_added(translation.invoice, copy, self.target.provider)
        verdict = compare(invoice, copy, self.target)
        return await self._finished(source_id, target_id, invoice, warnings, verdict)

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
        return self._entry(source_id, "copied", target_id, warnings, verdict)

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
        said_error = _said(error) + failed.hint
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
            return Entry(source_id, "failed", reason=_said(exc))  # as the run would say it
        try:
            # Fitted already: the preview's own fit finds nothing more to drop.
            previewed, more = preview(self.target, translation.invoice, self.plan.handling)
        except InvalidInvoice as exc:
            reason = _fields_said(exc.errors)
            return Entry(source_id, "skipped", reason=f"the target could not take it: {reason}")
        verdict = compare(invoice, previewed, self.target, preview=True)
        warnings = [*translation.warnings, *translation.as_source(more)]
        warnings += carried_forecast(invoice, previewed, self.target)
        return self._entry(source_id, "would_copy", None, warnings, verdict)

    def _issued_at_once(self, source: Invoice) -> bool:
        """An issued source is created issued where the target's create can do that: one
        write instead of a create and an ``issue`` (``capabilities.create_issued``)."""
        return source.status in _ISSUED and self.target.capabilities.create_issued

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
        if wanted in _ISSUED and current.status == "draft":
            step = next((a for a in ("issue", "mark_sent") if a in caps.actions), None)
            if step is None:
                warnings.append(WriteWarning("/status", f"{provider} cannot issue an invoice"))
            else:
                current = await self._act(source_id, step, current)
        if "create" in caps.payments:
            for n, payment in enumerate(source.payments):
                beyond = _beyond_due(payment, current)
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
                    if not _recorded_as(payment, current, n):
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
            unmarked = _not_marked_paid(source, current, self.target)
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
            warnings += _paid_not_carried(source, current)
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
            raise StepFailed(
                f"payment {n}", exc, _method_hint(exc, payment.method, method)
            ) from exc
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

    async def _crosswalk(self, source_id: str) -> CrosswalkEntry | None:
        store = self.store or self.seen
        if store is None:
            return None
        return await store.crosswalk_get(self.plan.source, source_id, self.plan.target)

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
        says of the one begun (``_BEGUN``), which its key settles."""
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
                "sent_as": _sent_as(translation.invoice),
            }
            if self.target.marker_recovery(translation.invoice, marker) is not None:
                kept["marker"] = marker
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
            # Refused unprocessed: the create recorded "pending" above is no copy that may exist.
            await self._record(source_id, None, "failed", invoice, {"reason": exc.message})
            raise
        except AdapterError as exc:
            if not isinstance(exc, UpstreamError):
                # The target's own refusal: the next run sends the create under a key of its
                # own (its first would replay the refusal, even once the map is fixed).
                refused = self._refused.setdefault(source_id, {})
                refused["create"] = refused.get("create", 0) + 1
            raise

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
            # Looked for as it was sent: the map may have changed its customer since.
            sent = _as_sent_then(translation.invoice, known.detail.get("sent_as"))
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
                    if by_marker  # else the invoice's own notes leave no room for a marker
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
            what = f"its copy {made.invoice.id} could not be read: {_said(exc)}"
            return await self._untold(source_id, invoice, known, what, LOOK_AGAIN)
        self._made_by[source_id] = known.run or self.plan.run
        warnings = list(made.warnings)
        sent_then = known.detail.get("sent_as")
        changed = changed_since(known.fingerprint, self._fingerprint(source_id, invoice))
        if changed or (isinstance(sent_then, dict) and sent_then != _sent_as(translation.invoice)):
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
        if not _a_copy(known):
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
                return self._entry(source_id, "would_copy", held.id, warnings, verdict)
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
        (``_BEGUN``)."""
        if self.store is None:
            return
        if target_id is None and state in ("failed", "pending"):
            # Read again: the attempt may have got as far as a copy (``created``), and a create
            # begun keeps its marker and since when it is pending (``_unrecorded``).
            known = await self._crosswalk(source_id)
            if state == "failed":
                target_id = known.target_id if _a_copy(known) else None
            elif keep_begun and _pending(known):
                assert known is not None
                begun = {k: known.detail[k] for k in _BEGUN if k in known.detail}
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

    @staticmethod
    def _entry(
        source_id: str,
        outcome: Any,
        target_id: str | None,
        warnings: list[WriteWarning],
        verdict: Verdict,
    ) -> Entry:
        return Entry(
            source_id,
            outcome,
            target_id=target_id,
            warnings=[w.as_dict() for w in warnings],
            totals_differences=verdict.differences,
            verification=verdict.verification,
        )


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


def _method_hint(error: AdapterError, source: str | None, sent: str | None) -> str:
    """For a payment the target refused for its method: the source's method, and the map's key
    that sends it as another (the target's refusal names only the methods it takes)."""
    pointers = {e.pointer for e in getattr(error, "errors", None) or []}
    if "/method" not in pointers:
        return ""
    was = repr(source) + (f", sent as {sent!r}" if sent != source else "")
    return f" (the source's method is {was}: map it to one the target takes under payment_methods)"


def _sent_as(invoice: Invoice) -> dict[str, Any]:
    """What a create's lookup narrows by (``lookup_query``), as sent: kept in its row."""
    customer = invoice.customer.id if invoice.customer is not None else None
    issued = invoice.issue_date
    return {
        "customer": None if customer is None else str(customer),
        "issue_date": None if issued is None else issued.isoformat(),
        "number": invoice.number,
    }


def _as_sent_then(invoice: Invoice, sent_as: Any) -> Invoice:
    """``invoice`` with what its row says the create sent of ``_sent_as``'s fields."""
    if not isinstance(sent_as, dict):
        return invoice
    changes: dict[str, Any] = {"number": sent_as.get("number")}
    issued = sent_as.get("issue_date")
    changes["issue_date"] = date.fromisoformat(issued) if isinstance(issued, str) else None
    customer = sent_as.get("customer")
    if customer is None:
        changes["customer"] = None
    elif invoice.customer is not None:
        changes["customer"] = invoice.customer.model_copy(update={"id": customer})
    else:
        changes["customer"] = Customer(id=customer)
    return invoice.model_copy(update=changes)


class _Doubled(Exception):
    """The copy's family is found at the target once its row said ``pending``: a skip."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def settling(error: AdapterError) -> bool:
    """An uncertain write its key's retry can settle after a wait (``Retry-After``)."""
    return isinstance(error, OutcomeUncertain) and error.retryable and bool(error.retry_after)


def _pending(known: CrosswalkEntry | None) -> bool:
    """Whether the entry is a copy whose create may have been made, and names none: its
    answer lost, or its process killed around it."""
    return known is not None and known.state == "pending" and known.target_id is None


def _a_copy(known: CrosswalkEntry | None) -> TypeGuard[CrosswalkEntry]:
    """Whether the entry names a copy at the target (not one reverted since)."""
    return known is not None and known.target_id is not None and known.state != "reverted"


def refusals(known: CrosswalkEntry | None) -> dict[str, int]:
    """How many times the target refused each step of an unfinished copy (its keys' suffix)."""
    if known is None or known.state == "reverted":
        return {}
    kept = known.detail.get("refused")
    if not isinstance(kept, dict):
        return {}
    return {str(step): int(n) for step, n in kept.items() if isinstance(n, int)}


def generation(known: CrosswalkEntry | None) -> int:
    """Which copy of a source invoice this is: 0, then one more after each revert (kept in the
    crosswalk's detail, so a crash in the middle of a later copy resumes with its keys)."""
    if known is None:
        return 0
    made = int(known.detail.get("copy", 0))
    return made + 1 if known.state == "reverted" else made


FINGERPRINT_FORM = "v2:"  # what the fields below gave; an entry without it is older


def fingerprint(invoice: Invoice) -> str:
    """What the source invoice said when it was copied (a later change shows): a digest of its
    canonical JSON as pydantic-core writes it (fields in the model's order), without what
    changes while the invoice does not (``versions.VOLATILE``: ``overdue`` turns true on the
    day after it is due)."""
    text = invoice.model_dump_json(exclude=set(VOLATILE))
    return FINGERPRINT_FORM + hashlib.sha256(text.encode()).hexdigest()


def changed_since(recorded: str, now: str) -> bool:
    """Whether the source changed since its copy's fingerprint was recorded; an entry recorded
    by an earlier version (another form, which counted ``overdue``) cannot tell: not said."""
    return recorded.startswith(FINGERPRINT_FORM) and recorded != now


def _not_marked_paid(source: Invoice, copy: Invoice, target: Adapter) -> WriteWarning | None:
    """Why the copy of a paid source, not paid by its payments, is not marked paid (the target
    cannot, or it would overstate what was paid: ``_paid_overstated``), or None: marked."""
    if "mark_paid" not in target.capabilities.actions:
        return WriteWarning("/status", f"{target.provider} cannot mark it paid")
    overstated = _paid_overstated(source, copy)
    return None if overstated is None else WriteWarning("/status", f"not marked paid: {overstated}")


def _paid_overstated(source: Invoice, copy: Invoice) -> str | None:
    """Why marking ``copy`` paid would state a payment the source never had, or None. Marking
    an invoice paid settles what it has due (draft_publish records a payment of it, dated
    today), so the copy then shows its whole total paid: right only where the source was paid
    exactly that. A copy whose total differs (a discount left out under ``--lenient``, another
    rounding) is left as its payments make it, with this said."""
    if source.totals is None or copy.totals is None:
        return None  # nothing to compare: the status is the record, as the source's is
    if copy.totals.total == source.totals.paid:
        return None
    return (
        f"the source was paid {source.totals.paid} and the copy's total is "
        f"{copy.totals.total}: marked paid, the copy would show {copy.totals.total} paid, "
        f"not {source.totals.paid}"
    )


def _recorded_as(payment: Payment, copy: Invoice, n: int) -> bool:
    """Whether the copy's payment ``n`` is the source's ``payment`` (its amount, date and, where
    the target keeps one, reference): a step's key names its place, not the payment."""
    if n >= len(copy.payments):
        return False
    theirs = copy.payments[n]
    return (
        theirs.amount == payment.amount
        and theirs.date == payment.date
        and theirs.reference in (None, payment.reference)
    )


def _beyond_due(payment: Payment, copy: Invoice) -> str | None:
    """Why ``payment`` is not recorded on ``copy``, or None: it is more than the copy has due.
    A copy whose total came out below what the source was paid (a discount or a line left out
    under ``--lenient``, another rounding) cannot take every payment: a target refuses a
    payment over the balance (draft_publish), and one that took it would show a credit the
    source never had. Left out and said, the copy is finished (its verification differs)
    instead of failing the same step on every run."""
    if copy.totals is None or payment.amount <= copy.totals.due:
        return None
    return (
        f"not recorded: {payment.amount} is more than the copy has due ({copy.totals.due} of "
        f"its total {copy.totals.total})"
    )


def carried_forecast(source: Invoice, copy: Invoice, target: Adapter) -> list[WriteWarning]:
    """For a dry run: the warnings the run's carrying of the source's payments and status
    (``Copier._carry``) would give the previewed ``copy`` (nothing paid yet), each payment
    taken as the target would take it, by the same rules: a payment beyond what the copy has
    due left out, a paid source's copy not marked paid where that would overstate what was
    paid, what the target cannot do said. Where the copy's total differs from what the source
    was paid (another rounding), the dry run says so before anything is copied."""
    caps, provider = target.capabilities, target.provider
    if copy.totals is None:
        return []
    warnings: list[WriteWarning] = []
    drafts = _keeps_drafts(target)
    paid = copy.totals.paid  # nothing yet, written as the target writes its amounts
    issues = caps.create_issued or any(a in caps.actions for a in ("issue", "mark_sent"))
    if source.status in _ISSUED and drafts and not issues:
        warnings.append(WriteWarning("/status", f"{provider} cannot issue an invoice"))
    if source.payments and "create" in caps.payments:
        for n, payment in enumerate(source.payments):
            beyond = _beyond_due(payment, _paid_so_far(copy, paid))
            if beyond is not None:
                warnings.append(WriteWarning(f"/payments/{n}", beyond))
                continue
            paid += payment.amount
    elif source.payments:
        warnings.append(
            WriteWarning("/payments", f"{provider} cannot record payments; not carried")
        )
    current = _paid_so_far(copy, paid)
    paid_said = False
    if source.status == "paid" and paid < copy.totals.total:
        paid_said = True
        unmarked = _not_marked_paid(source, current, target)
        if unmarked is not None:
            warnings.append(unmarked)
    if source.status == "void" and "void" not in caps.actions:
        warnings.append(WriteWarning("/status", f"{provider} cannot void an invoice"))
    if source.status == "draft" and not drafts:
        made = "paid" if copy.totals.due <= 0 else "open"  # issued at once: nothing due is paid
        warnings.append(WriteWarning("/status", f"{provider} keeps no drafts: the copy is {made}"))
    if not paid_said and not source.payments:
        warnings += _paid_not_carried(source, current)
    return warnings


def _keeps_drafts(target: Adapter) -> bool:
    """Whether the target has drafts (one of its statuses reads as one): a create there makes
    a draft, where a target without them makes the invoice issued at once."""
    return any(meaning.status == "draft" for meaning in target.mapping.status_read.values())


def _paid_so_far(copy: Invoice, paid: Decimal) -> Invoice:
    """The previewed ``copy`` as it would read with ``paid`` recorded."""
    assert copy.totals is not None
    totals = copy.totals.model_copy(update={"paid": paid, "due": copy.totals.total - paid})
    return copy.model_copy(update={"totals": totals})


RUN_AGAIN = "run the migration again with the same --run to copy it"
LOOK_AGAIN = "Run the migration again with the same --run to look again"


def _for_a_run(error: OutcomeUncertain) -> str:
    """An untold create's message with a command's advice, not an HTTP caller's (a migration
    has no Idempotency-Key to send: its run keys each copy)."""
    if not error.untold:
        return error.message
    if not error.retryable:
        return f"{error.untold} Check the target for the copy before running the migration again."
    after = f" after {max(1, math.ceil(error.retry_after))} s" if error.retry_after else ""
    return (
        f"{error.untold} Run the migration again with the same --run{after}: the copy's create "
        "asks the target again before anything is sent."
    )


def _said(error: AdapterError) -> str:
    """The error's message with the fields it names and what each says (where the message
    does not say it already), and what the map can do about it where it can."""
    errors = getattr(error, "errors", None) or []
    fields = [e for e in errors if e.detail not in error.message]
    named = _fields_said(fields)
    said = f"{error.message} ({named})" if named else error.message
    if any(e.pointer == "/due_date" and e.detail.startswith("is required") for e in errors):
        said += (
            "; give the map a due_days: a copy whose source has no due date then gets one, "
            "that many days after its issue date"
        )
    return said


def _fields_said(fields: Sequence[FieldError]) -> str:
    return "; ".join(f"{e.pointer}: {e.detail}" if e.pointer else e.detail for e in fields)


def _due_date_added(sent: Invoice, copy: Invoice, target: str) -> list[WriteWarning]:
    """A warning where the target gave the copy a due date of its own default (bill_crm's
    "client/system due days") though none was sent: the source has none, and the copy can
    read as overdue where the source never did."""
    if sent.due_date is not None or copy.due_date is None:
        return []
    overdue = ", so it reads as overdue" if copy.overdue else ""
    return [
        WriteWarning(
            "/due_date",
            f"the source has none; {target} gave the copy {copy.due_date} by its own "
            f"default{overdue} (the map's due_days sets one of your choosing)",
        )
    ]


def _paid_not_carried(source: Invoice, copy: Invoice) -> list[WriteWarning]:
    """A warning where the source shows an amount paid without payment records (the provider's
    own figure) that the copy does not show: there is nothing to record it from. Where its
    provider says it is partly paid and gives no amount (bill_crm's Part Paid), the copy shows
    it owing everything, and is said so too: nothing else tells the customer paid part."""
    if source.totals is None or copy.totals is None:
        return []
    if source.totals.paid > copy.totals.paid:
        return [
            WriteWarning(
                "/totals/paid",
                f"the source shows {source.totals.paid} paid, with no payment records to carry; "
                f"the copy shows {copy.totals.paid} paid",
            )
        ]
    if source.payment_status == "partially_paid" and copy.payment_status == "unpaid":
        return [
            WriteWarning(
                "/payment_status",
                "the source is partially paid by its provider's word, with no amount or payment "
                "records to carry; the copy shows nothing paid: record at the target what was "
                "paid",
            )
        ]
    return []
