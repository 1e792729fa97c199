"""An invoice with the calculation engine's amounts filled in."""

from __future__ import annotations

from typing import Any

from gateway.canonical.bounds import overflowing
from gateway.canonical.errors import InvalidInvoice
from gateway.canonical.model import Invoice, RoundingPolicy, with_fields
from gateway.canonical.money import padded
from gateway.canonical.status import payment_status
from gateway.canonical.totals import DEFAULT_POLICY, calculate


def calculated_invoice(invoice: Invoice, policy: RoundingPolicy = DEFAULT_POLICY) -> Invoice:
    """A copy of ``invoice`` with every line amount, the totals and the payment status computed.

    ``InvalidInvoice`` when it cannot be computed, or when a computed amount reaches 10^15.
    """
    calculation = calculate(invoice, policy)
    too_large = overflowing(calculation)
    if too_large:
        raise InvalidInvoice(too_large)
    # Copies carry validated input and the engine's own results: nothing to re-validate.
    lines = [
        line
        if amounts is None
        else with_fields(
            line,
            {
                "subtotal": amounts.subtotal,
                "discount_amount": amounts.discount_amount,
                "net_amount": amounts.net_amount,
                "tax_amount": amounts.tax_amount,
                "total": amounts.total,
            },
        )
        for line, amounts in zip(invoice.lines, calculation.lines, strict=True)
    ]
    totals = calculation.totals
    return with_fields(
        invoice,
        {
            **padded_inputs(invoice),
            "lines": lines,
            "totals": totals,
            "payment_status": payment_status(invoice.status, totals.total, totals.paid),
        },
    )


def padded_inputs(invoice: Invoice) -> dict[str, Any]:
    """The invoice's own amounts (``shipping``, the adjustment's) written with the currency's
    minor units, where they have fewer: one left out read ``"0"`` on four connections and
    ``"0.00"`` on the fifth, as ``totals.shipping`` does everywhere. The values do not change."""
    updates: dict[str, Any] = {}
    shipping = padded(invoice.shipping, invoice.currency)
    if shipping is not invoice.shipping:
        updates["shipping"] = shipping
    adjustment = invoice.adjustment
    if adjustment is not None:
        amount = padded(adjustment.amount, invoice.currency)
        if amount is not adjustment.amount:
            updates["adjustment"] = with_fields(adjustment, {"amount": amount})
    return updates
