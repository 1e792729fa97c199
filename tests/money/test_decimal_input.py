"""The decimal types' fast path for plain text against the general way, on any text.

Plain text such as ``"19.99"`` within the type's places and digits is matched by one regular
expression and read at once; everything else goes through ``to_decimal``, ``check_places`` and
the type's check. Both must give the same value (digits and exponent) or the same refusal, for
what a caller writes and for a provider's figures (``provider_figures``)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from gateway.canonical import decimals
from gateway.canonical.decimals import (
    ExchangeRate,
    Money,
    NonNegativeMoney,
    PositiveMoney,
    Quantity,
    Rate,
    UnitPrice,
    provider_figures,
)
from gateway.jsonwire import JsonNumber

Check = Callable[[Decimal], Decimal] | None
TYPES: list[tuple[str, Any, int, Check]] = [
    ("Money", Money, 4, None),
    ("NonNegativeMoney", NonNegativeMoney, 4, decimals.check_non_negative),
    ("PositiveMoney", PositiveMoney, 4, decimals._positive),
    ("Quantity", Quantity, 6, decimals.check_non_negative),
    ("UnitPrice", UnitPrice, 4, decimals.check_non_negative),
    ("Rate", Rate, 4, decimals.check_non_negative),
    ("ExchangeRate", ExchangeRate, 10, decimals._positive),
]
# Text near the grammar: digits, signs, points, exponents, spaces, another script's digit.
_NEAR = st.text(alphabet=st.sampled_from(list("0123456789-.+eE \u0661")), max_size=20)
_PLAIN = st.builds(
    lambda sign, whole, fraction: f"{sign}{whole}{'.' + fraction if fraction else ''}",
    st.sampled_from(["", "-"]),
    st.from_regex(r"[0-9]{1,17}", fullmatch=True),
    st.one_of(st.just(""), st.from_regex(r"[0-9]{1,12}", fullmatch=True)),
)


def _general(value: Any, places: int, check: Check) -> Decimal:
    number = decimals.check_places(decimals.to_decimal(value), places)
    return check(number) if check else number


def _outcome(read: Callable[[], Decimal]) -> tuple[str, Any]:
    try:
        number = read()
    except ValidationError as e:
        return ("refused", e.errors()[0]["type"])
    except decimals.PydanticCustomError as e:
        return ("refused", e.type)
    return ("read", number.as_tuple())


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=st.one_of(_PLAIN, _NEAR), reading=st.booleans())
@pytest.mark.parametrize(("name", "kind", "places", "check"), TYPES, ids=[t[0] for t in TYPES])
def test_plain_text_reads_as_the_general_way_reads_it(
    name: str, kind: Any, places: int, check: Check, text: str, reading: bool
) -> None:
    adapter = TypeAdapter(kind)
    if reading:
        with provider_figures():
            got = _outcome(lambda: adapter.validate_python(text))
            want = _outcome(lambda: decimals._provider_decimal(text))
    else:
        got = _outcome(lambda: adapter.validate_python(text))
        want = _outcome(lambda: _general(text, places, check))
    assert got == want


def _edges(places: int) -> list[str]:
    """Text at each bound of the fast path: digits, places (a zero past them too), signs."""
    texts = ["0", "00", "-0", "-0.0", "0." + "0" * places, "-" + "0" * 3 + ".5", "007"]
    for whole in ("9" * 14, "9" * 15, "9" * 16, "1" + "0" * 15):
        texts += [whole, "-" + whole, whole + ".5"]
    for digits in (places - 1, places, places + 1, places + 2):
        fraction = "1" * max(digits, 1)
        texts += [f"1.{fraction}", f"-1.{fraction}", f"1.{fraction[:-1]}0", f"0.{fraction}"]
    return texts


@pytest.mark.parametrize(("name", "kind", "places", "check"), TYPES, ids=[t[0] for t in TYPES])
def test_text_at_the_fast_paths_bounds_reads_as_the_general_way(
    name: str, kind: Any, places: int, check: Check
) -> None:
    adapter = TypeAdapter(kind)
    for text in _edges(places):
        got = _outcome(lambda t=text: adapter.validate_python(t))
        assert got == _outcome(lambda t=text: _general(t, places, check)), text


@pytest.mark.parametrize(
    ("written", "printed"),
    [
        ("4.0E2", "400"),
        ("4.92e+3", "4920"),
        ("1e21", "1000000000000000000000"),
        ("-2E1", "-20"),
        ("0E3", "0"),
        ("1e999999999", "1E+999999999"),  # a billion zeros are not written out
        ("12.50", "12.50"),
        ("1.5e-1", "0.15"),
        ("0.0000000", "0"),  # a zero str() would write 0E-7
        ("0e-9", "0"),
    ],
)
@pytest.mark.parametrize("given_as", ["text", "json number", "decimal"])
def test_a_provider_figure_with_an_exponent_prints_in_its_plain_form(
    written: str, printed: str, given_as: str
) -> None:
    """A provider may write ``4.0E2`` (as a JSON number or in a string): the figure is that
    value, and it prints as ``400``, which a write of the invoice read takes back. An adapter
    that made a plain ``Decimal`` of the provider's number (``Decimal(JsonNumber("1.5e4"))``)
    hands on the same value without its text: it printed ``1.5E+4``, outside the API's own
    pattern, and a PUT of the invoice as read was refused."""
    model = TypeAdapter(UnitPrice if not written.startswith("-") else Money)
    given = {"text": written, "json number": JsonNumber(written), "decimal": Decimal(written)}
    with provider_figures():
        read = model.validate_python(given[given_as])
    assert read == Decimal(written)
    assert model.dump_json(read).decode() == f'"{printed}"'
