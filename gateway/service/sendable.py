"""What no provider takes although the calculation engine computes it: refused before a write
is sent, and by the preview that says whether the create would be.

The engine follows the spec's step 4: an amount discount over lines whose net amounts add up to
0 has nothing to be shared in proportion to, and every share is 0. Every provider that carries a
document-level discount refuses one above the invoice's subtotal (crm_v1, draft_publish,
item_envelope and bill_crm, each in its own words), so such a write could only fail upstream,
after a key was claimed and, on bill_crm, after a part of the invoice was made.
"""

from __future__ import annotations

from gateway.canonical.errors import FieldError
from gateway.canonical.model import Invoice, Totals


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
