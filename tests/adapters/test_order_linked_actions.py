"""order_linked lifecycle: void (cancel) and reactivate, invoices made from orders, notes with
attachments. Real HTTP against the emulator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from adapters.base import (
    Conflict,
    InvalidRequest,
    NoteFile,
    NotFound,
    NotSupported,
    UnsupportedFields,
)
from adapters.order_linked import orders
from gateway.canonical.model import Invoice
from tests.adapters.order_linked_env import Env, start
from tests.contract.profiles.order_linked import sample


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


async def created(env: Env, n: int = 0) -> str:
    invoice = (await env.adapter.create(sample(n))).invoice
    assert invoice.id is not None
    return invoice.id


# -- void and reactivate --------------------------------------------------------------------------


async def test_reactivate_after_cancel_goes_round_and_each_step_is_recorded(env: Env) -> None:
    invoice_id = await created(env)
    versions = []
    for action, status, provider in [
        ("void", "void", "INACTIVE"),
        ("reactivate", "open", "ACTIVE"),
        ("void", "void", "INACTIVE"),
        ("reactivate", "open", "ACTIVE"),
    ]:
        start = len(await env.log())
        result = await env.adapter.act(invoice_id, action)
        assert (result.id, result.status) == (invoice_id, status)
        assert result.provider_status == {"status": provider, "payment_status": "UNPAID"}
        versions.append(result.version)
        path = f"/invoices/{invoice_id}/{'cancel' if action == 'void' else 'reactivate'}"
        assert await env.sent_since(start) == [("POST", path)]  # the answer is the invoice
    assert versions == ["2", "3", "4", "5"]
    record = await env.raw(invoice_id)
    assert record["kpis"]["last_cancelled_on"] and record["kpis"]["last_reactivated_on"]


async def test_a_paid_invoice_voids_and_comes_back_paid(env: Env) -> None:
    voided = await env.adapter.act("INV-00001", "void")
    assert (voided.status, voided.payment_status) == ("void", "paid")
    assert voided.provider_status == {"status": "INACTIVE", "payment_status": "PAID"}
    assert voided.totals is not None and voided.totals.due == 0
    back = await env.adapter.act("INV-00001", "reactivate")
    assert (back.status, back.payment_status) == ("paid", "paid")


async def test_repeating_a_state_change_is_a_conflict(env: Env) -> None:
    with pytest.raises(Conflict) as info:
        await env.adapter.act("INV-00004", "reactivate")
    assert "already active" in info.value.message
    await env.adapter.act("INV-00004", "void")
    with pytest.raises(Conflict) as info:
        await env.adapter.act("INV-00004", "void")
    assert "already cancelled" in info.value.message


async def test_acting_on_an_unknown_invoice_is_not_found(env: Env) -> None:
    with pytest.raises(NotFound):
        await env.adapter.act("INV-99999", "void")


async def test_actions_the_provider_lacks_never_reach_it(env: Env) -> None:
    start = len(await env.log())
    for action in ("issue", "mark_paid", "send", "duplicate", "credit_note", "open"):
        with pytest.raises(NotSupported):
            await env.adapter.act("INV-00004", action)
    assert len(await env.log()) == start


# -- create from an order -------------------------------------------------------------------------


async def test_an_invoice_from_an_order_takes_the_orders_lines_and_amounts(env: Env) -> None:
    start = len(await env.log())
    result = await env.adapter.create_from_order("SO-1001")
    invoice = result.invoice
    assert result.warnings == []
    assert await env.sent_since(start) == [("POST", "/orders/SO-1001/invoices")]
    assert (await env.log())[start]["body"] == {"invoice": {}}
    assert invoice.order_id == "SO-1001" and invoice.customer is not None
    assert (invoice.customer.id, invoice.currency, invoice.tax_mode) == (
        "ACC-1001",
        "AUD",
        "exclusive",
    )
    assert [(line.item_id, line.quantity, line.unit_price) for line in invoice.lines] == [
        ("ITM-1001", Decimal("2"), Decimal("749.00")),
        ("ITM-1005", Decimal("3"), Decimal("95.00")),
    ]
    assert invoice.shipping == Decimal("49.95") and invoice.reference == "PO-7781"
    assert invoice.provider_fields == {
        "custom_attributes": [
            {"name": "Sales Channel", "value": "Online"},
            {"name": "Sales Rep", "value": "Jade Nguyen"},
        ]
    }
    assert invoice.totals is not None and invoice.totals.total == Decimal("2011.25")
    assert invoice.totals_check is not None and invoice.totals_check.consistent
    assert invoice.id is not None
    assert (await env.raw(invoice.id))["type"] == "LINKED_WITH_ORDER"


@pytest.mark.parametrize(
    ("order_id", "discount", "shipping"),
    [
        ("SO-1002", "10.00", "12.00"),  # inclusive prices
        ("SO-1003", "150.00", "80.00"),
        ("SO-1005", "20.00", "15.00"),  # inclusive, one line
        ("SO-1006", None, "3000"),  # JPY
        ("SO-1007", "25.00", "0.00"),
    ],
)
async def test_an_orders_discount_and_shipping_reconcile(
    env: Env, order_id: str, discount: str | None, shipping: str
) -> None:
    invoice = (await env.adapter.create_from_order(order_id)).invoice
    if discount is None:
        assert invoice.discount is None
    else:
        assert invoice.discount is not None
        assert (invoice.discount.type, invoice.discount.value) == ("amount", Decimal(discount))
    assert invoice.shipping == Decimal(shipping)
    assert invoice.totals_check is not None
    assert invoice.totals_check.differences == [], order_id


async def test_the_fields_an_order_leaves_to_the_invoice_are_sent(env: Env) -> None:
    request = Invoice.model_validate(
        {
            "currency": "NZD",
            "tax_mode": "exclusive",
            "order_id": "SO-1003",
            "issue_date": "2026-07-01",
            "due_date": "2026-07-21",
            "reference": "KW-2291-B",
            "notes": "Second delivery",
        }
    )
    result = await env.adapter.create_from_order("SO-1003", request)
    assert result.warnings == []
    invoice = result.invoice
    assert (invoice.reference, invoice.notes) == ("KW-2291-B", "Second delivery")
    assert (str(invoice.issue_date), str(invoice.due_date)) == ("2026-07-01", "2026-07-21")


def test_values_a_provider_did_not_take_from_a_create_from_order_are_warned_of() -> None:
    """The doc's create-from-order body is the note alone; the emulator also takes the dates and
    the reference (docs/providers/order_linked.md, reading 12). A provider that keeps its own
    answered 201 as if they were taken: each one the invoice made does not hold is a warning."""
    request = Invoice.model_validate(
        {
            "currency": "NZD",
            "issue_date": "2026-07-01",
            "due_date": "2026-07-21",
            "reference": "KW-2291-B",
            "notes": "Second delivery",
        }
    )
    made = request.model_copy(
        update={"issue_date": date(2026, 12, 7), "due_date": date(2027, 1, 6), "reference": None}
    )
    warnings = orders.not_taken("order_linked", request, made)
    assert [(w.field, w.reason) for w in warnings] == [
        (
            "/issue_date",
            "order_linked made the invoice with 2026-12-07, not 2026-07-01: its create from an "
            "order takes the note alone, the order the rest",
        ),
        (
            "/due_date",
            "order_linked made the invoice with 2027-01-06, not 2026-07-21: its create from an "
            "order takes the note alone, the order the rest",
        ),
        (
            "/reference",
            "order_linked made the invoice with none, not KW-2291-B: its create from an order "
            "takes the note alone, the order the rest",
        ),
    ]
    assert orders.not_taken("order_linked", request, request) == []


async def test_values_against_the_order_are_refused_then_dropped(env: Env) -> None:
    request = Invoice.model_validate(
        {
            "currency": "AUD",  # the order's: passes
            "customer": {"id": "ACC-1001"},  # the order's: passes
            "shipping": "5.00",
            "provider_fields": {"custom_attributes": []},
            "lines": [{"item_id": "ITM-1001", "quantity": "1", "unit_price": "1.00"}],
            "notes": "Kept",
        }
    )
    start = len(await env.log())
    with pytest.raises(UnsupportedFields) as info:
        await env.adapter.create_from_order("SO-1001", request)
    assert [e.as_dict() for e in info.value.errors] == [
        {
            "pointer": "/lines",
            "detail": "differ from the lines of order SO-1001: "
            "ITM-1001 × 2 @ 749.00, ITM-1005 × 3 @ 95.00",
        },
        {"pointer": "/shipping", "detail": "is 5.00, but order SO-1001 ships for 49.95"},
        {
            "pointer": "/provider_fields/custom_attributes",
            "detail": "order_linked takes this from order SO-1001",
        },
    ]
    # The order was read (to compare), nothing was written.
    assert [(e["method"], e["path"]) for e in (await env.log())[start:]] == [
        ("GET", "/orders/SO-1001")
    ]
    result = await env.adapter.create_from_order("SO-1001", request, handling="lenient")
    assert [w.field for w in result.warnings] == [
        "/lines",
        "/shipping",
        "/provider_fields/custom_attributes",
    ]
    assert result.warnings[1].reason == (
        "dropped: is 5.00, but order SO-1001 ships for 49.95; the order's value is used"
    )
    assert result.invoice.notes == "Kept" and result.invoice.shipping == Decimal("49.95")


async def test_another_currency_or_tax_mode_names_the_orders(env: Env) -> None:
    request = Invoice.model_validate({"currency": "USD", "tax_mode": "exclusive"})
    with pytest.raises(UnsupportedFields) as info:
        await env.adapter.create_from_order("SO-1005", request)  # GBP, inclusive prices
    assert [e.as_dict() for e in info.value.errors] == [
        {"pointer": "/currency", "detail": "is USD, but order SO-1005 is in GBP"},
        {"pointer": "/tax_mode", "detail": "is exclusive, but order SO-1005 has inclusive prices"},
    ]
    result = await env.adapter.create_from_order("SO-1005", request, handling="lenient")
    assert [w.field for w in result.warnings] == ["/currency", "/tax_mode"]
    assert (result.invoice.currency, result.invoice.tax_mode) == ("GBP", "inclusive")


async def test_a_request_for_another_order_is_refused_before_sending(env: Env) -> None:
    request = Invoice.model_validate(
        {
            "currency": "AUD",
            "order_id": "SO-1002",
            "issue_date": "2026-07-02",
            "due_date": "2026-07-01",
        }
    )
    start = len(await env.log())
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create_from_order("SO-1001", request)
    assert [e.pointer for e in info.value.errors] == ["/due_date", "/order_id"]
    # The order is read first (an unknown one is a 404 whatever the body); nothing is written.
    assert [(e["method"], e["path"]) for e in (await env.log())[start:]] == [
        ("GET", "/orders/SO-1001")
    ]
    with pytest.raises(NotFound):
        await env.adapter.create_from_order("SO-0000", request)


async def test_one_active_invoice_per_order(env: Env) -> None:
    first = (await env.adapter.create_from_order("SO-1004")).invoice
    assert first.id is not None
    with pytest.raises(Conflict) as info:
        await env.adapter.create_from_order("SO-1004")
    assert first.id in info.value.message
    # Cancelling frees the order; the cancelled invoice cannot come back while another is active.
    await env.adapter.act(first.id, "void")
    second = (await env.adapter.create_from_order("SO-1004")).invoice
    assert second.id != first.id and second.status == "open"
    with pytest.raises(Conflict) as info:
        await env.adapter.act(first.id, "reactivate")
    assert "SO-1004" in info.value.message


async def test_an_unknown_order_is_not_found(env: Env) -> None:
    with pytest.raises(NotFound) as info:
        await env.adapter.create_from_order("SO-0000")
    assert "SO-0000" in info.value.message


# -- notes ----------------------------------------------------------------------------------------

RECEIPT = NoteFile("receipt.pdf", "application/pdf", b"%PDF-1.4 delivery receipt")


async def test_a_note_with_an_attachment_is_multipart_and_answers_its_uuid(env: Env) -> None:
    start = len(await env.log())
    note = await env.adapter.add_note("INV-00004", "<p>Proof of delivery</p>", [RECEIPT])
    stored = env.store.invoices["INV-00004"].notes[note["id"]]
    assert note == {
        "id": stored.uuid,
        "content": "<p>Proof of delivery</p>",
        "files": [{"name": "receipt.pdf"}],
    }
    assert [(f.name, f.content_type, f.content) for f in stored.files] == [
        ("receipt.pdf", "application/pdf", RECEIPT.content)
    ]
    entry = (await env.log())[start]
    assert entry["headers"]["Content-Type"].startswith("multipart/form-data")


async def test_a_note_without_a_file_is_still_multipart(env: Env) -> None:
    note = await env.adapter.add_note("INV-00009", "Cancelled at the customer's request")
    assert note["files"] == []
    assert env.store.invoices["INV-00009"].notes[note["id"]].content.startswith("Cancelled")


async def test_files_join_a_note_and_the_answer_lists_them_all(env: Env) -> None:
    note = await env.adapter.add_note("INV-00004", "Delivery", [RECEIPT])
    photo = NoteFile("dock.jpg", "image/jpeg", b"\xff\xd8\xff jpeg")
    more = await env.adapter.attach_to_note("INV-00004", note["id"], [photo], "Delivery, signed")
    assert more["content"] == "Delivery, signed"
    assert more["files"] == [{"name": "receipt.pdf"}, {"name": "dock.jpg"}]
    only_file = await env.adapter.attach_to_note("INV-00004", note["id"], files=[RECEIPT])
    assert only_file["content"] == "Delivery, signed" and len(only_file["files"]) == 3


async def test_note_problems(env: Env) -> None:
    start = len(await env.log())
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.add_note("INV-00004", "  ")
    assert [e.pointer for e in info.value.errors] == ["/note"]
    with pytest.raises(InvalidRequest):
        await env.adapter.attach_to_note("INV-00004", "some-uuid", [])
    with pytest.raises(InvalidRequest) as info:  # a new note takes one file (the doc's "a file")
        await env.adapter.add_note("INV-00004", "x", [RECEIPT, RECEIPT])
    assert [e.pointer for e in info.value.errors] == ["/file"]
    assert "at most 1 file(s) when a note is created, not 2" in info.value.errors[0].detail
    assert len(await env.log()) == start  # refused before sending
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.add_note(
            "INV-00004", "x", [NoteFile("run.exe", "application/x-msdownload", b"MZ")]
        )
    assert [e.pointer for e in info.value.errors] == ["/file"]
    assert "unsupported file type 'run.exe'" in info.value.errors[0].detail
    with pytest.raises(NotFound):
        await env.adapter.add_note("INV-99999", "x")
    with pytest.raises(NotFound):
        await env.adapter.attach_to_note("INV-00004", "no-such-note", [], "text")


def _as_read(invoice: Invoice) -> dict[str, Any]:
    """The order's invoice's customer, currency, price mode and lines, as the gateway reads them
    (the lines with their taxes), to send back."""
    read = invoice.model_dump(mode="json")
    return {
        "customer": {"id": read["customer"]["id"]},
        "currency": read["currency"],
        "tax_mode": read["tax_mode"],
        "lines": [
            {k: line[k] for k in ("kind", "item_id", "quantity", "unit_price", "taxes")}
            for line in read["lines"]
        ],
        "notes": "Again",
    }


async def test_an_order_invoice_read_back_can_be_made_again_with_its_line_taxes(env: Env) -> None:
    """A line's tax is its item's tax code's: given as the provider applied it, it passes (as
    on a plain create); another rate is a warning naming the tax applied, strict or not."""
    first = (await env.adapter.create_from_order("SO-1004")).invoice
    assert first.id is not None and [t.id for line in first.lines for t in line.taxes] == [
        "GST",
        "GST",
    ]
    await env.adapter.act(first.id, "void")
    again = await env.adapter.create_from_order("SO-1004", Invoice.model_validate(_as_read(first)))
    assert again.warnings == []
    assert again.invoice.notes == "Again"
    assert [line.taxes for line in again.invoice.lines] == [line.taxes for line in first.lines]

    assert again.invoice.id is not None
    await env.adapter.act(again.invoice.id, "void")
    body = _as_read(first)
    body["lines"][1]["taxes"] = [{"id": "GST_FREE", "rate": "0"}]
    third = await env.adapter.create_from_order("SO-1004", Invoice.model_validate(body))
    assert [(w.field, w.reason) for w in third.warnings] == [
        (
            "/lines/1/taxes/0",
            "order_linked did not apply this tax: it taxes item ITM-1008 by the item's tax "
            "code, GST on Income (10%)",
        )
    ]


async def test_an_order_invoices_line_taxes_are_checked_before_sending(env: Env) -> None:
    body = {
        "currency": "USD",
        "lines": [
            {"item_id": "ITM-1003", "quantity": "12", "unit_price": "84.99",
             "taxes": [{"rate": "12.5"}]},
            {"item_id": "ITM-1008", "quantity": "7.5", "unit_price": "93.1250",
             "taxes": [{"rate": "10"}, {"rate": "0"}]},
        ]
    }  # fmt: skip
    start = len(await env.log())
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.create_from_order("SO-1004", Invoice.model_validate(body))
    assert [e.pointer for e in info.value.errors] == ["/lines/0/taxes/0/rate"]
    assert not [e for e in (await env.log())[start:] if e["method"] == "POST"]
    del body["lines"][0]["taxes"]
    with pytest.raises(UnsupportedFields) as refused:
        await env.adapter.create_from_order("SO-1004", Invoice.model_validate(body))
    assert [e.as_dict() for e in refused.value.errors] == [
        {
            "pointer": "/lines/1/taxes",
            "detail": "order_linked taxes each line of order SO-1004 once, by its item's tax code",
        }
    ]


async def test_a_plain_create_linked_to_an_order_is_in_the_orders_currency_and_prices(
    env: Env,
) -> None:
    """Its lines are the caller's; the currency and price mode that give them their meaning are
    the order's, or the create is refused before anything is written, lenient or not."""
    body = sample(0).model_dump(mode="json", exclude_none=True)
    body.update(
        customer={"id": "ACC-1003"}, currency="AUD", tax_mode="inclusive", order_id="SO-1004"
    )
    start = len(await env.log())
    for handling in ("strict", "lenient"):
        with pytest.raises(InvalidRequest) as info:
            await env.adapter.create(Invoice.model_validate(body), handling=handling)
        assert [e.as_dict() for e in info.value.errors] == [
            {"pointer": "/currency", "detail": "is AUD, but order SO-1004 is in USD"},
            {
                "pointer": "/tax_mode",
                "detail": "is inclusive, but order SO-1004 has exclusive prices",
            },
        ]
    assert not [e for e in (await env.log())[start:] if e["method"] == "POST"]
    body["order_id"] = "SO-0000"
    with pytest.raises(InvalidRequest) as unknown:
        await env.adapter.create(Invoice.model_validate(body))
    assert [e.as_dict() for e in unknown.value.errors] == [
        {"pointer": "/order_id", "detail": "order 'SO-0000' does not exist"}
    ]
    body.update(currency="USD", tax_mode="exclusive", order_id="SO-1004")
    made = (await env.adapter.create(Invoice.model_validate(body))).invoice
    assert (made.order_id, made.currency, made.tax_mode) == ("SO-1004", "USD", "exclusive")
    # The order now has its active invoice.
    with pytest.raises(Conflict):
        await env.adapter.create_from_order("SO-1004")


async def test_a_field_the_provider_cannot_carry_is_not_said_to_be_the_orders(env: Env) -> None:
    """Terms on an order's invoice: order_linked has no terms at all, and the 422 said "the
    order sets it", sending the caller to look for terms on the order."""
    request = Invoice.model_validate({"currency": "AUD", "terms": "Net 7", "notes": "Kept"})
    with pytest.raises(UnsupportedFields) as info:
        await env.adapter.create_from_order("SO-1001", request)
    assert info.value.message == (
        "terms order_linked cannot carry terms (leave it out, or send Prefer: handling=lenient "
        "to have it dropped)"
    )
    result = await env.adapter.create_from_order("SO-1001", request, handling="lenient")
    assert [(w.field, w.reason) for w in result.warnings] == [
        ("/terms", "dropped: order_linked cannot carry terms")
    ]
