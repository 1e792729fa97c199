"""An invoice with the calculation engine's amounts filled in."""

from __future__ import annotations

from gateway.canonical.bounds import overflowing
from gateway.canonical.errors import InvalidInvoice
from gateway.canonical.model import Invoice, RoundingPolicy, with_fields
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
            "lines": lines,
            "totals": totals,
            "payment_status": payment_status(invoice.status, totals.total, totals.paid),
        },
    )
