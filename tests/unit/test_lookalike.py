"""``adapters.resolution.looks_like``: a lost create's candidates told apart by what the caller
wrote, notes and reference included, without taking a create for not made."""

from __future__ import annotations

from adapters.resolution import looks_like
from gateway.canonical.model import Invoice


def _invoice(notes: str | None = None, reference: str | None = None) -> Invoice:
    line = {"name": "n", "quantity": "1", "unit_price": "5.00"}
    return Invoice.model_validate(
        {"currency": "USD", "notes": notes, "reference": reference, "lines": [line]}
    )


def test_notes_that_differ_tell_two_creates_apart() -> None:
    assert not looks_like(_invoice("Job 1"), _invoice("Job 12"))
    assert not looks_like(_invoice("Job 12"), _invoice("Job 1"))
    assert not looks_like(_invoice(reference="PO-7"), _invoice(reference="PO-8"))


def test_blanks_and_a_text_cut_short_at_a_limit_still_match() -> None:
    """A provider may trim, reflow or shorten what it keeps: the create is found, not made
    again."""
    assert looks_like(_invoice("Job 1\r\n for  Acme "), _invoice("Job 1 for Acme"))
    long = "Delivered to the loading dock at the north gate, signed by the foreman"
    assert looks_like(_invoice(long), _invoice(long[:40]))
    assert not looks_like(_invoice(long), _invoice(long[:40] + "x"))


def test_a_text_not_sent_or_not_listed_tells_nothing() -> None:
    assert looks_like(_invoice(), _invoice("kept by the provider"))
    assert looks_like(_invoice("sent"), _invoice())
