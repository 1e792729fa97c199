"""The ``--map`` file: what it maps, its defaults, and errors that name the line."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.migration.references import MapError, parse_map

MAP = """
customers:
  "10": "C-1"
  "*": "C-9"
items:
  "12": "ITM-1"
taxes:
  "5": "GST"
  "7.5%": "VAT-75"
payment_methods:
  cheque: check
  "*": other
due_days: 30
provider_fields: {bill_categoryid: 1}
"""


def test_ids_map_with_their_defaults_and_taxes_by_id_or_rate() -> None:
    refs = parse_map(MAP, "map.yaml")
    assert (refs.customer("10"), refs.customer("11")) == ("C-1", "C-9")
    assert (refs.item("12"), refs.item("13")) == ("ITM-1", None)
    assert refs.tax("5", Decimal("5")) == ("5", "GST")
    assert refs.tax(None, Decimal("7.50")) == ("7.5%", "VAT-75")  # the rate as written
    assert refs.tax("9", Decimal("9")) is None
    assert (refs.payment_method("cheque"), refs.payment_method("card")) == ("check", "other")
    assert refs.payment_method(None) is None
    assert refs.due_days == 30
    assert refs.provider_fields == {"bill_categoryid": 1}


def test_every_problem_names_its_line_and_path() -> None:
    bad = 'customers:\n  "10": 12.5\nitems: []\ndue_days: -1\nsurprise: 1\n'
    with pytest.raises(MapError) as info:
        parse_map(bad, "map.yaml")
    problems = info.value.problems
    assert any(p.startswith("line 2: customers.10: 12.5 is not of type") for p in problems)
    assert any(p.startswith("line 3: items: [] is not of type 'object'") for p in problems)
    assert any(p.startswith("line 4: due_days: -1 is less than the minimum of 0") for p in problems)
    assert any("surprise" in p and p.startswith("line 5: (top level)") for p in problems)
    assert str(info.value).startswith("map.yaml: line")


def test_yaml_that_cannot_be_read_says_where() -> None:
    with pytest.raises(MapError) as info:
        parse_map("customers: {a: [1, 2\n", "map.yaml")
    assert info.value.problems[0].startswith("line 2, column 1: not valid YAML")


def test_a_tax_rate_is_looked_up_however_its_key_is_written() -> None:
    """Found by its rate however written, and named as written (a reason naming "7.5%" names
    a key the map does not hold)."""
    refs = parse_map('taxes:\n  "7.50%": "VAT-75"\n  " 12 %": "VAT-12"\n', "map.yaml")
    assert refs.tax(None, Decimal("7.5")) == ("7.50%", "VAT-75")
    assert refs.tax("any-id", Decimal("12.00")) == (" 12 %", "VAT-12")


def test_taxes_take_no_default_and_no_rate_that_is_not_one() -> None:
    """One tax for every other would change what is charged: ``"*"`` is refused, by line,
    rather than accepted and never used; so is a ``%`` key that is no rate."""
    bad = 'taxes:\n  "5": "GST"\n  "*": "GST"\n  "seven%": "X"\n  "150%": "Y"\n'
    with pytest.raises(MapError) as info:
        parse_map(bad, "map.yaml")
    assert info.value.problems == [
        'line 3: taxes.*: "*" is not taken for taxes: map each source tax by its id or its rate '
        '("7.5%"); taxes not listed are matched by rate through the target\'s tax table',
        'line 4: taxes.seven%: is not a rate written like "7.5%"',
        'line 5: taxes.150%: is not a rate written like "7.5%"',
    ]


def test_one_tax_mapped_twice_is_refused_naming_both_lines() -> None:
    """``"7.5%"`` and ``"7.50%"`` are one tax: which target it got would depend on the order
    of the keys (and change what is charged), so the map is refused, whatever the order."""
    for first, second in (("7.5%", "7.50%"), ("7.50%", "7.5%")):
        text = f'taxes:\n  "{first}": "5"\n  "{second}": "3"\n'
        with pytest.raises(MapError) as info:
            parse_map(text, "map.yaml")
        assert info.value.problems == [
            f"line 3: taxes.{second}: is the same tax as taxes.{first} (line 2): map each tax once"
        ]


def test_a_key_given_twice_is_refused_saying_where() -> None:
    with pytest.raises(MapError) as info:
        parse_map('customers:\n  "10": "C-1"\ncustomers:\n  "11": "C-2"\n', "map.yaml")
    assert info.value.problems == [
        "line 3, column 1: not valid YAML ('customers' is given twice in one mapping (first on "
        "line 1): keep one)"
    ]


def test_a_list_as_a_key_is_yamls_own_error_saying_where() -> None:
    with pytest.raises(MapError) as info:
        parse_map('customers:\n  "10": "C-1"\n? [a, b]\n: 1\n', "map.yaml")
    [problem] = info.value.problems
    assert problem.startswith("line ") and "unhashable key" in problem
