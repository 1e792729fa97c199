"""crm_v1 writes: the discount-code trap, strict and lenient handling, checks before sending,
provider errors as canonical pointers, lifecycle refusals, and update as a replacement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from adapters.base import (
    Conflict,
    InvalidRequest,
    ListQuery,
    NotFound,
    ReadBackFailed,
    UnsupportedFields,
    UpstreamError,
)
from emulators.crm_v1.model import CANCELLED, OPEN, PAID
from gateway.canonical.model import Invoice
from gateway.config import RetrySettings
from tests.adapters.crm_v1_env import SEED_INVOICES, Env, start
from tests.contract.profiles.crm_v1 import sample


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


def invoice(**changes: Any) -> Invoice:
    """A small valid invoice (one item line, 5% tax) with ``changes`` applied."""
    data: dict[str, Any] = {
        "customer": {"id": "10"},
        "issue_date": "2026-07-01",
        "due_date": "2026-07-31",
        "currency": "USD",
        "lines": [
            {
                "item_id": "12",
                "name": "Consulting Services",
                "quantity": "10",
                "unit_price": "500.00",
                "taxes": [{"id": "5", "rate": "5"}],
            }
        ],
    }
    data.update(changes)
    return Invoice.model_validate(data)


def with_line(**changes: Any) -> Invoice:
    base = invoice()
    line = {**base.model_dump()["lines"][0], **changes}
    return invoice(lines=[line])


async def sent_bodies(env: Env, start: int, method: str = "POST") -> list[Any]:
    return [r["body"] for r in (await env.log())[start:] if r["method"] == method]


# -- the discount-code trap ---------------------------------------------------------------------


async def test_a_percent_line_discount_is_sent_as_type_2_and_an_amount_as_type_1(env: Env) -> None:
    written = invoice(
        lines=[
            {
                "item_id": "12",
                "name": "Consulting Services",
                "quantity": "10",
                "unit_price": "500.00",
                "discount": {"type": "percent", "value": "10"},
            },
            {
                "item_id": "6",
                "name": "Support Hours",
                "quantity": "2",
                "unit_price": "85.00",
                "discount": {"type": "amount", "value": "20.00"},
            },
        ],
    )
    start = len(await env.log())
    result = await env.adapter.create(written)
    [body] = await sent_bodies(env, start)
    percent, amount = body["items"]
    assert (percent["discount"], percent["discount_type"]) == (Decimal(10), 2)
    assert (amount["discount"], amount["discount_type"]) == (Decimal("20.00"), 1)
    # And crm_v1 took them as meant: 10% of 5000.00, and 20.00 off 170.00.
    stored = env.store.invoices[int(str(result.invoice.id))]
    assert [line.line_total for line in stored.items] == [Decimal("4500.00"), Decimal("150.00")]
    read = result.invoice
    assert [line.discount for line in read.lines] == [line.discount for line in written.lines]
    assert read.totals_check is not None and read.totals_check.consistent


@pytest.mark.parametrize(
    ("kind", "value", "code", "discount_total"),
    [
        ("percent", "10", 2, Decimal("500.00")),
        ("amount", "10", 1, Decimal("10.00")),
    ],
)
async def test_the_document_discount_codes(
    env: Env, kind: str, value: str, code: int, discount_total: Decimal
) -> None:
    start = len(await env.log())
    result = await env.adapter.create(invoice(discount={"type": kind, "value": value}))
    [body] = await sent_bodies(env, start)
    assert (body["overall_discount"], body["overall_discount_type"]) == (Decimal(value), code)
    assert result.invoice.discount is not None
    assert (result.invoice.discount.type, result.invoice.discount.value) == (kind, Decimal(value))
    assert result.invoice.totals is not None
    assert result.invoice.totals.discount == discount_total


# -- strict and lenient -------------------------------------------------------------------------

UNCARRIED = {
    "number": "A-1",
    "customer": {"id": "10", "name": "Northwind Traders"},
    "shipping": "5.00",
    "adjustment": {"amount": "-0.01", "description": "rounding"},
    "tags": ["migrated"],
    "order_id": "77",
}
UNCARRIED_POINTERS = [
    "/number",
    "/order_id",
    "/customer/name",
    "/shipping",
    "/adjustment",
    "/tags",
    "/lines/0/unit",
    "/lines/0/taxes",
    "/lines/0/taxes/0/compound",
]


def uncarried() -> Invoice:
    line = {
        "item_id": "12",
        "name": "Consulting Services",
        "quantity": "10",
        "unit": "hour",
        "unit_price": "500.00",
        "taxes": [{"rate": "5", "compound": True}, {"rate": "10"}],
    }
    return invoice(**UNCARRIED, lines=[line])


async def test_strict_refuses_every_field_crm_v1_cannot_carry_and_sends_nothing(
    env: Env,
) -> None:
    before = len(await env.log())
    with pytest.raises(UnsupportedFields) as info:
        await env.adapter.create(uncarried())
    assert [e.pointer for e in info.value.errors] == UNCARRIED_POINTERS
    assert info.value.provider == "crm_v1"
    assert "handling=lenient" in info.value.message
    assert len(await env.log()) == before


async def test_lenient_drops_them_with_a_warning_each(env: Env) -> None:
    start = len(await env.log())
    result = await env.adapter.create(uncarried(), handling="lenient")
    assert [w.field for w in result.warnings] == UNCARRIED_POINTERS
    assert all(w.reason.startswith("crm_v1 ") for w in result.warnings)
    [body] = await sent_bodies(env, start)
    # The first tax survives, made simple (a bare rate: it names no tax); nothing else of the
    # dropped fields is sent.
    assert body["items"][0]["tax_rate"] == Decimal(5) and "tax_id" not in body["items"][0]
    assert "unit" not in body["items"][0]
    assert not {"number", "shipping", "adjustment", "tags", "order_id"} & set(body)
    read = result.invoice
    assert [(t.rate, t.compound) for t in read.lines[0].taxes] == [(Decimal(5), False)]
    assert read.totals is not None and read.totals.total == Decimal("5250.00")


async def test_inclusive_prices_are_refused_even_when_lenient(env: Env) -> None:
    before = len(await env.log())
    with pytest.raises(UnsupportedFields) as info:
        await env.adapter.create(invoice(tax_mode="inclusive"), handling="lenient")
    assert [e.pointer for e in info.value.errors] == ["/tax_mode"]
    assert len(await env.log()) == before


# -- checks before sending ----------------------------------------------------------------------


async def test_every_problem_found_before_sending_is_reported_at_once(env: Env) -> None:
    bad = invoice(
        currency="CHF",
        customer={"id": "northwind"},
        provider_fields={"template_id": "1", "colour": "red", "tag_ids": [1, "vip"]},
        lines=[
            {"kind": "section", "name": " "},
            {"name": "Consulting", "quantity": "1", "unit_price": "10.00"},
            {
                "item_id": "twelve",
                "name": "Consulting",
                "quantity": "1",
                "unit_price": "10.00",
                "discount": {"type": "amount", "value": "10.01"},
                "taxes": [{"name": "Luxury", "rate": "7"}],
            },
        ],
    )
    before = len(await env.log())
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create(bad)
    assert sorted(e.pointer for e in info.value.errors) == sorted(
        [
            "/provider_fields/template_id",  # must be an integer
            "/provider_fields/colour",  # not a crm_v1 field
            "/provider_fields/tag_ids/1",  # tag ids are integers
            "/lines/2/taxes/0/rate",  # a named tax, and no configured 7% one
            "/currency",  # no org_currency_id for CHF
            "/customer/id",  # contact ids are whole numbers
            "/lines/0/name",  # item_name is required, even on a header
            "/lines/1/item_id",  # required on an item line
            "/lines/2/item_id",  # whole number
            "/lines/2/discount/value",  # more than the line's 10.00
        ]
    )
    assert info.value.provider == "crm_v1"
    assert len(await env.log()) == before


async def test_the_currency_needs_a_configured_id(env: Env) -> None:
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create(invoice(currency="CHF"))
    [error] = info.value.errors
    assert error.pointer == "/currency"
    assert "add it to the connection's currencies" in error.detail


async def test_the_template_comes_from_the_connection_unless_given(env: Env) -> None:
    start = len(await env.log())
    await env.adapter.create(invoice())
    await env.adapter.create(invoice(provider_fields={"template_id": 3}))
    first, second = await sent_bodies(env, start)
    assert (first["template_id"], second["template_id"]) == (1, 3)
    no_default = env.adapter_with(defaults={})
    with pytest.raises(InvalidRequest) as info:
        await no_default.create(invoice())
    assert [e.pointer for e in info.value.errors] == ["/provider_fields/template_id"]


# -- provider errors → canonical pointers --------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "pointer", "message"),
    [
        (invoice(customer={"id": "99"}), "/customer/id", "The selected customer_id is invalid."),
        (with_line(item_id="99"), "/lines/0/item_id", "The selected items.0.item_id is invalid."),
        (
            invoice(provider_fields={"template_id": 99}),
            "/provider_fields/template_id",
            "The selected template_id is invalid.",
        ),
        (
            invoice(provider_fields={"deal_id": 99}),
            "/provider_fields/deal_id",
            "The selected deal_id is invalid.",
        ),
        (
            invoice(provider_fields={"tag_ids": [1, 99]}),
            "/provider_fields/tag_ids/1",
            "The selected tag_ids.1 is invalid.",
        ),
        (
            invoice(due_date="2026-06-30"),
            "/due_date",
            "The due_date field must be a date after or equal to transaction_date.",
        ),
    ],
)
async def test_a_provider_rejection_is_translated_to_canonical_pointers(
    env: Env, written: Invoice, pointer: str, message: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create(written)
    assert [(e.pointer, e.detail) for e in info.value.errors] == [(pointer, message)]
    assert info.value.message == message  # the provider's own words
    assert info.value.provider == "crm_v1"
    assert len(env.store.invoices) == SEED_INVOICES


async def test_several_provider_errors_are_all_translated(env: Env) -> None:
    written = invoice(customer={"id": "99"}, provider_fields={"assigned_to": 9})
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create(written)
    assert {e.pointer for e in info.value.errors} == {
        "/customer/id",
        "/provider_fields/assigned_to",
    }
    assert info.value.message.endswith("(and 1 more error)")


# -- lifecycle ----------------------------------------------------------------------------------


def seeded(env: Env, status: int, *, paid: bool) -> str:
    return next(
        str(i.inv_id)
        for i in env.store.invoices.values()
        if i.inv_status == status and bool(i.payments) == paid
    )


@pytest.mark.parametrize(("status", "word"), [(PAID, "paid"), (CANCELLED, "cancelled")])
async def test_editing_a_paid_or_cancelled_invoice_is_a_conflict(
    env: Env, status: int, word: str
) -> None:
    invoice_id = seeded(env, status, paid=status == PAID)
    with pytest.raises(Conflict) as info:
        await env.adapter.update(invoice_id, invoice())
    assert info.value.message == (
        f"Invoice INV-{int(invoice_id):04d} is {word} and can no longer be edited."
    )
    assert env.store.invoices[int(invoice_id)].inv_status == status


async def test_deleting_an_invoice_with_payments_is_a_conflict(env: Env) -> None:
    invoice_id = seeded(env, OPEN, paid=True)
    with pytest.raises(Conflict) as info:
        await env.adapter.delete(invoice_id)
    assert "has payments recorded and cannot be deleted" in info.value.message
    assert int(invoice_id) in env.store.invoices


async def test_an_edit_below_what_was_paid_names_the_lines(env: Env) -> None:
    invoice_id = seeded(env, OPEN, paid=True)
    cheap = with_line(quantity="0.01", unit_price="1.00", taxes=[])
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.update(invoice_id, cheap)
    assert [e.pointer for e in info.value.errors] == ["/lines"]
    assert "must not be less than the amount already paid" in info.value.errors[0].detail


async def test_update_and_delete_of_an_unknown_invoice_are_not_found(env: Env) -> None:
    with pytest.raises(NotFound):
        await env.adapter.update("999", invoice())
    with pytest.raises(NotFound):
        await env.adapter.delete("999")
    before = len(await env.log())
    with pytest.raises(NotFound):
        await env.adapter.update("8; DROP", invoice())
    assert len(await env.log()) == before


# -- update replaces ----------------------------------------------------------------------------


async def test_update_clears_what_the_replacement_leaves_out(env: Env) -> None:
    created = await env.adapter.create(sample(0))  # notes, terms, deal, tags, a section…
    invoice_id = str(created.invoice.id)
    start = len(await env.log())
    result = await env.adapter.update(invoice_id, invoice())
    [body] = await sent_bodies(env, start, "PUT")
    assert body["notes"] is None and body["terms_conditions"] is None
    assert body["deal_id"] is None and body["tag_ids"] == []
    assert body["overall_discount"] is None and body["overall_discount_type"] is None
    read = result.invoice
    assert (read.notes, read.terms, read.reference, read.discount) == (None, None, None, None)
    assert read.provider_fields == {
        "template_id": 1,
        "deal_id": None,
        "assigned_to": None,
        "tag_ids": [],
    }
    assert [line.kind for line in read.lines] == ["item"]
    assert read.totals is not None and read.totals.total == Decimal("5250.00")


async def test_no_due_date_stays_no_due_date(env: Env) -> None:
    # Left out, crm_v1 would make one up 30 days after the invoice date.
    start = len(await env.log())
    result = await env.adapter.create(invoice(due_date=None))
    [body] = await sent_bodies(env, start)
    assert "due_date" in body and body["due_date"] is None
    assert result.invoice.due_date is None


async def test_the_exchange_rate_travels_as_the_conversion_rate(env: Env) -> None:
    start = len(await env.log())
    default = await env.adapter.create(invoice(currency="EUR"))
    chosen = await env.adapter.create(invoice(currency="GBP", exchange_rate="1.2512"))
    first, second = await sent_bodies(env, start)
    assert (first["org_currency_id"], "conversion_rate" in first) == (2, False)
    assert (second["org_currency_id"], second["conversion_rate"]) == (3, Decimal("1.2512"))
    assert default.invoice.exchange_rate == Decimal("1.08")  # the provider's table rate
    assert (chosen.invoice.currency, chosen.invoice.exchange_rate) == ("GBP", Decimal("1.2512"))


async def test_a_read_back_failure_after_a_write_is_not_retryable(env: Env) -> None:
    # The update lands, then every read fails: a caller retrying would write a second time.
    quick = env.adapter_with(retries=RetrySettings(max_attempts=2, backoff_base_s=0))
    await env.faults(error_rate=1, error_status=500, methods=["GET"])
    with pytest.raises(ReadBackFailed) as info:
        await quick.update("8", invoice(notes="edited"))
    assert info.value.retryable is False
    assert "crm_v1 updated invoice 8, but reading it back failed" in info.value.message
    assert env.store.invoices[8].notes == "edited"
    assert [r["method"] for r in await env.log()].count("PUT") == 1


async def test_every_field_the_adapter_sends_is_one_the_mapping_places(env: Env) -> None:
    mapping = env.adapter.mapping
    start = len(await env.log())
    created = await env.adapter.create(sample(0))
    await env.adapter.update(str(created.invoice.id), sample(1))
    bodies = [r["body"] for r in (await env.log())[start:] if r["method"] in ("POST", "PUT")]
    assert len(bodies) == 2
    for body in bodies:
        assert set(body) <= set(mapping.invoice_fields)
        assert all(set(item) <= set(mapping.line_fields) for item in body["items"])
    # The update names every writable field, so leaving one out clears it.
    assert set(bodies[1]) == {
        name
        for name, destination in mapping.invoice_fields.items()
        if not destination.startswith(("id", "number", "status", "totals", "payments"))
    }


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_a_refusal_that_names_no_field_is_final_on_a_write_and_not_on_a_list(
    env: Env, method: str
) -> None:
    """A 400 without field errors to a create or an update is crm_v1 refusing the invoice sent:
    a 422 with its message, not retryable (sending it again gets the same answer). The same
    status to a list is the gateway's own query refused: a 502 (upstream_error)."""
    await env.faults(error_rate=1, error_status=400, methods=[method])
    with pytest.raises(InvalidRequest) as info:
        if method == "POST":
            await env.adapter.create(invoice())
        else:
            await env.adapter.update("8", invoice(notes="edited"))
    assert not isinstance(info.value, UpstreamError)  # not retryable: a 422 (http/errors.py)
    assert info.value.errors == []
    await env.faults(error_rate=1, error_status=400, methods=["GET"])
    with pytest.raises(UpstreamError) as failed:
        await env.adapter.list_page(ListQuery(), None, 5)
    assert not isinstance(failed.value, InvalidRequest)
    assert failed.value.status == 400
