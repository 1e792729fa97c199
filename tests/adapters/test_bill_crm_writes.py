"""bill_crm writes: several calls per write, cleanup when one fails, checks made before sending,
provider errors as canonical pointers, strict and lenient handling, the tax type chosen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from adapters.base import AdapterError, InvalidRequest, NotFound, UnsupportedFields, UpstreamError
from gateway.canonical.model import Invoice
from gateway.config import TaxSetting
from tests.adapters.bill_crm_env import CLIENT_6_DRAFT, INVOICES, Env, start
from tests.contract.compare import differences
from tests.contract.profiles.bill_crm import sample

LINE_ITEMS = r"^/api/v1/invoices/\d+/line-items$"


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


def with_changes(invoice: Invoice, **changes: Any) -> Invoice:
    return Invoice.model_validate({**invoice.model_dump(), **changes})


# -- a create is several calls: none of them may leave half an invoice behind --------------------


async def test_a_failed_line_items_call_deletes_the_half_made_invoice(env: Env) -> None:
    before = await env.count()
    await env.faults(error_rate=1, error_status=500, methods=["PUT"], path_regex=LINE_ITEMS)
    start_at = len(await env.log())
    with pytest.raises(UpstreamError) as info:
        await env.adapter.create(sample(0))
    assert info.value.status == 500
    assert "the invoice was not created" in info.value.message
    assert await env.count() == before
    new_id = before + 1  # ids are never reused: the half-made invoice had the next one
    attempts = env.adapter.connection.retries.max_attempts  # a PUT is retried: it is idempotent
    assert await env.writes_since(start_at) == [
        ("POST", INVOICES),
        *[("PUT", f"{INVOICES}/{new_id}/line-items")] * attempts,
        ("DELETE", f"{INVOICES}/{new_id}"),
    ]


async def test_a_provider_rejection_after_the_header_surfaces_with_cleanup(env: Env) -> None:
    before = await env.count()
    await env.faults(error_rate=1, error_status=422, methods=["PUT"], path_regex=r"/tags$")
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create(sample(0))
    assert info.value.provider == "bill_crm"
    assert "the invoice was not created" in info.value.message
    assert await env.count() == before


async def test_a_cleanup_that_fails_too_is_said_out_loud(env: Env) -> None:
    before = await env.count()
    await env.faults(
        error_rate=1, methods=["PUT", "DELETE"], path_regex=r"^/api/v1/invoices/\d+(/line-items)?$"
    )
    with pytest.raises(UpstreamError) as info:
        await env.impatient().create(sample(0))
    new_id = before + 1
    assert f"the half-made bill_crm invoice {new_id} could not be deleted" in info.value.message
    assert "delete it before creating the invoice again" in info.value.message
    assert await env.count() == before + 1  # left behind, and the caller was told which one


# A fault drawn with seed 1 at rate 0.5 fails the first call it applies to, and not the next two.
ONCE = {"error_rate": 0.5, "seed": 1}


async def _updated_in_a_fault(
    env: Env, invoice_id: str, replacement: Invoice, path_regex: str, **fault: Any
) -> str:
    """The update to ``replacement`` while PUTs to ``path_regex`` meet ``fault``: its message."""
    await env.faults(**{"error_rate": 1, "methods": ["PUT"], "path_regex": path_regex, **fault})
    try:
        with pytest.raises(AdapterError) as info:
            await env.impatient().update(invoice_id, replacement)
    finally:
        await env.faults()
    return info.value.message


async def _made(env: Env, invoice: Invoice | None = None) -> tuple[str, Invoice]:
    created = await env.adapter.create(invoice or sample(0))
    invoice_id = created.invoice.id
    assert invoice_id is not None
    return invoice_id, await env.adapter.get(invoice_id)


async def _as_it_was(env: Env, invoice_id: str, was: Invoice) -> Invoice:
    read = await env.adapter.get(invoice_id)
    assert differences(was, read, env.adapter.capabilities) == []
    assert (read.notes, read.discount, read.tags, read.totals) == (
        was.notes,
        was.discount,
        was.tags,
        was.totals,
    )
    return read


async def _converges(env: Env, invoice_id: str, replacement: Invoice) -> None:
    await env.adapter.update(invoice_id, replacement)
    read = await env.adapter.get(invoice_id)
    assert differences(replacement, read, env.adapter.capabilities) == []


def _more_of_each(invoice: Invoice) -> Invoice:
    """``invoice`` with other notes and one more of each line: the same tax type."""
    lines = [line.model_copy(update={"quantity": line.quantity + 1}) for line in invoice.lines]
    return invoice.model_copy(update={"notes": "changed", "lines": lines})


PUT_BACK = "the update was not made: the invoice was put back as it was"
MOVED = "the put-back is a write: the invoice's ETag changed"


async def test_an_update_whose_lines_are_refused_puts_the_header_back(env: Env) -> None:
    """Issue 4: an update is several calls, cleaned up when a later one fails: nothing
    half-made remains. The header was replaced and the CRM refused the lines (a 422 changes
    nothing): the header alone is put back, and the lines keep their ids."""
    invoice_id, was = await _made(env)
    replacement = _more_of_each(sample(0))
    start_at = len(await env.log())
    message = await _updated_in_a_fault(env, invoice_id, replacement, LINE_ITEMS, error_status=422)
    assert message.endswith(f"{PUT_BACK}; {MOVED}"), message
    read = await _as_it_was(env, invoice_id, was)
    assert [line.id for line in read.lines] == [line.id for line in was.lines]
    path = f"{INVOICES}/{invoice_id}"
    assert await env.writes_since(start_at) == [
        ("PUT", path),
        ("PUT", f"{path}/line-items"),  # one attempt: impatient()
        ("PUT", path),  # put back
    ]
    await _converges(env, invoice_id, replacement)


async def test_lines_that_failed_with_a_5xx_may_have_landed_and_are_put_back_too(
    env: Env,
) -> None:
    """The CRM made the lines and then answered 500: a 5xx may have landed, so the lines are
    written again as they were (with new ids), not only the header."""
    invoice_id, was = await _made(env)
    replacement = _more_of_each(sample(0))
    message = await _updated_in_a_fault(
        env, invoice_id, replacement, LINE_ITEMS, after_commit=True, **ONCE
    )
    assert message.endswith(f"{PUT_BACK} (its lines with new ids); {MOVED}"), message
    await _as_it_was(env, invoice_id, was)
    await _converges(env, invoice_id, replacement)


async def test_an_update_whose_tags_fail_puts_back_the_header_and_the_lines(env: Env) -> None:
    invoice_id, was = await _made(env)
    replacement = sample(1)  # another tax type, a fixed discount, other tags
    assert replacement.tags != was.tags and replacement.discount != was.discount
    message = await _updated_in_a_fault(
        env, invoice_id, replacement, r"/tags$", error_status=503, **ONCE
    )
    assert message.endswith(f"{PUT_BACK} (its lines with new ids); {MOVED}"), message
    await _as_it_was(env, invoice_id, was)
    await _converges(env, invoice_id, replacement)


async def test_an_update_its_caller_gave_up_on_is_put_back_all_the_same(env: Env) -> None:
    """The caller stops waiting (its task cancelled) while the tags are sent: the header and
    the lines the update replaced are put back before the cancellation ends the call, never
    left half-made behind a caller that is gone."""
    invoice_id, was = await _made(env)
    replacement = sample(1)
    await env.faults(latency_ms=2000, methods=["PUT"], path_regex=r"/tags$")
    start_at = len(await env.log())
    try:
        update = asyncio.create_task(env.adapter.update(invoice_id, replacement))
        path = f"{INVOICES}/{invoice_id}"
        for _ in range(100):  # until the tags' call is at the CRM (it answers in 2 s)
            if ("PUT", f"{path}/tags") in await env.writes_since(start_at):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the update never sent its tags")
        update.cancel()
        with pytest.raises(asyncio.CancelledError):
            await update
    finally:
        await env.faults()
    await _as_it_was(env, invoice_id, was)


async def test_an_update_that_cannot_be_put_back_says_what_stands(env: Env) -> None:
    """The update's other tax type takes the taxes off the lines, which the CRM fails to
    replace, the put-back's too: the caller is told what stands, and to send it again."""
    invoice_id, was = await _made(env)
    replacement = sample(1)
    assert replacement.discount is not None and replacement.discount.type == "amount"
    message = await _updated_in_a_fault(env, invoice_id, replacement, LINE_ITEMS)
    failed = "bill_crm (connection bill_crm) failed with 500 (it said: injected fault: Internal "
    failed += "Server Error)"
    assert message == (
        f"{failed}; bill_crm invoice {invoice_id} is partly updated (header replaced, with no "
        "fixed discount until the lines are in), and putting it back as it was failed after its "
        f"header was put back ({failed}); its lines carry no taxes now (the CRM takes a line's "
        "taxes off when the tax type changes); send the whole update again"
    ), message
    read = await env.adapter.get(invoice_id)
    assert (read.notes, read.discount) == (was.notes, was.discount)
    assert [line.taxes for line in read.lines] == [[] for _ in read.lines]
    await _converges(env, invoice_id, replacement)


async def test_lines_made_on_an_invoice_that_had_none_are_said_to_stand(env: Env) -> None:
    """The CRM keeps at least one line once an invoice has some: lines the update may have
    made on an empty draft cannot be taken off. The header is put back, and that is said."""
    empty = sample(0).model_copy(update={"lines": [], "discount": None, "adjustment": None})
    invoice_id, was = await _made(env, empty)
    assert was.lines == []
    replacement = sample(0).model_copy(update={"notes": "changed", "discount": None})
    message = await _updated_in_a_fault(
        env, invoice_id, replacement, LINE_ITEMS, after_commit=True, **ONCE
    )
    assert message.endswith(
        f"bill_crm invoice {invoice_id} is partly updated: its lines are the update's (it had "
        "none, and the CRM keeps at least one line once it has some), the rest put back as it "
        f"was ({MOVED}); send the whole update again"
    ), message
    read = await env.adapter.get(invoice_id)
    assert read.notes == was.notes and len(read.lines) == len(replacement.lines)
    await _converges(env, invoice_id, replacement)


# -- checked before anything is sent ------------------------------------------------------------


async def refused_before_sending(env: Env, invoice: Invoice, **kwargs: Any) -> InvalidRequest:
    start_at = len(await env.log())
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create(invoice, **kwargs)
    assert len(await env.log()) == start_at, "nothing may reach the CRM"
    assert info.value.provider == "bill_crm"
    return info.value


async def test_another_currency_than_the_accounts_is_refused(env: Env) -> None:
    error = await refused_before_sending(env, with_changes(sample(0), currency="EUR"))
    assert [e.pointer for e in error.errors] == ["/currency"]
    assert "account's currency (USD)" in error.errors[0].detail


async def test_every_problem_is_named_at_once(env: Env) -> None:
    data = sample(0).model_dump()
    data["customer"] = {"id": "acme"}
    data["issue_date"] = None
    data["lines"][0]["name"] = "  "
    data["lines"][1]["quantity"] = "0"
    data["tags"] = ["a", " b", "a", ""]
    data["provider_fields"] = {"bill_categoryid": "2", "colour": "red"}
    error = await refused_before_sending(env, Invoice.model_validate(data))
    assert error.message == "customer.id must be a bill_crm client id (an integer)"
    assert sorted(e.pointer for e in error.errors) == [
        "/customer/id",
        "/issue_date",
        "/lines/0/name",
        "/lines/1/quantity",
        "/provider_fields/bill_categoryid",
        "/provider_fields/colour",
        "/tags/1",
        "/tags/2",
        "/tags/3",
    ]


async def test_the_required_category_comes_from_the_connection_or_the_caller(env: Env) -> None:
    bare = with_changes(sample(0), provider_fields={})
    start_at = len(await env.log())
    with pytest.raises(InvalidRequest) as info:
        await env.adapter_with(defaults={}).create(bare)
    assert [e.pointer for e in info.value.errors] == ["/provider_fields/bill_categoryid"]
    assert len(await env.log()) == start_at
    created = await env.adapter.create(bare)  # the sandbox's default category
    assert created.invoice.provider_fields["bill_categoryid"] == 1


async def test_amounts_the_engine_cannot_compute_are_refused_before_sending(env: Env) -> None:
    data = sample(1).model_dump()
    data["discount"] = {"type": "amount", "value": "999999.00"}
    error = await refused_before_sending(env, Invoice.model_validate(data))
    assert [e.pointer for e in error.errors] == ["/discount/value"]


# -- strict and lenient -------------------------------------------------------------------------


async def test_strict_names_each_field_the_crm_cannot_carry(env: Env) -> None:
    data = sample(0).model_dump()
    data.update(reference="PO-1", shipping="5.00", exchange_rate="1.1")
    data["lines"].insert(0, {"kind": "section", "name": "Phase 1"})
    data["lines"][1]["item_id"] = "12"
    error = await refused_before_sending(env, Invoice.model_validate(data))
    assert isinstance(error, UnsupportedFields)
    assert sorted(e.pointer for e in error.errors) == [
        "/exchange_rate",
        "/lines/0",
        "/lines/1/item_id",
        "/reference",
        "/shipping",
    ]


async def test_lenient_drops_them_and_keeps_the_callers_line_numbers(env: Env) -> None:
    data = sample(0).model_dump()
    data["reference"] = "PO-1"
    data["lines"].insert(0, {"kind": "section", "name": "Phase 1"})
    result = await env.adapter.create(Invoice.model_validate(data), handling="lenient")
    assert [w.field for w in result.warnings] == ["/reference", "/lines/0"]
    assert result.invoice.reference is None
    assert [line.name for line in result.invoice.lines] == [
        "Consulting",
        "Hosting (monthly)",
        "Copywriting",
    ]

    # A tax rate the connection knows and the CRM does not: the CRM's error on the first line
    # it was sent is the caller's line 1 (line 0 was the dropped section).
    before = await env.count()
    taxes = [*env.adapter.connection.taxes, TaxSetting(id="99", name="Odd", rate=Decimal("12"))]
    for line in data["lines"][1:]:
        line["taxes"] = [{"rate": "12"}]
    with pytest.raises(InvalidRequest) as info:
        await env.adapter_with(taxes=taxes).create(Invoice.model_validate(data), handling="lenient")
    assert [e.pointer for e in info.value.errors] == ["/lines/1/taxes/0"]
    assert info.value.message == "bill_crm: The selected tax_rate_ids.0 is invalid; " + (
        "the invoice was not created (its partial record was deleted)"
    )
    assert await env.count() == before


async def test_several_taxes_on_lines_that_differ_are_refused_strict_and_dropped_lenient(
    env: Env,
) -> None:
    """An inline-tax invoice carries one tax a line: strict refuses a second one, lenient
    drops it with a warning naming it, as every provider drops what it cannot carry."""
    data = sample(0).model_dump()
    data["lines"][0]["taxes"] = [{"rate": "5"}, {"rate": "7"}]
    error = await refused_before_sending(env, Invoice.model_validate(data))
    assert isinstance(error, UnsupportedFields)
    assert [e.pointer for e in error.errors] == ["/lines/0/taxes"]
    assert "one tax per line" in error.errors[0].detail
    # Lenient, with a section line before it (dropped too): the caller's line numbers.
    data["lines"].insert(0, {"kind": "section", "name": "Phase 1"})
    result = await env.adapter.create(Invoice.model_validate(data), handling="lenient")
    assert [(w.field, w.reason) for w in result.warnings] == [
        ("/lines/0", "bill_crm cannot carry section (heading) lines"),
        (
            "/lines/1/taxes",
            "dropped the 7% tax: bill_crm carries one tax per line on an inline-tax invoice "
            "(lines with different taxes or a line discount)",
        ),
    ]
    assert [[t.rate for t in line.taxes] for line in result.invoice.lines] == [
        [Decimal(5)],
        *([Decimal(t["rate"]) for t in line["taxes"]] for line in data["lines"][2:]),
    ]
    assert result.invoice.remote_data["tax_type"] == "inline"


async def test_a_stated_summary_tax_type_refuses_a_line_discount(env: Env) -> None:
    data = sample(0).model_dump()
    data["provider_fields"]["bill_tax_type"] = "summary"
    data["lines"][2]["discount"] = {"type": "percent", "value": "5"}
    error = await refused_before_sending(env, Invoice.model_validate(data))
    assert isinstance(error, UnsupportedFields)
    assert [e.pointer for e in error.errors] == ["/lines/2/discount"]
    # Lenient: the tax type asked for is what cannot be had; the discount is kept, inline.
    result = await env.adapter.create(Invoice.model_validate(data), handling="lenient")
    assert [(w.field, w.reason) for w in result.warnings] == [
        (
            "/provider_fields/bill_tax_type",
            "dropped: bill_crm summary tax applies the same taxes to every line and carries no "
            "line discount; the invoice is written with inline tax",
        )
    ]
    assert result.invoice.remote_data["tax_type"] == "inline"
    discount = result.invoice.lines[2].discount
    assert discount is not None and (discount.type, discount.value) == ("percent", Decimal(5))


async def test_a_read_invoice_writes_back_only_without_the_client_name(env: Env) -> None:
    read = await env.adapter.get("15")  # inline, one line with tax 7
    assert read.customer is not None and read.customer.name == "Stark Industries"
    with pytest.raises(UnsupportedFields) as info:
        await env.adapter.update("15", read)
    assert [e.pointer for e in info.value.errors] == ["/customer/name"]
    written = await env.adapter.update("15", read, handling="lenient")
    assert [w.field for w in written.warnings] == ["/customer/name"]
    after = written.invoice
    assert after.remote_data["tax_type"] == "inline", "the tax type read is the tax type written"
    assert after.totals == read.totals
    assert [line.name for line in after.lines] == [line.name for line in read.lines]


# -- the tax type ---------------------------------------------------------------------------------


def ten_cent_lines(**fields: Any) -> Invoice:
    # Three lines of 1.05 at 10%: 0.105 rounds to 0.11 per line, but 0.315 once per rate is 0.32.
    line = {"name": "Pen", "quantity": "1", "unit_price": "1.05", "taxes": [{"rate": "10"}]}
    return Invoice.model_validate(
        {
            "customer": {"id": "1"},
            "issue_date": "2026-07-01",
            "currency": "USD",
            "lines": [line, line, line],
            "provider_fields": fields,
        }
    )


@pytest.mark.parametrize(
    ("fields", "tax_type", "tax"),
    [({}, "summary", "0.32"), ({"bill_tax_type": "inline"}, "inline", "0.33")],
)
async def test_the_tax_type_sets_how_the_crm_rounds(
    env: Env, fields: dict[str, Any], tax_type: str, tax: str
) -> None:
    invoice = ten_cent_lines(**fields)
    created = (await env.adapter.create(invoice)).invoice
    assert created.remote_data["tax_type"] == tax_type
    assert created.totals is not None and created.totals.tax == Decimal(tax)
    assert created.totals_check is not None and created.totals_check.differences == []
    assert created.provider_fields["bill_tax_type"] == tax_type


async def test_a_line_discount_makes_the_invoice_inline(env: Env) -> None:
    data = ten_cent_lines().model_dump()
    data["lines"][1]["discount"] = {"type": "amount", "value": "0.05"}
    created = (await env.adapter.create(Invoice.model_validate(data))).invoice
    assert created.remote_data["tax_type"] == "inline"
    assert [item["tax_rate_id"] for item in created.remote_data["line_items"]] == [2, 2, 2]
    assert created.lines[1].discount is not None
    assert (created.lines[1].discount.type, created.lines[1].discount_amount) == (
        "amount",
        Decimal("0.05"),
    )
    # Per line: 0.11 + 0.10 + 0.11; once per rate it would have been 0.31.
    assert created.totals is not None and created.totals.tax == Decimal("0.32")


# -- provider errors as canonical pointers --------------------------------------------------------


async def test_a_project_of_another_client_is_the_project_field(env: Env) -> None:
    data = sample(0).model_dump()
    data["provider_fields"]["bill_projectid"] = 9  # Vandelay's; sample 0 bills client 1
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create(Invoice.model_validate(data))
    assert [(e.pointer, e.detail) for e in info.value.errors] == [
        (
            "/provider_fields/bill_projectid",
            "The selected bill_projectid belongs to another client.",
        )
    ]


async def test_a_due_date_before_the_issue_date_is_the_due_date(env: Env) -> None:
    invoice = with_changes(sample(0), due_date="2026-06-01")
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create(invoice)
    assert [e.pointer for e in info.value.errors] == ["/due_date"]


async def test_an_update_cannot_move_the_invoice_to_another_client(env: Env) -> None:
    start_at = len(await env.log())
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.update(CLIENT_6_DRAFT, sample(1, client=2))
    assert [e.pointer for e in info.value.errors] == ["/customer/id"]
    assert "it is client 6's" in info.value.errors[0].detail
    assert await env.writes_since(start_at) == []


async def test_an_update_cannot_take_every_line_away(env: Env) -> None:
    start_at = len(await env.log())
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.update(
            CLIENT_6_DRAFT, with_changes(sample(1, client=6), lines=[], discount=None)
        )
    assert [e.pointer for e in info.value.errors] == ["/lines"]
    assert await env.writes_since(start_at) == []


async def test_an_update_clears_what_the_replacement_leaves_out(env: Env) -> None:
    before = await env.adapter.get(CLIENT_6_DRAFT)
    assert before.tags and before.provider_fields.get("bill_projectid") == 7
    bare = with_changes(sample(1, client=6), tags=[], terms=None, adjustment=None, discount=None)
    after = (await env.adapter.update(CLIENT_6_DRAFT, bare)).invoice
    assert (after.tags, after.terms, after.adjustment, after.discount) == ([], None, None, None)
    assert "bill_projectid" not in after.provider_fields
    assert after.due_date == bare.due_date


async def test_deleting_an_invoice_bill_crm_does_not_have_names_it(env: Env) -> None:
    await env.adapter.delete("5")
    with pytest.raises(NotFound) as info:
        await env.adapter.delete("5")  # gone now
    assert info.value.message == "bill_crm has no invoice 5"


async def test_a_create_whose_lines_failed_says_it_undid_the_header(env: Env) -> None:
    """The header made, its lines' call failing: the half-made invoice is deleted and the
    error says so (``undone``), so the write's runner knows nothing is left to find."""
    before = await env.count()
    await env.faults(error_rate=1, error_status=503, methods=["PUT"], path_regex=r"/line-items$")
    with pytest.raises(UpstreamError) as info:
        await env.adapter.create(sample(0))
    assert info.value.undone is True
    assert info.value.message.endswith(
        "the invoice was not created (its partial record was deleted)"
    )
    assert await env.count() == before
