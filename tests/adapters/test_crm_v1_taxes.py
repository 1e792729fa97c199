"""crm_v1 line taxes as its doc writes them: a bare ``tax_rate``, a ``tax_id`` alone, both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from adapters.base import InvalidRequest, UpstreamError
from gateway.canonical.model import Invoice, Tax
from gateway.config import TaxSetting
from gateway.service.preview import preview
from tests.adapters.crm_v1_env import Env, start


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


def with_taxes(*taxes: dict[str, str]) -> Invoice:
    """The doc's example invoice, one line per tax given."""
    line = {"item_id": "12", "name": "Consulting Services", "quantity": "10"}
    return Invoice.model_validate(
        {
            "customer": {"id": "10"},
            "provider_fields": {"template_id": 1},
            "issue_date": "2026-07-01",
            "due_date": "2026-07-31",
            "currency": "USD",
            "lines": [{**line, "unit_price": "500.00", "taxes": [tax]} for tax in taxes],
        }
    )


def provider_owned_out(invoice: Invoice) -> Invoice:
    """As the service layer sends a read invoice back: without crm_v1's number and payments."""
    return invoice.model_copy(update={"number": None, "payments": []})


async def sent_items(env: Env, start: int, method: str) -> list[dict[str, Any]]:
    [body] = [r["body"] for r in (await env.log())[start:] if r["method"] == method]
    items: list[dict[str, Any]] = body["items"]
    return items


async def test_a_rate_alone_is_sent_as_the_docs_bare_tax_rate_and_read_back_alone(
    env: Env,
) -> None:
    start = len(await env.log())
    # 5 is also the rate of a configured tax: a rate with no id still names none of them.
    result = await env.adapter.create(with_taxes({"rate": "5"}, {"rate": "7.5"}))
    items = await sent_items(env, start, "POST")
    assert [(i.get("tax_id"), i["tax_rate"]) for i in items] == [
        (None, Decimal(5)),
        (None, Decimal("7.5")),
    ]
    assert all("tax_id" not in item for item in items)
    read = result.invoice
    assert [line.taxes for line in read.lines] == [
        [Tax(rate=Decimal(5))],
        [Tax(rate=Decimal("7.5"))],
    ]
    assert read.totals is not None and read.totals.tax == Decimal("625.00")  # 250.00 + 375.00
    assert read.totals_check is not None and read.totals_check.consistent


async def test_the_seeded_bare_rates_write_back_unchanged(env: Env) -> None:
    # Invoice 12 of the seed has a line at 7.5%, a rate crm_v1 has no tax record for.
    before = await env.adapter.get("12")
    assert Tax(rate=Decimal("7.5")) in [tax for line in before.lines for tax in line.taxes]
    start = len(await env.log())
    after = (await env.adapter.update("12", provider_owned_out(before))).invoice
    items = await sent_items(env, start, "PUT")
    assert [(i.get("tax_id"), i.get("tax_rate")) for i in items] == [
        (raw.tax_id, raw.tax_rate) for raw in env.store.invoices[12].items
    ]
    assert [line.taxes for line in after.lines] == [line.taxes for line in before.lines]
    assert after.totals == before.totals


async def test_a_tax_with_an_id_is_sent_with_its_rate_and_crm_v1_checks_them(env: Env) -> None:
    start = len(await env.log())
    result = await env.adapter.create(with_taxes({"id": "8", "rate": "8.25"}))
    [item] = await sent_items(env, start, "POST")
    assert (item["tax_id"], item["tax_rate"]) == ("8", Decimal("8.25"))
    assert result.invoice.lines[0].taxes == [
        Tax(id="8", name="Sales Tax 8.25%", rate=Decimal("8.25"))
    ]
    # An id the connection does not configure: crm_v1 checks it against the rate itself.
    with pytest.raises(InvalidRequest) as info:
        await env.adapter_with(taxes=[]).create(with_taxes({"id": "8", "rate": "9"}))
    [error] = info.value.errors
    assert error.pointer == "/lines/0/taxes/0/rate"
    assert "must match the rate of tax 8 (8.25)" in error.detail


async def test_a_configured_tax_id_at_another_rate_is_refused_before_sending(env: Env) -> None:
    """It was sent, and crm_v1 refused it: a preview (which sends nothing) priced it at the
    rate given, 200, for a create crm_v1 then refused."""
    start = len(await env.log())
    with pytest.raises(InvalidRequest) as info:
        preview(env.adapter, with_taxes({"id": "8", "rate": "9"}), "strict")
    with pytest.raises(InvalidRequest) as created:
        await env.adapter.create(with_taxes({"id": "8", "rate": "9"}))
    for refused in (info.value, created.value):
        [error] = refused.errors
        assert error.pointer == "/lines/0/taxes/0/rate"
        assert error.detail.startswith("9 is not the rate of crm_v1 tax 8 (8.25) configured")
    assert len(await env.log()) == start  # nothing sent


async def test_an_id_missing_from_a_stale_table_still_writes_back_as_read(env: Env) -> None:
    stale = env.adapter_with(taxes=[])  # the connection knows none of crm_v1's taxes
    invoice_id = next(
        str(i.inv_id)
        for i in env.store.invoices.values()
        if i.inv_status == 0 and any(line.tax_id == "10" for line in i.items)
    )
    before = await stale.get(invoice_id)
    after = (await stale.update(invoice_id, provider_owned_out(before))).invoice
    assert Tax(id="10", rate=Decimal(10)) in [tax for line in after.lines for tax in line.taxes]
    assert [line.taxes for line in after.lines] == [line.taxes for line in before.lines]


async def test_a_tax_id_alone_reads_with_the_configured_rate(env: Env) -> None:
    created = await env.adapter.create(with_taxes({"id": "20", "rate": "20"}))
    invoice_id = int(str(created.invoice.id))
    env.store.invoices[invoice_id].items[0].tax_rate = None  # an answer with the id alone
    read = await env.adapter.get(str(invoice_id))
    assert read.lines[0].taxes == [Tax(id="20", name="VAT 20%", rate=Decimal(20))]
    with pytest.raises(UpstreamError) as info:
        await env.adapter_with(taxes=[]).get(str(invoice_id))
    assert f"invoice {invoice_id}" in info.value.message
    assert "tax_id 20 comes without a tax_rate" in info.value.message


async def test_a_named_tax_without_an_id_is_the_configured_one_or_a_422(env: Env) -> None:
    start = len(await env.log())
    await env.adapter.create(with_taxes({"name": "GST 10%", "rate": "10"}))
    [item] = await sent_items(env, start, "POST")
    assert (item["tax_id"], item["tax_rate"]) == ("10", Decimal(10))
    named = env.adapter_with(taxes=[TaxSetting(id="10", name="GST 10%", rate=Decimal(10))])
    with pytest.raises(InvalidRequest) as info:
        await named.create(with_taxes({"name": "Luxury", "rate": "7.5"}))
    [error] = info.value.errors
    assert error.pointer == "/lines/0/taxes/0/rate"
    assert "leave the name out to send the bare rate" in error.detail
    assert len(await env.log()) == start + 2  # the create and its read back; nothing for the 422
