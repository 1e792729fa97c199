"""Reconciliation: every read is recomputed and compared with what the provider says.

The provider is the record of truth for what the customer owes, so its figures stay in the
invoice; the engine fills what the provider leaves out, and ``totals_check`` lists every field
where the two disagree (docs/canonical-invoice.md, "Reconciliation").
"""

from __future__ import annotations

from contextlib import suppress
from datetime import date
from decimal import Decimal
from typing import Any

from gateway.canonical.calculated import padded_inputs
from gateway.canonical.errors import InvalidInvoice
from gateway.canonical.model import (
    Invoice,
    Line,
    RoundingPolicy,
    TaxBreakdownRow,
    Totals,
    TotalsCheck,
    TotalsDifference,
    with_fields,
)
from gateway.canonical.money import (
    UnknownCurrency,
    decimal_places,
    exact_difference,
    exponent,
    padded,
)
from gateway.canonical.status import is_overdue, payment_status
from gateway.canonical.totals import Calculation, LineAmounts, allocate, calculate, check_exact

TOTAL_FIELDS = ("subtotal", "discount", "tax", "shipping", "adjustment", "total", "paid", "due")
LINE_FIELDS = ("subtotal", "discount_amount", "net_amount", "tax_amount", "total")


def reconcile(
    invoice: Invoice,
    policy: RoundingPolicy,
    today: date,
    *,
    paid_by_status: bool = False,
    stamp: dict[str, Any] | None = None,
) -> Invoice:
    """``invoice`` (as read from a provider) with ``totals_check``, filled amounts and states.

    ``paid_by_status``: the provider's status is its only record of a payment, so an invoice it
    states paid with something due by its figures reads paid in full (``_paid_by_status``).
    ``stamp``: fields set on the result too (the connection it was read from), in the same copy.
    """
    stamp = stamp or {}
    try:
        check_exact(invoice)
        calculation = calculate(invoice, policy)
    except InvalidInvoice as exc:
        return _not_computed(invoice, today, paid_by_status, stamp, str(exc))
    try:
        return _reconciled(invoice, calculation, today, paid_by_status, stamp)
    except ArithmeticError:
        # A provider's own figure past what exact arithmetic holds (a tax total of 1e-3000000
        # or 1e5000000): the read stands, as every read does, with the comparison named.
        return _not_computed(
            invoice,
            today,
            paid_by_status,
            stamp,
            "a figure of the provider's is beyond what the calculation can compare exactly",
        )


def _not_computed(
    invoice: Invoice, today: date, paid_by_status: bool, stamp: dict[str, Any], why: str
) -> Invoice:
    """``invoice`` as read, its totals not checked, saying why (``calculation``). What the
    spec derives from the totals alone (``payment_status``, ``overdue``, ``paid_source``) is
    derived from the provider's totals, as it would be from agreeing ones: an invoice the engine
    cannot recompute still reads unpaid or overdue where its figures say so, and a filter on
    either finds it. The lines' amounts and the tax breakdown, which only the engine works out,
    stay as the provider gave them."""
    differences = [TotalsDifference(field="calculation", provider=None, computed=why)]
    updates: dict[str, Any] = {**stamp}
    given = invoice.totals
    if given is not None:
        # A figure past what even a comparison holds: the states are left as read.
        with suppress(ArithmeticError):
            given = _paid_as_recorded(invoice, given, paid_by_status, differences)
            updates.update(_derived_states(invoice, given, today, differences))
        filled: dict[str, Any] = {}
        for name in TOTAL_FIELDS:  # nothing, written as the currency writes it ("0.00")
            value: Decimal = getattr(given, name)
            if not value:  # a provider's -0 too, written without its sign
                written = _padded(value.copy_abs(), invoice.currency)
                if str(written) != str(value):
                    filled[name] = written
        updates["totals"] = with_fields(given, filled) if filled else given
    with suppress(UnknownCurrency):  # a currency the engine does not know: as written
        updates.update(padded_inputs(invoice))
    updates["totals_check"] = TotalsCheck(consistent=False, differences=differences)
    return with_fields(invoice, updates)


def _padded(value: Decimal, currency: str) -> Decimal:
    try:
        return padded(value, currency)
    except UnknownCurrency:
        return value


def _reconciled(
    invoice: Invoice,
    calculation: Calculation,
    today: date,
    paid_by_status: bool,
    stamp: dict[str, Any],
) -> Invoice:
    differences: list[TotalsDifference] = []
    lines = [
        _line(i, line, amounts, differences)
        for i, (line, amounts) in enumerate(zip(invoice.lines, calculation.lines, strict=True))
    ]
    computed = calculation.totals
    given = invoice.totals
    if given is not None:
        given = _paid_as_recorded(invoice, given, paid_by_status, differences)
    if not invoice.payments and given is not None:
        # Without payment records, what was paid is the provider's to say.
        paid = given.paid
        try:
            due = exact_difference(computed.total, paid)
        except ArithmeticError:
            due = given.due  # kept as the provider says; the difference names why
            differences.append(
                TotalsDifference(
                    field="calculation",
                    provider=None,
                    computed=f"totals.paid {paid} has more digits than the calculation can "
                    "hold exactly",
                )
            )
        computed = with_fields(computed, {"paid": paid, "due": due})
    totals = _totals(given, computed, differences, invoice.currency)
    return with_fields(
        invoice,
        {
            **stamp,
            **padded_inputs(invoice),
            "lines": lines,
            "totals": totals,
            **_derived_states(invoice, totals, today, differences),
            "totals_check": TotalsCheck(consistent=not differences, differences=differences),
        },
    )


def _paid_as_recorded(
    invoice: Invoice, given: Totals, paid_by_status: bool, differences: list[TotalsDifference]
) -> Totals:
    """The provider's totals, saying whose ``paid`` figure it is: the payment records', the
    provider's own, or (``paid_by_status``, where the status is the only record: bill_crm) the
    status's, an invoice stated paid then paid in full (``_paid_by_status``)."""
    if invoice.payments:
        return with_fields(given, {"paid_source": "payments"})
    if paid_by_status and invoice.payment_status == "paid" and given.due > 0:
        return _paid_by_status(given, differences)
    return with_fields(given, {"paid_source": "provider"})


def _derived_states(
    invoice: Invoice, totals: Totals, today: date, differences: list[TotalsDifference]
) -> dict[str, Any]:
    """``payment_status`` and ``overdue`` as the spec derives them from ``totals``; a stated
    payment status wins, its disagreement listed."""
    derived = payment_status(invoice.status, totals.total, totals.paid)
    stated = invoice.payment_status
    if stated is not None and stated != derived:
        differences.append(
            TotalsDifference(field="payment_status", provider=stated, computed=derived)
        )
    overdue = invoice.overdue or is_overdue(invoice.status, invoice.due_date, totals.due, today)
    return {"payment_status": stated or derived, "overdue": overdue}


def _paid_by_status(given: Totals, differences: list[TotalsDifference]) -> Totals:
    """The provider states the invoice paid but its figures still show something due, and it
    has no payment record that could say more (bill_crm's status endpoint records none): the
    status is the record. ``paid`` is the total and nothing is due, so ``payment_status`` and
    ``due`` agree; the provider's own figures stay listed in ``totals_check``."""
    paid, due = given.total, given.total - given.total
    for name, value in (("paid", paid), ("due", due)):
        differences.append(
            TotalsDifference(field=name, provider=str(getattr(given, name)), computed=str(value))
        )
    return given.model_copy(update={"paid": paid, "due": due, "paid_source": "status"})


def _line(
    i: int, line: Line, amounts: LineAmounts | None, differences: list[TotalsDifference]
) -> Line:
    if amounts is None:
        return line
    fill = {}
    for name in LINE_FIELDS:
        computed: Decimal = getattr(amounts, name)
        given: Decimal | None = getattr(line, name)
        if given is None:
            fill[name] = computed
        elif given != computed:
            differences.append(
                TotalsDifference(
                    field=f"lines[{i}].{name}", provider=str(given), computed=str(computed)
                )
            )
    return with_fields(line, fill) if fill else line


def _totals(
    given: Totals | None, computed: Totals, differences: list[TotalsDifference], currency: str
) -> Totals:
    if given is None:
        return computed
    filled: dict[str, Any] = {}
    for name in TOTAL_FIELDS:
        provider_value: Decimal = getattr(given, name)
        computed_value: Decimal = getattr(computed, name)
        if provider_value != computed_value:
            differences.append(
                TotalsDifference(
                    field=name, provider=str(provider_value), computed=str(computed_value)
                )
            )
        elif not provider_value and not provider_value.same_quantum(computed_value):
            # Nothing, written as the currency writes it ("0.00", not a provider's bare 0 or
            # the 0 an adapter gives a total its provider does not have): the same value.
            filled[name] = computed_value
    if not given.tax_breakdown:
        filled["tax_breakdown"] = _breakdown(
            computed.tax_breakdown, given.tax, differences, currency
        )
    return with_fields(given, filled) if filled else given


def _breakdown(
    rows: list[TaxBreakdownRow],
    tax: Decimal,
    differences: list[TotalsDifference],
    currency: str,
) -> list[TaxBreakdownRow]:
    """The computed rows, adding up to the provider's ``tax`` (the spec's step 9: "the rows
    always add up exactly to ``totals.tax``", and ``totals.tax`` is the provider's). Where the
    provider's tax differs from the computed one (the ``tax`` difference says so), the
    difference is shared among the rows pro rata to the size of their computed tax (else of
    what they tax), in the currency's minor unit (or the provider's finer one), largest
    remainders first: each row stays its computed figure but for its part of the difference,
    rows of opposite signs included (a rebate row beside a tax). With no row to share it
    among, the difference is listed."""
    have = sum((row.tax for row in rows), tax * 0)
    if have == tax:
        return rows
    if not rows:
        differences.append(
            TotalsDifference(
                field="tax_breakdown", provider=str(tax), computed="no line carries a tax"
            )
        )
        return rows
    try:
        places = max(exponent(currency), decimal_places(tax))
    except UnknownCurrency:
        places = max(_written_places(tax), *(_written_places(row.tax) for row in rows))
    weights = [abs(row.tax) for row in rows]
    if not any(weights):
        weights = [abs(row.taxable) for row in rows]
    if not any(weights):
        weights = [Decimal(1)] + [Decimal(0)] * (len(rows) - 1)
    shares = allocate(tax - have, weights, places)
    return [
        row.model_copy(update={"tax": row.tax + share})
        for row, share in zip(rows, shares, strict=True)
    ]


def _written_places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0
