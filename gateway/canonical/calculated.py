"""An input invoice plus its calculation, as the invoice the API returns."""

from __future__ import annotations

from gateway.canonical.model import Invoice, InvoiceInput, Line, RoundingPolicy
from gateway.canonical.status import payment_status
from gateway.canonical.totals import DEFAULT_POLICY, calculate


def calculated_invoice(invoice: InvoiceInput, policy: RoundingPolicy = DEFAULT_POLICY) -> Invoice:
    """Run the engine and merge its amounts into the invoice (input fields kept as given)."""
    calculation = calculate(invoice, policy)
    lines = []
    for line, amounts in zip(invoice.lines, calculation.lines, strict=True):
        fields = {name: getattr(line, name) for name in type(line).model_fields}
        if amounts is not None:
            fields.update(
                subtotal=amounts.subtotal,
                discount_amount=amounts.discount_amount,
                net_amount=amounts.net_amount,
                tax_amount=amounts.tax_amount,
                total=amounts.total,
            )
        # Every value was validated on the way in; constructing skips validating it twice.
        lines.append(Line.model_construct(**fields))
    header = {
        name: getattr(invoice, name) for name in type(invoice).model_fields if name != "lines"
    }
    totals = calculation.totals
    return Invoice.model_construct(
        **header,
        lines=lines,
        totals=totals,
        payment_status=payment_status(totals.total, totals.paid),
    )
