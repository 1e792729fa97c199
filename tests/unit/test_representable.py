from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from adapters.base import Capabilities, UnsupportedFields
from adapters.representable import empties_kept, fit, kept_on_update, unrepresentable
from gateway.canonical.model import invoice_from_input


def caps(fields: set[str], **changes: Any) -> Capabilities:
    base: dict[str, Any] = {
        "operations": frozenset({"create"}),
        "actions": frozenset(),
        "payments": frozenset(),
        "notes": False,
        "create_from_order": False,
        "filters": frozenset(),
        "fields": frozenset(fields),
        "tax_modes": frozenset({"exclusive"}),
        "max_line_taxes": 1,
        "compound_taxes": False,
        "max_page_size": 100,
        "versioned": False,
    }
    base.update(changes)
    return Capabilities(**base)


INVOICE = invoice_from_input(
    {
        "currency": "USD",
        "number": "INV-1",
        "customer": {"id": "10"},
        "shipping": "5.00",
        "discount": {"type": "amount", "value": "1.00"},
        "lines": [
            {"kind": "section", "name": "Work"},
            {
                "name": "Consulting",
                "unit": "hour",
                "quantity": "2",
                "unit_price": "50",
                "discount": {"type": "percent", "value": "10"},
                "taxes": [{"rate": "5"}, {"rate": "9.975", "compound": True}],
            },
        ],
    }
)
CARRIED = {"number", "customer.id", "lines.name", "lines.taxes"}


def test_everything_uncarried_is_named_with_a_pointer() -> None:
    found = {(e.pointer, e.detail) for e in unrepresentable(INVOICE, caps(CARRIED), "acme")}
    assert found == {
        ("/shipping", "acme cannot carry a shipping amount"),
        ("/discount", "acme cannot carry a document-level amount discount"),
        ("/lines/0", "acme cannot carry section (heading) lines"),
        ("/lines/1/unit", "acme cannot carry a line unit"),
        ("/lines/1/discount", "acme cannot carry a percent line discount"),
        ("/lines/1/taxes", "acme carries at most 1 tax(es) per line"),
        ("/lines/1/taxes/1/compound", "acme cannot carry compound taxes"),
    }


def test_strict_refuses_and_says_how_to_go_lenient() -> None:
    with pytest.raises(UnsupportedFields) as info:
        fit(INVOICE, caps(CARRIED), "acme", "strict")
    assert info.value.provider == "acme"
    assert len(info.value.errors) == 7
    assert "Prefer: handling=lenient" in info.value.message


def test_lenient_drops_exactly_what_was_reported() -> None:
    fitted, warnings = fit(INVOICE, caps(CARRIED), "acme", "lenient")
    assert len(warnings) == 7
    assert fitted.shipping == 0 and fitted.discount is None
    assert [line.kind for line in fitted.lines] == ["item"]
    line = fitted.lines[0]
    assert (line.name, line.unit, line.discount) == ("Consulting", None, None)
    assert [(t.rate, t.compound) for t in line.taxes] == [(Decimal("5"), False)]
    assert fitted.number == "INV-1" and fitted.customer is not None and fitted.customer.id == "10"
    assert unrepresentable(fitted, caps(CARRIED), "acme") == []


def test_tax_mode_is_never_dropped_even_when_lenient() -> None:
    inclusive = INVOICE.model_copy(update={"tax_mode": "inclusive"})
    everything = caps(
        CARRIED
        | {"shipping", "discount.amount", "lines.section", "lines.unit", "lines.discount.percent"},
        max_line_taxes=2,
        compound_taxes=True,
    )
    with pytest.raises(UnsupportedFields) as info:
        fit(inclusive, everything, "acme", "lenient")
    assert [e.pointer for e in info.value.errors] == ["/tax_mode"]


def test_a_fully_carried_invoice_passes_untouched() -> None:
    everything = caps(
        CARRIED
        | {"shipping", "discount.amount", "lines.section", "lines.unit", "lines.discount.percent"},
        max_line_taxes=2,
        compound_taxes=True,
    )
    fitted, warnings = fit(INVOICE, everything, "acme", "strict")
    assert fitted is INVOICE and warnings == []


CREDIT_NOTE = invoice_from_input(
    {"currency": "USD", "document_type": "credit_note", "credited_invoice_id": "7", "lines": []}
)


@pytest.mark.parametrize("handling", ["strict", "lenient"])
def test_a_credit_note_is_never_dropped_into_an_invoice(handling: Any) -> None:
    with pytest.raises(UnsupportedFields) as info:
        fit(CREDIT_NOTE, caps(set(), actions=frozenset({"credit_note"})), "acme", handling)
    assert [(e.pointer, e.detail) for e in info.value.errors] == [
        (
            "/document_type",
            "acme cannot carry a credit note written as a body (document_type credit_note); "
            "make one with the credit_note action on the invoice it credits",
        ),
        (
            "/credited_invoice_id",
            "acme cannot carry a link to a credited invoice (credited_invoice_id)",
        ),
    ]


def test_a_provider_that_takes_credit_notes_in_a_body_passes_them() -> None:
    able = caps({"document_type.credit_note", "credited_invoice_id"})
    assert fit(CREDIT_NOTE, able, "acme", "strict") == (CREDIT_NOTE, [])


def test_an_invoice_says_nothing_about_credit_notes() -> None:
    plain = invoice_from_input({"currency": "USD", "document_type": "invoice"})
    assert unrepresentable(plain, caps(set()), "acme") == []


def test_emptying_a_field_the_provider_keeps_is_refused_only_where_it_has_a_value() -> None:
    keeps = caps({"due_date", "issue_date"}, update_keeps=frozenset({"due_date", "issue_date"}))
    dated = invoice_from_input({"currency": "USD", "issue_date": "2026-03-01", "due_date": None})
    current = invoice_from_input(
        {"currency": "USD", "issue_date": "2026-03-01", "due_date": "2026-03-31"}
    )
    assert empties_kept(dated, keeps) and not empties_kept(current, keeps)
    with pytest.raises(UnsupportedFields) as refused:
        kept_on_update(dated, current, keeps, "bill_crm", "strict")
    detail = "bill_crm cannot empty a due date on an update: the invoice keeps 2026-03-31"
    assert [(e.pointer, e.detail) for e in refused.value.errors] == [("/due_date", detail)]
    lenient = kept_on_update(dated, current, keeps, "bill_crm", "lenient")
    assert [w.as_dict() for w in lenient] == [{"field": "/due_date", "reason": detail}]
    # Nothing to keep: the invoice has no due date either, so a replace without one is a replace.
    undated = invoice_from_input({"currency": "USD", "issue_date": "2026-03-01"})
    assert kept_on_update(dated, undated, keeps, "bill_crm", "strict") == []
    assert not empties_kept(current, caps({"due_date"}))
    # A body that leaves the field out says nothing about it: the provider keeps it, as asked.
    silent = invoice_from_input({"currency": "USD"})
    assert not empties_kept(silent, keeps)
    assert kept_on_update(silent, current, keeps, "bill_crm", "strict") == []


@pytest.mark.parametrize(
    ("payments", "said"),
    [
        (frozenset({"list", "create", "delete"}), "record them through the payments resource"),
        (frozenset({"list"}), None),  # crm_v1 lists payments but records none
        (frozenset(), None),
    ],
)
def test_payments_on_a_write_point_to_the_payments_resource_only_where_there_is_one(
    payments: frozenset[str], said: str | None
) -> None:
    paid = invoice_from_input(
        {
            "currency": "USD",
            "lines": [{"quantity": "1", "unit_price": "10"}],
            "payments": [{"amount": "1.00", "date": "2026-04-02"}],
        }
    )

    (error,) = unrepresentable(paid, caps(set(), payments=payments), "acme")

    assert error.pointer == "/payments"
    assert error.detail.startswith("acme cannot carry payments on a write")
    assert (said in error.detail) if said else ("resource" not in error.detail)


def test_a_sections_unit_the_provider_cannot_carry_is_named_not_dropped_unsaid() -> None:
    """crm_v1 keeps sections but no unit: a section's unit was sent nowhere, under strict."""
    invoice = invoice_from_input(
        {"currency": "USD", "lines": [{"kind": "section", "name": "Labour", "unit": "hour"}]}
    )
    keeps_sections = caps({"lines.section", "lines.name"})
    with pytest.raises(UnsupportedFields) as refused:
        fit(invoice, keeps_sections, "crm_v1", "strict")
    assert [e.pointer for e in refused.value.errors] == ["/lines/0/unit"]
    fitted, warnings = fit(invoice, keeps_sections, "crm_v1", "lenient")
    assert [w.field for w in warnings] == ["/lines/0/unit"]
    assert fitted.lines[0].unit is None and fitted.lines[0].name == "Labour"


def _taxed(*taxes: list[dict[str, str]]) -> Any:
    """A USD invoice of one line per list of taxes given."""
    lines = [
        {"name": f"line {i}", "quantity": "1", "unit_price": "1.00", "taxes": line_taxes}
        for i, line_taxes in enumerate(taxes)
    ]
    return invoice_from_input({"currency": "USD", "lines": lines})


def test_a_tax_named_otherwise_than_the_provider_names_it_is_named_or_renamed() -> None:
    """Every provider stores a tax by its id and reads it back with its own name: the caller's
    "Provincial levy" came back "VAT 5%", with no word, under strict too."""
    invoice = _taxed(
        [{"id": "5", "rate": "5", "name": "Provincial levy"}],
        [{"id": "5", "rate": "5", "name": "VAT 5%"}],
    )
    taxed = caps({"lines.name", "lines.taxes"})

    def names(tax: Any) -> str | None:
        return "VAT 5%" if tax.id == "5" else None

    with pytest.raises(UnsupportedFields) as refused:
        fit(invoice, taxed, "crm_v1", "strict", names)
    [error] = refused.value.errors
    assert error.pointer == "/lines/0/taxes/0/name"
    assert "names this tax 'VAT 5%'" in error.detail
    fitted, warnings = fit(invoice, taxed, "crm_v1", "lenient", names)
    assert [w.field for w in warnings] == ["/lines/0/taxes/0/name"]
    assert [(t.id, t.name, t.compound) for t in fitted.lines[0].taxes] == [("5", "VAT 5%", False)]
    assert fit(invoice, taxed, "crm_v1", "strict") == (invoice, [])  # no names: none checked
    by_item = caps({"lines.name", "lines.taxes"}, taxes_by_item=True)
    assert fit(invoice, by_item, "order_linked", "strict", names)[1] == []


def test_a_misnamed_tax_past_the_lines_limit_is_dropped_with_the_others_not_a_500() -> None:
    """Lenient: a line with more taxes than the provider carries, the one past the limit named
    otherwise. The name's renaming read the tax past the cut (IndexError: a 500 on crm_v1 and
    draft_publish); where the cut came after it, the renamed taxes were replaced by the line's
    own, so the first tax kept the caller's name."""
    invoice = _taxed(
        [{"id": "5", "rate": "5", "name": "Provincial levy"}, {"id": "9", "rate": "9", "name": "9"}]
    )

    def names(tax: Any) -> str | None:
        return {"5": "VAT 5%", "9": "VAT 9%"}[tax.id]

    fitted, warnings = fit(invoice, caps({"lines.name", "lines.taxes"}), "crm_v1", "lenient", names)
    assert [(t.id, t.name) for t in fitted.lines[0].taxes] == [("5", "VAT 5%")]
    assert "/lines/0/taxes" in [w.field for w in warnings]
