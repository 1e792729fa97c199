"""``adapters.paths``: an id is one path segment, or it is refused before anything is sent."""

from __future__ import annotations

import pytest

from adapters.paths import provider_path, segment
from gateway.errors import BadIdentifier

DOT_SEGMENTS = [
    ".",
    "..",
    "%2e",
    "%2e%2e",
    "%2E%2e",
    ".%2e",
    "%2e.",
    "%252e%252e",
    "%25252e%25252E",
    "..;jsessionid=1",  # a path parameter after a dot segment (Tomcat reads "..")
    " .. ",
    "\uff0e\uff0e",  # fullwidth dots, folded to ".." by NFKC
]
SEPARATORS = ["a/b", "a%2fb", "a%2Fb", "a%252Fb", "a\\b", "a%5cb", "a%255Cb", "../x", "%2e%2e%2f"]
CONTROLS = ["a\x00b", "a%00b", "a%0d%0aX-Injected: 1", "a\nb", "a%250ab", "a\u2028b", "\x7f"]


@pytest.mark.parametrize("value", DOT_SEGMENTS)
def test_dot_segments_in_any_encoding_are_refused(value: str) -> None:
    with pytest.raises(BadIdentifier) as info:
        segment(value, what="invoice id")
    assert "dot segment" in info.value.message
    assert info.value.message.startswith("invoice id ")


@pytest.mark.parametrize("value", SEPARATORS)
def test_separators_in_any_encoding_are_refused(value: str) -> None:
    with pytest.raises(BadIdentifier) as info:
        segment(value)
    assert "separator" in info.value.message or "dot segment" in info.value.message


@pytest.mark.parametrize("value", CONTROLS)
def test_control_characters_are_refused(value: str) -> None:
    with pytest.raises(BadIdentifier) as info:
        segment(value)
    assert "control characters" in info.value.message
    assert "\n" not in info.value.message and "\x00" not in info.value.message


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty"),
        ("   ", "blank"),
        ("%c0%ae%c0%ae", "not UTF-8"),  # overlong "..", which some decoders accept
        ("%" + "25" * 12 + "41", "too many times"),
    ],
)
def test_empty_invalid_and_endlessly_encoded_ids_are_refused(value: str, reason: str) -> None:
    with pytest.raises(BadIdentifier) as info:
        segment(value)
    assert reason in info.value.message


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("12", "12"),
        ("2f0e1c5e-6d2b-4c4c-9a7c-1f5e3b1a2c3d", "2f0e1c5e-6d2b-4c4c-9a7c-1f5e3b1a2c3d"),
        ("INV-2024.001", "INV-2024.001"),
        ("...", "..."),
        ("a b;c?d#e&f", "a%20b%3Bc%3Fd%23e%26f"),
        ("50%off", "50%25off"),
        ("é", "%C3%A9"),
    ],
)
def test_other_ids_are_one_percent_encoded_segment(value: str, encoded: str) -> None:
    assert segment(value) == encoded


def test_provider_path_joins_segments() -> None:
    assert provider_path("invoices", "a b", "notes") == "/invoices/a%20b/notes"
    with pytest.raises(BadIdentifier):
        provider_path("invoices", "%2e%2e")
