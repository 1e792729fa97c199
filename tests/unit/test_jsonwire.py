from decimal import Decimal

import pytest

from gateway.jsonwire import dumps, loads


def test_decimals_are_written_as_exact_number_literals() -> None:
    assert dumps(
        {"price": Decimal("500.00"), "rate": Decimal("9.975"), "big": Decimal("1E+3")}
    ) == ('{"price": 500.00, "rate": 9.975, "big": 1000}')


def test_reading_keeps_fractions_exact() -> None:
    assert loads('{"a": 0.1000000000000000055511151231257827}') == {
        "a": Decimal("0.1000000000000000055511151231257827")
    }


def test_text_is_escaped_and_round_trips() -> None:
    value = {"note": 'quote " backslash \\ newline \n ünïcode', "list": [True, False, None, 3]}
    assert loads(dumps(value)) == value
    assert loads(dumps(value, indent=2)) == value


@pytest.mark.parametrize("bad", [0.1, Decimal("NaN"), object()])
def test_floats_and_non_json_values_never_reach_the_wire(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        dumps({"x": bad})


def test_nan_on_the_way_in_is_refused() -> None:
    with pytest.raises(ValueError):
        loads('{"x": NaN}')
