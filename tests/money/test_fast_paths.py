"""The engine's fast paths against straightforward versions of the same rules.

The engine rounds with ``quantize(step, mode) or zero``, takes a percent as ``× 0.01``, shares
an amount discount in integer minor units with a stable sort for ties, and takes a line's only
tax as its line tax. Each is checked here against the plain reading (exact rationals, from
``reference``), on values beyond what a caller may write: a provider's figures are read as they
are (any sign, any size), and the engine computes their totals on every read.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from gateway.canonical.decimals import provider_figures
from gateway.canonical.errors import InvalidInvoice
from gateway.canonical.model import Invoice, RoundingPolicy
from gateway.canonical.money import exponent, quantum, rounder
from gateway.canonical.totals import _EXACT, allocate, calculate
from tests.money import reference
from tests.money.engine import rate_text

# Derandomized: the same examples on every run, so a run in CI never meets a new one by chance.
SETTINGS = settings(
    max_examples=1_500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
CURRENCIES = ["EUR", "JPY", "BHD", "CLF"]
MODES = ["half_up", "half_even"]


def figures(places: int, *, signed: bool = True, digits: int = 20) -> st.SearchStrategy[Decimal]:
    """Decimals of at most ``places`` places and ``digits`` digits, often a few minor units."""
    low = -(10**digits) if signed else 0
    units = st.one_of(st.integers(-12 if signed else 0, 12), st.integers(low, 10**digits))
    return st.builds(lambda n, p: Decimal(n).scaleb(-p), units, st.integers(0, places))


@SETTINGS
@given(
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**20), max_value=10**20),
    st.integers(0, 4),
    st.sampled_from(MODES),
)
def test_rounding_is_the_plain_rule(value: Decimal, places: int, mode: str) -> None:
    rounded = rounder(places, mode)(value)
    expected = reference.round_to(Fraction(value), places, mode)
    assert Fraction(rounded) == expected
    assert rounded.as_tuple().exponent == -places
    assert not rounded.is_signed() or rounded < 0  # never -0


@SETTINGS
@given(figures(6, digits=30), figures(4, digits=6))
def test_a_percent_as_a_product_is_the_quotient(amount: Decimal, percent: Decimal) -> None:
    with localcontext(_EXACT):
        assert amount * percent * Decimal("0.01") == amount * percent / 100


@st.composite
def shares(draw: st.DrawFn) -> tuple[Decimal, list[Decimal], int]:
    """An amount and weights in whole minor units (net amounts), ties made often; all negative
    at times (a provider's figures: negative nets and a negative amount discount)."""
    places = draw(st.integers(0, 4))
    pool = draw(st.lists(figures(0, signed=False, digits=8), min_size=1, max_size=4))
    weights = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=10))
    total = int(sum(weights))
    assume(total > 0)
    units = draw(st.integers(0, total))
    sign = draw(st.sampled_from([1, -1]))
    scaled = [(sign * w).scaleb(-places) for w in weights]
    amount = Decimal(sign * units).scaleb(-places)
    return amount, [w.quantize(quantum(places)) for w in scaled], places


def test_a_negative_total_is_shared_by_the_largest_remainder_too() -> None:
    """−0.07 over nets −0.03 and −0.07: exact shares −0.021 and −0.049, floored −0.03 and −0.05,
    the unit left over to the larger remainder (0.009 against 0.001)."""
    assert allocate(Decimal("-0.07"), [Decimal("-0.03"), Decimal("-0.07")], 2) == [
        Decimal("-0.02"),
        Decimal("-0.05"),
    ]


@SETTINGS
@given(shares())
def test_allocation_is_the_largest_remainder(case: tuple[Decimal, list[Decimal], int]) -> None:
    amount, weights, places = case
    with localcontext(_EXACT):
        got = allocate(amount, weights, places)
    expected = reference.largest_remainder(Fraction(amount), [Fraction(w) for w in weights], places)
    assert [Fraction(g) for g in got] == expected
    assert all(g.as_tuple().exponent == -places for g in got)
    assert sum(got) == amount


@st.composite
def provider_invoices(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, str], int]:
    """An invoice as a provider may report it: amounts of any size and, but for the lines,
    of any sign, fitting the currency's places; rates and percentages of up to 4 places."""
    currency = draw(st.sampled_from(CURRENCIES))
    places = exponent(currency)
    inclusive = draw(st.booleans())
    # Rates are never negative, even a provider's: a negative rate can leave a breakdown row's
    # rounded tax with nothing to share it by (a -100% inclusive rate is tests/unit's case).
    rates = st.one_of(
        st.sampled_from(["0", "5", "7", "20", "9.975"]), figures(4, signed=False, digits=6)
    )
    lines: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 5))):
        taxes = [
            {
                "rate": draw(rates),
                "name": draw(st.sampled_from(["VAT", "GST", None])),
                "compound": not inclusive and draw(st.booleans()),
            }
            for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 3])))
        ]
        line = {  # a line of negative subtotal has a discount larger than it: refused
            "quantity": draw(figures(6, signed=False, digits=8)),
            "unit_price": draw(figures(4, signed=False, digits=12)),
            "taxes": taxes,
        }
        kind = draw(st.sampled_from([None, "percent", "amount"]))
        if kind == "percent":
            line["discount"] = {"type": kind, "value": draw(figures(4, digits=6))}
        elif kind == "amount":
            line["discount"] = {"type": kind, "value": draw(figures(places, signed=False))}
        lines.append(line)
    invoice: dict[str, Any] = {
        "currency": currency,
        "tax_mode": "inclusive" if inclusive else "exclusive",
        "lines": lines,
        "shipping": draw(figures(places)),
        "payments": [{"amount": draw(figures(places)), "date": "2026-07-01"}],
    }
    kind = draw(st.sampled_from([None, "percent", "amount"]))
    if kind == "percent":
        invoice["discount"] = {"type": kind, "value": draw(figures(4, digits=6))}
    elif kind == "amount":
        invoice["discount"] = {"type": kind, "value": draw(figures(places, signed=False))}
    policy = {"mode": draw(st.sampled_from(MODES))}
    policy["tax_scope"] = draw(st.sampled_from(["per_line", "per_rate"]))
    return invoice, policy, places


@settings(SETTINGS, max_examples=800)
@given(provider_invoices())
def test_a_providers_figures_are_computed_by_the_plain_rules(
    case: tuple[dict[str, Any], dict[str, str], int],
) -> None:
    invoice, policy, places = case
    note(repr(invoice))
    with provider_figures():
        read = Invoice.model_validate(invoice)
    try:
        result = calculate(read, RoundingPolicy.model_validate(policy))
    except InvalidInvoice:
        assume(False)  # a discount larger than what it discounts: refused, as on a write
        raise
    expected = reference.calculate(invoice, policy, places)
    got_lines = [
        None if amounts is None else {f: format(v, "f") for f, v in amounts._asdict().items()}
        for amounts in result.lines
    ]
    assert got_lines == expected["lines"]
    totals = result.totals
    assert {f: format(getattr(totals, f), "f") for f in expected["totals"]} == expected["totals"]
    rows = [
        {
            "rate": rate_text(row.rate),
            "name": row.name,
            "taxable": format(row.taxable, "f"),
            "tax": format(row.tax, "f"),
        }
        for row in totals.tax_breakdown
    ]
    assert rows == expected["tax_breakdown"]
