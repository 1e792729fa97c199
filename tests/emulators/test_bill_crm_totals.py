"""bill_crm emulator: server-computed totals follow the CRM's rounding rules.

Summary invoices round tax once per rate, inline invoices once per line, both half-up; the
invoice discount comes off before tax and the adjustment after it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from aiohttp.test_utils import TestClient

from tests.emulators._bill_crm_support import (
    BASE,
    HEADER,
    call,
    everything,
    new_draft,
    put_lines,
    update,
)
from tests.emulators._bill_crm_support import client as client  # pytest fixture, used by name

CENT = Decimal("0.01")
TAX_RATES = {1: "20", 2: "10", 3: "0", 4: "19", 5: "5", 6: "7", 7: "8.25"}


async def invoice(
    client: TestClient[Any, Any],
    tax_type: str,
    items: list[dict[str, Any]],
    tax_rate_ids: list[int] | None = None,
    **header: Any,
) -> dict[str, Any]:
    invoice_id = await new_draft(client, tax_type)
    payload: dict[str, Any] = {"items": items}
    if tax_rate_ids is not None:
        payload["tax_rate_ids"] = tax_rate_ids
    await put_lines(client, invoice_id, payload)
    if header:
        status, _ = await update(client, invoice_id, {**HEADER, **header})
        assert status == 200
    _, body = await call(client, "GET", f"{BASE}/{invoice_id}")
    result: dict[str, Any] = body["data"]
    return result


def amounts(totals: dict[str, Any], *keys: str) -> tuple[str, ...]:
    return tuple(str(totals[key]) for key in keys)


async def test_summary_tax_is_rounded_once_per_rate(client: TestClient[Any, Any]) -> None:
    items = [{"description": "Part", "quantity": 1, "rate": "0.35"} for _ in range(3)]

    result = await invoice(client, "summary", items, [2])

    # 1.05 × 10% = 0.105 → 0.11, where three rounded lines would make 0.12.
    assert amounts(result["totals"], "subtotal", "tax_amount", "final_amount") == (
        "1.05",
        "0.11",
        "1.16",
    )


async def test_inline_tax_is_rounded_per_line(client: TestClient[Any, Any]) -> None:
    items = [{"description": "Part", "quantity": 1, "rate": "0.35", "tax_rate_id": 2}] * 3

    result = await invoice(client, "inline", items)

    assert [str(tax["amount"]) for tax in result["taxes"]] == ["0.04", "0.04", "0.04"]
    assert amounts(result["totals"], "tax_amount", "final_amount") == ("0.12", "1.17")


async def test_two_summary_rates_are_each_rounded_on_the_whole_base(
    client: TestClient[Any, Any],
) -> None:
    result = await invoice(
        client, "summary", [{"description": "Service", "quantity": 1, "rate": "123.45"}], [5, 6]
    )

    # GST 6.1725 → 6.17, PST 8.6415 → 8.64; neither is compounded on the other.
    assert [str(tax["amount"]) for tax in result["taxes"]] == ["6.17", "8.64"]
    assert amounts(result["totals"], "tax_amount", "final_amount") == ("14.81", "138.26")


async def test_line_amounts_round_half_up(client: TestClient[Any, Any]) -> None:
    items = [
        {"description": "Word", "quantity": 1, "rate": "0.125"},
        {"description": "Word", "quantity": 1, "rate": "0.135"},
    ]

    result = await invoice(client, "summary", items)

    # Half-even would give 0.12 and 0.14.
    assert [str(line["amount"]) for line in result["line_items"]] == ["0.13", "0.14"]
    assert str(result["totals"]["subtotal"]) == "0.27"


async def test_worked_example_line_percent_discounts_inline(client: TestClient[Any, Any]) -> None:
    items = [
        {
            "description": "x",
            "quantity": 3,
            "rate": "19.99",
            "tax_rate_id": 1,
            "discount_type": "percentage",
            "discount_value": 15,
        },
        {
            "description": "x",
            "quantity": 1,
            "rate": "10.01",
            "tax_rate_id": 1,
            "discount_type": "percentage",
            "discount_value": 10,
        },
    ]

    result = await invoice(client, "inline", items)

    lines = result["line_items"]
    assert [
        (str(line["amount"]), str(line["discount_amount"]), str(line["total"])) for line in lines
    ] == [
        ("59.97", "9.00", "50.97"),
        ("10.01", "1.00", "9.01"),
    ]
    assert [str(tax["amount"]) for tax in result["taxes"]] == ["10.19", "1.80"]
    assert amounts(result["totals"], "subtotal", "tax_amount", "final_amount") == (
        "59.98",
        "11.99",
        "71.97",
    )


async def test_worked_example_fixed_discount_shared_before_per_line_tax(
    client: TestClient[Any, Any],
) -> None:
    items = [
        {"description": "x", "quantity": 1, "rate": 100, "tax_rate_id": 1},
        {"description": "x", "quantity": 1, "rate": 100, "tax_rate_id": 2},
        {"description": "x", "quantity": 1, "rate": 100, "tax_rate_id": 3},
    ]

    result = await invoice(
        client, "inline", items, bill_discount_type="fixed", bill_discount_amount="10.00"
    )

    # Shares 3.34, 3.33, 3.33 (the tie's extra cent goes to the first line).
    assert [str(tax["amount"]) for tax in result["taxes"]] == ["19.33", "9.67", "0.00"]
    assert amounts(
        result["totals"], "subtotal", "discount_amount", "amount_before_tax", "tax_amount"
    ) == ("300.00", "10.00", "290.00", "29.00")
    assert str(result["totals"]["final_amount"]) == "319.00"


async def test_worked_example_negative_adjustment_after_tax(client: TestClient[Any, Any]) -> None:
    result = await invoice(
        client,
        "summary",
        [{"description": "x", "quantity": 2, "rate": "49.90"}],
        [4],
        bill_adjustment_amount="-0.76",
        bill_adjustment_description="round down",
    )

    assert amounts(
        result["totals"], "subtotal", "tax_amount", "adjustment_amount", "final_amount"
    ) == ("99.80", "18.96", "-0.76", "118.00")


async def test_percentage_discount_is_rounded_per_line_before_summary_tax(
    client: TestClient[Any, Any],
) -> None:
    items = [{"description": "a", "quantity": 1, "rate": "33.35"} for _ in range(3)]

    result = await invoice(
        client,
        "summary",
        items,
        [1],
        bill_discount_type="percentage",
        bill_discount_percentage="10",
    )

    # Shares 3.34 (3.335) × 3 = 10.02, not round(100.05 × 10%) = 10.01; tax 20% of 90.03.
    assert amounts(
        result["totals"],
        "subtotal",
        "discount_amount",
        "amount_before_tax",
        "tax_amount",
        "final_amount",
    ) == ("100.05", "10.02", "90.03", "18.01", "108.04")


async def test_fixed_discount_leftover_cents_go_to_the_largest_remainders(
    client: TestClient[Any, Any],
) -> None:
    items = [
        {"description": "a", "quantity": 1, "rate": "10.00", "tax_rate_id": 1},
        {"description": "b", "quantity": 1, "rate": "20.00", "tax_rate_id": 1},
        {"description": "c", "quantity": 1, "rate": "70.00", "tax_rate_id": 1},
    ]

    result = await invoice(
        client, "inline", items, bill_discount_type="fixed", bill_discount_amount="0.05"
    )

    # Exact shares 0.005, 0.010, 0.035: floors 0, 1, 3 cents; the spare cent goes to line a.
    # Taxable 9.99, 19.99, 69.97 → 2.00 (1.998), 4.00 (3.998), 13.99 (13.994).
    assert [str(tax["amount"]) for tax in result["taxes"]] == ["2.00", "4.00", "13.99"]
    assert amounts(result["totals"], "discount_amount", "tax_amount", "final_amount") == (
        "0.05",
        "19.99",
        "119.94",
    )


async def test_a_tied_leftover_cent_goes_to_the_earlier_line(client: TestClient[Any, Any]) -> None:
    items = [
        {"description": "a", "quantity": 1, "rate": "100.03", "tax_rate_id": 1},
        {"description": "b", "quantity": 1, "rate": "100.03", "tax_rate_id": 3},
    ]

    result = await invoice(
        client, "inline", items, bill_discount_type="fixed", bill_discount_amount="0.01"
    )

    # Line a is taxed on 100.02 → 20.004 → 20.00; on 100.03 it would be 20.01.
    assert [str(tax["amount"]) for tax in result["taxes"]] == ["20.00", "0.00"]
    assert str(result["totals"]["final_amount"]) == "220.05"


async def test_seeded_invoices_are_consistent_with_the_rules(client: TestClient[Any, Any]) -> None:
    invoices = await everything(client)

    assert len(invoices) == 56
    for seeded in invoices:
        check_consistent(seeded)


async def test_seeded_invoices_mix_statuses_tax_types_discounts_and_payments(
    client: TestClient[Any, Any],
) -> None:
    invoices = await everything(client)

    assert {invoice["status"]["id"] for invoice in invoices} == {1, 2, 3, 4, 5, 20}
    assert {invoice["tax_type"] for invoice in invoices} == {"summary", "inline"}
    assert {invoice["discount"]["type"] for invoice in invoices} == {"none", "fixed", "percentage"}
    assert any(invoice["totals"]["adjustment_amount"] != 0 for invoice in invoices)
    assert any(line["discount_type"] != "none" for i in invoices for line in i["line_items"])
    assert any(not invoice["line_items"] for invoice in invoices)
    assert len({tax["taxrate_id"] for i in invoices for tax in i["taxes"]}) >= 5


def check_consistent(invoice: dict[str, Any]) -> None:
    totals = invoice["totals"]
    lines = invoice["line_items"]
    for line in lines:
        assert line["amount"] == (Decimal(line["quantity"]) * line["rate"]).quantize(
            CENT, ROUND_HALF_UP
        )
        assert line["total"] == line["amount"] - line["discount_amount"]
    assert totals["subtotal"] == sum((line["total"] for line in lines), Decimal(0))
    assert totals["amount_before_tax"] == totals["subtotal"] - totals["discount_amount"]
    assert totals["tax_amount"] == sum((tax["amount"] for tax in invoice["taxes"]), Decimal(0))
    assert totals["final_amount"] == (
        totals["amount_before_tax"] + totals["tax_amount"] + totals["adjustment_amount"]
    )
    assert totals["balance_due"] == totals["final_amount"] - totals["paid_amount"]
    for tax in invoice["taxes"]:
        assert str(tax["rate"].normalize()) == str(
            Decimal(TAX_RATES[tax["taxrate_id"]]).normalize()
        )
        if invoice["tax_type"] == "summary":
            base = totals["amount_before_tax"]
            assert tax["amount"] == (base * tax["rate"] / 100).quantize(CENT, ROUND_HALF_UP)
    discount = invoice["discount"]
    if discount["type"] == "fixed":
        assert totals["discount_amount"] == discount["amount"]
    elif discount["type"] == "none":
        assert totals["discount_amount"] == 0
    status_id = invoice["status"]["id"]
    if status_id == 5:
        assert totals["paid_amount"] == totals["final_amount"] > 0
    elif status_id == 4:
        assert 0 < totals["paid_amount"] < totals["final_amount"]
    else:
        assert totals["paid_amount"] == 0


async def test_line_items_whose_total_is_too_large_are_refused_and_the_invoice_kept(
    client: TestClient[Any, Any],
) -> None:
    """Each of 1,000 items within the bound (999999999999 × 999999999999), their total past
    what the emulator computes: a 422, and the invoice keeps its lines (stored, they failed
    every read of the invoice and every list page holding it with a 500)."""
    invoice_id = await new_draft(client, "summary")
    await put_lines(
        client, invoice_id, {"items": [{"description": "A", "quantity": 2, "rate": 10}]}
    )
    item = {"description": "B", "quantity": 999999999999, "rate": 999999999999}
    status, body = await call(
        client, "PUT", f"{BASE}/{invoice_id}/line-items", {"items": [item] * 1000}
    )
    assert status == 422, body
    assert body["errors"] == {"line_items": ["The line items' total is too large."]}
    status, read = await call(client, "GET", f"{BASE}/{invoice_id}")
    assert status == 200, read
    assert [line["description"] for line in read["data"]["line_items"]] == ["A"]
    assert invoice_id in [invoice["id"] for invoice in await everything(client)]
