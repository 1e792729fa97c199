"""The OpenAPI document's pattern for a path id says what ``adapters.paths.segment`` refuses, as
far as a pattern can: a client (or Schemathesis) that builds ids from the document does not send
one the gateway answers 400. It allowed format characters (U+00AD, U+202E…), which the gateway
refuses as it refuses control characters."""

from __future__ import annotations

import re
import sys

import pytest

from adapters.paths import BadIdentifier, segment
from gateway.http.openapi import openapi_document


def _pattern(name: str) -> re.Pattern[str]:
    parameter = openapi_document()["components"]["parameters"][name]
    return re.compile(parameter["schema"]["pattern"])


def _taken(value: str) -> bool:
    try:
        segment(value)
    except BadIdentifier:
        return False
    return True


def test_a_character_is_in_an_id_by_the_document_exactly_when_the_gateway_takes_it() -> None:
    ids = ["invoice_id", "payment_id", "order_id", "note_id"]
    assert len({_pattern(name).pattern for name in ids}) == 1  # one rule for every id
    pattern = _pattern("note_id")
    differ = [
        code
        for code in range(sys.maxunicode + 1)
        if not 0xD800 <= code <= 0xDFFF  # surrogates: no text holds one alone
        and chr(code) not in "%."  # a percent-encoding and a dot segment: the tests below
        and bool(pattern.search(f"a{chr(code)}b")) != _taken(f"a{chr(code)}b")
    ]
    # Beyond the Basic Multilingual Plane the pattern says nothing (ECMA-262 outside its u
    # mode cannot hold such characters in a class); the gateway refuses a few there.
    assert [hex(code) for code in differ if code <= 0xFFFF] == []
    assert all(not _taken(f"a{chr(code)}b") for code in differ)


def test_the_pattern_compiles_where_javascript_reads_it_without_the_u_flag() -> None:
    """The /docs page checks a parameter with ``new RegExp(pattern)``: a character beyond the
    Basic Multilingual Plane in a class is two code units there, and the class failed to
    compile ("Range out of order"). The pattern is ASCII, every other character escaped."""
    pattern = _pattern("note_id").pattern
    assert pattern.isascii()
    assert not re.search(r"\\[uU][0-9a-fA-F]{5}|\\U", pattern)


@pytest.mark.parametrize(
    ("value", "taken"),
    [
        (".", False),
        ("..", False),
        (". ", False),
        (" ..", False),
        ("\u00a0..\u3000", False),
        ("...", True),
        (".a", True),
        (" ", False),
        ("INV-1", True),
    ],
)
def test_blank_and_dot_segments(value: str, taken: bool) -> None:
    assert bool(_pattern("note_id").search(value)) is taken
    assert _taken(value) is taken
