"""A figure written as fixed-point text, and a provider's too long to write out: a 14-byte
``1e50000000`` from a provider made a 50 MB answer (and ``1e999999999`` 4 GB of memory)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.canonical.decimals import provider_figures
from gateway.canonical.model import Invoice
from gateway.canonical.money import plain_text
from gateway.jsonwire import compact, dumps


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("1E+2", "100"),
        ("1E-7", "0.0000001"),
        ("-0.00", "-0.00"),
        ("999999999999999.999999", "999999999999999.999999"),
        ("1" + "0" * 39, "1" + "0" * 39),  # forty digits: written out
        ("1E-40", "0." + "0" * 39 + "1"),
    ],
)
def test_a_figure_of_up_to_forty_digits_either_side_is_fixed_point(value: str, text: str) -> None:
    assert plain_text(Decimal(value)) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("1e40", "1E+40"),
        ("1e50000000", "1E+50000000"),
        ("-1.5e999999999", "-1.5E+999999999"),
        ("1e-41", "1E-41"),
        ("1e-3000000", "1E-3000000"),
        ("0e-3000000", "0E-3000000"),
    ],
)
def test_a_figure_too_long_to_write_out_keeps_its_exponent(value: str, text: str) -> None:
    assert plain_text(Decimal(value)) == text
    assert compact({"v": Decimal(value)}) == f'{{"v":{text}}}'
    assert dumps({"v": Decimal(value)}) == f'{{"v": {text}}}'


def test_a_providers_exchange_rate_of_a_huge_exponent_is_answered_in_a_few_bytes() -> None:
    with provider_figures():
        invoice = Invoice.model_validate(
            {"currency": "USD", "exchange_rate": Decimal("1e50000000"), "lines": []}
        )
    body = invoice.model_dump_json()
    assert len(body) < 2_000
    assert '"exchange_rate":"1E+50000000"' in body
