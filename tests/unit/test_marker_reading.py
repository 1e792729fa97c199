"""A read hides the dedupe marker the gateway wrote (``resolution.hide_marker``); a lost
create's lookup still finds it, in the provider's payload (``carries_marker``), whichever field
the mapping's ``dedupe.marker`` names: free text, or a list such as tags."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.resolution import carries_marker, hide_marker, new_marker
from gateway.canonical.model import Invoice

MARKER = new_marker()


def invoice(**fields: Any) -> Invoice:
    return Invoice.model_validate(
        {"currency": "USD", "lines": [{"quantity": "1", "unit_price": "5"}], **fields}
    )


@pytest.mark.parametrize(
    ("path", "written", "read", "raw"),
    [
        ("notes", MARKER, None, {"notes": MARKER}),
        ("notes", f"  {MARKER}\n", None, {"notes": f"  {MARKER}\n"}),
        ("tags", ["vip", MARKER], ["vip"], {"tags": [{"title": "vip"}, {"title": MARKER}]}),
        ("tags", [MARKER], [], {"Invoice": {"tags": [MARKER]}}),
    ],
)
def test_a_read_hides_the_marker_and_the_lookup_still_finds_it(
    path: str, written: Any, read: Any, raw: dict[str, Any]
) -> None:
    provided = invoice(**{path: written, "remote_data": raw})
    shown = hide_marker(provided, path)
    assert getattr(shown, path) == read
    assert carries_marker(shown, path, MARKER)
    assert not carries_marker(shown, path, new_marker())  # another write's marker: not this


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("notes", "Thank you for your order."),
        ("notes", MARKER + " and a word"),  # not only the marker: the caller's words
        ("tags", ["vip", "ig-not-a-marker"]),
    ],
)
def test_what_a_caller_wrote_is_never_hidden(path: str, value: Any) -> None:
    provided = invoice(**{path: value})
    assert getattr(hide_marker(provided, path), path) == value
