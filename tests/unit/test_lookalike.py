"""``adapters.resolution.looks_like``: a lost create's candidates told apart by what the caller
wrote, notes and reference included, without taking a create for not made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from adapters.resolution import looks_like
from gateway.canonical.model import Discount, Invoice


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


MADE = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def _discounted(
    *, invoice: bool = False, line: bool = False, changed_after: timedelta | None = timedelta(0)
) -> Invoice:
    """``_invoice("Job 1")`` with a discount on the invoice, on its line, or both, made at
    ``MADE`` and changed ``changed_after`` that (None: its provider does not say)."""
    plain = _invoice("Job 1")
    lines = plain.lines
    if line:
        discount = Discount(type="amount", value=Decimal("1.00"))
        lines = [lines[0].model_copy(update={"discount": discount})]
    whole = Discount(type="percent", value=Decimal(5)) if invoice else None
    stamps = {"created_at": MADE, "updated_at": None}
    if changed_after is not None:
        stamps["updated_at"] = MADE + changed_after
    return plain.model_copy(update={"discount": whole, "lines": lines, **stamps})


def test_a_discount_the_caller_did_not_send_is_another_create() -> None:
    """Two keys sending one customer, dates, notes and lines, one with discounts: the lookup
    of the one without took the other's invoice for its own (its invoice never made)."""
    plain = _invoice("Job 1")
    assert not looks_like(plain, _discounted(invoice=True))
    assert not looks_like(plain, _discounted(line=True))
    # A discount sent and not listed (a provider's list row, a half-made create) tells nothing.
    assert looks_like(_discounted(invoice=True, line=True), plain)
    assert looks_like(_discounted(invoice=True), _discounted(invoice=True))
    # "No discount" listed as a zero is none.
    zero = plain.model_copy(update={"discount": Discount(type="amount", value=Decimal(0))})
    assert looks_like(plain, zero)


def test_a_discount_added_since_the_invoice_was_made_may_be_a_persons() -> None:
    """The create made the invoice, its answer was lost, and a person discounted the new draft
    before the retry: taken for another request's, it was created again. Only an invoice its
    provider says is unchanged since made is told apart by a discount; one changed since, or
    whose provider does not say, may be this one."""
    plain = _invoice("Job 1")
    assert looks_like(plain, _discounted(invoice=True, changed_after=timedelta(minutes=3)))
    # An automation discounting the new draft a moment after it was made.
    assert looks_like(plain, _discounted(invoice=True, changed_after=timedelta(milliseconds=75)))
    assert looks_like(plain, _discounted(line=True, changed_after=timedelta(minutes=3)))
    assert looks_like(plain, _discounted(invoice=True, changed_after=None))
