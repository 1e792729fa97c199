"""bill_crm's lost answers: whether a create or a duplicate whose answer was lost was made.

``BillCrmAdapter``'s hooks (``prepare_create``, ``find_created``, ``prepare_action``,
``find_action``) delegate here; the defaults are at the end of ``adapters/base.py``, the lookup
in ``adapters/resolution.py``. A create is found by its marker in ``notes`` or, when the caller
set them, as the one new invoice of the client that resembles what was sent; one found half-made
is finished with the create's remaining calls, or deleted. A duplicate is found as the one new
clone. What each finding answers: ``docs/providers/bill_crm.md``, "Lost answers".
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from adapters.base import (
    Adapter,
    AdapterError,
    DuplicateInputs,
    Handling,
    ListQuery,
    NotFound,
    WriteResult,
)
from adapters.bill_crm import actions
from adapters.bill_crm.plan import plan
from adapters.resolution import (
    Resolution,
    Walk,
    candidates,
    carries_marker,
    created_since,
    judge,
    looks_like,
    lookup_query,
    marker_room,
    several,
)
from gateway.canonical.model import Invoice

if TYPE_CHECKING:
    from adapters.bill_crm.adapter import BillCrmAdapter


async def prepare_create(adapter: BillCrmAdapter, invoice: Invoice, marker: str) -> dict[str, Any]:
    """The marker goes in ``notes`` when the caller left them empty (the generic way).
    Otherwise the client's invoices made in the last minutes that resemble this one, whole
    or half-made, are noted: none of them is taken for it later."""
    path = adapter.mapping.dedupe.marker
    if path is not None and marker_room(invoice, path):
        return await Adapter.prepare_create(adapter, invoice, marker)
    started = int(time.time())  # whole seconds: the store keeps exact JSON, no floats
    try:
        # What strict handling refuses is never sent, so lenient is what can be found.
        sent, _ = adapter.fit(invoice, "lenient")
    except AdapterError:
        sent = invoice  # the create refuses it before sending anything
    walk = Walk()
    existing = [
        candidate.id
        for candidate in await _resembling(adapter, sent, started, walk)
        if candidate.id is not None
    ]
    return {"existing": existing, "complete": walk.complete, "started_at": started}


async def find_created(
    adapter: BillCrmAdapter,
    invoice: Invoice,
    recovery: dict[str, Any],
    *,
    handling: Handling = "strict",
) -> Resolution:
    """The invoice carrying the marker in ``notes``, else the one new invoice of the client
    that resembles what was sent; listed newest first back to the create's start.

    A create is several calls, and only the first one (the header) can lose its answer
    without the adapter deleting what it made: an invoice found without the lines, discount,
    adjustment or tags that were sent is half-made. It is finished with the create's
    remaining calls and the create is ``done``; if one of them fails, it is deleted, as a
    create that fails part-way is, and the create is ``not_done``.
    """
    path, marker = recovery.get("marker_field"), recovery.get("marker")
    by_marker = isinstance(path, str) and isinstance(marker, str)
    path, marker = (str(path), str(marker)) if by_marker else ("", "")
    started = recovery.get("started_at")
    existing = set(recovery.get("existing", []))
    how = f"marker {marker} in {path}" if by_marker else "an invoice like the one sent"
    try:
        sent, warnings = adapter.fit(invoice, handling)
        walk = Walk()
        if by_marker:
            query = lookup_query(sent, adapter.mapping.dedupe, adapter.today())
            since = adapter.lookup_since(started)
            matches = [
                candidate
                async for candidate in candidates(
                    adapter, query, adapter.mapping.dedupe, walk, since=since
                )
                if carries_marker(candidate, path, marker)
            ]
        else:
            matches = [
                candidate
                for candidate in await _resembling(adapter, sent, started, walk)
                if candidate.id not in existing and created_since(candidate, started)
            ]
    except AdapterError as exc:
        return Resolution.failed("looking for the invoice", exc)

    async def judged(matches: list[Invoice]) -> Resolution:
        """What the lookup found. Several are judged again, by the runner, without those the
        store keeps as another write's (``Resolution.without``)."""
        if len(matches) > 1:

            async def without(others: frozenset[str]) -> Resolution:
                left = [match for match in matches if str(match.id) not in others]
                return await judged(left)

            # Several stay several however often it is asked: no retry can tell
            # (resolution.judge), but those other writes made are not this one's.
            return several(f"{adapter.provider} has several invoices with {how}", matches, without)
        if not matches:
            if walk.complete:
                return Resolution.not_done(
                    f"{adapter.provider} lists no invoice with {how} made since the create began "
                    f"({walk.pages} page(s) read)"
                )
            return Resolution.unknown(
                f"{adapter.provider} could not be searched back to the create's start for {how} "
                f"({walk.pages} page(s) read, the lookup's limit)"
            )
        found = matches[0]
        if not by_marker and recovery.get("complete") is not True:

            async def not_it(others: frozenset[str]) -> Resolution:
                return await judged([m for m in matches if str(m.id) not in others])

            # As several are: no retry can tell, but judged again without it where the store
            # knows another write made it.
            unsure = Resolution.untellable(
                f"{adapter.provider} invoice {found.id} looks like the one sent, but the "
                "look-alikes there before the create could not all be listed"
            )
            return replace(unsure, among=(str(found.id),), without=not_it)
        missing = _missing(sent, found)
        if not missing:
            return Resolution.done(
                WriteResult(found, warnings), f"{adapter.provider} has invoice {found.id} ({how})"
            )
        return await _finish(adapter, str(found.id), invoice, recovery, handling, how, missing)

    return await judged(matches)


async def prepare_action(adapter: BillCrmAdapter, invoice_id: str, action: str) -> dict[str, Any]:
    """A status change: the status id it starts from. A duplicate: the invoice, and the copies
    of it made in the last minutes, so only a new one is taken for it."""
    if action == "duplicate":
        return await prepare_duplicate(adapter, invoice_id, DuplicateInputs())
    if action not in actions.STATUS_ACTIONS:
        return await Adapter.prepare_action(adapter, invoice_id, action)
    return {"before_id": actions.status_of(await adapter._fetch(invoice_id))}


async def prepare_duplicate(
    adapter: BillCrmAdapter, invoice_id: str, inputs: DuplicateInputs
) -> dict[str, Any]:
    """The clone as it will read (the source with the inputs' client and dates), and the
    copies like it made in the last minutes."""
    started = int(time.time())  # whole seconds: the store keeps exact JSON, no floats
    raw = await adapter._fetch(invoice_id)
    clone = actions.clone_request(raw, inputs)  # refused inputs: refused before anything else
    expected = actions.expected_clone(adapter._read(raw), clone)
    walk = Walk()
    existing = [copy.id for copy in await _clones(adapter, expected, started, walk)]
    return {
        "source": expected.model_dump(mode="json", exclude={"remote_data"}),
        "existing": existing,
        "complete": walk.complete,
        "started_at": started,
    }


async def find_action(
    adapter: BillCrmAdapter, invoice_id: str, action: str, recovery: dict[str, Any]
) -> Resolution:
    """A status change: by the status id read back (``issue`` and ``send``: the default, and
    ``send`` leaves no trace, so it is ``unknown`` once the invoice is published). A duplicate:
    the one new draft of the client with the clone's dates, lines, notes, terms and tags."""
    if action == "duplicate":
        return await find_duplicate(adapter, invoice_id, DuplicateInputs(), recovery)
    rule = actions.STATUS_ACTIONS.get(action)
    before = recovery.get("before_id")
    if rule is None or not isinstance(before, str):
        return await Adapter.find_action(adapter, invoice_id, action, recovery)
    try:
        raw = await adapter._fetch(invoice_id)
    except AdapterError as exc:
        return Resolution.failed(f"reading invoice {invoice_id} back", exc)
    now = actions.status_of(raw)
    if now == rule.target:
        return Resolution.done(
            adapter._read(raw), f"invoice {invoice_id} is now {actions.label(now)}"
        )
    if now == before:
        return Resolution.not_done(f"invoice {invoice_id} is still {actions.label(now)}")
    return Resolution.unknown(
        f"invoice {invoice_id} went from {actions.label(before)} to {actions.label(now)}, "
        f"not by {action}"
    )


async def find_duplicate(
    adapter: BillCrmAdapter, invoice_id: str, inputs: DuplicateInputs, recovery: dict[str, Any]
) -> Resolution:
    """The one new invoice made since the duplicate began that reads as the clone would."""
    try:
        expected = Invoice.model_validate(recovery["source"])
    except (KeyError, ValueError):
        return Resolution.unknown(f"no copy of invoice {invoice_id} was kept before cloning")
    started = recovery.get("started_at")
    existing = set(recovery.get("existing", []))
    walk = Walk()
    try:
        clones = await _clones(adapter, expected, started, walk)
    except AdapterError as exc:
        return Resolution.failed(f"looking for a clone of {invoice_id}", exc)
    new = [clone for clone in clones if clone.id not in existing and created_since(clone, started)]
    return judge(
        adapter.provider,
        new,
        walk,
        looked_for=f"a clone of invoice {invoice_id} made since the duplicate began",
        sure=recovery.get("complete") is True,
    )


async def _resembling(
    adapter: BillCrmAdapter, sent: Invoice, started: Any, walk: Walk
) -> list[Invoice]:
    """The client's invoices, newest first back to ``started``, that may be ``sent``."""
    query = lookup_query(sent, adapter.mapping.dedupe, adapter.today())
    since = adapter.lookup_since(started)
    return [
        candidate
        async for candidate in candidates(adapter, query, adapter.mapping.dedupe, walk, since=since)
        if _resembles(sent, candidate)
    ]


async def _clones(
    adapter: BillCrmAdapter, source: Invoice, started: Any, walk: Walk
) -> list[Invoice]:
    """The client's invoices, newest first back to ``started``, that may be clones of
    ``source``."""
    customer = source.customer.id if source.customer is not None else None
    query = ListQuery(customer_id=str(customer) if customer is not None else None)
    since = adapter.lookup_since(started)
    return [
        candidate
        async for candidate in candidates(adapter, query, adapter.mapping.dedupe, walk, since=since)
        if _is_clone(source, candidate)
    ]


async def _finish(
    adapter: BillCrmAdapter,
    invoice_id: str,
    invoice: Invoice,
    recovery: dict[str, Any],
    handling: Handling,
    how: str,
    missing: str,
) -> Resolution:
    """A half-made invoice of this create gets the create's remaining calls; if one fails
    it is deleted, as a create that fails part-way is, and the create can be sent again."""
    half = f"{adapter.provider} invoice {invoice_id} ({how}) was half-made (without its {missing})"
    marked = adapter.marked(invoice, recovery)
    try:
        fitted, warnings = adapter.fit(marked, handling)
        await adapter.fill(invoice_id, plan(marked, fitted, adapter.mapping, adapter.connection))
    except AdapterError as exc:
        try:
            await adapter.delete(invoice_id)
        except NotFound:
            pass  # gone already: deleted by hand, or by a cleanup that lost its answer
        except AdapterError as again:
            return Resolution.unknown(
                f"{half}; finishing it failed ({exc.message}) and so did deleting it "
                f"({again.message})"
            )
        return Resolution.not_done(
            f"{half}; finishing it failed ({exc.message}), so it was deleted, as a create "
            "that fails part-way is"
        )
    try:
        finished = await adapter.get(invoice_id)
    except AdapterError as exc:
        return Resolution.unknown(
            f"{half}; it was finished but could not be read back ({exc.message})"
        )
    return Resolution.done(
        WriteResult(finished, warnings), f"{half}; the create's remaining calls finished it"
    )


def _text(value: str | None) -> str | None:
    """A note or terms as bill_crm reads it back: blank is none."""
    return value if value is not None and value.strip() else None


def _items(invoice: Invoice) -> list[Any]:
    return [line for line in invoice.lines if line.kind != "section"]


def _resembles(sent: Invoice, candidate: Invoice) -> bool:
    """Whether ``candidate`` may be ``sent`` created, whole or half-made: the same client,
    dates, notes and terms, and the same lines, or none yet (the header is the first call)."""
    if (_text(candidate.notes), _text(candidate.terms)) != (_text(sent.notes), _text(sent.terms)):
        return False
    if looks_like(sent, candidate):
        return True
    return not _items(candidate) and looks_like(sent.model_copy(update={"lines": []}), candidate)


def _missing(sent: Invoice, found: Invoice) -> str:
    """What of ``sent`` the create's later calls would have added and ``found`` lacks ("" when
    nothing): the lines, the header's discount and adjustment, the tags."""
    missing = []
    if _items(sent) and not found.lines:
        missing.append("lines")
    if sent.discount is not None and found.discount is None:
        missing.append("discount")
    adjustment = sent.adjustment
    # A zero adjustment without a description reads back as none.
    shown = adjustment is not None and bool(adjustment.amount or adjustment.description)
    if shown and found.adjustment is None:
        missing.append("adjustment")
    if sent.tags and not found.tags:
        missing.append("tags")
    return ", ".join(missing)


def _is_clone(source: Invoice, candidate: Invoice) -> bool:
    """Whether ``candidate`` is what cloning ``source`` makes: the same client, dates and lines
    (new ids), notes, terms and tags."""
    if candidate.id is None or candidate.id == source.id:
        return False
    if (_text(candidate.notes), _text(candidate.terms)) != (
        _text(source.notes),
        _text(source.terms),
    ):
        return False
    return sorted(candidate.tags) == sorted(source.tags) and looks_like(source, candidate)
