"""draft_publish's lost answers: whether a duplicate or a credit note whose answer was lost
made its new document.

``DraftPublishAdapter``'s hooks ``prepare_action`` and ``find_action`` delegate here; a create,
a state change and a payment are found by the defaults at the end of ``adapters/base.py``, the
lookup is in ``adapters/resolution.py``. A new document is found among the customer's as the one
copy of the invoice made since the action began. What each finding answers:
``docs/providers/draft_publish.md``, "Lost answers".
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from adapters.base import Adapter, AdapterError, ListQuery
from adapters.resolution import (
    Resolution,
    Walk,
    candidates,
    created_since,
    judge,
    looks_like,
    shifted,
)
from gateway.canonical.model import Invoice

if TYPE_CHECKING:
    from adapters.draft_publish.adapter import DraftPublishAdapter

# Actions that make a new document: a lost answer is resolved by finding that document.
NEW_DOCUMENTS = frozenset({"duplicate", "credit_note"})
# A copy is looked for from a day before the earlier of its source's date and today to a day
# after the later: the provider may keep the source's dates (the emulator does) or date it today.
COPY_SLACK = timedelta(days=1)


async def prepare_action(
    adapter: DraftPublishAdapter, invoice_id: str, action: str
) -> dict[str, Any]:
    """Before a state change: its status (the default). Before a duplicate or a credit note:
    the invoice, and the copies of it already there, so only a new one is taken for it."""
    if action not in NEW_DOCUMENTS:
        return await Adapter.prepare_action(adapter, invoice_id, action)
    started = int(time.time())  # whole seconds: the store keeps exact JSON, no floats
    source = await adapter.get(invoice_id)
    walk = Walk()
    existing = [copy.id for copy in await _copies(adapter, source, action, walk)]
    return {
        "source": source.model_dump(mode="json"),
        "existing": existing,
        "complete": walk.complete,
        "started_at": started,
    }


async def find_action(
    adapter: DraftPublishAdapter, invoice_id: str, action: str, recovery: dict[str, Any]
) -> Resolution:
    """A state change: by the status (the default). A duplicate or a credit note: by the new
    document, found among the customer's (a credit note names its invoice in
    ``original_invoice_id``; a duplicate has the invoice's type, customer, currency and
    lines) and made after the action began."""
    if action not in NEW_DOCUMENTS:
        return await Adapter.find_action(adapter, invoice_id, action, recovery)
    what = "a credit note" if action == "credit_note" else "a duplicate"
    try:
        source = Invoice.model_validate(recovery["source"])
    except (KeyError, ValueError):
        return Resolution.unknown(f"no copy of invoice {invoice_id} was kept before {action}")
    existing = set(recovery.get("existing", []))
    walk = Walk()
    try:
        copies = await _copies(adapter, source, action, walk)
    except AdapterError as exc:
        return Resolution.failed(f"looking for {what} of {invoice_id}", exc)
    new = [
        copy
        for copy in copies
        if copy.id not in existing and created_since(copy, recovery.get("started_at"))
    ]
    return judge(
        adapter.provider,
        new,
        walk,
        looked_for=f"a new document that is {what} of invoice {invoice_id}",
        sure=recovery.get("complete") is True,
    )


async def _copies(
    adapter: DraftPublishAdapter, source: Invoice, action: str, walk: Walk
) -> list[Invoice]:
    """The customer's documents that may be the copy ``action`` makes of ``source``."""
    days = [day for day in (source.issue_date, adapter.today()) if day is not None]
    customer = source.customer.id if source.customer is not None else None
    query = ListQuery(
        customer_id=str(customer) if customer is not None else None,
        issued_from=shifted(min(days), -COPY_SLACK),
        issued_to=shifted(max(days), COPY_SLACK),
    )
    return [
        candidate
        async for candidate in candidates(adapter, query, adapter.mapping.dedupe, walk)
        if _is_copy(source, candidate, action)
    ]


def _is_copy(source: Invoice, candidate: Invoice, action: str) -> bool:
    """Whether ``candidate`` is what ``action`` (duplicate, credit_note) makes of ``source``."""
    if candidate.id is None or candidate.id == source.id:
        return False
    if action == "credit_note":
        return (
            candidate.document_type == "credit_note" and candidate.credited_invoice_id == source.id
        )
    # A duplicate is of the source's type, and a credit note's copy credits the same invoice.
    if (candidate.document_type, candidate.credited_invoice_id) != (
        source.document_type,
        source.credited_invoice_id,
    ):
        return False
    # The copy has a number and perhaps dates of its own: the customer, currency and lines tell.
    unnumbered = source.model_copy(update={"number": None, "issue_date": None, "due_date": None})
    return looks_like(unnumbered, candidate)
