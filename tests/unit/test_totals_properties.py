"""Invariants of the calculation engine over generated invoices (hypothesis)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gateway.canonical.errors import InvalidInvoice
from gateway.canonical.model import RoundingPolicy, invoice_from_input
from gateway.canonical.money import exponent
from gateway.canonical.totals import Calculation, allocate, calculate

CURRENCIES = ["USD", "JPY", "BHD", "CLF", "EUR"]
RATES = ["0", "5", "7.7", "9.975", "10", "19", "20", "25"]


def decimals(max_value: int, places: int) -> st.SearchStrategy[str]:
    return st.integers(0, max_value * 10**places).map(lambda n: str(Decimal(n).scaleb(-places)))


@st.composite
def invoices(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, str]]:
    currency = draw(st.sampled_from(CURRENCIES))
    places = exponent(currency)
    tax_mode = draw(st.sampled_from(["exclusive", "inclusive"]))
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        taxes = [
            {
                "rate": rate,
                "name": f"T{rate}",
                "compound": tax_mode == "exclusive" and draw(st.booleans()),
            }
            for rate in draw(st.lists(st.sampled_from(RATES), max_size=2, unique=True))
        ]
        line: dict[str, Any] = {
            "quantity": draw(decimals(500, draw(st.integers(0, 3)))),
            "unit_price": draw(decimals(2_000, draw(st.integers(0, 4)))),
            "taxes": taxes,
        }
        kind = draw(st.sampled_from([None, "percent", "amount"]))
        if kind == "percent":
            line["discount"] = {"type": "percent", "value": draw(decimals(100, 2))}
        elif kind == "amount":
            line["discount"] = {"type": "amount", "value": draw(decimals(50, places))}
        lines.append(line)
    invoice: dict[str, Any] = {"currency": currency, "tax_mode": tax_mode, "lines": lines}
    doc = draw(st.sampled_from([None, "percent", "amount"]))
    if doc == "percent":
        invoice["discount"] = {"type": "percent", "value": draw(decimals(100, 2))}
    elif doc == "amount":
        invoice["discount"] = {"type": "amount", "value": draw(decimals(100, places))}
    invoice["shipping"] = draw(decimals(50, places))
    if draw(st.booleans()):
        invoice["adjustment"] = {
            "amount": ("-" if draw(st.booleans()) else "") + draw(decimals(5, places))
        }
    invoice["payments"] = [
        {"amount": p, "date": "2026-07-01"}
        for p in draw(st.lists(decimals(500, places), max_size=3))
        if Decimal(p) > 0
    ]
    policy = {
        "mode": draw(st.sampled_from(["half_up", "half_even"])),
        "tax_scope": draw(st.sampled_from(["per_line", "per_rate"])),
    }
    return invoice, policy


def run(invoice: dict[str, Any], policy: dict[str, str]) -> Calculation:
    try:
        return calculate(invoice_from_input(invoice), RoundingPolicy.model_validate(policy))
    except InvalidInvoice:
        assume(False)  # a discount larger than its line: refused, tested elsewhere
        raise


@settings(max_examples=300, deadline=None)
@given(invoices())
def test_total_is_the_sum_of_its_parts(case: tuple[dict[str, Any], dict[str, str]]) -> None:
    t = run(*case).totals
    assert t.total == t.subtotal - t.discount + t.tax + t.shipping + t.adjustment
    assert t.due == t.total - t.paid
    assert t.paid == sum((Decimal(p["amount"]) for p in case[0]["payments"]), Decimal(0))


@settings(max_examples=300, deadline=None)
@given(invoices())
def test_every_amount_has_the_currency_exponent(
    case: tuple[dict[str, Any], dict[str, str]],
) -> None:
    result = run(*case)
    places = exponent(case[0]["currency"])
    amounts = [
        getattr(result.totals, f)
        for f in ("subtotal", "discount", "tax", "shipping", "adjustment", "total", "paid", "due")
    ]
    for line in result.lines:
        assert line is not None
        amounts += [
            line.subtotal,
            line.discount_amount,
            line.net_amount,
            line.tax_amount,
            line.total,
        ]
    for row in result.totals.tax_breakdown:
        amounts += [row.taxable, row.tax]
    assert {a.as_tuple().exponent for a in amounts} == {-places}
    assert not any(a.is_zero() and a.is_signed() for a in amounts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(invoices())
def test_amount_document_discount_is_shared_out_exactly(
    case: tuple[dict[str, Any], dict[str, str]],
) -> None:
    invoice, policy = case
    assume(invoice.get("discount", {}).get("type") == "amount")
    result = run(invoice, policy)
    nets = sum(line.net_amount for line in result.lines if line is not None and line.net_amount)
    # Lines that net to nothing share nothing (step 4: "every share is 0").
    expected = Decimal(invoice["discount"]["value"]) if nets else Decimal(0)
    assert result.totals.discount == expected


@settings(max_examples=500, deadline=None)
@given(
    st.integers(0, 10**6),
    st.lists(st.integers(0, 10**7), min_size=1, max_size=12),
    st.sampled_from([0, 2, 3]),
)
def test_allocation_adds_up_and_is_fair(units: int, weights: list[int], places: int) -> None:
    assume(sum(weights) > 0)
    amount = Decimal(units).scaleb(-places)
    shares = allocate(amount, [Decimal(w) for w in weights], places)
    assert sum(shares, Decimal(0)) == amount
    for share, weight in zip(shares, weights, strict=True):
        exact = Fraction(units * weight, sum(weights))  # in minor units
        minor = Fraction(share.scaleb(places))
        assert exact - 1 < minor < exact + 1


def _remainder_tie(invoice: dict[str, Any], result: Calculation) -> bool:
    """Whether the largest-remainder step had two lines with the same remainder."""
    discount = invoice.get("discount")
    if not discount or discount["type"] != "amount":
        return False
    places = exponent(invoice["currency"])
    nets = [Fraction(line.net_amount) for line in result.lines if line is not None]
    units = Fraction(Decimal(discount["value"]).scaleb(places))
    total = sum(nets)
    if total == 0:
        return False
    fractions = [(units * net / total) % 1 for net in nets]
    return len(set(fractions)) < len(fractions)


@settings(max_examples=300, deadline=None)
@given(invoices(), st.randoms(use_true_random=False))
def test_line_order_does_not_matter_except_for_remainder_ties(
    case: tuple[dict[str, Any], dict[str, str]], rng: Any
) -> None:
    invoice, policy = case
    original = run(invoice, policy)
    order = list(range(len(invoice["lines"])))
    rng.shuffle(order)
    shuffled = run({**invoice, "lines": [invoice["lines"][i] for i in order]}, policy)
    assume(not _remainder_tie(invoice, original))
    assert [shuffled.lines[order.index(i)] for i in range(len(order))] == list(original.lines)
    assert shuffled.totals.model_dump(exclude={"tax_breakdown"}) == original.totals.model_dump(
        exclude={"tax_breakdown"}
    )
