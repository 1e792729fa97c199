"""item_envelope reads: every provider field lands where the mapping says; statuses both axes.

Real HTTP against the emulator (23 seeded invoices, ids 101–123). Records the emulator can never
produce (status and code values outside the provider's tables) come from a one-route stand-in on
loopback: ``aioresponses`` 0.7.9 cannot build responses for aiohttp 3.14 (``stream_writer``).
"""

# The imported `pair` fixture is what the tests' `pair` parameters receive.
# ruff: noqa: F811

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.base import ListQuery, UpstreamError, walk
from adapters.registry import build_adapter
from gateway import jsonwire
from gateway.canonical.model import Invoice
from gateway.sandbox import sandbox_connection
from tests.contract.conftest import Pair, pair  # noqa: F401  (the emulator + adapter fixture)

ON_EMULATOR = pytest.mark.parametrize("pair", ["item_envelope"], indirect=True)


async def raw_record(pair: Pair, invoice_id: str) -> dict[str, Any]:
    """The provider's own record, fetched without the adapter."""
    headers = {"Authorization": f"Bearer {pair.adapter.connection.auth.secret()}"}
    url = f"{pair.base_url}/api2/api2/invoices/{invoice_id}.json"
    async with pair.session.get(url, headers=headers) as response:
        assert response.status == 200
        record: dict[str, Any] = jsonwire.loads(await response.text())["data"]
        return record


def number(value: Any) -> Decimal:
    return Decimal(value)


def assert_mapped(invoice: Invoice, record: dict[str, Any]) -> None:
    """Each documented provider field against its canonical home (mappings/item_envelope.yaml)."""
    head, items = record["Invoice"], record["InvoiceItem"]
    assert invoice.id == str(head["id"])
    assert invoice.number == head["no"]
    assert invoice.customer is not None and invoice.customer.id == str(head["client_id"])
    assert invoice.issue_date is not None and invoice.issue_date.isoformat() == head["date"]
    assert invoice.currency == head["currency_code"]
    assert invoice.reference == head["po_number"]
    assert invoice.notes == head["notes"]
    assert invoice.provider_fields == {
        "store_id": head["store_id"],
        "is_offline": head["is_offline"] == 1,
    }
    assert invoice.provider_status == {
        "draft": head["draft"],
        "payment_status": head["payment_status"],
    }
    if head["discount_amount"]:
        assert invoice.discount is not None
        assert (invoice.discount.type, invoice.discount.value) == (
            "amount",
            head["discount_amount"],
        )
    elif head["discount"]:
        assert invoice.discount is not None
        assert (invoice.discount.type, invoice.discount.value) == ("percent", head["discount"])
    else:
        assert invoice.discount is None
    totals = invoice.totals
    assert totals is not None
    assert totals.subtotal == number(head["summary_subtotal"])
    assert totals.discount == number(head["summary_discount"])
    assert totals.tax == number(head["summary_tax1"]) + number(head["summary_tax2"])
    assert totals.total == number(head["summary_total"])
    assert totals.paid == number(head["summary_paid"])
    assert totals.due == number(head["summary_unpaid"])
    assert (totals.shipping, totals.adjustment) == (0, 0)
    assert len(invoice.lines) == len(items)
    for line, item in zip(invoice.lines, items, strict=True):
        assert line.id == str(item["id"])
        assert line.item_id == str(item["product_id"])
        assert line.name == item["item"]
        assert line.quantity == number(item["quantity"])
        assert line.unit_price == number(item["unit_price"])
        assert line.net_amount == number(item["subtotal"])
        if item["discount"]:
            kind = {1: "percent", 2: "amount"}[item["discount_type"]]
            assert line.discount is not None
            assert (line.discount.type, line.discount.value) == (kind, number(item["discount"]))
        else:
            assert line.discount is None
        assert [tax.id for tax in line.taxes] == [
            str(item[slot]) for slot in ("tax1", "tax2") if item[slot] is not None
        ]
        assert line.provider_fields == {
            name: item[name] for name in ("col_3", "col_4", "col_5") if item[name] is not None
        }
    assert invoice.remote_data == record


@ON_EMULATOR
async def test_every_seeded_record_maps_field_by_field(pair: Pair) -> None:
    async for page in walk(pair.adapter, ListQuery(), 100):
        for listed in page.invoices:
            assert listed.id is not None
            record = await raw_record(pair, listed.id)
            assert_mapped(listed, record)
            assert_mapped(await pair.adapter.get(listed.id), record)


@ON_EMULATOR
@pytest.mark.parametrize(
    ("invoice_id", "status", "payment_status", "provider_status"),
    [
        ("106", "draft", "unpaid", {"draft": 1, "payment_status": 0}),
        ("111", "open", "unpaid", {"draft": 0, "payment_status": 0}),
        ("109", "open", "partially_paid", {"draft": 0, "payment_status": 1}),
        ("103", "paid", "paid", {"draft": 0, "payment_status": 2}),
    ],
)
async def test_status_comes_from_draft_and_payment_status(
    pair: Pair,
    invoice_id: str,
    status: str,
    payment_status: str,
    provider_status: dict[str, int],
) -> None:
    invoice = await pair.adapter.get(invoice_id)
    assert (invoice.status, invoice.payment_status) == (status, payment_status)
    assert invoice.provider_status == provider_status
    assert invoice.overdue is False  # no due date on this provider


@ON_EMULATOR
async def test_two_taxes_are_named_from_the_connection(pair: Pair) -> None:
    invoice = await pair.adapter.get("113")  # CAD, one line with GST + QST and a 5 % discount
    line = invoice.lines[0]
    assert [(t.id, t.name, t.rate, t.compound) for t in line.taxes] == [
        ("1", "GST 5%", Decimal("5"), False),
        ("2", "QST 9.975%", Decimal("9.975"), False),
    ]
    assert line.discount is not None and (line.discount.type, line.discount.value) == (
        "percent",
        Decimal("5"),
    )
    assert line.provider_fields == {"col_3": "Batch 38"}
    assert invoice.totals is not None and invoice.totals.tax_breakdown
    assert [row.name for row in invoice.totals.tax_breakdown] == ["GST 5%", "QST 9.975%"]


@ON_EMULATOR
async def test_discount_kinds_read_from_their_fields_and_codes(pair: Pair) -> None:
    fixed = await pair.adapter.get("117")  # discount_amount 29.25
    assert fixed.discount is not None
    assert (fixed.discount.type, fixed.discount.value) == ("amount", Decimal("29.25"))
    percent = await pair.adapter.get("109")  # discount 10 (percentage)
    assert percent.discount is not None
    assert (percent.discount.type, percent.discount.value) == ("percent", Decimal("10"))
    absolute_line = (await pair.adapter.get("105")).lines[1]  # discount 15.00, discount_type 2
    assert absolute_line.discount is not None
    assert (absolute_line.discount.type, absolute_line.discount.value) == (
        "amount",
        Decimal("15.00"),
    )


# --- values the emulator never produces ---------------------------------------------------------


def record_text(**changes: Any) -> str:
    head = {
        "id": 5,
        "no": "INV-0005",
        "client_id": 15,
        "store_id": 1,
        "currency_code": "USD",
        "date": "2026-07-01",
        "draft": 0,
        "discount": 0,
        "discount_amount": 0.00,
        "notes": None,
        "po_number": None,
        "is_offline": 0,
        "summary_subtotal": 100.00,
        "summary_discount": 0.00,
        "summary_tax1": 0.00,
        "summary_tax2": 0.00,
        "summary_total": 100.00,
        "summary_paid": 0.00,
        "summary_unpaid": 100.00,
        "payment_status": 0,
    }
    item = {
        "id": 9,
        "product_id": 1,
        "item": "Consulting Hour",
        "quantity": 1,
        "unit_price": 100,
        "discount": 0,
        "discount_type": 1,
        "tax1": None,
        "tax2": None,
        "col_3": None,
        "col_4": None,
        "col_5": None,
        "subtotal": 100.00,
    }
    head.update({k: v for k, v in changes.items() if k in head})
    item.update({k.removeprefix("item_"): v for k, v in changes.items() if k.startswith("item_")})
    data = {"Invoice": head, "InvoiceItem": [item]}
    return json.dumps({"code": 200, "result": "successful", "data": data})


async def read_served(aiohttp_server: Any, text: str) -> Invoice:
    """``adapter.get("5")`` against a stand-in that answers ``text`` for invoice 5."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=text, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api2/api2/invoices/5.json", answer)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        base_url = str(server.make_url("")).rstrip("/")
        adapter = build_adapter(sandbox_connection("item_envelope", base_url), session)
        return await adapter.get("5")


@pytest.mark.parametrize(
    ("draft", "payment_status", "expected_payment_status"),
    [
        (2, 0, "unpaid"),  # an unknown draft value
        (0, 9, "unpaid"),  # an unknown payment_status: the axis falls back to the totals
        (1, 2, "paid"),  # a draft reported as paid: no state the tables know
    ],
)
async def test_unmapped_status_values_read_as_unknown_with_the_raw_values_kept(
    aiohttp_server: Any, draft: int, payment_status: int, expected_payment_status: str
) -> None:
    text = record_text(draft=draft, payment_status=payment_status)
    invoice = await read_served(aiohttp_server, text)
    assert invoice.status == "unknown"
    assert invoice.provider_status == {"draft": draft, "payment_status": payment_status}
    assert invoice.payment_status == expected_payment_status


async def test_an_unknown_line_discount_code_is_kept_raw_and_reported(
    aiohttp_server: Any,
) -> None:
    text = record_text(item_discount=10, item_discount_type=7, item_subtotal=90.00)
    invoice = await read_served(aiohttp_server, text)
    assert invoice.lines[0].discount is None
    assert invoice.remote_data["InvoiceItem"][0]["discount_type"] == 7
    assert invoice.totals_check is not None and invoice.totals_check.consistent is False
    assert "lines[0].net_amount" in [d.field for d in invoice.totals_check.differences]


async def test_an_answer_without_a_record_is_an_upstream_error(aiohttp_server: Any) -> None:
    with pytest.raises(UpstreamError) as info:
        await read_served(aiohttp_server, json.dumps({"code": 200, "result": "successful"}))
    assert info.value.message == (
        "item_envelope answered in a shape the gateway cannot read: "
        "the answer has no invoice record in data"
    )


@ON_EMULATOR
async def test_the_mapping_places_every_field_the_provider_returns(pair: Pair) -> None:
    record = await raw_record(pair, "113")
    mapping = pair.adapter.mapping
    assert set(record) == {"Invoice", mapping.line_container}
    assert set(record["Invoice"]) == set(mapping.invoice_fields)
    assert set(record["InvoiceItem"][0]) == set(mapping.line_fields)
