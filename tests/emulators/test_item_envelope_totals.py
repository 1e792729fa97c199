"""item_envelope emulator: totals computed server-side, per line, half-up, discounts before tax."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from tests.emulators._item_envelope_support import TAX_RATES, all_invoices, create, start
from tests.vectors.load import vectors

PLACES = {"USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "JPY": 0, "BHD": 3}
TAX_IDS = {rate: tax_id for tax_id, rate in TAX_RATES.items()}


def _expressible(vector: dict[str, Any]) -> bool:
    """Vectors item_envelope can carry: exclusive, per line half-up, ≤ 2 known plain taxes."""
    invoice = vector["invoice"]
    lines = invoice["lines"]
    return (
        vector["policy"] == {"mode": "half_up", "tax_scope": "per_line"}
        and invoice.get("tax_mode", "exclusive") == "exclusive"
        and not invoice.get("shipping")
        and not invoice.get("adjustment")
        and all(line.get("kind", "item") == "item" and len(line["taxes"]) <= 2 for line in lines)
        and all(
            Decimal(tax["rate"]) in TAX_IDS and not tax.get("compound")
            for line in lines
            for tax in line["taxes"]
        )
    )


VECTORS = [vector for vector in vectors() if _expressible(vector)]


def _wire(vector: dict[str, Any]) -> dict[str, Any]:
    invoice = vector["invoice"]
    fields: dict[str, Any] = {"currency_code": invoice["currency"], "InvoiceItem": []}
    for line in invoice["lines"]:
        item: dict[str, Any] = {
            "product_id": 1,
            "quantity": Decimal(line["quantity"]),
            "unit_price": Decimal(line["unit_price"]),
        }
        for slot, tax in zip(("tax1", "tax2"), line["taxes"], strict=False):
            item[slot] = TAX_IDS[Decimal(tax["rate"])]
        if line.get("discount"):
            item["discount"] = Decimal(line["discount"]["value"])
            item["discount_type"] = 1 if line["discount"]["type"] == "percent" else 2
        fields["InvoiceItem"].append(item)
    discount = invoice.get("discount")
    if discount:
        name = "discount" if discount["type"] == "percent" else "discount_amount"
        fields[name] = Decimal(discount["value"])
    return fields


def test_the_worked_examples_cover_both_discount_kinds_and_two_taxes() -> None:
    names = {vector["name"] for vector in VECTORS}
    assert {
        "line-percent-discount-per-line",
        "fixed-document-discount-three-rates",
        "two-taxes-non-compound",
        "percent-document-discount-per-line-shares",
        "amount-discount-remainder-tie-goes-to-earlier-line",
    } <= names


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["name"] for vector in VECTORS])
async def test_worked_examples_come_out_to_the_cent(
    aiohttp_client: AiohttpClient, vector: dict[str, Any]
) -> None:
    client = await start(aiohttp_client)
    expected = vector["expected"]

    created = await create(client, **_wire(vector))

    invoice = created["Invoice"]
    assert [item["subtotal"] for item in created["InvoiceItem"]] == [
        Decimal(line["net_amount"]) for line in expected["lines"]
    ]
    assert invoice["summary_subtotal"] == Decimal(expected["totals"]["subtotal"])
    assert invoice["summary_discount"] == Decimal(expected["totals"]["discount"])
    assert invoice["summary_tax1"] + invoice["summary_tax2"] == Decimal(expected["totals"]["tax"])
    assert invoice["summary_total"] == Decimal(expected["totals"]["total"])
    # The API records no payments, so a new invoice owes its whole total.
    assert invoice["summary_unpaid"] == invoice["summary_total"]


async def test_two_taxes_are_totalled_per_slot(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)
    line = {"product_id": 1, "quantity": 1, "unit_price": Decimal("123.45"), "tax1": 1, "tax2": 2}

    created = await create(client, currency_code="CAD", InvoiceItem=[line, line])

    invoice = created["Invoice"]
    # GST 5 % of 123.45 = 6.1725 → 6.17; QST 9.975 % = 12.3141… → 12.31; per line, twice.
    assert (invoice["summary_tax1"], invoice["summary_tax2"]) == (
        Decimal("12.34"),
        Decimal("24.62"),
    )
    assert invoice["summary_total"] == Decimal("283.86")


async def test_rounding_is_half_up_per_line(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)
    line = {"product_id": 1, "quantity": 1, "unit_price": Decimal("0.10"), "tax1": 1}

    odd = {"product_id": 1, "quantity": 1, "unit_price": Decimal("0.125")}

    created = await create(client, InvoiceItem=[line, line, line, odd])

    invoice = created["Invoice"]
    # 0.125 → 0.13 (half-even would give 0.12); each 0.005 tax → 0.01, so 0.03, not 0.02 per rate.
    assert created["InvoiceItem"][3]["subtotal"] == Decimal("0.13")
    assert invoice["summary_tax1"] == Decimal("0.03")
    assert invoice["summary_total"] == Decimal("0.46")


async def test_a_fixed_discount_tie_goes_to_the_earlier_line(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await start(aiohttp_client)
    taxed = {"product_id": 1, "quantity": 1, "unit_price": Decimal("12.53"), "tax1": 3}
    untaxed = {"product_id": 1, "quantity": 1, "unit_price": Decimal("12.53")}

    created = await create(client, discount_amount=Decimal("0.01"), InvoiceItem=[taxed, untaxed])

    invoice = created["Invoice"]
    # The cent goes to the first line: 20 % of 12.52 = 2.504 → 2.50 (of 12.53 it would be 2.51).
    assert invoice["summary_discount"] == Decimal("0.01")
    assert invoice["summary_tax1"] == Decimal("2.50")
    assert invoice["summary_total"] == Decimal("27.55")


@pytest.mark.parametrize(
    ("currency", "line", "subtotal", "tax"),
    [
        ("JPY", {"quantity": 3, "unit_price": Decimal("33.5"), "tax1": 4}, 101, 10),
        (
            "BHD",
            {"quantity": 7, "unit_price": Decimal("1.275"), "tax1": 4, "discount": Decimal("2.5")},
            Decimal("8.702"),
            Decimal("0.870"),
        ),
    ],
)
async def test_amounts_round_to_the_currency_minor_units(
    aiohttp_client: AiohttpClient, currency: str, line: dict[str, Any], subtotal: Any, tax: Any
) -> None:
    client = await start(aiohttp_client)

    created = await create(client, currency_code=currency, InvoiceItem=[{"product_id": 1, **line}])

    invoice = created["Invoice"]
    assert (invoice["summary_subtotal"], invoice["summary_tax1"]) == (subtotal, tax)
    assert isinstance(invoice["summary_total"], int) == (currency == "JPY")


def _round(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _exact(value: Any, places: int) -> bool:
    """A money amount written with exactly the currency's decimals (an int for 0)."""
    if places == 0:
        return isinstance(value, int)
    return isinstance(value, Decimal) and value.as_tuple().exponent == -places


@pytest.mark.parametrize("seed", [0, 3])
async def test_seeded_invoices_follow_the_totals_rules(
    aiohttp_client: AiohttpClient, seed: int
) -> None:
    client = await start(aiohttp_client, seed=seed)

    for row in await all_invoices(client):
        invoice, items = row["Invoice"], row["InvoiceItem"]
        places = PLACES[invoice["currency_code"]]
        subtotals = []
        for item in items:
            gross = _round(Decimal(item["quantity"]) * Decimal(item["unit_price"]), places)
            discount = Decimal(item["discount"])
            if item["discount_type"] == 1:
                discount = _round(gross * discount / 100, places)
            assert item["subtotal"] == gross - discount
            assert _exact(item["subtotal"], places)
            subtotals.append(gross - discount)
        assert invoice["summary_subtotal"] == sum(subtotals)
        if invoice["discount_amount"]:
            assert invoice["summary_discount"] == invoice["discount_amount"]
        else:
            shares = [_round(s * Decimal(invoice["discount"]) / 100, places) for s in subtotals]
            assert invoice["summary_discount"] == sum(shares)
        if not invoice["summary_discount"]:
            for slot in ("tax1", "tax2"):
                taxes = [
                    _round(s * TAX_RATES[item[slot]] / 100, places)
                    for s, item in zip(subtotals, items, strict=True)
                    if item[slot] is not None
                ]
                assert invoice[f"summary_{slot}"] == sum(taxes)
        total = (
            invoice["summary_subtotal"]
            - invoice["summary_discount"]
            + invoice["summary_tax1"]
            + invoice["summary_tax2"]
        )
        assert invoice["summary_total"] == total
        assert invoice["summary_unpaid"] == total - invoice["summary_paid"]
        paid = invoice["summary_paid"]
        assert invoice["payment_status"] == (0 if paid == 0 else 2 if paid == total else 1)
        assert not (invoice["draft"] == 1 and paid), "a draft carries no payment"
        for name in ("summary_subtotal", "summary_tax1", "summary_total", "summary_unpaid"):
            assert _exact(invoice[name], places), (name, invoice[name])


async def test_the_seed_is_a_realistic_mix(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)

    rows = await all_invoices(client)

    invoices = [row["Invoice"] for row in rows]
    items = [item for row in rows for item in row["InvoiceItem"]]
    assert {inv["draft"] for inv in invoices} == {0, 1}
    assert {inv["payment_status"] for inv in invoices} == {0, 1, 2}
    currencies = {inv["currency_code"] for inv in invoices}
    assert {"USD", "JPY", "BHD"} <= currencies and len(currencies) >= 5
    assert any(inv["discount"] for inv in invoices)
    assert any(inv["discount_amount"] for inv in invoices)
    assert any(inv["po_number"] for inv in invoices) and any(inv["notes"] for inv in invoices)
    assert any(inv["is_offline"] for inv in invoices)
    assert {item["discount_type"] for item in items if item["discount"]} == {1, 2}
    assert any(item["tax2"] is not None for item in items)
    assert any(item["tax1"] is None for item in items)
    assert any(item["col_3"] for item in items)
    assert {inv["store_id"] for inv in invoices} == {1, 2, 3}
