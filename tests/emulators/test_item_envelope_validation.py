"""item_envelope emulator: each validation rule answers 422 naming the field; defaults apply."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from tests.emulators._item_envelope_support import (
    SEED_COUNT,
    all_invoices,
    assert_failed,
    call,
    create,
    invoice_body,
    invoice_path,
    start,
    update,
)

LINE = {"product_id": 1, "quantity": 1, "unit_price": 100}


def _line(**fields: Any) -> dict[str, Any]:
    return {"InvoiceItem": [{**LINE, **fields}]}


def _without(name: str) -> dict[str, Any]:
    body = invoice_body()
    del body["Invoice"][name]
    return body


def _item_without(name: str) -> dict[str, Any]:
    line = dict(LINE)
    del line[name]
    return invoice_body(InvoiceItem=[line])


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("client_id missing", _without("client_id"), "client_id"),
    ("client_id null", invoice_body(client_id=None), "client_id"),
    ("client_id as a string", invoice_body(client_id="15"), "client_id"),
    ("client_id unknown", invoice_body(client_id=99), "client_id"),
    ("store_id missing", _without("store_id"), "store_id"),
    ("store_id unknown", invoice_body(store_id=4), "store_id"),
    ("store_id boolean", invoice_body(store_id=True), "store_id"),
    ("InvoiceItem missing", _without("InvoiceItem"), "InvoiceItem"),
    ("InvoiceItem empty", invoice_body(InvoiceItem=[]), "InvoiceItem"),
    ("InvoiceItem an object", invoice_body(InvoiceItem={"product_id": 1}), "InvoiceItem"),
    ("item not an object", invoice_body(InvoiceItem=[7]), "InvoiceItem.0"),
    ("product_id missing", _item_without("product_id"), "InvoiceItem.0.product_id"),
    ("product_id unknown", invoice_body(**_line(product_id=13)), "InvoiceItem.0.product_id"),
    (
        "product_id fractional",
        invoice_body(**_line(product_id=Decimal("1.5"))),
        "InvoiceItem.0.product_id",
    ),
    ("quantity missing", _item_without("quantity"), "InvoiceItem.0.quantity"),
    ("quantity zero", invoice_body(**_line(quantity=0)), "InvoiceItem.0.quantity"),
    ("quantity negative", invoice_body(**_line(quantity=-2)), "InvoiceItem.0.quantity"),
    ("quantity a string", invoice_body(**_line(quantity="2")), "InvoiceItem.0.quantity"),
    (
        "quantity 7 decimals",
        invoice_body(**_line(quantity=Decimal("1.0000001"))),
        "InvoiceItem.0.quantity",
    ),
    ("quantity huge", invoice_body(**_line(quantity=Decimal("1E+15"))), "InvoiceItem.0.quantity"),
    ("unit_price missing", _item_without("unit_price"), "InvoiceItem.0.unit_price"),
    ("unit_price negative", invoice_body(**_line(unit_price=-1)), "InvoiceItem.0.unit_price"),
    (
        "unit_price 5 decimals",
        invoice_body(**_line(unit_price=Decimal("1.23456"))),
        "InvoiceItem.0.unit_price",
    ),
    (
        "discount_type 3",
        invoice_body(**_line(discount=1, discount_type=3)),
        "InvoiceItem.0.discount_type",
    ),
    (
        "discount_type as a string",
        invoice_body(**_line(discount_type="1")),
        "InvoiceItem.0.discount_type",
    ),
    ("percentage over 100", invoice_body(**_line(discount=101)), "InvoiceItem.0.discount"),
    ("negative discount", invoice_body(**_line(discount=-5)), "InvoiceItem.0.discount"),
    (
        "absolute over the line",
        invoice_body(**_line(discount=Decimal("100.01"), discount_type=2)),
        "InvoiceItem.0.discount",
    ),
    (
        "absolute in mills for USD",
        invoice_body(**_line(discount=Decimal("1.005"), discount_type=2)),
        "InvoiceItem.0.discount",
    ),
    (
        "absolute in cents for JPY",
        invoice_body(currency_code="JPY", **_line(discount=Decimal("0.5"), discount_type=2)),
        "InvoiceItem.0.discount",
    ),
    ("tax1 unknown", invoice_body(**_line(tax1=8)), "InvoiceItem.0.tax1"),
    ("tax2 as a string", invoice_body(**_line(tax2="1")), "InvoiceItem.0.tax2"),
    ("tax2 same as tax1", invoice_body(**_line(tax1=3, tax2=3)), "InvoiceItem.0.tax2"),
    ("col_3 too long", invoice_body(**_line(col_3="c" * 256)), "InvoiceItem.0.col_3"),
    ("col_5 a number", invoice_body(**_line(col_5=5)), "InvoiceItem.0.col_5"),
    ("currency lower case", invoice_body(currency_code="usd"), "currency_code"),
    ("currency unknown", invoice_body(currency_code="XXX"), "currency_code"),
    ("date in another format", invoice_body(date="23-03-2023"), "date"),
    ("date impossible", invoice_body(date="2023-02-30"), "date"),
    ("draft 2", invoice_body(draft=2), "draft"),
    ("draft boolean", invoice_body(draft=True), "draft"),
    ("is_offline 2", invoice_body(is_offline=2), "is_offline"),
    ("discount over 100", invoice_body(discount=150), "discount"),
    (
        "discount_amount over the subtotal",
        invoice_body(discount_amount=Decimal("100.01")),
        "discount_amount",
    ),
    ("discount_amount in mills", invoice_body(discount_amount=Decimal("1.005")), "discount_amount"),
    ("both document discounts", invoice_body(discount=5, discount_amount=5), "discount_amount"),
    ("po_number too long", invoice_body(po_number="P" * 256), "po_number"),
    ("notes a number", invoice_body(notes=12), "notes"),
    ("Invoice missing", {"invoice": invoice_body()["Invoice"]}, "Invoice"),
    ("Invoice a list", {"Invoice": []}, "Invoice"),
    ("InvoiceItem beside Invoice", {**invoice_body(), "InvoiceItem": [LINE]}, "InvoiceItem"),
]


@pytest.mark.parametrize(("body", "field"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
async def test_each_rule_is_422_naming_the_field_and_writes_nothing(
    aiohttp_client: AiohttpClient, body: dict[str, Any], field: str
) -> None:
    client = await start(aiohttp_client)

    status, answer = await call(client, "POST", "/api2/api2/invoices.json", body)

    assert_failed(status, answer, 422)
    assert list(answer["errors"]) == [field]
    assert all(isinstance(m, str) and m for m in answer["errors"][field])
    assert field in answer["message"]
    assert len(await all_invoices(client)) == SEED_COUNT


async def test_every_bad_field_is_named_in_one_answer(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)
    body = {
        "Invoice": {
            "store_id": 9,
            "date": "tomorrow",
            "InvoiceItem": [LINE, {"product_id": 1, "quantity": 0, "unit_price": "1"}],
        }
    }

    status, answer = await call(client, "POST", "/api2/api2/invoices.json", body)

    assert_failed(status, answer, 422)
    assert set(answer["errors"]) == {
        "client_id",
        "store_id",
        "date",
        "InvoiceItem.1.quantity",
        "InvoiceItem.1.unit_price",
    }


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_numbers_are_refused(aiohttp_client: AiohttpClient, literal: str) -> None:
    client = await start(aiohttp_client)
    raw = (
        '{"Invoice": {"client_id": 15, "store_id": 1, "InvoiceItem": '
        f'[{{"product_id": 1, "quantity": {literal}, "unit_price": 1}}]}}}}'
    )

    status, answer = await call(client, "POST", "/api2/api2/invoices.json", raw=raw)

    assert_failed(status, answer, 422)
    assert list(answer["errors"]) == ["InvoiceItem.0.quantity"]


async def test_updates_are_validated_like_creates(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)
    invoice_id = (await create(client, draft=1))["Invoice"]["id"]

    status, answer = await update(
        client, invoice_id, {"client_id": 0, "currency_code": "EURO", "InvoiceItem": []}
    )

    assert_failed(status, answer, 422)
    assert set(answer["errors"]) == {"client_id", "currency_code", "InvoiceItem"}


async def test_optional_fields_take_their_documented_defaults(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await start(aiohttp_client)
    before = dt.date.today().isoformat()
    body = {"Invoice": {"client_id": 15, "store_id": 1, "InvoiceItem": [LINE]}}

    status, answer = await call(client, "POST", "/api2/api2/invoices.json", body)

    assert status == 202
    status, read = await call(client, "GET", invoice_path(answer["id"]))
    invoice, [item] = read["data"]["Invoice"], read["data"]["InvoiceItem"]
    assert invoice["currency_code"] == "USD"
    assert before <= invoice["date"] <= dt.date.today().isoformat()
    assert (invoice["draft"], invoice["discount"], invoice["discount_amount"]) == (0, 0, 0)
    assert (invoice["is_offline"], invoice["notes"], invoice["po_number"]) == (0, None, None)
    assert (item["discount"], item["discount_type"], item["tax1"], item["tax2"]) == (
        0,
        1,
        None,
        None,
    )


async def test_optional_fields_are_stored_as_sent(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)

    created = await create(
        client,
        currency_code="CAD",
        is_offline=True,
        po_number="PO-2025-001",
        discount_amount=Decimal("5.00"),
        InvoiceItem=[
            {
                "product_id": 3,
                "quantity": Decimal("1.5"),
                "unit_price": Decimal("19.9999"),
                "discount": Decimal("2.50"),
                "discount_type": 2,
                "tax1": 1,
                "tax2": 2,
                "col_3": "Batch 7",
                "col_4": "",
                "col_5": "c" * 255,
            }
        ],
    )

    invoice, [item] = created["Invoice"], created["InvoiceItem"]
    assert (invoice["currency_code"], invoice["is_offline"]) == ("CAD", 1)
    assert (invoice["po_number"], invoice["discount_amount"]) == ("PO-2025-001", Decimal("5.00"))
    assert (item["quantity"], item["unit_price"]) == (Decimal("1.5"), Decimal("19.9999"))
    assert (item["discount"], item["discount_type"]) == (Decimal("2.50"), 2)
    assert (item["tax1"], item["tax2"]) == (1, 2)
    assert (item["col_3"], item["col_4"], item["col_5"]) == ("Batch 7", "", "c" * 255)


async def test_read_only_and_unknown_fields_are_ignored(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)

    created = await create(client, id=1, no="X-1", summary_total=1, payment_status=2, colour="red")

    assert created["Invoice"]["id"] == 124
    assert created["Invoice"]["no"] == "INV-0057"
    assert created["Invoice"]["summary_total"] == Decimal("100.00")
    assert created["Invoice"]["payment_status"] == 0
    assert "colour" not in created["Invoice"]


async def test_a_record_read_back_can_be_sent_again_unchanged(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await start(aiohttp_client)
    before = await create(client, draft=1, discount=Decimal("2.5"))
    invoice = {**before["Invoice"], "InvoiceItem": before["InvoiceItem"]}

    status, _ = await update(client, invoice["id"], invoice)

    assert status == 202
    status, after = await call(client, "GET", invoice_path(invoice["id"]))
    assert after["data"] == before
