"""bill_crm's update: several calls, and the invoice put back as it was when one fails.

An update is ``PUT /invoices/{id}`` (the header, a fixed discount left off), ``PUT …/line-items``,
the header again with a fixed discount (it may not exceed the subtotal of the lines the CRM holds
then), ``PUT …/tags`` when they change. When a call fails, or the caller gives up waiting, each
part the update may have changed is written again as the invoice read before it was: the header,
the lines (with new ids: the CRM gives every replaced line one; also when the update's other tax
type took the taxes off the lines it kept, as the CRM does on a header write) and the tags.

A call may have changed its part unless every sending of it was refused unprocessed (a 4xx but
408, 425 and 429, or a 401, 403 or 429 the client takes back, or no connection at all): the
upstream client's count of one write's calls (``gateway/write_calls.py``) tells which. A 5xx,
a timeout or a dropped connection may have landed (the CRM may have made the change and then
failed), as the gateway reads them everywhere else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from adapters.base import AdapterError, UpstreamError, annotate
from adapters.bill_crm.plan import Plan, plan
from adapters.bill_crm.wire import TaxType
from gateway.write_calls import WriteCalls, write_calls_var

if TYPE_CHECKING:
    from adapters.bill_crm.adapter import BillCrmAdapter

ALL_PARTS = frozenset({"header", "lines", "tags"})
# Said where the put-back could not write the lines again after a switch of tax type.
_TAXES_OFF = (
    "; its lines carry no taxes now (the CRM takes a line's taxes off when the tax type changes)"
)


@dataclass
class Steps:
    """An update's parts that may have changed the invoice (``touched``), and the calls that
    succeeded, in order: the part each wrote and what it did, in words (``done``)."""

    calls: WriteCalls
    touched: set[str] = field(default_factory=set)
    done: list[tuple[str, str]] = field(default_factory=list)

    @property
    def said(self) -> list[str]:
        return [words for _, words in self.done]

    @property
    def parts(self) -> list[str]:
        """The parts written, once each (the header is written twice for a fixed discount)."""
        return list(dict.fromkeys(part for part, _ in self.done))

    async def send(self, part: str, call: Awaitable[None], replaced: str) -> None:
        """``call``, writing ``part``: counted touched unless every sending of it was refused
        unprocessed or never reached the CRM."""
        sent, refused = self.calls.sent, self.calls.refused
        try:
            await call
        except BaseException:
            if self.calls.sent - sent > self.calls.refused - refused:
                self.touched.add(part)
            raise
        self.touched.add(part)
        self.done.append((part, replaced))


async def update(
    adapter: BillCrmAdapter, invoice_id: str, ready: Plan, current: dict[str, Any]
) -> None:
    """The update's calls; on a failure, the invoice put back from ``current`` (read before)."""
    calls = write_calls_var.get()
    token = None
    if calls is None:  # called outside the service layer, which counts one write's calls
        calls = WriteCalls()
        token = write_calls_var.set(calls)
    try:
        steps = Steps(calls)
        try:
            await replace(adapter, invoice_id, ready, list(current.get("tags") or []), steps)
        except BaseException as exc:
            if steps.touched:
                # The caller must not find a half-updated invoice, even when it gave up waiting.
                await asyncio.shield(
                    put_back(adapter, invoice_id, current, ready.tax_type, steps, exc)
                )
            raise
    finally:
        if token is not None:
            write_calls_var.reset(token)


async def replace(
    adapter: BillCrmAdapter,
    invoice_id: str,
    ready: Plan,
    tags_now: list[str] | None,
    steps: Steps,
    only: frozenset[str] = ALL_PARTS,
) -> None:
    """An update's calls, each told to ``steps``; ``only``: the parts to write (a put-back
    writes again only what the failed update may have changed); ``tags_now``: the invoice's
    tags, not written again when they are the ones wanted (None: written)."""
    wanted = ready.invoice.discount
    fixed_later = wanted is not None and wanted.type == "amount"
    if "header" in only:
        # Said as it stands: a caller reading "header replaced" would take the new fixed
        # discount to be on, where the invoice has none until the lines are in.
        await steps.send(
            "header",
            adapter._put_header(invoice_id, ready, None if fixed_later else wanted),
            "header replaced, with no fixed discount until the lines are in"
            if fixed_later
            else "header replaced",
        )
    if "lines" in only and ready.invoice.lines:
        await steps.send("lines", adapter._put_lines(invoice_id, ready), "lines replaced")
    if "header" in only and fixed_later:
        await steps.send(
            "header", adapter._put_header(invoice_id, ready, wanted), "fixed discount set"
        )
    if "tags" in only and list(ready.invoice.tags) != tags_now:  # None: never equal
        await steps.send("tags", adapter._put_tags(invoice_id, ready), "tags replaced")


async def put_back(
    adapter: BillCrmAdapter,
    invoice_id: str,
    current: dict[str, Any],
    tax_type: TaxType,
    steps: Steps,
    cause: BaseException,
) -> None:
    """After an update failed part-way, the invoice as it was read before it (``current``)
    written again where the update may have changed it. ``cause`` says which it is: put back,
    or partly updated, and what stands; ``tax_type``: the update's."""
    back = Steps(steps.calls)
    parts = set(steps.touched)
    switched = False
    kept_lines = False  # lines the update made on an invoice that had none: the CRM keeps one
    try:
        was = adapter._translate(current)
        fitted, _ = adapter.fit(was, "lenient")
        before = plan(was, fitted, adapter.mapping, adapter.connection)
        switched = before.tax_type != tax_type
        if "header" in parts and switched and was.lines:
            parts.add("lines")  # another tax type took the taxes off the lines it had
        if "lines" in parts and not was.lines:
            parts.discard("lines")
            kept_lines = True
        await replace(adapter, invoice_id, before, None, back, frozenset(parts))
    except (TimeoutError, AdapterError, OSError, ValueError) as exc:
        replaced = f" ({'; '.join(steps.said)})" if steps.done else ""
        again = back.parts
        were = "were" if len(again) > 1 else "was"
        restored = f" after its {' and '.join(again)} {were} put back" if again else ""
        taxes = _TAXES_OFF if switched and "lines" not in again else ""
        annotate(
            cause,
            f"{adapter.provider} invoice {invoice_id} is partly updated{replaced}, and putting it "
            f"back as it was failed{restored} ({exc}){taxes}; send the whole update again",
        )
        return
    moved = "the put-back is a write: the invoice's ETag changed"
    if kept_lines:
        annotate(
            cause,
            f"{adapter.provider} invoice {invoice_id} is partly updated: its lines are the "
            "update's (it had none, and the CRM keeps at least one line once it has some), the "
            f"rest put back as it was ({moved}); send the whole update again",
        )
        return
    renewed = " (its lines with new ids)" if "lines" in back.parts else ""
    annotate(
        cause, f"the update was not made: the invoice was put back as it was{renewed}; {moved}"
    )
    if isinstance(cause, UpstreamError):
        cause.undone = True
