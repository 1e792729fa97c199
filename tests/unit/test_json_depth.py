"""``jsonwire.nested_deeper``: told from the text's brackets where it can be, else walked; the
same answer either way, for any JSON text (strings holding brackets, quotes and escapes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import jsonwire
from gateway.jsonwire import nested_deeper

# Strings rich in what the bracket reading must see through.
# (U+225B, U+7B22 and U+5D5B hold a quote's or a bracket's byte in UTF-16.)
_TEXT = st.text(
    alphabet=st.sampled_from(list('ab"\\[]{}/\n\u00e9\u4e2d\u225b\u7b22\u5d5b ')), max_size=8
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=40,
)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _nest(levels: int, inner: Any = 1) -> Any:
    value = inner
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


@settings(max_examples=400, deadline=None)
@given(value=_JSON, limit=st.integers(0, 12), ascii_only=st.booleans())
def test_the_answer_is_the_values_depth_against_the_limit(
    value: Any, limit: int, ascii_only: bool
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    want = _depth(value) > limit
    assert nested_deeper(text, value, limit) is want
    assert nested_deeper(text.encode(), value, limit) is want
    assert nested_deeper(text.encode("utf-16"), value, limit) is want


@pytest.mark.parametrize("levels", [1, 7, 15, 16, 17, 40, 100, 101, 150])
def test_deep_values_around_the_limit(levels: int) -> None:
    # Many brackets, so that the count alone cannot answer; padded with shallow siblings.
    value = {"deep": _nest(levels - 1), "rows": [{"a": [1]} for _ in range(60)]}
    text = json.dumps(value)
    assert nested_deeper(text, value, 100) is (levels > 100)


@pytest.mark.parametrize("limit", range(1, 20))
@pytest.mark.parametrize("alternating", [True, False])
def test_nesting_at_and_just_past_small_limits(limit: int, alternating: bool) -> None:
    # Alternating objects and arrays lose two levels a pass of the bracket reading, not one.
    for levels in (limit, limit + 1):
        value = _nest(levels) if alternating else json.loads("[" * levels + "]" * levels)
        text = json.dumps(value)
        assert _depth(value) == levels
        assert nested_deeper(text, value, limit) is (levels > limit)


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The limits of the walks ``nested_deeper`` falls back to, recorded."""
    limits: list[int] = []
    walk = jsonwire._walked_deeper

    def walked(value: Any, limit: int) -> bool:
        limits.append(limit)
        return walk(value, limit)

    monkeypatch.setattr(jsonwire, "_walked_deeper", walked)
    return limits


def test_a_page_without_brackets_in_its_strings_is_answered_without_a_walk(
    walks: list[int],
) -> None:
    rows = [
        {"id": f"INV-{n}", "lines": [{"q": "1.5"}], "name": 'caf\u00e9 \\ "'} for n in range(60)
    ]
    page = {"invoices": rows}
    assert nested_deeper(json.dumps(page), page, 100) is False
    assert walks == []
    rows[3]["name"] = "[draft"  # a bracket in a string: the value is walked
    assert nested_deeper(json.dumps(page), page, 100) is False
    assert walks == [100]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_text_not_in_utf8_is_walked(walks: list[int], encoding: str) -> None:
    # Its bytes for other characters may hold a quote's or a bracket's byte (U+5C22, U+7B5D).
    value = {"rows": [{"a": [1], "b": "\u5c22\u7b5d"} for _ in range(60)]}
    assert nested_deeper(json.dumps(value).encode(encoding), value, 100) is False
    assert walks == [100]
