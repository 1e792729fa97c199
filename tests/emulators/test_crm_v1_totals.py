"""crm_v1 emulator totals: per line, half-up, to the currency's minor units; line discount off the
line, overall discount shared over the lines before tax. Checked against the project's worked
vectors, hand-worked cases, and an independent recomputation of every seeded invoice."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from emulators.crm_v1 import create_app
from tests.emulators._crm_v1_support import client as client  # pytest fixture, used by name
from tests.emulators._crm_v1_support import fetch, line, read, write
from tests.vectors.load import vectors

CURRENCY_IDS = {"USD": 1, "EUR": 2, "GBP": 3, "JPY": 4}
PLACES = {1: 2, 2: 2, 3: 2, 4: 0}
DISCOUNT_TYPES = {"amount": 1, "percent": 2}


async def create(client: TestClient[Any, Any], payload: dict[str, Any]) -> dict[str, Any]:
    body = {"customer_id": 10, "template_id": 1, **payload}
    response = await write(client, "POST", "/v1/invoices", body)
    assert response.status == 201, await response.text()
    return await fetch(client, (await read(response))["data"]["inv_id"])


# -- the project's worked vectors --------------------------------------------------------------------


def crm_v1_can_carry(vector: dict[str, Any]) -> bool:
    invoice = vector["invoice"]
    return (
        vector["policy"] == {"mode": "half_up", "tax_scope": "per_line"}
        and invoice.get("tax_mode", "exclusive") == "exclusive"
        and invoice.get("currency", "USD") in CURRENCY_IDS
        and not invoice.get("adjustment")
        and Decimal(invoice.get("shipping") or "0") == 0
        and not invoice.get("payments")
        and all(len(line.get("taxes") or []) <= 1 for line in invoice["lines"])
        and not any(
            tax.get("compound") for line in invoice["lines"] for tax in line.get("taxes") or []
        )
    )


CARRIED = [v for v in vectors() if crm_v1_can_carry(v)]


def vector_body(vector: dict[str, Any]) -> dict[str, Any]:
    invoice = vector["invoice"]
    items = []
    for entry in invoice["lines"]:
        if entry["kind"] == "section":
            items.append({"type": "header", "item_name": entry["name"]})
            continue
        item = line(entry["quantity"], entry["unit_price"], item_name=entry["name"])
        if entry.get("discount"):
            item["discount"] = Decimal(entry["discount"]["value"])
            item["discount_type"] = DISCOUNT_TYPES[entry["discount"]["type"]]
        if entry.get("taxes"):
            item["tax_rate"] = Decimal(entry["taxes"][0]["rate"])
        items.append(item)
    body: dict[str, Any] = {
        "org_currency_id": CURRENCY_IDS[invoice.get("currency", "USD")],
        "items": items,
    }
    if invoice.get("discount"):
        body["overall_discount"] = Decimal(invoice["discount"]["value"])
        body["overall_discount_type"] = DISCOUNT_TYPES[invoice["discount"]["type"]]
    return body


def test_enough_vectors_apply() -> None:
    assert len(CARRIED) >= 5


@pytest.mark.parametrize("vector", CARRIED, ids=[v["name"] for v in CARRIED])
async def test_worked_vector(client: TestClient[Any, Any], vector: dict[str, Any]) -> None:
    invoice = await create(client, vector_body(vector))

    expected = vector["expected"]
    net_amounts = [Decimal(x["net_amount"]) if x else Decimal(0) for x in expected["lines"]]
    assert [x["line_total"] for x in invoice["items"]] == net_amounts
    totals = expected["totals"]
    assert invoice["sub_total"] == Decimal(totals["subtotal"])
    assert invoice["discount_total"] == Decimal(totals["discount"])
    assert invoice["tax_total"] == Decimal(totals["tax"])
    assert invoice["total"] == Decimal(totals["total"])
    assert invoice["amount_due"] == Decimal(totals["due"])


# -- hand-worked cases -------------------------------------------------------------------------------


async def test_half_up_not_half_even(client: TestClient[Any, Any]) -> None:
    # 1 × 2.345 = 2.345 → 2.35; 0.50 × 5% = 0.025 → 0.03 (half-even would give 2.34 and 0.02).
    invoice = await create(
        client, {"items": [line("1", "2.345"), line("1", "0.50", tax_rate=Decimal("5"))]}
    )

    assert [x["line_total"] for x in invoice["items"]] == [Decimal("2.35"), Decimal("0.50")]
    assert (invoice["tax_total"], invoice["total"]) == (Decimal("0.03"), Decimal("2.88"))


async def test_tax_is_rounded_per_line_not_per_rate(client: TestClient[Any, Any]) -> None:
    # Each 0.10 line has 0.005 of tax, 0.01 once rounded; one rounding per rate would give 0.01.
    invoice = await create(
        client, {"items": [line("1", "0.10", tax_rate=5), line("1", "0.10", tax_rate=5)]}
    )

    assert (invoice["tax_total"], invoice["total"]) == (Decimal("0.02"), Decimal("0.22"))


async def test_fixed_line_discount_then_percentage_overall_discount_before_tax(
    client: TestClient[Any, Any],
) -> None:
    invoice = await create(
        client,
        {
            "overall_discount": 10,
            "overall_discount_type": 2,
            "items": [line("1", "100.00", discount=10, discount_type=1, tax_rate=20)],
        },
    )

    assert invoice["items"][0]["line_total"] == Decimal("90.00")
    assert (invoice["sub_total"], invoice["discount_total"]) == (Decimal("90.00"), Decimal("9.00"))
    assert (invoice["tax_total"], invoice["total"]) == (Decimal("16.20"), Decimal("97.20"))


async def test_zero_decimal_currency(client: TestClient[Any, Any]) -> None:
    # 1.5 × 1234 = 1851; 8.25% of it is 152.7075 → 153 yen.
    invoice = await create(
        client, {"org_currency_id": 4, "items": [line("1.5", "1234", tax_id="8")]}
    )

    assert (invoice["sub_total"], invoice["tax_total"], invoice["total"]) == (1851, 153, 2004)
    assert all(isinstance(invoice[f], int) for f in ("sub_total", "tax_total", "total"))


async def test_fixed_overall_discount_is_shared_pro_rata_before_tax(
    client: TestClient[Any, Any],
) -> None:
    # 20.00 over nets 300 / 100: shares 15.00 / 5.00; taxes 20% of 285 and 0% of 95.
    invoice = await create(
        client,
        {
            "overall_discount": Decimal("20.00"),
            "overall_discount_type": 1,
            "items": [line("3", "100", tax_rate=20), line("1", "100", tax_rate=0)],
        },
    )

    assert (invoice["discount_total"], invoice["tax_total"]) == (Decimal("20.00"), Decimal("57.00"))
    assert invoice["total"] == Decimal("437.00")


async def test_a_price_of_minus_zero_comes_to_an_unsigned_zero(
    client: TestClient[Any, Any],
) -> None:
    # "≥ 0" admits -0.0; a provider shows the line's total as 0.00, never -0.00.
    invoice = await create(client, {"items": [line("1", "-0.0"), line("2", "-0", tax_rate=20)]})

    assert [str(item["line_total"]) for item in invoice["items"]] == ["0.00", "0.00"]
    assert [str(invoice[f]) for f in ("sub_total", "tax_total", "total")] == ["0.00"] * 3


# -- the seed, recomputed independently --------------------------------------------------------------


def expected_totals(invoice: dict[str, Any]) -> dict[str, Any]:
    """The provider's rules, written again from providers.md without the emulator's code."""
    unit = Decimal(1).scaleb(-PLACES[invoice["org_currency_id"]])

    def rnd(value: Decimal | Fraction) -> Decimal:
        if isinstance(value, Fraction):
            value = Decimal(value.numerator) / Decimal(value.denominator)
        return value.quantize(unit, rounding=ROUND_HALF_UP)

    nets = []
    for entry in invoice["items"]:
        if entry["type"] == "header":
            nets.append(rnd(Decimal(0)))
            continue
        gross = rnd(Decimal(entry["quantity"]) * Decimal(entry["price"]))
        value = Decimal(entry["discount"] or 0)
        off = rnd(gross * value / 100) if entry["discount_type"] == 2 else rnd(value)
        nets.append(gross - off)
    sub_total = sum(nets, Decimal(0))
    value = Decimal(invoice["overall_discount"] or 0)
    if invoice["overall_discount_type"] == 2:
        shares = [rnd(net * value / 100) for net in nets]
    elif value:
        exact = [Fraction(rnd(value)) * Fraction(net) / Fraction(sub_total) for net in nets]
        floors = [Fraction(x) // Fraction(unit) * Fraction(unit) for x in exact]
        leftover = int((Fraction(rnd(value)) - sum(floors)) / Fraction(unit))
        ranked = sorted(range(len(nets)), key=lambda i: (-(exact[i] - floors[i]), i))
        for i in ranked[:leftover]:
            floors[i] += Fraction(unit)
        shares = [rnd(x) for x in floors]
    else:
        shares = [rnd(Decimal(0)) for _ in nets]
    tax = sum(
        (
            rnd((net - share) * Decimal(entry["tax_rate"]) / 100)
            for entry, net, share in zip(invoice["items"], nets, shares, strict=True)
            if entry["type"] == "item" and entry["tax_rate"]
        ),
        Decimal(0),
    )
    discount = sum(shares, Decimal(0))
    total = sub_total - discount + tax
    paid = sum((Decimal(p["amount"]) for p in invoice["payments"]), Decimal(0))
    return {
        "line_totals": nets,
        "sub_total": sub_total,
        "discount_total": discount,
        "tax_total": tax,
        "total": total,
        "amount_paid": paid,
        "amount_due": total - paid,
    }


@pytest.mark.parametrize("seed", [0, 1])
async def test_every_seeded_invoice_is_consistent(aiohttp_client: AiohttpClient, seed: int) -> None:
    client = await aiohttp_client(create_app(seed=seed))
    kinds: set[str] = set()
    for inv_id in range(1, 57):
        invoice = await fetch(client, inv_id)
        expected = expected_totals(invoice)

        assert [x["line_total"] for x in invoice["items"]] == expected["line_totals"], inv_id
        for name in (
            "sub_total",
            "discount_total",
            "tax_total",
            "total",
            "amount_paid",
            "amount_due",
        ):
            assert invoice[name] == expected[name], (inv_id, name)
        status, paid, due = invoice["inv_status"], invoice["amount_paid"], invoice["amount_due"]
        if status == 1:
            assert invoice["payments"] and due == 0, inv_id
            kinds.add("paid")
        elif status == 2:
            assert not invoice["payments"], inv_id
            kinds.add("cancelled")
        else:
            assert due > 0, inv_id
            kinds.add("partly paid" if paid else "unpaid")
        for payment in invoice["payments"]:
            assert payment["payment_date"] >= invoice["transaction_date"], inv_id
        kinds.add(f"currency {invoice['org_currency_id']}")
        for entry in invoice["items"]:
            if entry["type"] == "header":
                kinds.add("header")
            if entry["discount_type"]:
                kinds.add(f"line discount {entry['discount_type']}")
            if entry["tax_id"]:
                kinds.add("tax id")
            elif entry["tax_rate"]:
                kinds.add("bare tax rate")
        if invoice["overall_discount_type"]:
            kinds.add(f"overall discount {invoice['overall_discount_type']}")

    # A realistic mix: every status, payment state, currency and kind of tax and discount.
    assert kinds >= {
        "paid",
        "cancelled",
        "partly paid",
        "unpaid",
        "currency 1",
        "currency 2",
        "currency 3",
        "currency 4",
        "header",
        "line discount 1",
        "line discount 2",
        "tax id",
        "bare tax rate",
    }
    assert kinds & {"overall discount 1", "overall discount 2"}
