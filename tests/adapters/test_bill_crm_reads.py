"""bill_crm reads: status ids both ways, lines and taxes of either tax type, rounding per invoice."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from adapters.bill_crm.adapter import BillCrmAdapter
from adapters.mapping import load_mapping
from emulators.bill_crm.model import Status
from emulators.bill_crm.store import STATUSES
from gateway.canonical.model import Invoice, RoundingPolicy
from gateway.errors import UpstreamError
from gateway.sandbox import sandbox_connection
from gateway.upstream import UpstreamClient
from tests.adapters.bill_crm_env import (
    BY_STATUS,
    INLINE_FOUR_LINES,
    SUMMARY_TWO_RATES,
    TODAY,
    Env,
    start,
)


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


# provider status id → (status, overdue, payment_status) as the canonical invoice reads it
READ = {
    1: ("draft", False, "unpaid"),
    2: ("open", False, "unpaid"),
    3: ("open", True, "unpaid"),
    4: ("open", True, "partially_paid"),  # overdue derived: past its due date, money owed
    5: ("paid", False, "paid"),
    20: ("void", False, "unpaid"),
}


@pytest.mark.parametrize("status_id", sorted(READ))
async def test_each_status_id_reads_as_its_canonical_meaning(env: Env, status_id: int) -> None:
    invoice = await env.adapter.get(BY_STATUS[status_id])
    assert env.store.invoices[int(BY_STATUS[status_id])].status_id == status_id
    assert (invoice.status, invoice.overdue, invoice.payment_status) == READ[status_id]
    assert invoice.provider_status == {
        "status": {
            "id": status_id,
            "title": STATUSES[status_id].title,
            "color": STATUSES[status_id].color,
        }
    }
    assert invoice.totals_check is not None and invoice.totals_check.consistent


async def test_part_paid_is_open_with_the_providers_partial_payment(env: Env) -> None:
    invoice = await env.adapter.get(BY_STATUS[4])
    assert invoice.status == "open"
    assert invoice.payment_status == "partially_paid"
    assert invoice.totals is not None
    assert Decimal(0) < invoice.totals.paid < invoice.totals.total
    assert invoice.totals.due == invoice.totals.total - invoice.totals.paid


async def test_a_tax_rate_written_as_text_is_read_and_one_that_is_no_number_is_a_clear_502(
    env: Env,
) -> None:
    """The record's rate is the rate charged, whatever form the CRM writes it in; a rate that
    is no number is a provider error naming the field, never a 500 from the engine."""
    raw = copy.deepcopy((await env.adapter.get(INLINE_FOUR_LINES)).remote_data)
    record = raw["taxes"][0]
    number = record["rate"]
    record["rate"] = f"{number}"
    line = next(
        i for i, item in enumerate(raw["line_items"]) if item["id"] == record["lineitem_id"]
    )
    as_text = env.adapter._read(raw)
    assert as_text.lines[line].taxes[0].rate == number
    assert as_text.totals_check is not None and as_text.totals_check.consistent
    record["rate"] = {"value": number}
    with pytest.raises(UpstreamError) as unreadable:
        env.adapter._read(raw)
    assert "taxes.0.rate: must be a decimal number" in unreadable.value.message
    # A line's own field is named as bill_crm names it: its price is `rate`, not unit_price.
    record["rate"] = number
    raw["line_items"][line]["rate"] = {"value": 1}
    with pytest.raises(UpstreamError) as unreadable:
        env.adapter._read(raw)
    assert f"line_items.{line}.rate: must be a decimal number" in unreadable.value.message


def test_canonical_statuses_write_as_the_provider_ids() -> None:
    mapping = load_mapping("bill_crm")
    written = {s: mapping.write_status(s) for s in ("draft", "open", "paid", "void")}
    assert written == {"draft": 1, "open": 2, "paid": 5, "void": 20}
    for status, provider_id in written.items():
        assert mapping.read_status(provider_id).status == status


async def test_an_unknown_status_id_reads_as_unknown_and_keeps_the_raw_value(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A status the CRM may add one day (the doc lists six): put it into a real record.
    monkeypatch.setitem(STATUSES, 6, Status(6, "Disputed", "#795548"))
    env.store.invoices[int(BY_STATUS[2])].status_id = 6
    invoice = await env.adapter.get(BY_STATUS[2])
    assert invoice.status == "unknown"
    assert invoice.provider_status == {"status": {"id": 6, "title": "Disputed", "color": "#795548"}}
    assert invoice.overdue is False
    assert invoice.payment_status == "unpaid"  # derived from the totals: nothing stated
    listed = [i for i in (await env.everything()) if i.id == BY_STATUS[2]]
    assert [i.status for i in listed] == ["unknown"]


async def test_a_summary_invoice_puts_its_rates_on_every_line(env: Env) -> None:
    invoice = await env.adapter.get(SUMMARY_TWO_RATES)
    raw = invoice.remote_data
    assert raw["tax_type"] == "summary"
    assert [(r["taxrate_id"], r["lineitem_id"]) for r in raw["taxes"]] == [(5, None), (6, None)]
    for line in invoice.lines:
        assert [(t.id, t.name, t.rate) for t in line.taxes] == [
            ("5", "GST 5%", Decimal("5")),
            ("6", "PST 7%", Decimal("7")),
        ]
    assert invoice.totals is not None
    assert invoice.totals.tax == sum((r["amount"] for r in raw["taxes"]), Decimal(0))
    assert [(row.rate, row.tax) for row in invoice.totals.tax_breakdown] == [
        (Decimal("5"), raw["taxes"][0]["amount"]),
        (Decimal("7"), raw["taxes"][1]["amount"]),
    ]
    assert invoice.provider_fields == {
        "bill_categoryid": raw["category"]["id"],
        "bill_projectid": raw["project_id"],
        "bill_tax_type": "summary",
    }
    assert invoice.customer is not None
    assert (invoice.customer.id, invoice.customer.name) == ("2", "Globex Ltd")
    assert (invoice.issue_date, invoice.due_date) == (
        TODAY.replace(month=5, day=13),
        TODAY.replace(month=5, day=27),
    )
    assert invoice.adjustment is not None and invoice.adjustment.amount == Decimal("12.00")
    assert env.adapter.policy_for(invoice) == RoundingPolicy(mode="half_up", tax_scope="per_rate")


async def test_an_inline_invoice_keeps_each_lines_tax_and_amounts(env: Env) -> None:
    invoice = await env.adapter.get(INLINE_FOUR_LINES)
    raw = invoice.remote_data
    assert raw["tax_type"] == "inline"
    for line, item in zip(invoice.lines, raw["line_items"], strict=True):
        records = [r for r in raw["taxes"] if r["lineitem_id"] == item["id"]]
        assert [t.id for t in line.taxes] == [str(r["taxrate_id"]) for r in records]
        assert line.id == str(item["id"])
        assert (line.name, line.description, line.unit) == (
            item["description"],
            item["long_description"],
            item["unit"],
        )
        assert (line.quantity, line.unit_price) == (item["quantity"], item["rate"])
        assert (line.subtotal, line.discount_amount, line.net_amount) == (
            item["amount"],
            item["discount_amount"],
            item["total"],
        )
        assert line.tax_amount == sum((r["amount"] for r in records), Decimal(0))
    assert env.adapter.policy_for(invoice) == RoundingPolicy(mode="half_up", tax_scope="per_line")


async def test_line_discount_words_map_to_canonical_types_on_every_seeded_line(env: Env) -> None:
    words = {"percentage": "percent", "fixed": "amount"}
    seen = set()
    for invoice in await env.everything():
        for line, item in zip(invoice.lines, invoice.remote_data["line_items"], strict=True):
            if item["discount_type"] == "none":
                assert line.discount is None
                continue
            assert line.discount is not None
            assert (line.discount.type, line.discount.value) == (
                words[item["discount_type"]],
                item["discount_value"],
            )
            seen.add(item["discount_type"])
        discount = invoice.remote_data["discount"]
        if discount["type"] == "none":
            assert invoice.discount is None
        else:
            assert invoice.discount is not None
            value = discount["percentage" if discount["type"] == "percentage" else "amount"]
            assert (invoice.discount.type, invoice.discount.value) == (
                words[discount["type"]],
                value,
            )
    assert seen == {"percentage", "fixed"}, "the seed has both kinds of line discount"


def test_the_tax_type_decides_the_rounding_of_an_invoice_written() -> None:
    mapping = load_mapping("bill_crm")
    connection = sandbox_connection("bill_crm", "http://127.0.0.1:9")
    adapter = BillCrmAdapter(UpstreamClient(None, connection), connection, mapping)  # type: ignore[arg-type]

    def invoice(*lines: dict[str, object], **fields: object) -> Invoice:
        return Invoice.model_validate(
            {"currency": "USD", "lines": list(lines), "provider_fields": fields}
        )

    vat = {"rate": "20"}
    same = invoice(
        {"name": "a", "quantity": "1", "unit_price": "1", "taxes": [vat]},
        {"name": "b", "quantity": "1", "unit_price": "1", "taxes": [{"id": "1", "rate": "20"}]},
    )
    discounted = invoice(
        {"name": "a", "quantity": "1", "unit_price": "1", "taxes": [vat]},
        {
            "name": "b",
            "quantity": "1",
            "unit_price": "1",
            "taxes": [vat],
            "discount": {"type": "percent", "value": "5"},
        },
    )
    different = invoice(
        {"name": "a", "quantity": "1", "unit_price": "1", "taxes": [vat]},
        {"name": "b", "quantity": "1", "unit_price": "1", "taxes": []},
    )
    stated = invoice(
        {"name": "a", "quantity": "1", "unit_price": "1", "taxes": [vat]}, bill_tax_type="inline"
    )
    scopes = [adapter.policy_for(i).tax_scope for i in (same, discounted, different, stated)]
    # The same tax by id or by rate is the same tax: summary. A line discount forces inline.
    assert scopes == ["per_rate", "per_line", "per_line", "per_line"]


async def test_the_api_key_goes_in_its_header_and_never_into_the_log(env: Env) -> None:
    await env.adapter.get("1")
    request = (await env.log())[-1]
    assert request["headers"]["X-API-Key"] == "[redacted]"
    assert "Authorization" not in request["headers"]


def test_a_connection_without_the_account_currency_is_refused() -> None:
    connection = sandbox_connection("bill_crm", "http://127.0.0.1:9").model_copy(
        update={"currency": None}
    )
    with pytest.raises(ValueError, match="currency"):
        BillCrmAdapter(UpstreamClient(None, connection), connection, load_mapping("bill_crm"))  # type: ignore[arg-type]


async def test_a_value_beyond_the_canonical_limits_is_read_as_it_is(env: Env) -> None:
    # The CRM keeps any number of decimals; a caller's quantity keeps six. A provider's figure
    # is read exactly as it is, never rounded, and never fails the read.
    env.store.invoices[int(SUMMARY_TWO_RATES)].line_items[0].quantity = Decimal("1.0000001")
    invoice = await env.adapter.get(SUMMARY_TWO_RATES)
    assert invoice.lines[0].quantity == Decimal("1.0000001")
