"""What no provider takes although the calculation engine computes it: refused before a write
is sent, and by the preview that says whether the create would be.

The engine follows the spec's step 4: an amount discount over lines whose net amounts add up to
0 has nothing to be shared in proportion to, and every share is 0. Every provider that carries a
document-level discount refuses one above the invoice's subtotal (crm_v1, draft_publish,
item_envelope and bill_crm, each in its own words), so such a write could only fail upstream,
after a key was claimed and, on bill_crm, after a part of the invoice was made.

A write refused for what it computes is refused for what the provider would refuse too, in one
answer (``refused_together``): a caller told only to lower a line's figures, who did, was then
told of its unit price.
"""

from __future__ import annotations

from adapters.base import Adapter, Handling
from gateway.canonical.bounds import overflowing
from gateway.canonical.errors import FieldError, InvalidInvoice
from gateway.canonical.model import Invoice, Totals
from gateway.canonical.totals import calculate
from gateway.errors import InvalidRequest


def computed_errors(adapter: Adapter, invoice: Invoice, handling: Handling) -> list[FieldError]:
    """What ``invoice``, as the create or the replace sends it under ``handling``, would compute
    at or past 10^15, and an amount discount it could not share; none where the engine cannot
    compute it (the adapter's checks, or the provider, say why)."""
    sent, _ = adapter.as_sent(invoice, handling)
    try:
        calculation = calculate(sent, adapter.policy_for(sent))
    except InvalidInvoice:
        return []
    return overflowing(calculation) + unshared_discount(sent, calculation.totals, adapter.provider)


def refused_together(error: InvalidRequest, more: list[FieldError]) -> InvalidRequest:
    """``error`` with ``more`` listed after its own errors, none twice at one pointer."""
    named = {e.pointer for e in error.errors}
    extra = [e for e in more if e.pointer not in named]
    if not extra:
        return error
    return type(error)(error.message, [*error.errors, *extra], provider=error.provider)


def unshared_discount(invoice: Invoice, totals: Totals, provider: str) -> list[FieldError]:
    """The error for ``invoice``'s amount discount when the computed ``totals`` could share none
    of it (the lines' net total is 0); none otherwise (a larger discount over lines with a net
    total is refused by the engine itself)."""
    discount = invoice.discount
    if discount is None or discount.type != "amount" or totals.discount == discount.value:
        return []
    return [
        FieldError(
            "/discount/value",
            f"amount discount {discount.value} is larger than the lines' net total "
            f"{totals.subtotal}: {provider} refuses a document discount above the subtotal",
        )
    ]
