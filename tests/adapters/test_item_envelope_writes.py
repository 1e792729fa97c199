"""item_envelope writes against the emulator: the wire body, checks before sending, strict and
lenient handling, the provider's answers translated, and the draft → open lifecycle.

The emulator is seeded with 23 invoices (ids 101–123): 103 is paid, 106 a draft, 111 issued.
"""

# The imported `pair` fixture is what the tests' `pair` parameters receive.
# ruff: noqa: F811

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from adapters.base import (
    BadIdentifier,
    Conflict,
    InvalidRequest,
    NotFound,
    NotSupported,
    OutcomeUncertain,
    UnsupportedFields,
    UpstreamError,
)
from gateway import jsonwire
from gateway.canonical.model import Invoice
from gateway.config import RetrySettings, TaxSetting
from tests.contract.conftest import Pair, pair  # noqa: F401  (the emulator + adapter fixture)
from tests.contract.profiles.item_envelope import sample

pytestmark = pytest.mark.parametrize("pair", ["item_envelope"], indirect=True)

PAID = "103"
DRAFT = "106"
ISSUED = "111"


async def sent_since(pair: Pair, start: int) -> list[dict[str, Any]]:
    """What reached the emulator after ``start``, bodies read with exact numbers."""
    async with pair.session.get(f"{pair.base_url}/_emulator/requests") as response:
        requests: list[dict[str, Any]] = jsonwire.loads(await response.text())["requests"]
    return requests[start:]


async def log_size(pair: Pair) -> int:
    return len(await pair.wire_log())


def invoice(**changes: Any) -> Invoice:
    """The first sample (client 15, USD, two lines) with ``changes`` to its fields."""
    return Invoice.model_validate({**sample(0).model_dump(), **changes})


def with_lines(*lines: dict[str, Any], **changes: Any) -> Invoice:
    return invoice(lines=list(lines), **changes)


LINE = {"item_id": "1", "quantity": "2", "unit_price": "100"}


async def faults(pair: Pair, **settings: Any) -> None:
    async with pair.session.post(f"{pair.base_url}/_emulator/faults", json=settings) as response:
        assert response.status == 200


# --- the wire body -------------------------------------------------------------------------------


async def test_line_discount_codes_are_the_item_envelope_ones(pair: Pair) -> None:
    start = await log_size(pair)
    created = await pair.adapter.create(
        with_lines(
            {**LINE, "discount": {"type": "percent", "value": "10"}},
            {**LINE, "item_id": "3", "discount": {"type": "amount", "value": "5.00"}},
        )
    )
    body = (await sent_since(pair, start))[0]["body"]
    items = body["Invoice"]["InvoiceItem"]
    # 1 = percentage, 2 = absolute: the opposite of crm_v1's codes.
    assert [(i["discount"], i["discount_type"]) for i in items] == [
        (Decimal("10"), 1),
        (Decimal("5.00"), 2),
    ]
    lines = created.invoice.lines
    assert [(ln.discount.type, ln.discount.value) for ln in lines if ln.discount] == [
        ("percent", Decimal("10")),
        ("amount", Decimal("5.00")),
    ]
    assert [ln.net_amount for ln in lines] == [Decimal("180.00"), Decimal("195.00")]


@pytest.mark.parametrize(
    ("discount", "field", "absent"),
    [
        ({"type": "percent", "value": "7.5"}, "discount", "discount_amount"),
        ({"type": "amount", "value": "12.34"}, "discount_amount", "discount"),
    ],
)
async def test_the_document_discount_kind_chooses_the_field(
    pair: Pair, discount: dict[str, str], field: str, absent: str
) -> None:
    start = await log_size(pair)
    created = await pair.adapter.create(invoice(discount=discount))
    header = (await sent_since(pair, start))[0]["body"]["Invoice"]
    assert header[field] == Decimal(discount["value"])
    assert absent not in header
    read = created.invoice.discount
    assert read is not None and (read.type, read.value) == (
        discount["type"],
        Decimal(discount["value"]),
    )


async def test_amounts_and_ids_are_json_numbers(pair: Pair) -> None:
    start = await log_size(pair)
    await pair.adapter.create(sample(1))
    header = (await sent_since(pair, start))[0]["body"]["Invoice"]
    assert (header["client_id"], header["store_id"], header["is_offline"]) == (2, 2, 1)
    item = header["InvoiceItem"][0]
    assert (item["product_id"], item["tax1"], item["tax2"]) == (7, 1, 2)
    assert (item["quantity"], item["unit_price"]) == (Decimal("1.5"), Decimal("367.9540"))
    assert header["po_number"] == "PO-2026-100"
    assert (item["col_4"], item["col_5"]) == ("Serial on request", "EU")


# --- lifecycle -----------------------------------------------------------------------------------


async def test_created_invoices_are_drafts_until_issued(pair: Pair) -> None:
    start = await log_size(pair)
    created = await pair.adapter.create(sample(0))
    assert (await sent_since(pair, start))[0]["body"]["Invoice"]["draft"] == 1
    assert created.invoice.status == "draft"
    assert created.invoice.id is not None
    start = await log_size(pair)
    issued = await pair.adapter.act(created.invoice.id, "issue")
    put = (await sent_since(pair, start))[0]
    assert (put["method"], put["body"]) == ("PUT", {"Invoice": {"draft": 0}})
    assert (issued.status, issued.provider_status) == ("open", {"draft": 0, "payment_status": 0})


async def test_an_update_leaves_the_document_state_alone(pair: Pair) -> None:
    start = await log_size(pair)
    updated = await pair.adapter.update(DRAFT, sample(1))
    assert "draft" not in (await sent_since(pair, start))[0]["body"]["Invoice"]
    assert updated.invoice.status == "draft"


async def test_a_paid_invoice_can_be_neither_changed_nor_deleted(pair: Pair) -> None:
    for attempt in (
        pair.adapter.act(PAID, "issue"),
        pair.adapter.update(PAID, sample(0)),
        pair.adapter.delete(PAID),
    ):
        with pytest.raises(Conflict) as info:
            await attempt
        assert info.value.message.startswith("item_envelope refused the change: Invoice 103")
    assert (await pair.adapter.get(PAID)).status == "paid"


async def test_void_and_the_other_actions_are_not_supported(pair: Pair) -> None:
    before = await log_size(pair)
    with pytest.raises(NotSupported) as info:
        await pair.adapter.act(ISSUED, "void")
    assert info.value.message == "item_envelope cannot void invoices"
    assert await log_size(pair) == before


# --- checks before sending -----------------------------------------------------------------------


@pytest.mark.parametrize("item_id", [None, "SKU-1", "0"])
async def test_every_line_needs_a_product_id(pair: Pair, item_id: str | None) -> None:
    before = await log_size(pair)
    with pytest.raises(InvalidRequest) as info:
        await pair.adapter.create(with_lines(LINE, {**LINE, "item_id": item_id}))
    assert [e.pointer for e in info.value.errors] == ["/lines/1/item_id"]
    assert "item_envelope" in info.value.errors[0].detail
    assert await log_size(pair) == before


async def test_numeric_ids_may_be_written_with_leading_zeros(pair: Pair) -> None:
    """``015`` is client 15, as crm_v1 and bill_crm read such ids: it was refused as "not a
    positive integer", and invoice ``0124`` was "no invoice" while ``124`` was read."""
    start = await log_size(pair)
    created = await pair.adapter.create(
        with_lines({**LINE, "item_id": "0007"}, customer={"id": "002"})
    )
    header = (await sent_since(pair, start))[0]["body"]["Invoice"]
    assert (header["client_id"], header["InvoiceItem"][0]["product_id"]) == (2, 7)
    assert created.invoice.id is not None
    again = await pair.adapter.get("000" + created.invoice.id)
    assert again.id == created.invoice.id
    assert pair.adapter.record_key("000" + created.invoice.id) == created.invoice.id


async def test_an_invoice_without_lines_is_refused_before_sending(pair: Pair) -> None:
    before = await log_size(pair)
    with pytest.raises(InvalidRequest) as info:
        await pair.adapter.create(with_lines())
    assert [e.pointer for e in info.value.errors] == ["/lines"]
    assert "at least one line" in info.value.errors[0].detail
    assert await log_size(pair) == before


@pytest.mark.parametrize("customer", [None, {"id": "ACME"}, {"name": "Oceanic Airlines"}])
async def test_the_client_is_required_as_an_integer_id(
    pair: Pair, customer: dict[str, str] | None
) -> None:
    before = await log_size(pair)
    with pytest.raises(InvalidRequest) as info:
        await pair.adapter.create(invoice(customer=customer), handling="lenient")
    assert [e.pointer for e in info.value.errors] == ["/customer/id"]
    assert await log_size(pair) == before


async def test_store_id_comes_from_the_caller_or_the_connection(pair: Pair) -> None:
    start = await log_size(pair)
    await pair.adapter.create(sample(0))
    await pair.adapter.create(invoice(provider_fields={"store_id": 3}))
    bodies = [r["body"]["Invoice"] for r in await sent_since(pair, start) if r["method"] == "POST"]
    assert [b["store_id"] for b in bodies] == [1, 3]
    before = await log_size(pair)
    with pytest.raises(InvalidRequest) as info:
        await pair.adapter_with(defaults={}).create(sample(0))
    assert [e.pointer for e in info.value.errors] == ["/provider_fields/store_id"]
    assert await log_size(pair) == before


@pytest.mark.parametrize(
    ("provider_fields", "line_fields", "pointer"),
    [
        ({"template_id": 1}, {}, "/provider_fields/template_id"),
        ({"col_3": "x"}, {}, "/provider_fields/col_3"),  # a line field, not an invoice one
        ({"is_offline": "yes"}, {}, "/provider_fields/is_offline"),
        ({"store_id": "1"}, {}, "/provider_fields/store_id"),
        ({}, {"store_id": 1}, "/lines/0/provider_fields/store_id"),
        ({}, {"col_4": 4}, "/lines/0/provider_fields/col_4"),
    ],
)
async def test_provider_fields_are_checked_by_name_place_and_type(
    pair: Pair, provider_fields: dict[str, Any], line_fields: dict[str, Any], pointer: str
) -> None:
    before = await log_size(pair)
    bad = with_lines({**LINE, "provider_fields": line_fields}, provider_fields=provider_fields)
    with pytest.raises(InvalidRequest) as info:
        await pair.adapter.create(bad)
    assert [e.pointer for e in info.value.errors] == [pointer]
    assert await log_size(pair) == before


async def test_amounts_the_provider_cannot_hold_are_refused_before_sending(pair: Pair) -> None:
    before = await log_size(pair)
    too_large = {**LINE, "discount": {"type": "amount", "value": "200.01"}}
    with pytest.raises(InvalidRequest) as info:
        await pair.adapter.create(with_lines(too_large))
    assert [e.pointer for e in info.value.errors] == ["/lines/0/discount/value"]
    yen = {**LINE, "unit_price": "1000", "discount": {"type": "amount", "value": "1.5"}}
    with pytest.raises(InvalidRequest) as info:
        await pair.adapter.create(with_lines(yen, currency="JPY"))
    assert [e.pointer for e in info.value.errors] == ["/lines/0/discount/value"]
    assert "decimal places for JPY" in info.value.errors[0].detail
    assert await log_size(pair) == before


async def test_every_problem_is_named_in_one_answer(pair: Pair) -> None:
    before = await log_size(pair)
    bad = with_lines(
        {**LINE, "item_id": None, "taxes": [{"rate": "12.3456"}]},
        customer={"id": "ACME"},
    )
    with pytest.raises(InvalidRequest) as info:
        await pair.adapter_with(defaults={}).create(bad)
    assert sorted(e.pointer for e in info.value.errors) == [
        "/customer/id",
        "/lines/0/item_id",
        "/lines/0/taxes/0/rate",
        "/provider_fields/store_id",
    ]
    assert info.value.message.endswith("(and 3 more)")
    assert await log_size(pair) == before


# --- strict and lenient --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"due_date": "2026-07-31"}, "/due_date"),
        ({"terms": "Net 30"}, "/terms"),
        ({"number": "INV-9000"}, "/number"),
        ({"customer": {"id": "15", "name": "Oceanic Airlines"}}, "/customer/name"),
        ({"lines": [{**LINE, "name": "Consulting"}]}, "/lines/0/name"),
        ({"lines": [{**LINE, "unit": "hour"}]}, "/lines/0/unit"),
        ({"lines": [LINE, {"kind": "section", "name": "Travel"}]}, "/lines/1"),
    ],
)
async def test_strict_refuses_and_lenient_drops_what_item_envelope_cannot_carry(
    pair: Pair, changes: dict[str, Any], pointer: str
) -> None:
    unfit = invoice(**changes)
    before = await log_size(pair)
    with pytest.raises(UnsupportedFields) as info:
        await pair.adapter.create(unfit)
    assert [e.pointer for e in info.value.errors] == [pointer]
    assert info.value.errors[0].detail.startswith("item_envelope cannot carry")
    assert await log_size(pair) == before
    lenient = await pair.adapter.create(unfit, handling="lenient")
    assert [w.field for w in lenient.warnings] == [pointer]
    sent = (await sent_since(pair, before))[0]["body"]["Invoice"]
    assert len(sent["InvoiceItem"]) == len([ln for ln in unfit.lines if ln.kind == "item"])
    assert lenient.invoice.due_date is None and lenient.invoice.terms is None


async def test_a_third_tax_is_refused_or_dropped(pair: Pair) -> None:
    three = {**LINE, "taxes": [{"rate": "5"}, {"rate": "9.975"}, {"rate": "20"}]}
    with pytest.raises(UnsupportedFields) as info:
        await pair.adapter.create(with_lines(three))
    assert [(e.pointer, e.detail) for e in info.value.errors] == [
        ("/lines/0/taxes", "item_envelope carries at most 2 tax(es) per line")
    ]
    start = await log_size(pair)
    lenient = await pair.adapter.create(with_lines(three), handling="lenient")
    item = (await sent_since(pair, start))[0]["body"]["Invoice"]["InvoiceItem"][0]
    assert (item["tax1"], item["tax2"]) == (1, 2)
    assert [t.rate for t in lenient.invoice.lines[0].taxes] == [Decimal("5"), Decimal("9.975")]


async def test_compound_taxes_and_inclusive_prices_are_refused(pair: Pair) -> None:
    compound = {**LINE, "taxes": [{"rate": "5"}, {"rate": "9.975", "compound": True}]}
    with pytest.raises(UnsupportedFields) as info:
        await pair.adapter.create(with_lines(compound))
    assert [e.pointer for e in info.value.errors] == ["/lines/0/taxes/1/compound"]
    # Prices mean something else in the other mode: refused even when lenient.
    with pytest.raises(UnsupportedFields) as info:
        await pair.adapter.create(invoice(tax_mode="inclusive"), handling="lenient")
    assert [e.pointer for e in info.value.errors] == ["/tax_mode"]


# --- the provider's answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "pointer", "message"),
    [
        ({"customer": {"id": "99"}}, "/customer/id", "client 99 does not exist"),
        ({"lines": [LINE, {**LINE, "item_id": "99"}]}, "/lines/1/item_id", "product 99"),
        ({"provider_fields": {"store_id": 9}}, "/provider_fields/store_id", "store 9"),
        ({"currency": "NZD"}, "/currency", "currency_code must be one of"),
        (
            {"lines": [{**LINE, "provider_fields": {"col_5": "x" * 256}}]},
            "/lines/0/provider_fields/col_5",
            "at most 255",
        ),
    ],
)
async def test_a_provider_rejection_points_at_the_canonical_field(
    pair: Pair, changes: dict[str, Any], pointer: str, message: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        await pair.adapter.create(invoice(**changes))
    assert info.value.provider == "item_envelope"
    assert info.value.message.startswith("item_envelope rejected the invoice: Validation failed")
    assert [e.pointer for e in info.value.errors] == [pointer]
    assert message in info.value.errors[0].detail


async def test_a_line_taxed_twice_by_one_tax_is_refused_before_anything_is_sent(
    pair: Pair,
) -> None:
    """The provider takes ``tax2`` only when it differs from ``tax1``: a preview of such a line
    answered 200 and its create was then the provider's 422."""
    start = len(await sent_since(pair, 0))
    twice = with_lines({**LINE, "taxes": [{"rate": "5"}, {"rate": "5"}]})
    with pytest.raises(InvalidRequest) as info:
        pair.adapter.check_create(twice, "strict")
    with pytest.raises(InvalidRequest):
        await pair.adapter.create(twice)
    assert [e.pointer for e in info.value.errors] == ["/lines/0/taxes/1"]
    assert "two different taxes on a line" in info.value.errors[0].detail
    assert await sent_since(pair, start) == []


async def test_a_tax_id_the_provider_does_not_know_points_at_the_tax(pair: Pair) -> None:
    adapter = pair.adapter_with(taxes=[TaxSetting(id="99", name="GST", rate=Decimal("5"))])
    with pytest.raises(InvalidRequest) as info:
        await adapter.create(with_lines({**LINE, "taxes": [{"rate": "5"}]}))
    assert [(e.pointer, e.detail) for e in info.value.errors] == [
        ("/lines/0/taxes/0", "tax 99 does not exist")
    ]


async def test_several_provider_errors_are_all_translated(pair: Pair) -> None:
    bad = with_lines({**LINE, "item_id": "98"}, {**LINE, "item_id": "99"}, customer={"id": "99"})
    with pytest.raises(InvalidRequest) as info:
        await pair.adapter.create(bad)
    assert sorted(e.pointer for e in info.value.errors) == [
        "/customer/id",
        "/lines/0/item_id",
        "/lines/1/item_id",
    ]


@pytest.mark.parametrize("invoice_id", ["999999", "0", "abc", "12.json"])
async def test_an_unknown_invoice_is_not_found_for_every_operation(
    pair: Pair, invoice_id: str
) -> None:
    for attempt in (
        pair.adapter.get(invoice_id),
        pair.adapter.update(invoice_id, sample(0)),
        pair.adapter.delete(invoice_id),
        pair.adapter.act(invoice_id, "issue"),
    ):
        with pytest.raises(NotFound) as info:
            await attempt
        assert info.value.message == (
            f"item_envelope has no invoice {invoice_id} (connection item_envelope)"
        )


async def test_ids_that_cannot_be_provider_ids_never_reach_it(pair: Pair) -> None:
    before = await log_size(pair)
    for invoice_id in ("abc", "-4"):
        with pytest.raises(NotFound):
            await pair.adapter.get(invoice_id)
    for invoice_id in ("1/../2", "..", "%2e%2e"):  # could change the path: refused first
        with pytest.raises(BadIdentifier):
            await pair.adapter.get(invoice_id)
    assert await log_size(pair) == before


async def test_a_failed_create_is_an_uncertain_outcome_not_a_retry(pair: Pair) -> None:
    await faults(pair, error_rate=1, error_status=500, methods=["POST"], after_commit=True)
    before = await log_size(pair)
    with pytest.raises(OutcomeUncertain) as info:
        await pair.adapter.create(sample(0))
    assert len([r for r in await sent_since(pair, before) if r["method"] == "POST"]) == 1
    assert pair.base_url not in info.value.message
    assert "sandbox-item_envelope" not in info.value.message


async def test_a_provider_failure_on_read_is_an_upstream_error(pair: Pair) -> None:
    await faults(pair, error_rate=1, error_status=503, methods=["GET"])
    adapter = pair.adapter_with(retries=RetrySettings(max_attempts=1))
    with pytest.raises(UpstreamError) as info:
        await adapter.get(ISSUED)
    assert not isinstance(info.value, NotFound)
    assert info.value.status == 503


# --- update replaces -----------------------------------------------------------------------------


async def test_update_clears_what_the_replacement_leaves_out(pair: Pair) -> None:
    full = invoice(
        reference="PO-1",
        notes="first version",
        discount={"type": "amount", "value": "10.00"},
        provider_fields={"store_id": 2, "is_offline": True},
        lines=[{**LINE, "provider_fields": {"col_3": "Batch 1"}}],
    )
    created = await pair.adapter.create(full)
    assert created.invoice.id is not None
    bare = with_lines(LINE, notes=None)
    start = await log_size(pair)
    updated = (await pair.adapter.update(created.invoice.id, bare)).invoice
    header = (await sent_since(pair, start))[0]["body"]["Invoice"]
    assert {k: header[k] for k in ("discount", "discount_amount", "notes", "po_number")} == {
        "discount": 0,
        "discount_amount": 0,
        "notes": None,
        "po_number": None,
    }
    assert (updated.reference, updated.notes, updated.discount) == (None, None, None)
    assert updated.provider_fields == {"store_id": 1, "is_offline": False}
    assert updated.lines[0].provider_fields == {}


async def test_update_keeps_the_line_ids_it_is_given(pair: Pair) -> None:
    current = await pair.adapter.get(ISSUED)
    lines = [
        {**line.model_dump(exclude={"name"}), "quantity": line.quantity + 1}
        for line in current.lines
    ]
    changed = current.model_dump(exclude={"number"}) | {"lines": lines}
    updated = (await pair.adapter.update(ISSUED, Invoice.model_validate(changed))).invoice
    assert [ln.id for ln in updated.lines] == [ln.id for ln in current.lines]
    assert [ln.quantity for ln in updated.lines] == [ln.quantity + 1 for ln in current.lines]


async def test_a_line_id_from_elsewhere_is_refused(pair: Pair) -> None:
    before = await log_size(pair)
    with pytest.raises(InvalidRequest) as info:
        await pair.adapter.update(ISSUED, with_lines({**LINE, "id": "line-1"}))
    assert [e.pointer for e in info.value.errors] == ["/lines/0/id"]
    assert await log_size(pair) == before
    with pytest.raises(InvalidRequest) as info:  # a line of another invoice: the provider says no
        await pair.adapter.update(ISSUED, with_lines({**LINE, "id": "1"}))
    assert [e.pointer for e in info.value.errors] == ["/lines/0/id"]
    assert "is not a line of this invoice" in info.value.errors[0].detail
