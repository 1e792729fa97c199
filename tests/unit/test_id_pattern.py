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
        hex(code)
        for code in range(sys.maxunicode + 1)
        if not 0xD800 <= code <= 0xDFFF  # surrogates: no text holds one alone
        and chr(code) not in "%."  # a percent-encoding and a dot segment: the tests below
        and bool(pattern.search(f"a{chr(code)}b")) != _taken(f"a{chr(code)}b")
    ]
    assert differ == []


@pytest.mark.parametrize(
    ("value", "taken"),
    [(".", False), ("..", False), ("...", True), (".a", True), (" ", False), ("INV-1", True)],
)
def test_blank_and_dot_segments(value: str, taken: bool) -> None:
    assert bool(_pattern("note_id").search(value)) is taken
    assert _taken(value) is taken
