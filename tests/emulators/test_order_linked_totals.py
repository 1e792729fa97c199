"""order_linked totals: per line, half-up, discount shared before tax, inclusive prices with the
tax extracted per line; worked examples, the spec's test vectors, and every seeded invoice
recomputed here independently of the emulator's code."""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from emulators.order_linked import create_app
from emulators.order_linked.totals import LineInput, allocate, compute_totals, payment_status
from tests.emulators._order_linked_support import AUTH, Client
from tests.emulators._order_linked_support import client as client  # pytest fixture, used by name


def d(value: str) -> Decimal:
    return Decimal(value)


# -- the calculation on its own -----------------------------------------------------------------


def test_vector_tax_inclusive_prices() -> None:
    lines = [LineInput(d("1"), d(p), d("20")) for p in ("19.99", "4.99", "2.49")]
    totals = compute_totals(lines, exponent=2, tax_inclusive=True)
    assert [str(ln.tax) for ln in totals.lines] == ["3.33", "0.83", "0.42"]
    assert [str(ln.total) for ln in totals.lines] == ["19.99", "4.99", "2.49"]
    assert (str(totals.subtotal), str(totals.tax), str(totals.total)) == ("22.89", "4.58", "27.47")


def test_vector_fixed_document_discount_three_rates() -> None:
    lines = [LineInput(d("1"), d("100"), d(rate)) for rate in ("20", "10", "0")]
    totals = compute_totals(lines, exponent=2, tax_inclusive=False, discount_amount=d("10.00"))
    # 10.00 splits 3.34 / 3.33 / 3.33: the tie goes to the earlier line.
    assert [str(ln.discount_share) for ln in totals.lines] == ["3.34", "3.33", "3.33"]
    assert [str(ln.tax) for ln in totals.lines] == ["19.33", "9.67", "0.00"]
    assert [str(ln.total) for ln in totals.lines] == ["119.33", "109.67", "100.00"]
    assert (str(totals.subtotal), str(totals.discount_amount)) == ("300.00", "10.00")
    assert (str(totals.tax), str(totals.total)) == ("29.00", "319.00")


def test_vector_partial_payments() -> None:
    totals = compute_totals(
        [LineInput(d("1"), d("1000.00"), d("19"))], exponent=2, tax_inclusive=False
    )
    assert (str(totals.tax), str(totals.total)) == ("190.00", "1190.00")
    assert payment_status(totals.total, d("800.00")) == "PARTIALLY_PAID"
    assert payment_status(totals.total, d("0.00")) == "UNPAID"
    assert payment_status(totals.total, d("1190.00")) == "PAID"


def test_half_a_cent_rounds_up() -> None:
    totals = compute_totals(
        [LineInput(d("1"), d("0.05"), d("10"))], exponent=2, tax_inclusive=False
    )
    assert str(totals.tax) == "0.01"  # 0.005: half-up, where half-even would give 0.00


@pytest.mark.parametrize(
    ("amount", "weights", "shares"),
    [
        ("0.02", ["1.00", "1.00", "1.00"], ["0.01", "0.01", "0.00"]),
        ("10.00", ["180.00", "131.67"], ["5.78", "4.22"]),
        ("7", ["1", "1", "5"], ["1", "1", "5"]),
        ("5.00", ["0.00", "0.00"], ["0.00", "0.00"]),
        ("0.00", ["3.00", "4.00"], ["0.00", "0.00"]),
    ],
)
def test_allocation_adds_up_exactly(amount: str, weights: list[str], shares: list[str]) -> None:
    exponent = 0 if "." not in amount else 2
    result = allocate(d(amount), [d(w) for w in weights], exponent)
    assert [str(s) for s in result] == shares


# -- over HTTP ----------------------------------------------------------------------------------


def invoice_body(currency: str, inclusive: bool, *lines: dict[str, Any]) -> dict[str, Any]:
    return {
        "invoice": {
            "type": "NOT_LINKED_WITH_ORDER",
            "currency": currency,
            "issue_date": "2026-07-01",
            "due_date": "2026-07-31",
            "price_tax_inclusive": inclusive,
            "account_id": "ACC-1001",
            "lines": list(lines),
        }
    }


async def create(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/invoices", json=body, headers=AUTH)
    assert response.status == 201, await response.text()
    invoice: dict[str, Any] = (await response.json())["invoice"]
    return invoice


def amounts(invoice: dict[str, Any]) -> dict[str, str]:
    names = ("subtotal", "discount_amount", "tax", "shipping_cost", "total", "paid", "due")
    return {name: invoice[name] for name in names}


def line_amounts(invoice: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(ln["subtotal"], ln["tax"]["amount"], ln["total"]) for ln in invoice["lines"]]


async def test_inclusive_order_with_discount_and_shipping(client: Client) -> None:
    # SO-1002: 4 fruit boxes at 45.00 (GST free) and 3 plants at 43.89 (GST inclusive), a 10.00
    # discount shared 5.78 / 4.22 before tax, 12.00 shipping. The plants' tax is extracted from
    # 131.67 − 4.22 = 127.45: 127.45 × 10 / 110 = 11.586 → 11.59.
    response = await client.post("/orders/SO-1002/invoices", headers=AUTH)
    invoice = (await response.json())["invoice"]
    assert invoice["price_tax_inclusive"] == "true"
    assert line_amounts(invoice) == [("180.00", "0.00", "180.00"), ("120.08", "11.59", "131.67")]
    assert amounts(invoice) == {
        "subtotal": "300.08",
        "discount_amount": "10.00",
        "tax": "11.59",
        "shipping_cost": "12.00",
        "total": "313.67",
        "paid": "0.00",
        "due": "313.67",
    }
    assert invoice["kpis"]["total_discount"] == "10.00"


async def test_zero_decimal_currency(client: Client) -> None:
    response = await client.post("/orders/SO-1006/invoices", headers=AUTH)
    invoice = (await response.json())["invoice"]
    assert line_amounts(invoice) == [("224400", "22440", "246840"), ("19000", "1900", "20900")]
    assert amounts(invoice) == {
        "subtotal": "243400",
        "discount_amount": "0",
        "tax": "24340",
        "shipping_cost": "3000",
        "total": "270740",
        "paid": "0",
        "due": "270740",
    }


async def test_inclusive_default_price_is_grossed_up_and_tax_extracted(client: Client) -> None:
    # Shiraz: AUD rule 32.50 before tax; 29% WET makes 41.925 → 41.93 per bottle inclusive.
    # 6 × 41.93 = 251.58, of which 251.58 × 29 / 129 = 56.557 → 56.56 is tax.
    invoice = await create(
        client, invoice_body("AUD", True, {"item_id": "ITM-1007", "item_quantity": "6"})
    )
    line = invoice["lines"][0]
    assert line["item_price_snapshot"]["pricing_rule"]["price"] == "41.93"
    assert line["tax"] == {**line["tax"], "code": "WET", "rate": "29.00", "amount": "56.56"}
    assert (line["subtotal"], line["total"]) == ("195.02", "251.58")
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == ("195.02", "56.56", "251.58")


@pytest.mark.parametrize(
    ("quantity", "price"), [("4", "749.00"), ("5", "699.00"), ("40", "699.00")]
)
async def test_price_rules_break_on_quantity(client: Client, quantity: str, price: str) -> None:
    line = {"item_id": "ITM-1001", "item_quantity": quantity}
    invoice = await create(client, invoice_body("AUD", False, line))
    assert invoice["lines"][0]["item_price_snapshot"]["pricing_rule"]["price"] == price
    assert invoice["subtotal"] == str(Decimal(quantity) * Decimal(price))


async def test_four_decimal_prices_and_fractional_quantities(client: Client) -> None:
    line = {
        "item_id": "ITM-1008",
        "item_quantity": "7.5",
        "item_price_snapshot": {"pricing_rule": {"price": "142.8750"}},
    }
    invoice = await create(client, invoice_body("AUD", False, line))
    # 7.5 × 142.8750 = 1071.5625 → 1071.56; GST 107.156 → 107.16.
    assert line_amounts(invoice) == [("1071.56", "107.16", "1178.72")]
    assert invoice["lines"][0]["item_order_quantity"] == "7.5"
    assert invoice["lines"][0]["item_price_snapshot"]["pricing_rule"]["price"] == "142.8750"


async def test_taxes_are_rounded_per_line(client: Client) -> None:
    # Three lines of 0.05 at 10%: each line's 0.005 rounds up to 0.01, so the tax is 0.03,
    # where one rounding of the summed 0.015 would give 0.02.
    line = {
        "item_id": "ITM-1004",
        "item_quantity": "1",
        "item_price_snapshot": {"pricing_rule": {"price": "0.05"}},
    }
    invoice = await create(client, invoice_body("AUD", False, line, line, line))
    assert [ln["tax"]["amount"] for ln in invoice["lines"]] == ["0.01", "0.01", "0.01"]
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == ("0.15", "0.03", "0.18")


# -- every seeded invoice, recomputed -----------------------------------------------------------


def _round(value: Decimal, exponent: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)


def _shares(discount: Decimal, amounts: list[Decimal], exponent: int) -> list[Decimal]:
    unit = Decimal(1).scaleb(-exponent)
    whole = sum(amounts, Decimal(0))
    if not discount or not whole:
        return [Decimal(0)] * len(amounts)
    exact = [discount / unit * a / whole for a in amounts]
    floors = [e.to_integral_value(rounding=ROUND_FLOOR) for e in exact]
    order = sorted(range(len(amounts)), key=lambda i: (floors[i] - exact[i], i))
    for i in order[: int(discount / unit - sum(floors))]:
        floors[i] += 1
    return [f * unit for f in floors]


def check_invoice(invoice: dict[str, Any]) -> None:
    exponent = 0 if invoice["currency"]["name"] == "Japanese Yen" else 2
    inclusive = invoice["price_tax_inclusive"] == "true"
    lines = invoice["lines"]
    gross = [
        _round(
            d(ln["item_order_quantity"]) * d(ln["item_price_snapshot"]["pricing_rule"]["price"]),
            exponent,
        )
        for ln in lines
    ]
    shares = _shares(d(invoice["discount_amount"]), gross, exponent)
    for line, amount, share in zip(lines, gross, shares, strict=True):
        rate = d(line["tax"]["rate"])
        divisor = 100 + rate if inclusive else Decimal(100)
        tax = _round((amount - share) * rate / divisor, exponent)
        assert d(line["tax"]["amount"]) == tax, (invoice["id"], line)
        assert d(line["subtotal"]) == (amount - tax if inclusive else amount)
        assert d(line["total"]) == (amount if inclusive else amount + tax)
    subtotal = sum((d(ln["subtotal"]) for ln in lines), Decimal(0))
    tax_total = sum((d(ln["tax"]["amount"]) for ln in lines), Decimal(0))
    assert d(invoice["subtotal"]) == subtotal and d(invoice["tax"]) == tax_total
    total = subtotal - d(invoice["discount_amount"]) + tax_total + d(invoice["shipping_cost"])
    assert d(invoice["total"]) == total, invoice["id"]
    assert d(invoice["due"]) == total - d(invoice["paid"])
    paid = d(invoice["paid"])
    expected_status = "UNPAID" if paid == 0 else "PAID" if paid >= total else "PARTIALLY_PAID"
    assert invoice["payment_status"] == expected_status
    assert d(invoice["kpis"]["payment_applied"]) == paid
    if invoice["last_payment"] is not None:
        assert invoice["kpis"]["last_payment_date"] == invoice["last_payment"]["date"]
        assert invoice["last_payment"]["date"] >= invoice["issue_date"]
    else:
        assert paid == 0
    outstanding = (
        invoice["due"] if invoice["status"] == "ACTIVE" else "0" if exponent == 0 else "0.00"
    )
    assert invoice["kpis"]["outstanding"] == outstanding
    assert invoice["kpis"]["average_item_cost"] == str(_round(subtotal / len(lines), exponent))
    assert invoice["due_date"] >= invoice["issue_date"]
    for name in ("subtotal", "tax", "total", "paid", "due", "discount_amount", "shipping_cost"):
        places = len(invoice[name].partition(".")[2])
        assert places == exponent, (name, invoice[name])


@pytest.mark.parametrize("seed", [0, 1, 2])
async def test_every_seeded_invoice_adds_up(aiohttp_client: AiohttpClient, seed: int) -> None:
    client = await aiohttp_client(create_app(seed=seed, seed_invoices=80))
    response = await client.get("/invoices", params={"per_page": "100"}, headers=AUTH)
    invoices = (await response.json())["invoices"]
    assert len(invoices) == 80
    for invoice in invoices:
        check_invoice(invoice)
