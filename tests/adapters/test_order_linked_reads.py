"""order_linked reads: every provider field lands where the mapping says, both status axes,
unknown values, the provider's overdue, the currency table, and read failures.

Real HTTP against the emulator (seed 0, 23 invoices). Values the emulator never produces (an
undocumented status) are put into its store; an answer shape it never sends comes from
``mocked_network``, for the two narrow cases that need one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from adapters.base import BadIdentifier, ListQuery, NotFound, UpstreamError, walk
from adapters.mapping import load_mapping
from adapters.order_linked.adapter import OrderLinkedAdapter, UnreadableAnswer
from gateway.canonical.model import Invoice
from gateway.config import RetrySettings, TaxSetting
from gateway.sandbox import sandbox_connection
from gateway.upstream import UpstreamClient
from tests.adapters.order_linked_env import SEEDED, TODAY, Env, start
from tests.contract.profiles.order_linked import sample
from tests.unit.mock_upstream import mocked_network


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


def assert_mapped(invoice: Invoice, record: dict[str, Any], currency: str) -> None:
    """Each documented provider field against its canonical home (mappings/order_linked.yaml)."""
    assert invoice.id == invoice.number == record["id"]
    assert invoice.provider_status == {
        "status": record["status"],
        "payment_status": record["payment_status"],
    }
    assert invoice.customer is not None
    assert (invoice.customer.id, invoice.customer.name) == (
        record["account_id"],
        record["account_name"],
    )
    assert invoice.issue_date == date.fromisoformat(record["issue_date"])
    assert invoice.due_date == date.fromisoformat(record["due_date"])
    assert invoice.currency == currency
    assert invoice.tax_mode == (
        "inclusive" if record["price_tax_inclusive"] == "true" else "exclusive"
    )
    assert invoice.reference == record["customer_purchase_order_id"]
    assert invoice.notes == record["invoice_note"]
    assert invoice.order_id == record["order_id"]
    assert (record["type"] == "LINKED_WITH_ORDER") == (invoice.order_id is not None)
    assert invoice.shipping == Decimal(record["shipping_cost"])
    discount = Decimal(record["discount_amount"])
    if discount:
        assert invoice.discount is not None
        assert (invoice.discount.type, invoice.discount.value) == ("amount", discount)
    else:
        assert invoice.discount is None
    assert invoice.totals is not None
    assert {
        "subtotal": invoice.totals.subtotal,
        "discount": invoice.totals.discount,
        "tax": invoice.totals.tax,
        "shipping": invoice.totals.shipping,
        "total": invoice.totals.total,
        "paid": invoice.totals.paid,
        "due": invoice.totals.due,
    } == {
        "subtotal": Decimal(record["subtotal"]),
        "discount": discount,
        "tax": Decimal(record["tax"]),
        "shipping": Decimal(record["shipping_cost"]),
        "total": Decimal(record["total"]),
        "paid": Decimal(record["paid"]),
        "due": Decimal(record["due"]),
    }
    assert invoice.totals.adjustment == 0
    assert invoice.provider_fields == {"custom_attributes": record["custom_attributes"]}
    assert invoice.created_at == datetime.fromisoformat(record["created_on"])
    assert invoice.updated_at == datetime.fromisoformat(record["last_updated_on"])
    assert invoice.version == record["version"]
    assert invoice.remote_data == record
    assert invoice.payments == []  # only the last payment is listed: paid is the provider's
    inclusive = record["price_tax_inclusive"] == "true"
    assert len(invoice.lines) == len(record["lines"])
    for line, raw in zip(invoice.lines, record["lines"], strict=True):
        assert line.id == raw["uuid"]
        assert (line.item_id, line.name, line.unit) == (
            raw["item_id"],
            raw["item_name"],
            raw["item_uom"],
        )
        assert line.quantity == Decimal(raw["item_order_quantity"])
        assert line.unit_price == Decimal(raw["item_price_snapshot"]["pricing_rule"]["price"])
        assert [(t.id, t.rate) for t in line.taxes] == [
            (raw["tax"]["code"], Decimal(raw["tax"]["rate"]))
        ]
        assert line.tax_amount == Decimal(raw["tax"]["amount"])
        assert line.total == Decimal(raw["total"])
        # Inclusive: the canonical subtotal is gross, the provider's line total.
        assert line.subtotal == Decimal(raw["total" if inclusive else "subtotal"])
        package = raw["package_name"]
        assert line.provider_fields == ({"package_name": package} if package else {})


SEEDED_CASES = {
    "INV-00001": "AUD",  # exclusive, paid in two payments, billing period
    "INV-00002": "GBP",  # inclusive, a package name
    "INV-00006": "EUR",  # from an order: shipping, custom attribute
    "INV-00018": "AUD",  # cancelled, then reactivated
    "INV-00020": "JPY",  # no minor units, inclusive, from an order
    "INV-00021": "AUD",  # inclusive, the order's discount shared over the lines, cancelled
}


@pytest.mark.parametrize(("invoice_id", "currency"), SEEDED_CASES.items())
async def test_every_documented_field_lands_in_its_canonical_home(
    env: Env, invoice_id: str, currency: str
) -> None:
    invoice = await env.adapter.get(invoice_id)
    assert_mapped(invoice, await env.raw(invoice_id), currency)
    assert invoice.totals_check is not None and invoice.totals_check.differences == []


async def test_tax_names_come_from_the_connection_and_rates_from_the_line(env: Env) -> None:
    invoice = await env.adapter.get("INV-00001")
    assert [(t.id, t.name, t.rate) for line in invoice.lines for t in line.taxes] == [
        ("GST", "GST on Income", Decimal("10")),
        ("GST_FREE", "GST Free Income", Decimal("0")),
        ("GST", "GST on Income", Decimal("10")),
    ]
    # The connection says GST is 15%; the line was taxed at the provider's 10%.
    stale = env.adapter_with(
        taxes=[TaxSetting(id="GST", name="GST (old)", rate=Decimal("15"))],
    )
    read = await stale.get("INV-00001")
    assert read.lines[0].taxes[0].rate == Decimal("10.00")
    assert read.lines[0].taxes[0].name == "GST (old)"
    # An unconfigured code keeps its id and the provider's rate, without a name.
    bare = await env.adapter_with(taxes=[]).get("INV-00001")
    assert [(t.id, t.name, t.rate) for t in bare.lines[1].taxes] == [
        ("GST_FREE", None, Decimal("0.00"))
    ]
    assert bare.totals_check is not None and bare.totals_check.consistent


# -- status, both axes --------------------------------------------------------------------------

READINGS = {
    # (status, payment_status) → (status, payment_status)
    "INV-00004": ("open", "unpaid"),  # ACTIVE + UNPAID
    "INV-00002": ("open", "partially_paid"),  # ACTIVE + PARTIALLY_PAID
    "INV-00001": ("paid", "paid"),  # ACTIVE + PAID
    "INV-00009": ("void", "unpaid"),  # INACTIVE + UNPAID
    "INV-00013": ("void", "partially_paid"),  # INACTIVE + PARTIALLY_PAID
}


@pytest.mark.parametrize(("invoice_id", "expected"), READINGS.items())
async def test_status_reads_from_both_provider_fields(
    env: Env, invoice_id: str, expected: tuple[str, str]
) -> None:
    invoice = await env.adapter.get(invoice_id)
    record = await env.raw(invoice_id)
    assert (invoice.status, invoice.payment_status) == expected
    assert invoice.provider_status == {
        "status": record["status"],
        "payment_status": record["payment_status"],
    }


def test_status_table_writes_open_and_void_only() -> None:
    mapping = load_mapping("order_linked")
    assert mapping.status_write == {"open": "ACTIVE", "void": "INACTIVE"}
    assert mapping.write_status("paid") is None and mapping.write_status("draft") is None
    assert mapping.read_status("INACTIVE").status == "void"
    assert mapping.read_status("ACTIVE").status == "unknown"  # needs its payment state


async def test_an_unknown_status_reads_as_unknown_and_keeps_the_raw_value(env: Env) -> None:
    env.store.invoices["INV-00004"].status = "ON_HOLD"
    invoice = await env.adapter.get("INV-00004")
    assert invoice.status == "unknown"
    assert invoice.provider_status == {"status": "ON_HOLD", "payment_status": "UNPAID"}
    assert invoice.payment_status == "unpaid"  # the payment axis is still the provider's word
    # It never breaks a listing either, and the unknown filter finds exactly it.
    listed = [i async for page in walk(env.adapter, ListQuery(), 100) for i in page.invoices]
    assert len(listed) == SEEDED
    unknown = [
        i.id
        async for page in walk(env.adapter, ListQuery(status="unknown"), 100)
        for i in page.invoices
    ]
    assert unknown == ["INV-00004"]


async def test_an_unknown_payment_state_of_an_active_invoice_reads_unknown() -> None:
    record = {**sample_record(), "payment_status": "REFUNDED"}
    invoice = await read_mocked(record)
    assert invoice.status == "unknown"
    assert invoice.provider_status == {"status": "ACTIVE", "payment_status": "REFUNDED"}
    assert invoice.payment_status == "unpaid"  # unmapped: derived from paid and total


async def test_a_line_without_its_price_reads_the_price_from_the_amount() -> None:
    record = sample_record()
    for line in record["lines"]:
        del line["item_price_snapshot"]
    invoice = await read_mocked(record)
    assert [line.unit_price for line in invoice.lines] == [
        Decimal("749.0000"),
        Decimal("95.0000"),
        Decimal("45.0000"),
    ]
    assert invoice.totals_check is not None and invoice.totals_check.consistent


async def test_the_provider_saying_overdue_reads_overdue(env: Env) -> None:
    past = sample(0).model_copy(
        update={"issue_date": date(2020, 1, 1), "due_date": date(2020, 1, 31)}
    )
    created = (await env.adapter.create(past)).invoice
    assert created.id is not None
    record = await env.raw(created.id)
    assert Decimal(record["kpis"]["overdue"]) == Decimal(record["due"]) > 0
    # By this clock the invoice is not due yet: only the provider's word makes it overdue.
    early = env.adapter_with(today=date(2019, 1, 1))
    assert (await early.get(created.id)).overdue is True
    # Past due but paid: the provider's overdue amount is zero, and so is the reading.
    paid = await early.get("INV-00001")
    assert (paid.status, paid.overdue) == ("paid", False)
    assert Decimal((await env.raw("INV-00001"))["kpis"]["overdue"]) == 0


async def test_a_currency_missing_from_the_connection_is_a_clear_non_retryable_error(
    env: Env,
) -> None:
    adapter = env.adapter_with(currencies={"AUD": "87368b94-ee71-52af-a848-5be102c21770"})
    assert (await adapter.get("INV-00001")).currency == "AUD"
    with pytest.raises(UnreadableAnswer) as info:
        await adapter.get("INV-00002")  # GBP
    assert "currencies" in info.value.message and "Pound Sterling" in info.value.message
    assert info.value.retryable is False


async def test_unknown_invoice_and_hostile_ids_are_not_found(env: Env) -> None:
    start = len(await env.log())
    with pytest.raises(NotFound) as info:
        await env.adapter.get("INV-99999")
    assert info.value.provider == "order_linked"
    for invoice_id in ("../orders/SO-1001", "INV-00001/cancel", ".."):
        with pytest.raises(BadIdentifier):
            await env.adapter.get(invoice_id)
    # Only the well-formed id was asked for; nothing cancelled.
    assert [method for method, _ in await env.sent_since(start)] == ["GET"]
    assert (await env.raw("INV-00001"))["status"] == "ACTIVE"


async def test_a_provider_failure_on_read_is_an_upstream_error(env: Env) -> None:
    await env.faults(error_rate=1.0, error_status=503, methods=["GET"])
    retries = RetrySettings(max_attempts=2, backoff_base_s=0, backoff_max_s=0)
    with pytest.raises(UpstreamError) as info:
        await env.adapter_with(retries=retries).get("INV-00001")
    assert info.value.status == 503
    assert env.base_url not in info.value.message
    assert len(await env.log()) == 2  # retried once: a read is safe to repeat


# -- a record the emulator never sends ------------------------------------------------------------

BASE = "http://order-linked.test"


def sample_record() -> dict[str, Any]:
    """INV-00001's shape, as the provider documents it, with three lines."""
    line = {
        "subtotal": "1498.00",
        "total": "1647.80",
        "tax": {"amount": "149.80", "code": "GST", "rate": "10.00", "uuid": "u", "link": "l"},
        "item_id": "ITM-1001",
        "item_name": "Standing Desk",
        "item_order_quantity": "2",
        "item_uom": "EA",
        "item_price_snapshot": {"pricing_rule": {"price": "749.00"}},
        "uuid": "line-1",
    }
    return {
        "status": "ACTIVE",
        "id": "INV-00900",
        "type": "NOT_LINKED_WITH_ORDER",
        "currency": {"uuid": "87368b94-ee71-52af-a848-5be102c21770", "name": "Australian Dollar"},
        "issue_date": "2026-07-01",
        "due_date": "2026-07-31",
        "subtotal": "1775.50",
        "tax": "164.05",
        "total": "1939.55",
        "paid": "0.00",
        "due": "1939.55",
        "shipping_cost": "0.00",
        "payment_status": "UNPAID",
        "discount_amount": "0.00",
        "price_tax_inclusive": "false",
        "account_id": "ACC-1001",
        "account_name": "Harbour Office Supplies Pty Ltd",
        "version": "1",
        "custom_attributes": [],
        "lines": [
            line,
            {
                **line,
                "subtotal": "142.50",
                "total": "156.75",
                "tax": {**line["tax"], "amount": "14.25"},
                "item_id": "ITM-1005",
                "item_order_quantity": "1.5",
                "item_price_snapshot": {"pricing_rule": {"price": "95.00"}},
            },
            {
                **line,
                "subtotal": "135.00",
                "total": "135.00",
                "tax": {**line["tax"], "amount": "0.00", "code": "GST_FREE", "rate": "0.00"},
                "item_id": "ITM-1006",
                "item_order_quantity": "3",
                "item_price_snapshot": {"pricing_rule": {"price": "45.00"}},
            },
        ],
    }


async def read_mocked(record: dict[str, Any]) -> Invoice:
    connection = sandbox_connection("order_linked", BASE)
    with mocked_network() as network:
        network.get(f"{BASE}/invoices/{record['id']}", payload={"invoice": record})
        async with aiohttp.ClientSession() as session:
            adapter = OrderLinkedAdapter(
                UpstreamClient(session, connection),
                connection,
                load_mapping("order_linked"),
                today=lambda: TODAY,
            )
            return await adapter.get(record["id"])
