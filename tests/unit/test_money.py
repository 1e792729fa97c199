from decimal import Decimal

import pytest

from gateway.canonical.money import (
    MINOR_UNITS,
    UnknownCurrency,
    decimal_places,
    exponent,
    round_money,
    round_to,
)


@pytest.mark.parametrize(
    ("code", "places"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("JOD", 3),
        ("TND", 3),
        ("CLF", 4),
        # ISO 4217 and CLDR disagree on these; ISO 4217 is the rule for amounts.
        ("IQD", 3),
        ("LBP", 2),
        ("ISK", 0),
        ("UGX", 0),
    ],
)
def test_minor_units_follow_iso_4217(code: str, places: int) -> None:
    assert exponent(code) == places


@pytest.mark.parametrize("code", ["XXX", "usd", "ABC", "", "XAU"])
def test_unknown_or_non_monetary_code_is_rejected(code: str) -> None:
    with pytest.raises(UnknownCurrency, match="not an ISO 4217"):
        exponent(code)


def test_every_code_is_three_capital_letters() -> None:
    assert all(len(code) == 3 and code.isalpha() and code.isupper() for code in MINOR_UNITS)
    assert len(MINOR_UNITS) > 150


@pytest.mark.parametrize(
    ("value", "half_up", "half_even"),
    [
        ("2.345", "2.35", "2.34"),
        ("2.355", "2.36", "2.36"),
        ("-2.345", "-2.35", "-2.34"),
        ("2.3449999", "2.34", "2.34"),
        ("-0.004", "0.00", "0.00"),
    ],
)
def test_rounding_modes(value: str, half_up: str, half_even: str) -> None:
    assert str(round_to(Decimal(value), 2, "half_up")) == half_up
    assert str(round_to(Decimal(value), 2, "half_even")) == half_even


def test_round_money_uses_the_currency_exponent() -> None:
    assert str(round_money(Decimal("1234.5"), "JPY")) == "1235"
    assert str(round_money(Decimal("1.2345"), "BHD")) == "1.235"
    assert str(round_money(Decimal("1.23455"), "CLF")) == "1.2346"
    assert str(round_money(Decimal("7"), "USD")) == "7.00"


def test_decimal_places_ignores_trailing_zeros() -> None:
    assert decimal_places(Decimal("1.5000")) == 1
    assert decimal_places(Decimal("100")) == 0
    assert decimal_places(Decimal("1E+2")) == 0
    assert decimal_places(Decimal("0.000001")) == 6
