"""``gateway.migration.copy.fingerprint``: what a source said when it was copied, so that a run
again can say a source changed since; an invoice that only fell due has not changed."""

from __future__ import annotations

import hashlib

from gateway.canonical.model import Invoice, with_fields
from gateway.migration.rows import changed_since, fingerprint


def _invoice(notes: str = "as copied") -> Invoice:
    line = {"name": "n", "quantity": "2", "unit_price": "10.00"}
    return Invoice.model_validate(
        {"currency": "USD", "due_date": "2026-01-31", "notes": notes, "lines": [line]}
    )


def test_an_invoice_that_fell_due_since_has_not_changed() -> None:
    before = _invoice()
    overdue = with_fields(before, {"overdue": True})
    assert overdue.overdue is True and before.overdue is not True
    assert fingerprint(overdue) == fingerprint(before)
    assert not changed_since(fingerprint(before), fingerprint(overdue))


def test_a_changed_field_is_a_change() -> None:
    assert changed_since(fingerprint(_invoice()), fingerprint(_invoice("changed")))


def test_an_entry_recorded_by_an_earlier_version_cannot_tell() -> None:
    """Its fingerprint counted ``overdue`` and has no form mark: never reported as changed."""
    older = hashlib.sha256(_invoice().model_dump_json().encode()).hexdigest()
    assert not changed_since(older, fingerprint(_invoice("changed")))
