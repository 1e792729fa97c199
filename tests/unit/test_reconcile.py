from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from gateway.canonical.decimals import provider_figures
from gateway.canonical.model import Invoice, RoundingPolicy
from gateway.canonical.reconcile import reconcile

TODAY = date(2026, 11, 21)
POLICY = RoundingPolicy()


def read(totals: dict[str, str] | None = None, **fields: Any) -> Invoice:
    """An invoice as an adapter reads it: inputs plus the provider's own figures."""
    data: dict[str, Any] = {
        "id": "8",
        "status": "open",
        "currency": "USD",
        "due_date": "2026-12-01",
        "lines": [{"quantity": "10", "unit_price": "500.00", "taxes": [{"rate": "5"}]}],
        **fields,
    }
    if totals is not None:
        data["totals"] = {
            "subtotal": "5000.00",
            "discount": "0.00",
            "tax": "250.00",
            "shipping": "0.00",
            "adjustment": "0.00",
            "total": "5250.00",
            "paid": "0.00",
            "due": "5250.00",
            **totals,
        }
    return Invoice.model_validate(data)


def test_agreeing_provider_is_consistent_and_lines_are_filled() -> None:
    result = reconcile(read({}), POLICY, TODAY)
    assert result.totals_check is not None and result.totals_check.consistent is True
    assert result.lines[0].total == Decimal("5250.00")
    assert result.payment_status == "unpaid"
    assert result.overdue is False


def test_a_disagreement_is_listed_and_the_provider_figure_kept() -> None:
    result = reconcile(read({"tax": "250.01", "total": "5250.01", "due": "5250.01"}), POLICY, TODAY)
    assert result.totals_check is not None and result.totals_check.consistent is False
    assert [(d.field, d.provider, d.computed) for d in result.totals_check.differences] == [
        ("tax", "250.01", "250.00"),
        ("total", "5250.01", "5250.00"),
        ("due", "5250.01", "5250.00"),
    ]
    assert result.totals is not None and result.totals.total == Decimal("5250.01")


def test_paid_comes_from_the_provider_when_it_lists_no_payments() -> None:
    result = reconcile(read({"paid": "250.00", "due": "5000.00"}), POLICY, TODAY)
    assert result.totals_check is not None and result.totals_check.consistent is True
    assert result.payment_status == "partially_paid"


def test_the_providers_payment_word_wins_but_a_disagreement_is_listed() -> None:
    result = reconcile(read({}, payment_status="paid"), POLICY, TODAY)
    assert result.payment_status == "paid"
    assert result.totals_check is not None
    assert [(d.field, d.provider, d.computed) for d in result.totals_check.differences] == [
        ("payment_status", "paid", "unpaid")
    ]


def test_a_provider_line_figure_that_differs_is_listed() -> None:
    lines = [
        {"quantity": "10", "unit_price": "500.00", "taxes": [{"rate": "5"}], "total": "5250.50"}
    ]
    result = reconcile(read({}, lines=lines), POLICY, TODAY)
    assert result.totals_check is not None
    assert [(d.field, d.provider, d.computed) for d in result.totals_check.differences] == [
        ("lines[0].total", "5250.50", "5250.00")
    ]


def test_overdue_is_derived_from_due_date_and_balance() -> None:
    past_due = reconcile(read({}, due_date="2026-11-20"), POLICY, TODAY)
    assert past_due.overdue is True
    settled = reconcile(
        read({"paid": "5250.00", "due": "0.00"}, due_date="2026-11-20"), POLICY, TODAY
    )
    assert settled.overdue is False


def test_missing_provider_totals_are_computed() -> None:
    result = reconcile(read(None), POLICY, TODAY)
    assert result.totals is not None and result.totals.total == Decimal("5250.00")
    assert result.totals_check is not None and result.totals_check.consistent is True


def test_an_invoice_the_engine_cannot_compute_is_reported_not_raised() -> None:
    lines = [
        {"quantity": "1", "unit_price": "1.00", "discount": {"type": "amount", "value": "2.00"}}
    ]
    result = reconcile(read({}, lines=lines), POLICY, TODAY)
    assert result.totals_check is not None and result.totals_check.consistent is False
    assert result.totals_check.differences[0].field == "calculation"
    assert "larger than the line subtotal" in (result.totals_check.differences[0].computed or "")


@pytest.mark.parametrize(
    "line",
    [
        {"quantity": "10." + "0" * 24, "unit_price": "500.00", "taxes": [{"rate": "5"}]},
        {"quantity": "10", "unit_price": "500." + "0" * 60, "taxes": [{"rate": "5.0" + "0" * 40}]},
        {"quantity": "1" + "0" * 30 + "E-29", "unit_price": "500.00", "taxes": [{"rate": "5"}]},
    ],
    ids=["quantity-26-digits", "price-and-rate-zeros", "quantity-as-coefficient"],
)
def test_a_providers_figure_with_trailing_zeros_is_read_as_its_value(line: dict[str, Any]) -> None:
    """10.000…0 of 26 digits is 10: it was taken past exact arithmetic (its zeros counted as
    digits), and an invoice whose figures all agree read ``consistent: false``."""
    with provider_figures():
        invoice = read({}, lines=[line])
    result = reconcile(invoice, POLICY, TODAY)
    assert result.totals_check is not None
    assert result.totals_check.differences == []
    assert result.totals_check.consistent is True
    assert result.totals is not None and result.totals.total == Decimal("5250.00")


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"quantity": "1e999", "unit_price": "2.00"}, "lines[0].quantity"),
        ({"quantity": "1", "unit_price": "-3e400"}, "lines[0].unit_price"),
        (
            {"quantity": "2", "unit_price": "1", "taxes": [{"rate": "5e90"}]},
            "lines[0].taxes[0].rate",
        ),
        # 88 digits, under half a cent: rounded at the context's 80 digits first, it read 0.01
        ({"quantity": "1", "unit_price": "0.004" + "9" * 85}, "lines[0].unit_price"),
        ({"quantity": "1." + "3" * 30, "unit_price": "3"}, "lines[0].quantity"),
    ],
)
def test_a_figure_past_exact_arithmetic_is_reported_naming_it(
    line: dict[str, Any], field: str
) -> None:
    """A provider's figure is read whatever its size; one the exact context cannot hold is a
    difference naming it, never an error out of the engine (a 500)."""
    with provider_figures():
        invoice = read({}, lines=[line])
    result = reconcile(invoice, POLICY, TODAY)
    assert result.totals_check is not None and result.totals_check.consistent is False
    [difference] = result.totals_check.differences
    assert difference.field == "calculation"
    assert (difference.computed or "").startswith(field + " ")
    assert "more digits than the calculation can hold exactly" in (difference.computed or "")
    assert result.totals is not None and invoice.totals is not None
    # the provider's figures kept as they are, saying whose they are
    assert result.totals.model_dump(exclude={"paid_source"}) == invoice.totals.model_dump(
        exclude={"paid_source"}
    )
    assert result.totals.paid_source == "provider"


def test_a_status_that_is_the_only_payment_record_reads_paid_in_full() -> None:
    stated = read({}, status="paid", payment_status="paid")
    # Where the provider's figures are its record of payment, they stand, and the mismatch
    # with its status is the payment_status difference.
    kept = reconcile(stated, POLICY, TODAY)
    assert kept.totals is not None
    assert (kept.totals.paid, kept.totals.due, kept.totals.paid_source) == (
        Decimal("0.00"),
        Decimal("5250.00"),
        "provider",
    )
    assert kept.totals_check is not None
    assert [d.field for d in kept.totals_check.differences] == ["payment_status"]
    # Where the status is the only record (bill_crm), paid and due follow it, and the
    # provider's own figures are listed.
    result = reconcile(stated, POLICY, TODAY, paid_by_status=True)
    assert result.totals is not None
    assert (result.totals.paid, result.totals.due, result.totals.paid_source) == (
        Decimal("5250.00"),
        Decimal("0.00"),
        "status",
    )
    assert result.payment_status == "paid" and result.overdue is False
    assert result.totals_check is not None and result.totals_check.consistent is False
    assert [(d.field, d.provider, d.computed) for d in result.totals_check.differences] == [
        ("paid", "0.00", "5250.00"),
        ("due", "5250.00", "0.00"),
    ]


def test_part_paid_by_status_alone_keeps_the_providers_amounts() -> None:
    # How much was paid cannot be derived from "Part Paid": the figures stand, and say so.
    stated = read({}, status="open", payment_status="partially_paid")
    result = reconcile(stated, POLICY, TODAY, paid_by_status=True)
    assert result.totals is not None
    assert (result.totals.due, result.totals.paid_source) == (Decimal("5250.00"), "provider")
    assert result.totals_check is not None
    assert [(d.field, d.provider, d.computed) for d in result.totals_check.differences] == [
        ("payment_status", "partially_paid", "unpaid")
    ]


def test_a_providers_inclusive_taxes_of_minus_100_percent_are_a_difference_not_a_crash() -> None:
    """Only a provider's figures can carry negative rates; a price that is all tax at -100%
    has no net to take the tax out of: the read says so in totals_check."""
    with provider_figures():
        invoice = Invoice.model_validate(
            {
                "id": "9",
                "status": "open",
                "currency": "EUR",
                "tax_mode": "inclusive",
                "lines": [{"quantity": "1", "unit_price": "1", "taxes": [{"rate": "-100"}]}],
            }
        )
    result = reconcile(invoice, POLICY, TODAY)
    assert result.totals_check is not None and not result.totals_check.consistent
    [difference] = result.totals_check.differences
    assert difference.field == "calculation"
    assert "-100%" in str(difference.computed)


def test_what_is_due_is_worked_out_exactly_however_large_the_providers_figures() -> None:
    """The default decimal context rounds at 28 digits: a provider's 30-digit paid figure
    would lose its cents in ``due``. Worked out exactly, or named when it cannot be."""
    big = "9999999999999999999999999999.75"
    with provider_figures():
        invoice = read({"paid": big})  # the provider's due, 5250.00, disagrees
    result = reconcile(invoice, POLICY, TODAY)
    assert result.totals_check is not None
    due = {d.field: d.computed for d in result.totals_check.differences}["due"]
    assert due == "-9999999999999999999999994749.75"  # 5250.00 − paid, to the cent
    with provider_figures():
        huge = read({"paid": "1e999"})
    result = reconcile(huge, POLICY, TODAY)
    assert result.totals_check is not None
    calculation = [d for d in result.totals_check.differences if d.field == "calculation"]
    assert [d.computed for d in calculation] == [
        "totals.paid 1E+999 has more digits than the calculation can hold exactly"
    ]
    assert result.payment_status == "paid"  # compared, not subtracted


def test_a_zero_total_reads_as_the_currency_writes_it_and_other_figures_as_given() -> None:
    """A provider's bare 0 (or the 0 an adapter gives a total its provider lacks: crm_v1's
    shipping) reads "0.00" in USD, "0" in JPY: the same value, written as every other total.
    A figure that is not zero stays as the provider wrote it."""
    with provider_figures():
        given = read({"shipping": "0", "adjustment": "0.0", "discount": "0.000", "total": "5250.0"})
    result = reconcile(given, POLICY, TODAY)
    assert result.totals is not None and result.totals_check is not None
    shown = result.totals.model_dump(mode="json")
    assert (shown["shipping"], shown["adjustment"], shown["discount"]) == ("0.00",) * 3
    assert (shown["total"], shown["subtotal"]) == ("5250.0", "5000.00")
    assert result.totals_check.consistent is True
    with provider_figures():
        yen = read({k: "0" for k in ("discount", "shipping", "adjustment", "paid")}, currency="JPY")
    yen_totals = reconcile(yen, POLICY, TODAY).totals
    assert yen_totals is not None
    assert yen_totals.model_dump(mode="json")["shipping"] == "0"


def test_a_long_figure_within_the_exact_digits_is_computed() -> None:
    """25 digits, written with a point (26 characters): exact, so computed."""
    with provider_figures():
        invoice = read({}, lines=[{"quantity": "1", "unit_price": "1234567890123.456789012345"}])
    result = reconcile(invoice, POLICY, TODAY)
    assert result.totals_check is not None
    assert [d.field for d in result.totals_check.differences] != ["calculation"]
    assert result.lines[0].subtotal == Decimal("1234567890123.46")


def _two_dimes(tax: str) -> Invoice:
    """Two 0.10 lines at VAT 5%: per line, 0.005 rounds up twice (0.02); once per rate 0.01."""
    line = {"quantity": "1", "unit_price": "0.10", "taxes": [{"rate": "5", "name": "VAT 5%"}]}
    totals = {"subtotal": "0.20", "tax": tax, "total": str(Decimal("0.20") + Decimal(tax))}
    return read({**totals, "due": totals["total"]}, lines=[line, line])


@pytest.mark.parametrize(
    ("tax", "row"), [("0.01", "0.01"), ("0.125", "0.125"), ("0.02", "0.02"), ("0.10", "0.10")]
)
def test_the_breakdown_adds_up_to_the_providers_tax(tax: str, row: str) -> None:
    """It was the computed one (0.02) beside the provider's tax (0.01): a tax return filed
    from the rows would not have matched the invoice (spec: the rows always add up exactly
    to ``totals.tax``)."""
    with provider_figures():
        result = reconcile(_two_dimes(tax), POLICY, TODAY)
    assert result.totals is not None
    assert result.totals.tax == Decimal(tax)
    rows = [(r.rate, r.name, r.taxable, r.tax) for r in result.totals.tax_breakdown]
    assert rows == [(Decimal(5), "VAT 5%", Decimal("0.20"), Decimal(row))]
    assert str(rows[0][3]) == row
    listed = [d.field for d in result.totals_check.differences] if result.totals_check else []
    assert ("tax" in listed) == (tax != "0.02")


def test_a_providers_tax_is_shared_among_the_rows_by_their_computed_tax() -> None:
    lines = [
        {"quantity": "1", "unit_price": "100.00", "taxes": [{"rate": "5", "name": "GST"}]},
        {"quantity": "1", "unit_price": "100.00", "taxes": [{"rate": "7", "name": "PST"}]},
    ]
    totals = {"subtotal": "200.00", "tax": "12.01", "total": "212.01", "due": "212.01"}
    result = reconcile(read(totals, lines=lines), POLICY, TODAY)
    assert result.totals is not None
    shared = {r.name: str(r.tax) for r in result.totals.tax_breakdown}
    assert shared == {"GST": "5.00", "PST": "7.01"}
    # A figure with trailing zeros is shared in the currency's cents, not in whole units.
    even = {"subtotal": "200.00", "tax": "11.00", "total": "211.00", "due": "211.00"}
    lines[1]["taxes"] = [{"rate": "5", "name": "PST"}]
    result = reconcile(read(even, lines=lines), POLICY, TODAY)
    assert result.totals is not None
    assert [str(r.tax) for r in result.totals.tax_breakdown] == ["5.50", "5.50"]


def test_a_providers_tax_with_no_taxed_line_is_listed() -> None:
    line = {"quantity": "1", "unit_price": "100.00", "taxes": []}
    totals = {"subtotal": "100.00", "tax": "1.00", "total": "101.00", "due": "101.00"}
    result = reconcile(read(totals, lines=[line]), POLICY, TODAY)
    assert result.totals is not None and result.totals.tax_breakdown == []
    assert result.totals_check is not None
    assert ("tax_breakdown", "1.00", "no line carries a tax") in [
        (d.field, d.provider, d.computed) for d in result.totals_check.differences
    ]


def test_rows_of_opposite_signs_take_only_the_difference() -> None:
    """Shared pro rata to signed weights, a rebate row beside a tax cancelled the rows out (both
    0.00, adding up to nothing) or blew them up (10.00 and -9.98 for 5.00 and -4.99)."""
    gst = {"quantity": "1", "unit_price": "100.00", "taxes": [{"rate": "5", "name": "GST"}]}
    for rebated, tax, rows in (
        ("100.00", "0.01", ["5.01", "-5.00"]),
        ("99.80", "0.02", ["5.01", "-4.99"]),
    ):
        rebate = {"quantity": "1", "unit_price": rebated, "taxes": [{"rate": "-5", "name": "R"}]}
        totals = {"subtotal": "200.00", "tax": tax, "total": "200.01", "due": "200.01"}
        with provider_figures():
            result = reconcile(read(totals, lines=[gst, rebate]), POLICY, TODAY)
        assert result.totals is not None
        assert [str(r.tax) for r in result.totals.tax_breakdown] == rows


@pytest.mark.parametrize(
    ("currency", "tax", "rows"),
    [("JPY", "100.0", ["34", "33", "33"]), ("USD", "12.010", ["4.01", "4.00", "4.00"])],
)
def test_rows_are_shared_in_the_currencys_minor_unit(
    currency: str, tax: str, rows: list[str]
) -> None:
    """Shared in the places the provider wrote (100.0 yen as 33.4, 33.3, 33.3)."""
    price = "100" if currency == "JPY" else "40.00"
    line = {"quantity": "1", "unit_price": price, "taxes": [{"rate": "10", "name": "VAT"}]}
    named = [{**line, "taxes": [{"rate": "10", "name": n}]} for n in ("A", "B", "C")]
    sub = "300" if currency == "JPY" else "120.00"
    totals = {"subtotal": sub, "tax": tax, "total": sub, "due": sub}
    with provider_figures():
        result = reconcile(read(totals, lines=named, currency=currency), POLICY, TODAY)
    assert result.totals is not None
    assert [str(r.tax) for r in result.totals.tax_breakdown] == rows


@pytest.mark.parametrize("tax", ["1e-3000000", "1e5000000"])
def test_a_provider_figure_past_exact_arithmetic_is_named_not_a_failure(tax: str) -> None:
    """A provider's tax total of 1e-3000000 (InvalidOperation at the cent) or 1e5000000
    (Overflow against the computed tax) raised out of the reconciliation: the read was a 500
    with a traceback. A provider's figure never fails a read (the spec, Bounds): it stands,
    and the comparison says it could not be made."""
    with provider_figures():
        invoice = read({"tax": tax})
    result = reconcile(invoice, POLICY, TODAY, stamp={"connection": "c"})
    assert result.totals_check is not None and result.totals_check.consistent is False
    assert [(d.field, d.computed) for d in result.totals_check.differences] == [
        (
            "calculation",
            "a figure of the provider's is beyond what the calculation can compare exactly",
        )
    ]
    assert result.connection == "c"
    assert result.totals is not None and str(result.totals.tax) == str(Decimal(tax))


@pytest.mark.parametrize(
    ("fields", "totals", "payment_status", "overdue"),
    [
        ({"due_date": "2026-11-20"}, {}, "unpaid", True),  # open, past due, owing
        ({}, {"paid": "100.00", "due": "5150.00"}, "partially_paid", False),
        ({}, {"paid": "5250.00", "due": "0.00"}, "paid", False),
        ({"status": "draft", "due_date": "2026-11-20"}, {}, "unpaid", False),
    ],
)
def test_an_invoice_the_engine_cannot_compute_still_derives_its_states_from_its_totals(
    fields: dict[str, Any], totals: dict[str, str], payment_status: str, overdue: bool
) -> None:
    """A provider's figure too fine for the engine leaves the totals unchecked, but what the
    spec derives from the totals alone (payment_status, overdue) is derived from the
    provider's: an unpaid invoice past due must not read as neither unpaid nor overdue."""
    line = {"quantity": "10", "unit_price": "500.0000000000000000000000000000001"}
    with provider_figures():
        invoice = read(totals, lines=[line], **fields)
    result = reconcile(invoice, POLICY, TODAY)
    assert result.totals_check is not None and result.totals_check.consistent is False
    assert [d.field for d in result.totals_check.differences] == ["calculation"]
    assert (result.payment_status, result.overdue) == (payment_status, overdue)
    assert result.totals is not None and result.totals.paid_source == "provider"


def test_an_uncomputed_invoice_keeps_a_stated_payment_status_and_lists_the_derived_one() -> None:
    line = {"quantity": "1", "unit_price": "0.004999999999999999999999999999999"}
    with provider_figures():
        invoice = read(
            {"shipping": "0", "adjustment": "0", "total": "0.00", "due": "0.00"},
            lines=[line],
            payment_status="unpaid",
        )
    result = reconcile(invoice, POLICY, TODAY)
    assert result.payment_status == "unpaid"
    assert result.totals_check is not None
    assert [(d.field, d.provider, d.computed) for d in result.totals_check.differences][1:] == [
        ("payment_status", "unpaid", "paid")
    ]
    assert result.totals is not None
    shown = result.totals.model_dump(mode="json")
    assert (shown["shipping"], shown["adjustment"]) == ("0.00", "0.00")


def test_an_uncomputed_invoice_the_provider_states_paid_reads_paid_in_full() -> None:
    """bill_crm keeps no payment records: its status is the record. An invoice it states paid
    whose figures the engine cannot recompute read paid with its whole total still due; it
    reads as a computed one does: paid in full, nothing due, the provider's own figures listed."""
    line = {"quantity": "10", "unit_price": "500.0000000000000000000000000000001"}
    with provider_figures():
        invoice = read({}, lines=[line], status="paid", payment_status="paid")
    result = reconcile(invoice, POLICY, TODAY, paid_by_status=True)
    assert result.totals is not None and result.totals_check is not None
    assert (result.totals.paid, result.totals.due, result.totals.paid_source) == (
        Decimal("5250.00"),
        Decimal("0.00"),
        "status",
    )
    assert result.payment_status == "paid" and result.overdue is False
    assert [(d.field, d.provider, d.computed) for d in result.totals_check.differences][1:] == [
        ("paid", "0.00", "5250.00"),
        ("due", "5250.00", "0.00"),
    ]


def test_an_uncomputed_invoices_zero_totals_are_written_without_a_sign() -> None:
    line = {"quantity": "10", "unit_price": "500.0000000000000000000000000000001"}
    with provider_figures():
        invoice = read({"shipping": "-0", "adjustment": "-0.000"}, lines=[line], currency="BHD")
    result = reconcile(invoice, POLICY, TODAY)
    assert result.totals is not None
    shown = result.totals.model_dump(mode="json")
    assert (shown["shipping"], shown["adjustment"]) == ("0.000", "0.000")
