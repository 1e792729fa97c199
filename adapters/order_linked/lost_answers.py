"""order_linked's lost answers: whether a create, or an order's invoice, whose answer was lost
was made.

``OrderLinkedAdapter``'s hooks (``prepare_create``, ``find_created``, ``prepare_order_invoice``,
``find_order_invoice``) delegate here; the defaults (which also answer for a state change and a
note) are at the end of ``adapters/base.py``, the lookup is in ``adapters/resolution.py``. A
create is found the generic way on what was sent, and comes with the warnings its answer would
have had; an order's invoice is the one new invoice naming the order. What each finding
answers: ``docs/providers/order_linked.md``, "Lost answers".
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from adapters.base import Adapter, AdapterError, Handling, ListQuery, WriteResult, WriteWarning
from adapters.order_linked import checks, orders
from adapters.paths import segment
from adapters.resolution import Resolution, Walk, candidates, created_since, judge
from gateway.canonical.model import Invoice

if TYPE_CHECKING:
    from adapters.order_linked.adapter import OrderLinkedAdapter


async def prepare_create(
    adapter: OrderLinkedAdapter, invoice: Invoice, marker: str
) -> dict[str, Any]:
    """The generic preparation, on what is sent: fields lenient handling drops (line names,
    a number…) are not there to be found again."""
    return await Adapter.prepare_create(adapter, adapter.as_sent(invoice, "lenient")[0], marker)


async def find_created(
    adapter: OrderLinkedAdapter,
    invoice: Invoice,
    recovery: dict[str, Any],
    *,
    handling: Handling = "strict",
) -> Resolution:
    """The generic lookup (the marker in ``invoice_note``, or look-alikes), newest first and
    back to the create's start, on what was sent; the invoice found comes with the warnings
    the create's answer would have had (dropped fields, and the taxes the provider set)."""
    sent, warnings = adapter.as_sent(invoice, handling)

    def warned(resolution: Resolution) -> Resolution:
        """The invoice found with the create's warnings; several judged again
        (``Resolution.without``) the same way."""
        if resolution.without is not None:
            judged = resolution.without

            async def without(others: frozenset[str]) -> Resolution:
                return warned(await judged(others))

            return replace(resolution, without=without)
        if resolution.state != "done" or not isinstance(resolution.result, WriteResult):
            return resolution
        found = resolution.result.invoice
        try:
            _, taxes = adapter.prepare(adapter.marked(sent, recovery))
        except AdapterError:
            taxes = []  # refused before sending: never the case of a create that was sent
        told = warnings + checks.tax_warnings(adapter.provider, sent, taxes, found)
        return Resolution.done(WriteResult(found, told), resolution.detail)

    return warned(await Adapter.find_created(adapter, sent, recovery, handling=handling))


async def prepare_order_invoice(adapter: OrderLinkedAdapter, order_id: str) -> dict[str, Any]:
    """Before an order is invoiced: the order's invoices made in the last minutes, so only a
    new one is taken for this one."""
    segment(order_id, what="order id")  # an id that could change the path: a 400, first
    started = int(time.time())  # whole seconds: the store keeps exact JSON, no floats
    walk = Walk()
    made = await _order_invoices(adapter, order_id, started, walk)
    return {
        "existing": [invoice.id for invoice in made],
        "complete": walk.complete,
        "started_at": started,
    }


async def find_order_invoice(
    adapter: OrderLinkedAdapter,
    order_id: str,
    invoice: Invoice | None,
    recovery: dict[str, Any],
    *,
    handling: Handling = "strict",
) -> Resolution:
    """The one invoice naming ``order_id`` made since the create began (an order has at
    most one ``ACTIVE`` invoice), found among every invoice listed newest first."""
    started = recovery.get("started_at")
    existing = set(recovery.get("existing", []))
    walk = Walk()
    try:
        made = [
            candidate
            for candidate in await _order_invoices(adapter, order_id, started, walk)
            if candidate.id not in existing and created_since(candidate, started)
        ]
    except AdapterError as exc:
        return Resolution.failed(f"looking for the invoice of order {order_id}", exc)

    def answer(found: Invoice) -> WriteResult:
        warnings: list[WriteWarning] = []
        if invoice is not None:
            # What the body said against the order, as the invoice made from it shows the
            # order; refused before sending is never the case of a create that was sent.
            facts = orders.facts_of(order_id, found)
            problems = orders.against_order(invoice, facts, adapter.capabilities, adapter.provider)
            warnings = orders.refused_or_dropped(problems, "lenient", adapter.provider)
            if not any(w.field == "/lines" for w in warnings):
                # Checked before the create was sent: the rates are configured.
                taxes = orders.given_taxes(invoice, adapter.connection)
                warnings += orders.tax_warnings(adapter.provider, invoice, taxes, found)
        return WriteResult(found, warnings)

    return judge(
        adapter.provider,
        made,
        walk,
        looked_for=f"an invoice of order {order_id} made since the create began",
        sure=recovery.get("complete") is True,
        result=answer,
    )


async def _order_invoices(
    adapter: OrderLinkedAdapter, order_id: str, started: Any, walk: Walk
) -> list[Invoice]:
    """Invoices naming ``order_id``, newest first back to ``started`` (the list cannot be
    narrowed by order, nor by account: the order's account is not known here)."""
    since = adapter.lookup_since(started)
    return [
        candidate
        async for candidate in candidates(
            adapter, ListQuery(), adapter.mapping.dedupe, walk, since=since
        )
        if candidate.order_id == order_id
    ]
