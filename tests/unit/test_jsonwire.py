from decimal import Decimal

import pytest

from gateway.jsonwire import dumps, loads, loads_fast, payload_bytes


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


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e-99999999999999999999", Decimal("1E-999999999999999999")),
        ("-12.5E+99999999999999999999", Decimal("-1.25E+999999999999999999")),
        ("0E-99999999999999999999", Decimal(0)),
        ("0e99999999999999999999", Decimal(0)),
    ],
)
@pytest.mark.parametrize("fractions", [0, 40])
def test_a_provider_number_beyond_decimals_range_is_read_not_a_failure(
    text: str, value: Decimal, fractions: int
) -> None:
    """A provider's figure never makes a read fail (docs/canonical-invoice.md, Bounds): one
    whose exponent no Decimal holds is read at the nearest exponent there is (zero as zero),
    by both readers (``fractions``: enough for ``loads_fast``'s plain path), and its text is
    what the payload is written back with."""
    others = ", ".join(["1.50"] * fractions)
    raw = f'{{"total": {text}, "others": [{others}]}}'.encode()
    for read in (loads, loads_fast):
        data = read(raw)
        assert data["total"] == value and data["total"].as_tuple() == value.as_tuple()
        assert payload_bytes(data).startswith(f'{{"total":{text},'.encode())
