"""``capabilities.min_lines``: the fewest lines a provider's create takes, declared per provider
and checked before anything is sent."""

from __future__ import annotations

import pytest

from adapters.mapping import load_mapping
from adapters.representable import too_few_lines
from gateway.canonical.model import invoice_from_input
from tests.unit.test_representable import caps

LINE = {"quantity": "1", "unit_price": "10.00"}


@pytest.mark.parametrize(
    ("provider", "wanted"),
    [
        ("item_envelope", 1),  # its doc: "At least one invoice item is required"
        ("crm_v1", 1),  # its doc: "Line items (min 1)"
        ("draft_publish", 1),
        ("order_linked", 1),
        ("bill_crm", 0),  # its create is the header alone
    ],
)
def test_each_provider_declares_the_fewest_lines_its_create_takes(
    provider: str, wanted: int
) -> None:
    assert load_mapping(provider).capabilities.min_lines == wanted


def test_an_invoice_with_fewer_lines_is_refused_naming_the_rule() -> None:
    empty = invoice_from_input({"currency": "USD", "lines": []})
    one = invoice_from_input({"currency": "USD", "lines": [LINE]})

    assert too_few_lines(empty, caps(set(), min_lines=1), "item_envelope") == (
        "the target needs at least one line: item_envelope refuses an invoice with no lines"
    )
    assert too_few_lines(one, caps(set(), min_lines=2), "p") == (
        "the target needs at least 2 lines: p refuses an invoice with 1 line(s)"
    )
    assert too_few_lines(one, caps(set(), min_lines=1), "p") is None
    assert too_few_lines(empty, caps(set()), "bill_crm") is None  # 0 when not declared
