"""order_linked writes: strict refusals and lenient drops, the checks made before sending, the
provider's taxes against the requested ones, and provider errors as canonical pointers.

Real HTTP against the emulator; "nothing sent" is checked on the emulator's request log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from adapters.base import (
    Conflict,
    Handling,
    InvalidRequest,
    OutcomeUncertain,
    UnsupportedFields,
)
from gateway.canonical.model import Invoice
from tests.adapters.order_linked_env import Env, start
from tests.contract.profiles.order_linked import line, sample


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


def changed(invoice: Invoice, **changes: Any) -> Invoice:
    return Invoice.model_validate({**invoice.model_dump(), **changes})


def with_lines(invoice: Invoice, *lines: dict[str, Any]) -> Invoice:
    return changed(invoice, lines=list(lines))


# -- strict refuses, lenient drops ----------------------------------------------------------------

UNCARRIED: dict[str, tuple[dict[str, Any], str]] = {
    # field → (change to sample 0, pointer)
    "document discount": ({"discount": {"type": "amount", "value": "10.00"}}, "/discount"),
    "shipping": ({"shipping": "9.95"}, "/shipping"),
    "adjustment": ({"adjustment": {"amount": "-0.01"}}, "/adjustment"),
    "terms": ({"terms": "Net 30"}, "/terms"),
    "tags": ({"tags": ["migrated"]}, "/tags"),
    "exchange_rate": ({"exchange_rate": "1.1"}, "/exchange_rate"),
    "number": ({"number": "A-1"}, "/number"),
    "customer name": ({"customer": {"id": "ACC-1001", "name": "Harbour"}}, "/customer/name"),
    "addresses": ({"billing_address": "1 George St"}, "/billing_address"),
    "payments": ({"payments": [{"amount": "1.00", "date": "2026-07-02"}]}, "/payments"),
}


@pytest.mark.parametrize(("change", "pointer"), UNCARRIED.values(), ids=list(UNCARRIED))
async def test_an_uncarried_header_field_is_refused_then_dropped(
    env: Env, change: dict[str, Any], pointer: str
) -> None:
    invoice = changed(sample(0), **change)
    before = len(await env.log())
    with pytest.raises(UnsupportedFields) as info:
        await env.adapter.create(invoice)
    assert [e.pointer for e in info.value.errors] == [pointer]
    assert "order_linked cannot carry" in info.value.errors[0].detail
    assert len(await env.log()) == before
    lenient = await env.adapter.create(invoice, handling="lenient")
    assert [w.field for w in lenient.warnings] == [pointer]
    assert lenient.invoice.totals is not None
    assert lenient.invoice.totals.discount == lenient.invoice.totals.shipping == 0


async def test_uncarried_line_fields_are_refused_then_dropped(env: Env) -> None:
    invoice = with_lines(
        sample(0),
        {"kind": "section", "name": "Furniture"},
        line("ITM-1001", "2", "749.00", name="Desk", description="Oak", unit="EA"),
        line("ITM-1005", "1", "95.00", discount={"type": "percent", "value": "10"}),
        {
            **line("ITM-1002", "1", "389.95"),
            "taxes": [{"rate": "10"}, {"rate": "0"}],
        },
    )
    before = len(await env.log())
    with pytest.raises(UnsupportedFields) as info:
        await env.adapter.create(invoice)
    assert [e.pointer for e in info.value.errors] == [
        "/lines/0",
        "/lines/1/name",
        "/lines/1/description",
        "/lines/1/unit",
        "/lines/2/discount",
        "/lines/3/taxes",
    ]
    assert len(await env.log()) == before
    lenient = await env.adapter.create(invoice, handling="lenient")
    read = lenient.invoice
    assert [(line.item_id, line.discount) for line in read.lines] == [
        ("ITM-1001", None),
        ("ITM-1005", None),
        ("ITM-1002", None),
    ]
    assert read.lines[2].taxes[0].rate == 10  # the first of the two taxes was kept
    assert [w.field for w in lenient.warnings] == [e.pointer for e in info.value.errors]


async def test_a_compound_tax_is_refused(env: Env) -> None:
    invoice = with_lines(
        sample(0), {**line("ITM-1001", "1", "749.00"), "taxes": [{"rate": "10", "compound": True}]}
    )
    with pytest.raises(UnsupportedFields) as info:
        await env.adapter.create(invoice)
    assert [e.pointer for e in info.value.errors] == ["/lines/0/taxes/0/compound"]


# -- checks before sending ------------------------------------------------------------------------


async def test_what_the_provider_requires_is_checked_before_sending(env: Env) -> None:
    invoice = Invoice.model_validate(
        {
            "currency": "CHF",
            "issue_date": "2026-07-10",
            "provider_fields": {
                "custom_attributes": [{"name": " ", "value": 5, "colour": "red"}, "x"],
                "store_id": 1,
            },
            "lines": [
                {"quantity": "0", "unit_price": "10.00"},
                {**line("ITM-1001", "1", "749.00"), "provider_fields": {"package_name": 6}},
            ],
        }
    )
    before = len(await env.log())
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create(invoice)
    assert not isinstance(info.value, UnsupportedFields)
    assert [e.pointer for e in info.value.errors] == [
        "/customer/id",
        "/due_date",
        "/currency",
        "/lines/0/item_id",
        "/lines/0/quantity",
        "/provider_fields/store_id",
        "/lines/1/provider_fields/package_name",
    ]
    assert "currencies" in info.value.errors[2].detail
    assert len(await env.log()) == before
    # With the provider fields' types right, the custom attributes' shape is checked too.
    fixed = changed(
        invoice,
        customer={"id": "ACC-1001"},
        due_date="2026-07-01",
        currency="AUD",
        provider_fields={"custom_attributes": [{"name": " ", "value": 5, "colour": "red"}, "x"]},
        lines=[line("ITM-1001", "1", "749.00")],
    )
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create(fixed)
    assert [(e.pointer, e.detail) for e in info.value.errors] == [
        ("/due_date", "must not be before issue_date 2026-07-10 for order_linked"),
        (
            "/provider_fields/custom_attributes/0/colour",
            "is not a key of order_linked custom attributes (name, value)",
        ),
        ("/provider_fields/custom_attributes/0/name", "is required: a non-empty string"),
        ("/provider_fields/custom_attributes/0/value", "must be a string or null"),
        ("/provider_fields/custom_attributes/1", "must be an object with name and value"),
    ]
    assert len(await env.log()) == before


async def test_an_invoice_without_lines_is_refused_before_sending(env: Env) -> None:
    before = len(await env.log())
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create(changed(sample(0), lines=[]))
    assert [e.pointer for e in info.value.errors] == ["/lines"]
    assert len(await env.log()) == before


# -- taxes: the provider sets them from each item's tax code --------------------------------------


async def test_the_requested_tax_that_the_item_carries_gives_no_warning(env: Env) -> None:
    invoice = with_lines(
        sample(0),
        line("ITM-1001", "1", "749.00"),  # GST by rate
        line("ITM-1007", "6", "32.50", by_id=True),  # WET by id
        {**line("ITM-1006", "2", "45.00"), "taxes": []},  # GST_FREE asked as nothing: 0%
    )
    created = await env.adapter.create(invoice)
    assert created.warnings == []
    assert [[t.id for t in line.taxes] for line in created.invoice.lines] == [
        ["GST"],
        ["WET"],
        ["GST_FREE"],
    ]


@pytest.mark.parametrize("handling", ["strict", "lenient"])
async def test_a_tax_applied_under_another_name_than_asked_is_a_warning(
    env: Env, handling: Handling
) -> None:
    """The tax asked is the one the item carries, named otherwise: the invoice comes back with
    the provider's name, which was said nowhere (docs/canonical-invoice.md: order_linked says
    what it applied instead), strict or lenient."""
    wet = line("ITM-1007", "6", "32.50", by_id=True)
    wet["taxes"][0]["name"] = "Renamed"
    invoice = with_lines(sample(0), line("ITM-1001", "1", "749.00"), wet)
    created = await env.adapter.create(invoice, handling=handling)
    [applied] = created.invoice.lines[1].taxes
    assert applied.id == "WET" and applied.name != "Renamed"
    assert [w.as_dict() for w in created.warnings] == [
        {
            "field": "/lines/1/taxes/0/name",
            "reason": f"order_linked names this tax {applied.name!r}, not 'Renamed': it taxes "
            "item ITM-1007 by the item's tax code",
        }
    ]


async def test_taxes_the_provider_did_not_apply_or_added_are_warnings(env: Env) -> None:
    invoice = with_lines(
        sample(0),
        {**line("ITM-1001", "1", "749.00"), "taxes": [{"rate": "0"}]},  # asks GST_FREE
        {**line("ITM-1005", "2", "95.00"), "taxes": []},  # asks nothing
        {**line("ITM-1006", "1", "45.00"), "taxes": [{"rate": "29", "id": "WET"}]},
    )
    created = await env.adapter.create(invoice)
    assert [w.as_dict() for w in created.warnings] == [
        {
            "field": "/lines/0/taxes/0",
            "reason": "order_linked did not apply this tax: it taxes item ITM-1001 by the "
            "item's tax code, GST on Income (10%)",
        },
        {
            "field": "/lines/1/taxes",
            "reason": "order_linked applied GST on Income (10%), the tax code of item ITM-1005, "
            "to a line sent without taxes",
        },
        {
            "field": "/lines/2/taxes/0",
            "reason": "order_linked did not apply this tax: it taxes item ITM-1006 by the "
            "item's tax code, GST Free Income (0%)",
        },
    ]
    # What the invoice now says is the provider's: the caller's taxes were not applied.
    read = created.invoice
    assert [line.tax_amount for line in read.lines] == [
        Decimal("74.90"),
        Decimal("19.00"),
        Decimal("0.00"),
    ]
    assert read.totals_check is not None and read.totals_check.consistent


# -- provider errors, translated ------------------------------------------------------------------

REJECTIONS: dict[str, tuple[dict[str, Any], str, str]] = {
    # case → (change to sample 0, pointer, the provider's message)
    "unknown account": (
        {"customer": {"id": "ACC-9999"}},
        "/customer/id",
        "account 'ACC-9999' does not exist",
    ),
    "unknown item": (
        {
            "lines": [
                line("ITM-1001", "1", "749.00"),
                line("ITM-1001", "1", "1") | {"item_id": "ITM-0000"},
            ]
        },
        "/lines/1/item_id",
        "item 'ITM-0000' does not exist",
    ),
    "currency it does not sell in": (
        {"currency": "CHF"},
        "/currency",
        "unknown currency code 'CHF'; known: AUD, NZD, USD, GBP, EUR, JPY",
    ),
    "unknown order": (
        {"order_id": "SO-0000"},
        "/order_id",
        "order 'SO-0000' does not exist",
    ),
    "order of another account": (
        {"order_id": "SO-1003"},
        "/customer/id",
        "order 'SO-1003' belongs to account 'ACC-1002', not 'ACC-1001'",
    ),
}


@pytest.mark.parametrize(("change", "pointer", "said"), REJECTIONS.values(), ids=list(REJECTIONS))
async def test_a_provider_rejection_points_at_the_canonical_field(
    env: Env, change: dict[str, Any], pointer: str, said: str
) -> None:
    adapter = env.adapter_with(
        currencies={**env.adapter.connection.currencies, "CHF": "not-a-provider-currency"}
    )
    with pytest.raises(InvalidRequest) as info:
        await adapter.create(changed(sample(0), **change))
    assert [(e.pointer, e.detail) for e in info.value.errors] == [(pointer, said)]
    assert info.value.provider == "order_linked"
    assert said in info.value.message and "could not create the invoice" in info.value.message


async def test_an_invoice_linked_to_an_order_carries_it_and_the_order_takes_one(env: Env) -> None:
    linked = changed(sample(0), order_id="SO-1001")
    created = await env.adapter.create(linked)
    assert created.invoice.order_id == "SO-1001"
    assert created.invoice.id is not None
    record = await env.raw(created.invoice.id)
    assert record["type"] == "LINKED_WITH_ORDER"
    # The lines are the ones sent: the order's shipping is not copied.
    assert created.invoice.shipping == 0 and len(created.invoice.lines) == 3
    with pytest.raises(Conflict) as info:
        await env.adapter.create(linked)
    assert "already invoiced" in info.value.message


async def test_a_create_whose_outcome_is_unknown_is_never_reported_as_failed(env: Env) -> None:
    await env.faults(error_rate=1.0, error_status=500, methods=["POST"], after_commit=True)
    before = len(env.store.invoices)
    with pytest.raises(OutcomeUncertain):
        await env.adapter.create(sample(0))
    assert len(env.store.invoices) == before + 1  # it was written: one POST, not retried
    assert [m for m, _ in await env.sent_since(0)].count("POST") == 1


async def test_a_zero_total_is_paid_as_the_provider_says_and_as_the_status_model_derives(
    env: Env,
) -> None:
    # Nothing due on an issued invoice is paid (docs/canonical-invoice.md, "Status model").
    free = with_lines(sample(0), line("ITM-1009", "1", "0.00"))
    created = (await env.adapter.create(free)).invoice
    assert created.provider_status == {"status": "ACTIVE", "payment_status": "PAID"}
    assert (created.status, created.payment_status) == ("paid", "paid")
    assert created.totals_check is not None
    assert created.totals_check.differences == []
