"""order_linked totals: per line, half-up, discount shared before tax, inclusive prices with the
tax extracted per line; worked examples, the spec's test vectors, and every seeded invoice
recomputed here independently of the emulator's code."""

from __future__ import annotations

import math
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from emulators.order_linked import create_app
from emulators.order_linked.app import STORE_KEY
from emulators.order_linked.reference import Order, OrderLine
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
        # Exact ties with shares of different whole parts: the earlier lines win.
        ("0.02", ["0.04", "0.01", "0.01"], ["0.02", "0.00", "0.00"]),
        ("0.06", ["0.01", "0.01", "0.07"], ["0.01", "0.01", "0.04"]),
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


async def test_the_largest_amounts_lose_no_digit_before_rounding(client: Client) -> None:
    # The provider sets no bounds. 167175339.936026 × 834150514244.615 is exactly
    # 139449395776654410795.81499999 (31 digits) → .81; cut to Decimal's default 28 digits
    # first, it would round up to .82. WET 29 %: 40440324775229779130.7849 → .78.
    line = {
        "item_id": "ITM-1007",
        "item_quantity": "167175339.936026",
        "item_price_snapshot": {"pricing_rule": {"price": "834150514244.615"}},
    }
    invoice = await create(client, invoice_body("AUD", False, line))
    assert line_amounts(invoice) == [
        ("139449395776654410795.81", "40440324775229779130.78", "179889720551884189926.59")
    ]
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (
        "139449395776654410795.81",
        "40440324775229779130.78",
        "179889720551884189926.59",
    )


# -- largest-remainder ties over HTTP -----------------------------------------------------------
#
# Only an order brings a discount, so each case is an order added to a fresh emulator and invoiced
# over HTTP. The exact shares are ``units × amount / Σ amounts``; cut to any fixed number of
# significant digits, a share with a larger whole part keeps fewer decimals, so equal remainders
# stop being equal and the unit left over can go to a later line. The shares do not appear on the
# wire: the prices are tax-inclusive and every line is Shiraz (WET 29 %), so a cent more or less
# of share moves the tax extracted from the line.


async def invoice_order(
    aiohttp_client: AiohttpClient, prices: list[str], discount: str
) -> dict[str, Any]:
    app = create_app()
    app[STORE_KEY].add_order(
        Order(
            "SO-9001",
            "ACC-1008",
            "AUD",
            True,
            date(2026, 6, 1),
            tuple(OrderLine("ITM-1007", Decimal("1"), Decimal(p)) for p in prices),
            discount_amount=Decimal(discount),
        )
    )
    client = await aiohttp_client(app)
    response = await client.post("/orders/SO-9001/invoices", headers=AUTH)
    assert response.status == 201, await response.text()
    invoice: dict[str, Any] = (await response.json())["invoice"]
    return invoice


async def test_an_exact_remainder_tie_gives_the_unit_to_the_earlier_line(
    aiohttp_client: AiohttpClient,
) -> None:
    # 0.02 over 0.04 / 0.01 / 0.01: exact shares 4/3, 1/3, 1/3 of a cent; floors 1, 0, 0 and the
    # cent left over ties three ways (1/3 each), so it goes to line 1: shares 0.02, 0.00, 0.00.
    # Line 1 keeps 0.02, whose tax 0.02 × 29 / 129 = 0.0045 → 0.00. Cut to digits, 1.333…3
    # keeps one 3 fewer than 0.333…3, line 2 takes the cent and line 1 keeps 0.03 → tax 0.01.
    invoice = await invoice_order(aiohttp_client, ["0.04", "0.01", "0.01"], "0.02")

    assert line_amounts(invoice) == [
        ("0.04", "0.00", "0.04"),
        ("0.01", "0.00", "0.01"),
        ("0.01", "0.00", "0.01"),
    ]
    assert amounts(invoice) == {
        "subtotal": "0.06",
        "discount_amount": "0.02",
        "tax": "0.00",
        "shipping_cost": "0.00",
        "total": "0.04",
        "paid": "0.00",
        "due": "0.04",
    }


async def test_a_tie_of_rounded_up_remainders_stays_with_the_earlier_lines(
    aiohttp_client: AiohttpClient,
) -> None:
    # 0.06 over 0.01 / 0.01 / 0.07: exact shares 2/3, 2/3, 14/3 of a cent; floors 0, 0, 4 and
    # two cents left over for a three-way tie (2/3 each): lines 1 and 2, shares 0.01, 0.01,
    # 0.04. Line 3 keeps 0.03 → tax 0.0067 → 0.01. Cut to digits, 0.666…67 is rounded up at its
    # last digit and 4.666…67 one digit earlier, so it looks the larger: line 3 takes line 2's
    # cent, keeps 0.02 → tax 0.0045 → 0.00. Any working precision goes this way.
    invoice = await invoice_order(aiohttp_client, ["0.01", "0.01", "0.07"], "0.06")

    assert line_amounts(invoice) == [
        ("0.01", "0.00", "0.01"),
        ("0.01", "0.00", "0.01"),
        ("0.06", "0.01", "0.07"),
    ]
    assert amounts(invoice) == {
        "subtotal": "0.08",
        "discount_amount": "0.06",
        "tax": "0.01",
        "shipping_cost": "0.00",
        "total": "0.03",
        "paid": "0.00",
        "due": "0.03",
    }


# -- every seeded invoice, recomputed -----------------------------------------------------------


def _round(value: Decimal, exponent: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)


def _shares(discount: Decimal, amounts: list[Decimal], exponent: int) -> list[Decimal]:
    """Largest remainder in minor units, remainders compared exactly, a tie to the earlier."""
    scale = 10**exponent
    whole = sum((Fraction(a) for a in amounts), Fraction(0))
    if not discount or not whole:
        return [Decimal(0)] * len(amounts)
    units = int(Fraction(discount) * scale)
    exact = [units * Fraction(a) / whole for a in amounts]
    floors = [math.floor(e) for e in exact]
    order = sorted(range(len(amounts)), key=lambda i: (floors[i] - exact[i], i))
    for i in order[: units - sum(floors)]:
        floors[i] += 1
    return [Decimal(f) / scale for f in floors]


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
