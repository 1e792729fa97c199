"""Whether a source invoice is itself a copy a migration made of an invoice at the target.

A migration from A to B, then from B back to A, would copy each of B's copies back to A as a
second invoice beside the one it was made from: a paid invoice would come back open, its
customer asked to pay again. So before a copy is made, the source invoice's origin is looked
for in two places:

- **the crosswalk** (the store's record of every copy): an entry whose copy is this source
  invoice and whose source is the target connection; a reverted copy is no copy;
- **the stamp** a copy carries where its provider has room for one (``migration.stamp`` in
  ``mappings/<provider>.yaml``: bill_crm's ``migrated-from:<connection>:<id>`` tag), which holds
  when the copy was made through another store.

Where the origin is found and the target still holds it, the copy is a skip that names it.
Where the target no longer has it (deleted since), copying back restores it and goes ahead.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.base import Adapter
from gateway.canonical.model import Invoice
from gateway.errors import NotFound
from gateway.store import Store

STAMP_PREFIX = "migrated-from:"


def stamp(connection: str, invoice_id: str | None) -> str:
    """What a copy carries of its source, where its provider has room (``translate``)."""
    return f"{STAMP_PREFIX}{connection}:{invoice_id}"


@dataclass(frozen=True)
class Origin:
    """The target's invoice that a source invoice is a copy of, and how that is known."""

    invoice_id: str
    known_by: str  # "the crosswalk of run …", "its stamp …"


def stamped(invoice: Invoice, field: str | None, connection: str) -> Origin | None:
    """The origin on ``connection`` that ``invoice``'s stamp (in ``field``, its provider's
    ``migration.stamp``) names, if it names one there. Connection names hold no colon, so the
    id is everything after the second one."""
    if field is None:
        return None
    value = invoice.tags if field == "tags" else [getattr(invoice, field, None)]
    prefix = stamp(connection, "")
    for text in value:
        if isinstance(text, str) and text.startswith(prefix) and len(text) > len(prefix):
            return Origin(text[len(prefix) :], f"its stamp {text}")
    return None


async def origin_at_target(
    store: Store | None, source: Adapter, invoice: Invoice, target: str
) -> Origin | None:
    """The invoice on connection ``target`` that ``invoice`` (read from ``source``) was copied
    from by a migration, by the crosswalk or by its stamp; None when it is no such copy."""
    source_id = str(invoice.id)
    if store is not None:
        for entry in await store.crosswalk_copies_as(source.connection.name, source_id):
            if entry.source_connection == target and entry.state != "reverted":
                run = f" of run {entry.run}" if entry.run else ""
                return Origin(entry.source_id, f"the crosswalk{run} says so")
    return stamped(invoice, source.mapping.migration_stamp, target)


async def still_there(target: Adapter, origin: Origin) -> bool:
    """Whether the target still holds the origin (a 404: deleted since, nothing to double)."""
    try:
        await target.get(origin.invoice_id)
    except NotFound:
        return False
    return True
