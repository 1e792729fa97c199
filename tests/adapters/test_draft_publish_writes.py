"""draft_publish writes: strict and lenient, checks before sending, the provider's refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from adapters.base import (
    BadIdentifier,
    Conflict,
    Handling,
    InvalidRequest,
    NotFound,
    OutcomeUncertain,
    UnsupportedFields,
    UpstreamError,
)
from gateway.canonical.model import Invoice
from gateway.config import RetrySettings, TaxSetting
from tests.adapters.draft_publish_env import BASE, Env, due_later, start
from tests.contract.profiles.draft_publish import sample


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


@pytest.fixture
async def env_without_smtp(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server, smtp_configured=False):
        yield value


def with_changes(invoice: Invoice, **changes: Any) -> Invoice:
    return Invoice.model_validate({**invoice.model_dump(), **changes})


def with_line(invoice: Invoice, index: int, **changes: Any) -> Invoice:
    data = invoice.model_dump()
    data["lines"][index] = {**data["lines"][index], **changes}
    return Invoice.model_validate(data)


BASIC = due_later(sample(2))  # JPY, three lines, no discount


def taxed_only_first(invoice: Invoice, rate: str) -> Invoice:
    data = invoice.model_dump()
    for i, line in enumerate(data["lines"]):
        line["taxes"] = [{"rate": rate}] if i == 0 else []
    return Invoice.model_validate(data)


# -- strict and lenient -------------------------------------------------------------------------


async def test_fields_the_provider_cannot_carry_are_all_named_at_once_under_strict(
    env: Env,
) -> None:
    invoice = with_changes(
        BASIC,
        number="INV-9999",
        reference="PO-1",
        shipping=Decimal("500"),
        exchange_rate=Decimal("0.0067"),
        customer={"id": BASIC.customer.id if BASIC.customer else None, "name": "Acme"},
    )
    invoice = with_line(invoice, 0, name="Web", discount={"type": "percent", "value": "10"})
    before = len(await env.log())
    with pytest.raises(UnsupportedFields) as info:
        await env.adapter.create(invoice)
    assert sorted(e.pointer for e in info.value.errors) == [
        "/customer/name",
        "/exchange_rate",
        "/lines/0/discount",
        "/lines/0/name",
        "/number",
        "/reference",
        "/shipping",
    ]
    assert info.value.provider == "draft_publish"
    assert len(await env.log()) == before


async def test_lenient_drops_them_with_a_warning_each_and_keeps_the_rest(env: Env) -> None:
    invoice = with_changes(BASIC, reference="PO-1", shipping=Decimal("500"))
    invoice = with_line(invoice, 0, discount={"type": "amount", "value": "100"})
    result = await env.adapter.create(invoice, handling="lenient")
    assert [w.as_dict() for w in result.warnings] == [
        {"field": "/reference", "reason": "draft_publish cannot carry a reference (PO number)"},
        {"field": "/shipping", "reason": "draft_publish cannot carry a shipping amount"},
        {
            "field": "/lines/0/discount",
            "reason": "draft_publish cannot carry an amount line discount",
        },
    ]
    read = result.invoice
    assert (read.reference, read.shipping, read.lines[0].discount) == (None, Decimal(0), None)
    assert read.totals is not None
    # Nothing of the dropped discount or shipping reached the totals.
    assert read.totals.total == read.totals.subtotal + read.totals.tax
    assert read.lines[0].description == BASIC.lines[0].description


async def test_a_second_tax_on_a_line_is_refused_or_the_first_kept(env: Env) -> None:
    invoice = with_line(BASIC, 1, taxes=[{"rate": "20"}, {"rate": "5"}])
    with pytest.raises(UnsupportedFields) as info:
        await env.adapter.create(invoice)
    assert [(e.pointer, e.detail) for e in info.value.errors] == [
        ("/lines/1/taxes", "draft_publish carries at most 1 tax(es) per line")
    ]
    lenient = await env.adapter.create(invoice, handling="lenient")
    assert [t.rate for t in lenient.invoice.lines[1].taxes] == [Decimal("20")]


async def test_a_section_line_is_refused_or_dropped(env: Env) -> None:
    data = BASIC.model_dump()
    data["lines"].insert(1, {"kind": "section", "name": "Phase 2"})
    invoice = Invoice.model_validate(data)
    with pytest.raises(UnsupportedFields) as info:
        await env.adapter.create(invoice)
    assert [e.pointer for e in info.value.errors] == ["/lines/1"]
    lenient = await env.adapter.create(invoice, handling="lenient")
    assert len(lenient.invoice.lines) == len(BASIC.lines)


async def test_inclusive_prices_are_refused_even_under_lenient(env: Env) -> None:
    invoice = with_changes(BASIC, tax_mode="inclusive")
    before = len(await env.log())
    handlings: tuple[Handling, ...] = ("strict", "lenient")
    for handling in handlings:
        with pytest.raises(UnsupportedFields) as info:
            await env.adapter.create(invoice, handling=handling)
        assert [e.pointer for e in info.value.errors] == ["/tax_mode"]
    assert len(await env.log()) == before


# -- checks before sending ----------------------------------------------------------------------


async def test_what_the_provider_requires_is_checked_before_sending(env: Env) -> None:
    invoice = with_changes(BASIC, due_date=None, customer=None)
    invoice = with_line(invoice, 1, description="   ")
    invoice = with_changes(invoice, provider_fields={"template_id": 7, "colour": "red"})
    before = len(await env.log())
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create(invoice)
    assert [(e.pointer, e.detail) for e in info.value.errors] == [
        ("/customer/id", "is required by draft_publish"),
        ("/due_date", "is required by draft_publish"),
        ("/lines/1/description", "is required by draft_publish"),
        ("/provider_fields/template_id", "must be of type string for draft_publish"),
        ("/provider_fields/colour", "is not a draft_publish field here (known: template_id)"),
    ]
    assert len(await env.log()) == before


async def test_a_template_that_is_not_a_uuid_is_refused_before_sending(env: Env) -> None:
    """The provider's templates are uuids: "abc" was sent, for the provider to refuse."""
    invoice = with_changes(BASIC, provider_fields={"template_id": "abc"})
    before = len(await env.log())
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create(invoice)
    assert [(e.pointer, e.detail) for e in info.value.errors] == [
        ("/provider_fields/template_id", "must be a uuid for draft_publish"),
    ]
    assert len(await env.log()) == before


async def test_an_amount_discount_over_the_lines_is_refused_before_sending(env: Env) -> None:
    invoice = with_changes(BASIC, discount={"type": "amount", "value": "99999999"})
    before = len(await env.log())
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create(invoice)
    assert [e.pointer for e in info.value.errors] == ["/discount/value"]
    assert len(await env.log()) == before


async def test_a_tax_is_sent_as_the_configured_id_of_its_rate(env: Env) -> None:
    await env.adapter.create(taxed_only_first(BASIC, "8.875"))
    items = (await env.log())[-2]["body"]["items"]
    assert [item["tax_id"] for item in items] == [
        "a38da8d7-c01c-50a4-9e0d-b77e12b5c9a1",
        None,
        None,
    ]


# -- the provider's refusals --------------------------------------------------------------------


async def test_provider_validation_errors_become_canonical_pointers(env: Env) -> None:
    invoice = with_changes(
        BASIC,
        notes="n" * 2001,
        terms="t" * 101,
        issue_date=date(2026, 6, 10),
        due_date=date(2026, 6, 1),
        provider_fields={"template_id": "00000000-0000-5000-8000-000000000000"},  # none such
    )
    invoice = with_line(invoice, 0, item_id="no-such-product", unit="u" * 21)
    invoice = with_line(invoice, 1, description="d" * 501)
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create(invoice)
    assert sorted(e.pointer for e in info.value.errors) == [
        "/due_date",
        "/lines/0/item_id",
        "/lines/0/unit",
        "/lines/1/description",
        "/notes",
        "/provider_fields/template_id",
        "/terms",
    ]
    assert info.value.message.startswith("draft_publish could not create the invoice: ")
    assert "product no-such-product does not exist" in [e.detail for e in info.value.errors]


async def test_a_provider_tax_id_it_does_not_know_points_at_the_line_tax(env: Env) -> None:
    # A connection whose tax table is out of date with the account.
    stale = [TaxSetting(id="retired-tax", name="Old VAT", rate=Decimal("20"))]
    adapter = env.adapter_with(taxes=stale)
    with pytest.raises(InvalidRequest) as info:
        await adapter.create(taxed_only_first(BASIC, "20"))
    assert [(e.pointer, e.detail) for e in info.value.errors] == [
        ("/lines/0/taxes/0", "tax rate retired-tax does not exist")
    ]


async def test_editing_a_published_invoice_is_a_conflict(env: Env) -> None:
    invoice_id = await env.draft()
    await env.adapter.act(invoice_id, "issue")
    with pytest.raises(Conflict) as info:
        await env.adapter.update(invoice_id, sample(1))
    assert "cannot be edited" in info.value.message
    assert "status: sent" in info.value.message
    with pytest.raises(Conflict):
        await env.adapter.delete(invoice_id)
    read = await env.adapter.get(invoice_id)
    assert (read.status, read.lines[0].description) == ("open", sample(0).lines[0].description)


async def test_update_replaces_every_field_of_a_draft(env: Env) -> None:
    invoice_id = await env.draft()  # sample(0): notes, terms, a percent discount, a template
    replacement = with_changes(BASIC, notes=None, terms=None, provider_fields={})
    updated = await env.adapter.update(invoice_id, replacement)
    read = updated.invoice
    assert (read.notes, read.terms, read.discount, read.currency) == (None, None, None, "JPY")
    assert len(read.lines) == len(BASIC.lines)
    # No template given: the account's default.
    assert read.provider_fields == {"template_id": "fc22c8fd-3e9b-54ba-afe4-f34236670d03"}


@pytest.mark.parametrize(
    ("path", "action"),
    [
        (["issue"], "issue"),
        (["issue"], "mark_sent"),
        ([], "void"),
        ([], "mark_paid"),
        ([], "unpublish"),
    ],
)
async def test_a_lifecycle_refusal_is_a_conflict(env: Env, path: list[str], action: str) -> None:
    invoice_id = await env.draft()
    for step in path:
        await env.adapter.act(invoice_id, step)
    with pytest.raises(Conflict):
        await env.adapter.act(invoice_id, action)


async def test_send_without_smtp_says_what_to_configure_and_names_no_field(
    env_without_smtp: Env,
) -> None:
    env = env_without_smtp
    invoice_id = await env.draft()
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.act(invoice_id, "send")
    assert info.value.errors == []
    assert "SMTP" in info.value.message
    assert "configure SMTP in the draft_publish account settings" in info.value.message
    assert (await env.adapter.get(invoice_id)).status == "draft"


async def test_unknown_ids_are_not_found_everywhere(env: Env) -> None:
    missing = "00000000-0000-4000-8000-00000000dead"
    calls = [
        env.adapter.get(missing),
        env.adapter.update(missing, BASIC),
        env.adapter.delete(missing),
        env.adapter.act(missing, "issue"),
        env.adapter.list_payments(missing),
        env.adapter.delete_payment(missing, "p1"),
    ]
    for call in calls:
        with pytest.raises(NotFound) as info:
            await call
        assert missing in info.value.message


async def test_an_id_cannot_reach_another_path(env: Env) -> None:
    before = len(await env.log())
    with pytest.raises(BadIdentifier):
        await env.adapter.get("../invoices?limit=1")
    assert (await env.log())[before:] == []  # refused before anything was sent
    with pytest.raises(NotFound) as info:
        await env.adapter.get("x?limit=1")
    # One path segment, quoted: the provider looked for an invoice with that id, not a list.
    assert "Invoice x?limit=1 not found" in info.value.message
    assert (await env.log())[-1]["query"] == {}


async def test_an_unexpected_answer_is_an_upstream_error(env: Env) -> None:
    await env.faults(error_rate=1, error_status=418, methods=["GET"])
    with pytest.raises(UpstreamError) as info:
        await env.adapter.get("anything")
    assert type(info.value) is UpstreamError
    assert info.value.status == 418
    assert env.base_url not in info.value.message


async def test_a_create_whose_outcome_is_unknown_is_not_retried(env: Env) -> None:
    adapter = env.adapter_with(retries=RetrySettings(max_attempts=3, backoff_base_s=0))
    await env.faults(error_rate=1, error_status=503, after_commit=True, methods=["POST"])
    before = len(await env.log())
    with pytest.raises(OutcomeUncertain):
        await adapter.create(BASIC)
    assert [r["method"] for r in (await env.log())[before:]] == ["POST"]
    _, listed = await env.raw("GET", f"{BASE}?limit=1")
    assert listed["meta"]["total"] == 24, "the create took effect once"


async def test_a_create_whose_read_back_fails_still_answers_the_created_invoice(env: Env) -> None:
    adapter = env.adapter_with(retries=RetrySettings(max_attempts=1))
    await env.faults(error_rate=1, error_status=503, methods=["GET"])
    result = await adapter.create(BASIC)
    assert [(r["method"], r["path"]) for r in (await env.log())[-2:]] == [
        ("POST", BASE),
        ("GET", f"{BASE}/{result.invoice.id}"),
    ]
    assert result.invoice.id in env.store.documents
    assert (result.invoice.status, result.invoice.currency) == ("draft", "JPY")
    assert result.invoice.totals_check is not None and result.invoice.totals_check.consistent
