"""crm_v1 reads: status both ways, every field's reading, taxes, discounts, payments, and
provider values the canonical model has no room for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from adapters.base import BadIdentifier, ListQuery, NotFound, UpstreamError, walk
from adapters.mapping import load_mapping
from emulators.crm_v1.model import CANCELLED, OPEN, PAID
from gateway.canonical.model import Invoice, Payment, Tax
from gateway.config import TaxSetting
from tests.adapters.crm_v1_env import INVOICES, TODAY, Env, start


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


async def every_invoice(env: Env) -> list[Invoice]:
    found: list[Invoice] = []
    async for page in walk(env.adapter, ListQuery(), 100):
        found += page.invoices
    return found


def seeded(env: Env, status: int, *, paid: bool | None = None) -> str:
    """The id of a seeded invoice in this provider status (with or without payments)."""
    return next(
        str(invoice.inv_id)
        for invoice in env.store.invoices.values()
        if invoice.inv_status == status and (paid is None or bool(invoice.payments) == paid)
    )


# -- status -------------------------------------------------------------------------------------


async def test_every_seeded_status_reads_as_the_mapping_says(env: Env) -> None:
    seen = set()
    for invoice in await every_invoice(env):
        assert invoice.remote_data is not None
        raw = invoice.remote_data["inv_status"]
        seen.add(raw)
        assert invoice.provider_status == {"inv_status": raw}
        assert invoice.status == {0: "open", 1: "paid", 2: "void"}[raw], invoice.number
        assert invoice.totals is not None
        if raw == PAID:
            # The provider's "Paid" is its word on the payment axis too, and the figures agree.
            assert invoice.payment_status == "paid"
            assert invoice.totals.due == 0 and invoice.totals.paid == invoice.totals.total
            assert invoice.totals_check is not None and invoice.totals_check.consistent
        if raw == CANCELLED:
            assert invoice.overdue is False
    assert seen == {OPEN, PAID, CANCELLED}


async def test_open_invoices_take_their_payment_status_from_the_payments(env: Env) -> None:
    part_paid = await env.adapter.get(seeded(env, OPEN, paid=True))
    unpaid = await env.adapter.get(seeded(env, OPEN, paid=False))
    assert (part_paid.status, part_paid.payment_status) == ("open", "partially_paid")
    assert (unpaid.status, unpaid.payment_status) == ("open", "unpaid")


async def test_an_unknown_status_reads_as_unknown_and_keeps_the_raw_value(env: Env) -> None:
    env.store.invoices[8].inv_status = 7  # a value the provider might add one day
    invoice = await env.adapter.get("8")
    assert invoice.status == "unknown"
    assert invoice.provider_status == {"inv_status": 7}
    assert invoice.payment_status == "unpaid"  # derived: nothing paid
    assert invoice.overdue is False  # only an open invoice can be overdue
    assert invoice.totals_check is not None and invoice.totals_check.consistent


async def test_overdue_is_derived_from_an_open_invoice_past_its_due_date(env: Env) -> None:
    invoices = await every_invoice(env)
    overdue = [i for i in invoices if i.overdue]
    assert overdue, "the seed has open invoices due before the fixed today"
    for invoice in overdue:
        assert invoice.status == "open" and invoice.provider_status == {"inv_status": 0}
        assert invoice.due_date is not None and invoice.due_date < TODAY
        assert invoice.totals is not None and invoice.totals.due > 0
    doc_example = next(i for i in invoices if i.id == "8")
    assert doc_example.overdue is False  # due 2026-07-31


async def test_the_status_filter_writes_the_providers_codes(env: Env) -> None:
    for status, code in (("open", "0"), ("paid", "1"), ("void", "2")):
        start = len(await env.log())
        page = await env.adapter.list_page(ListQuery(status=status), None, 100)
        sent = (await env.log())[start]
        assert sent["query"]["inv_status"] == code
        assert page.invoices and {i.status for i in page.invoices} == {status}


# -- fields -------------------------------------------------------------------------------------


async def test_the_doc_example_reads_field_by_field(env: Env) -> None:
    status, raw = await env.raw("GET", f"{INVOICES}/8")
    assert status == 200
    invoice = await env.adapter.get("8")
    assert (invoice.id, invoice.number) == ("8", "INV-0008")
    assert (invoice.connection, invoice.provider) == ("crm_v1", "crm_v1")
    assert invoice.customer is not None and invoice.customer.id == "10"
    assert (invoice.issue_date, invoice.due_date) == (date(2026, 7, 1), date(2026, 7, 31))
    assert (invoice.currency, invoice.exchange_rate) == ("USD", Decimal(1))
    assert invoice.reference == "PO-2026-001"
    assert invoice.provider_fields == {
        "template_id": 1,
        "deal_id": None,
        "assigned_to": None,
        "tag_ids": [],
    }
    [line] = invoice.lines
    assert (line.kind, line.item_id, line.name) == ("item", "12", "Consulting Services")
    assert (line.quantity, line.unit_price) == (Decimal(10), Decimal("500.00"))
    # The doc's example sends a bare tax_rate: a rate with no tax record behind it.
    assert line.taxes == [Tax(rate=Decimal(5))]
    assert (line.net_amount, line.tax_amount, line.total) == (
        Decimal("5000.00"),
        Decimal("250.00"),
        Decimal("5250.00"),
    )
    assert invoice.totals is not None
    assert (invoice.totals.subtotal, invoice.totals.tax, invoice.totals.total) == (
        Decimal("5000.00"),
        Decimal("250.00"),
        Decimal("5250.00"),
    )
    assert (invoice.totals.paid, invoice.totals.due) == (Decimal("0.00"), Decimal("5250.00"))
    assert invoice.remote_data == raw["data"]


async def test_every_field_of_the_answer_has_a_home_in_the_mapping(env: Env) -> None:
    mapping = load_mapping("crm_v1")
    payment_fields = {
        name.split("[].")[1] for name in mapping.invoice_fields if name.startswith("payments[].")
    }
    for invoice in await every_invoice(env):
        data = invoice.remote_data
        assert set(data) <= set(mapping.invoice_fields), invoice.id
        for item in data["items"]:
            assert set(item) <= set(mapping.line_fields), invoice.id
        for payment in data["payments"]:
            assert set(payment) <= payment_fields, invoice.id


async def test_payments_are_read_from_the_payment_history(env: Env) -> None:
    invoice_id = next(str(i.inv_id) for i in env.store.invoices.values() if len(i.payments) == 2)
    raw = env.store.invoices[int(invoice_id)].payments
    expected = [
        Payment(
            id=str(p.payment_id),
            amount=p.amount,
            date=date.fromisoformat(p.payment_date),
            method=p.payment_method,
            reference=p.reference,
        )
        for p in raw
    ]
    assert (await env.adapter.get(invoice_id)).payments == expected
    assert await env.adapter.list_payments(invoice_id) == expected


async def test_taxes_read_through_the_connections_tax_table(env: Env) -> None:
    lines = [line for invoice in await every_invoice(env) for line in invoice.lines if line.taxes]
    by_id = {tax.id: tax for line in lines for tax in line.taxes if tax.id is not None}
    assert by_id["8"] == Tax(id="8", name="Sales Tax 8.25%", rate=Decimal("8.25"))
    assert by_id["0"] == Tax(id="0", name="Exempt", rate=Decimal(0))
    bare = {tax.rate for line in lines for tax in line.taxes if tax.id is None}
    assert {Decimal("7.5"), Decimal(12)} <= bare  # seeded rates with no provider tax record
    assert all(tax.name is None for line in lines for tax in line.taxes if tax.id is None)


async def test_the_providers_rate_wins_over_a_stale_tax_table(env: Env) -> None:
    stale = env.adapter_with(
        taxes=[TaxSetting(id="10", name="GST 10%", rate=Decimal(9))]
    )  # the provider's tax "10" is 10%
    invoice_id = next(
        str(i.inv_id)
        for i in env.store.invoices.values()
        if any(line.tax_id == "10" for line in i.items)
    )
    invoice = await stale.get(invoice_id)
    taxes = [tax for line in invoice.lines for tax in line.taxes if tax.id == "10"]
    assert taxes and all(tax == Tax(id="10", rate=Decimal(10)) for tax in taxes)
    assert invoice.totals_check is not None and invoice.totals_check.consistent


async def test_header_lines_read_as_sections_and_their_numbers_stay_raw(env: Env) -> None:
    status, created = await env.raw(
        "POST",
        INVOICES,
        {
            "customer_id": 10,
            "template_id": 1,
            "items": [
                # Numbers on a header are stored and ignored in the totals by crm_v1.
                {"item_name": "Phase 1", "type": "header", "quantity": 3, "price": Decimal("9.99")},
                {
                    "item_id": 12,
                    "item_name": "Consulting",
                    "quantity": 1,
                    "price": 500,
                    "type": "item",
                },
            ],
        },
    )
    assert status == 201
    invoice = await env.adapter.get(str(created["data"]["inv_id"]))
    section, item = invoice.lines
    assert (section.kind, section.name, section.quantity, section.unit_price) == (
        "section",
        "Phase 1",
        None,
        None,
    )
    assert section.subtotal is None and item.kind == "item"
    assert invoice.remote_data["items"][0]["quantity"] == 3
    assert invoice.totals_check is not None and invoice.totals_check.consistent


async def test_discount_codes_read_one_fixed_two_percentage(env: Env) -> None:
    status, created = await env.raw(
        "POST",
        INVOICES,
        {
            "customer_id": 10,
            "template_id": 1,
            "overall_discount": 20,
            "overall_discount_type": 1,
            "items": [
                {
                    "item_id": 6,
                    "item_name": "Support",
                    "quantity": 2,
                    "price": 100,
                    "type": "item",
                    "discount": 15,
                    "discount_type": 2,
                },
                {
                    "item_id": 6,
                    "item_name": "Support",
                    "quantity": 1,
                    "price": 100,
                    "type": "item",
                    "discount": 15,
                    "discount_type": 1,
                },
            ],
        },
    )
    assert status == 201
    invoice = await env.adapter.get(str(created["data"]["inv_id"]))
    assert invoice.discount is not None
    assert (invoice.discount.type, invoice.discount.value) == ("amount", Decimal(20))
    percent, amount = (line.discount for line in invoice.lines)
    assert percent is not None and (percent.type, percent.value) == ("percent", Decimal(15))
    assert amount is not None and (amount.type, amount.value) == ("amount", Decimal(15))
    assert [line.net_amount for line in invoice.lines] == [Decimal("170.00"), Decimal("85.00")]
    assert invoice.totals is not None and invoice.totals.discount == Decimal("20.00")
    assert invoice.totals_check is not None and invoice.totals_check.consistent


async def test_an_unknown_discount_code_shows_up_in_the_totals_check(env: Env) -> None:
    status, created = await env.raw(
        "POST",
        INVOICES,
        {
            "customer_id": 10,
            "template_id": 1,
            "items": [
                {
                    "item_id": 6,
                    "item_name": "Support",
                    "quantity": 1,
                    "price": 100,
                    "type": "item",
                    "discount": 10,
                    "discount_type": 2,
                }
            ],
        },
    )
    assert status == 201
    inv_id = created["data"]["inv_id"]
    env.store.invoices[inv_id].items[0].discount_type = 3
    invoice = await env.adapter.get(str(inv_id))
    assert invoice.lines[0].discount is None
    assert invoice.remote_data["items"][0]["discount_type"] == 3
    assert invoice.totals_check is not None and not invoice.totals_check.consistent
    fields = {d.field for d in invoice.totals_check.differences}
    assert "lines[0].net_amount" in fields and "subtotal" in fields


# -- what cannot be read --------------------------------------------------------------------------


async def test_a_currency_missing_from_the_connection_is_a_loud_error(env: Env) -> None:
    usd_only = env.adapter_with(currencies={"USD": 1})
    euro_invoice = next(
        str(i.inv_id) for i in env.store.invoices.values() if i.org_currency_id == 2
    )
    with pytest.raises(UpstreamError) as info:
        await usd_only.get(euro_invoice)
    assert f"crm_v1 answered invoice {euro_invoice}" in info.value.message
    assert "org_currency_id 2" in info.value.message
    assert "currencies of connection crm_v1" in info.value.message


async def test_a_value_beyond_the_canonical_limits_is_read_as_it_is(env: Env) -> None:
    # A provider's figure never fails a read: more places than a caller may write, or more
    # than 10^15, is read exactly (and the recomputation says where it differs).
    env.store.invoices[8].items[0].price = Decimal("500.000001")  # crm_v1 keeps 6 places
    invoice = await env.adapter.get("8")
    assert invoice.lines[0].unit_price == Decimal("500.000001")
    env.store.invoices[8].items[0].price = Decimal("1000000000")
    env.store.invoices[8].items[0].quantity = Decimal("1000000")
    huge = await env.adapter.get("8")
    assert (huge.lines[0].quantity, huge.lines[0].unit_price) == (
        Decimal("1000000"),
        Decimal("1000000000"),
    )
    # The stored totals were not recomputed by this change; the gateway's recomputation is.
    assert huge.totals_check is not None
    computed = {d.field: d.computed for d in huge.totals_check.differences}
    assert computed["subtotal"] == "1000000000000000.00"


@pytest.mark.parametrize("invoice_id", ["999999", "abc", "-1"])
async def test_an_id_crm_v1_does_not_have_is_not_found(env: Env, invoice_id: str) -> None:
    before = len(await env.log())
    with pytest.raises(NotFound) as info:
        await env.adapter.get(invoice_id)
    assert "crm_v1 has no invoice" in info.value.message
    sent = (await env.log())[before:]
    # Only a whole number ever becomes a path; the rest is answered without asking.
    assert [r["path"] for r in sent] == ([f"{INVOICES}/999999"] if invoice_id.isdigit() else [])


@pytest.mark.parametrize("invoice_id", ["../8", "8/../9", "%2e%2e", ""])
async def test_an_id_that_could_change_the_path_is_refused(env: Env, invoice_id: str) -> None:
    before = len(await env.log())
    with pytest.raises(BadIdentifier):
        await env.adapter.get(invoice_id)
    assert (await env.log())[before:] == []


async def test_paid_is_the_providers_word_and_a_disagreement_is_listed(env: Env) -> None:
    env.store.invoices[8].inv_status = PAID  # marked paid with nothing paid
    invoice = await env.adapter.get("8")
    assert (invoice.status, invoice.payment_status) == ("paid", "paid")
    assert invoice.totals_check is not None
    assert [d.model_dump() for d in invoice.totals_check.differences] == [
        {"field": "payment_status", "provider": "paid", "computed": "unpaid"}
    ]


# Every field of docs/provider-api/crm_v1.txt: the create body, the list row, and what the
# provider's page says a full invoice adds (shape assumed there).
DOCUMENTED_INVOICE_FIELDS = {
    "customer_id", "template_id", "items", "transaction_date", "due_date", "reference",
    "billing_address", "shipping_address", "notes", "terms_conditions", "deal_id",
    "assigned_to", "org_currency_id", "conversion_rate", "overall_discount",
    "overall_discount_type", "tag_ids", "inv_id", "inv_number", "inv_status", "total",
    "amount_due", "sub_total", "discount_total", "tax_total", "amount_paid", "payments",
}  # fmt: skip
DOCUMENTED_LINE_FIELDS = {
    "item_id", "item_name", "quantity", "price", "type", "description", "discount",
    "discount_type", "tax_id", "tax_rate", "line_total",
}  # fmt: skip


def test_the_mapping_places_every_documented_field() -> None:
    mapping = load_mapping("crm_v1")
    top_level = {name for name in mapping.invoice_fields if "[]" not in name}
    assert top_level == DOCUMENTED_INVOICE_FIELDS
    assert set(mapping.line_fields) == DOCUMENTED_LINE_FIELDS
    assert mapping.line_container == "items"
    destinations = {*mapping.invoice_fields.values(), *mapping.line_fields.values()}
    assert "remote_data" not in destinations  # every documented field has a canonical home
    assert {name for name in mapping.provider_fields} == {
        "template_id",
        "deal_id",
        "assigned_to",
        "tag_ids",
    }
