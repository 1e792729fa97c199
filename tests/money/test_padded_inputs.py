"""An invoice's own amounts (``shipping``, the adjustment's) are written with the currency's
minor units in what the calculation answers, as ``totals`` are: the same value, never rounded
(an amount with more places, which only a provider's read can hold, is left as it is)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.canonical.calculated import calculated_invoice
from gateway.canonical.model import Invoice
from gateway.canonical.money import padded


@pytest.mark.parametrize(
    ("currency", "shipping", "adjustment", "said"),
    [
        ("USD", None, "5", ("0.00", "5.00")),
        ("JPY", "0", "-3", ("0", "-3")),
        ("BHD", "1.5", "0", ("1.500", "0.000")),
        ("CLF", "2", "0.1", ("2.0000", "0.1000")),
    ],
)
def test_shipping_and_adjustment_read_at_the_currencys_places(
    currency: str, shipping: str | None, adjustment: str, said: tuple[str, str]
) -> None:
    data = {
        "currency": currency,
        "lines": [{"quantity": "1", "unit_price": "10"}],
        "adjustment": {"amount": adjustment, "description": "rounding"},
    }
    if shipping is not None:
        data["shipping"] = shipping
    answered = calculated_invoice(Invoice.model_validate(data)).model_dump(mode="json")
    assert (answered["shipping"], answered["adjustment"]["amount"]) == said
    assert answered["totals"]["shipping"] == said[0]


@pytest.mark.parametrize(
    ("amount", "currency", "written"),
    [
        ("0.123", "USD", "0.123"),  # a provider's finer figure: kept, not rounded
        ("1E+30", "USD", "1000000000000000000000000000000.00"),  # beyond 28 digits: exact
        ("1E+999999999", "USD", "1E+999999999"),  # beyond any context: kept as written
    ],
)
def test_padding_never_changes_a_value(amount: str, currency: str, written: str) -> None:
    result = padded(Decimal(amount), currency)
    assert result == Decimal(amount)
    assert str(result) == written
