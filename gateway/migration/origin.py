"""Whether a source invoice is itself a copy migrations made of an invoice at the target.

A migration from A to B, then from B back to A, would copy each of B's copies back to A as a
second invoice beside the one it was made from: a paid invoice would come back open, its
customer asked to pay again; so would A → B → C, then C → A. So before a copy is made, the
source invoice's origin is followed back:

- **through the crosswalk** (the store's record of every copy): the entries whose copy is this
  invoice, then those whose copy is their source, and so on (``MAX_STEPS``), until one's source
  is the target connection; a reverted copy counts (a revert voids what it cannot delete);
- **from the stamp** a copy carries where its provider has room for one (``migration.stamp``
  in ``mappings/<provider>.yaml``: bill_crm's ``migrated-from:<connection>:<id>`` tag), which
  holds when the copy was made through another store. A stamp is text anyone can write, and
  it names a connection, not an account: an original known by it is taken for one only where
  it reads as the copy does (issue date, currency).

Where the origin is found and the target still holds it, the copy is a skip that names it.
Where the target no longer has it (deleted since), copying back restores it and goes ahead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adapters.base import Adapter
from gateway.canonical.model import Invoice
from gateway.errors import BadIdentifier, NotFound
from gateway.store import Store

STAMP_PREFIX = "migrated-from:"


def stamp(connection: str, invoice_id: str | None) -> str:
    """What a copy carries of its source, where its provider has room (``translate``)."""
    return f"{STAMP_PREFIX}{connection}:{invoice_id}"


@dataclass(frozen=True)
class Origin:
    """The target's invoice that a source invoice is a copy of, and how that is known."""

    invoice_id: str
    known_by: str  # "the crosswalk: …", "its stamp …"
    # Known by a stamp, which anyone can write and which names a connection, not an account:
    # the original must read as the copy does (issue date, currency) to be taken for it.
    stamped: bool = False


# A chain of migrations longer than this (A → B → … → A) is not followed further.
MAX_STEPS = 8


def stamps_of(invoice: Invoice, field: str | None) -> list[tuple[str, str]]:
    """The (connection, invoice id) pairs that ``invoice``'s stamps name (in ``field``, its
    provider's ``migration.stamp``), in the order it carries them: a copy of a copy carries its
    source's stamps with its own (bill_crm's tags travel with the copy). Connection names hold
    no colon, so the id is everything after the second one."""
    if field is None:
        return []
    values = invoice.tags if field == "tags" else [getattr(invoice, field, None)]
    named: list[tuple[str, str]] = []
    for text in values:
        if isinstance(text, str) and text.startswith(STAMP_PREFIX):
            connection, _, invoice_id = text[len(STAMP_PREFIX) :].partition(":")
            if connection and invoice_id:
                named.append((connection, invoice_id))
    return named


async def origin_at_target(
    store: Store | None, source: Adapter, invoice: Invoice, target: str
) -> Origin | None:
    """The invoice on connection ``target`` that ``invoice`` (read from ``source``) was made
    from by migrations, one or several (A → B → C, then C → A): followed back through the
    crosswalk from the invoice itself, else from what its stamps name (one naming the target
    first, whichever place it has among them); None when it is no such copy."""
    if store is not None:
        start = (source.connection.name, str(invoice.id))
        found = await _back_through(store, start, [], target, by_stamp=False)
        if found is not None:
            return found
    named = stamps_of(invoice, source.mapping.migration_stamp)
    for connection, invoice_id in named:
        if connection == target:
            return Origin(invoice_id, f"its stamp {stamp(connection, invoice_id)}", stamped=True)
    if store is None:
        return None
    for each in named:
        found = await _back_through(
            store, each, [f"its stamp {stamp(*each)}"], target, by_stamp=True
        )
        if found is not None:
            return found
    return None


async def _back_through(
    store: Store, start: tuple[str, str], path: list[str], target: str, *, by_stamp: bool
) -> Origin | None:
    """The crosswalk followed back from ``start`` (a connection and an invoice id), breadth
    first, at most ``MAX_STEPS`` copies, to an invoice of ``target``; ``path``: how ``start``
    was reached, said back with the steps."""
    frontier = [(start, path)]
    seen = {start}
    for _ in range(MAX_STEPS):
        if not frontier:
            return None
        later: list[tuple[tuple[str, str], list[str]]] = []
        for (connection, invoice_id), said in frontier:
            # Reverted copies too: one a revert could only void is still there, and one it
            # deleted is met only as the source of a copy made before (its money is still the
            # target's invoice's).
            for entry in await store.crosswalk_copies_as(connection, invoice_id):
                step = (entry.source_connection, entry.source_id)
                run = f" by run {entry.run}" if entry.run else ""
                made = [*said, f"{connection} {invoice_id} copied from {step[0]} {step[1]}{run}"]
                if step[0] == target:
                    return Origin(step[1], "the crosswalk: " + ", ".join(made), by_stamp)
                if step not in seen:
                    seen.add(step)
                    later.append((step, made))
        frontier = later
    return None


async def still_there(target: Adapter, origin: Origin, invoice: Invoice) -> bool:
    """Whether the target still holds the origin (a 404, or an id that can name no record
    there: nothing to double), and, known by a stamp alone, reads as ``invoice`` does (a copy
    carries its original's issue date and currency: a stamp a person typed, or one naming a
    connection since pointed at another account, names an invoice unlike it)."""
    try:
        original = await target.get(origin.invoice_id)
    except (NotFound, BadIdentifier):
        return False
    if origin.stamped:
        return (original.issue_date, original.currency) == (invoice.issue_date, invoice.currency)
    return True


@dataclass(frozen=True)
class Unfinished:
    """A copy of the same invoice to the target that a run began and did not finish (its
    create's answer never came, or its process was killed): it may be there, unrecorded."""

    known_by: str  # "the crosswalk: …"


async def kin_at_target(
    store: Store, start: tuple[str, str], named: Sequence[tuple[str, str]], target: str
) -> list[Origin | Unfinished]:
    """The copies at ``target`` of the same original as invoice ``start`` (its connection and
    id), whose stamps name ``named`` (``stamps_of``):
    A → C and A → B, then B → C (A's copy at C, for B's invoice); A → B → C, then A → C (a copy
    of its copy). The crosswalk is walked both ways from the invoice, and from what its stamps
    name (a copy made through another store), at most ``MAX_STEPS`` copies away, nearest first,
    through reverted and replaced copies too (a copy made from one is still there). Not counted:
    its own copy at ``target`` (its run's, done or resumed), a reverted one (a revert says it
    should not be there), an original at ``target`` (``origin_at_target``: copied back). A
    copy begun there and not finished is ``Unfinished``."""
    frontier: list[tuple[tuple[str, str], list[str], bool]] = [(start, [], False)]
    frontier += [(each, [f"its stamp {stamp(*each)}"], True) for each in named if each != start]
    seen = {each for each, _, _ in frontier}
    found: list[Origin | Unfinished] = []
    for _ in range(MAX_STEPS):
        later: list[tuple[tuple[str, str], list[str], bool]] = []
        for (connection, invoice_id), said, stamped in frontier:
            steps: list[tuple[tuple[str, str], str]] = []
            for entry in await store.crosswalk_copies_as(connection, invoice_id):
                run = f" by run {entry.run}" if entry.run else ""
                parent = (entry.source_connection, entry.source_id)
                came = f"{connection} {invoice_id} copied from {' '.join(parent)}{run}"
                steps.append((parent, came))
            for entry in await store.crosswalk_copies_of(connection, invoice_id):
                if (connection, invoice_id) == start and entry.target_connection == target:
                    continue  # its own
                run = f" by run {entry.run}" if entry.run else ""
                known = "" if stamped else "the crosswalk: "  # else "its stamp …" comes first
                if entry.target_id is None:
                    if entry.target_connection == target and entry.state == "pending":
                        how = f"{connection} {invoice_id} copied to {target}{run}, unfinished"
                        found.append(Unfinished(known + ", ".join([*said, how])))
                    continue
                copy = (entry.target_connection, entry.target_id)
                how = f"{connection} {invoice_id} copied to {' '.join(copy)}{run}"
                if copy[0] == target and entry.state != "reverted" and copy not in seen:
                    found.append(Origin(copy[1], known + ", ".join([*said, how]), stamped))
                steps.append((copy, how + (" (reverted)" if entry.state == "reverted" else "")))
            for step, how in steps:
                if step not in seen:
                    seen.add(step)
                    later.append((step, [*said, how], stamped))
        frontier = later
        if not frontier:
            break
    return found


async def doubling(
    store: Store | None, source: Adapter, target: Adapter, invoice: Invoice
) -> str | None:
    """Why copying ``invoice`` (read from ``source``) to ``target`` would put it there twice,
    if it would: it is a copy of the target's own invoice (B → A after A → B), or the target
    holds a copy of the same invoice (A → C and A → B, then B → C), or one was begun there and
    not finished. None where the target no longer holds what was found (nothing to double)."""
    to = target.connection.name
    came_from = await origin_at_target(store, source, invoice, to)
    if came_from is not None and await still_there(target, came_from, invoice):
        return (
            f"a copy of {to} invoice {came_from.invoice_id} ({came_from.known_by}), "
            f"which {to} still holds: copied back, it would be there twice"
        )
    if store is None:
        return None
    start = (source.connection.name, str(invoice.id))
    named = stamps_of(invoice, source.mapping.migration_stamp)
    for kin in await kin_at_target(store, start, named, to):
        if isinstance(kin, Unfinished):
            return (
                f"a copy of the same invoice to {to} was begun and not finished "
                f"({kin.known_by}): it may be there; run that migration again to finish it "
                "first, or it would be there twice"
            )
        if await still_there(target, kin, invoice):
            return (
                f"{to} already holds a copy of the same invoice ({kin.known_by}): "
                "copied, it would be there twice"
            )
    return None
