"""item_envelope emulator: draft → issued, updates, deletes, and the states that forbid them."""

from __future__ import annotations

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
    invoice_path,
    read,
    start,
    update,
)


async def test_a_draft_is_issued_by_an_update_setting_draft_to_0(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await start(aiohttp_client)
    draft = await create(client, draft=1)
    invoice_id = draft["Invoice"]["id"]
    assert draft["Invoice"]["draft"] == 1

    status, _ = await update(client, invoice_id, {"draft": 0})

    assert status == 202
    issued = await read(client, invoice_id)
    assert issued["Invoice"]["draft"] == 0
    # Only the flag changed: number, lines and totals are the draft's.
    assert {**issued["Invoice"], "draft": 1} == draft["Invoice"]
    assert issued["InvoiceItem"] == draft["InvoiceItem"]


async def test_an_issued_invoice_cannot_go_back_to_draft(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)
    issued = await create(client, draft=0)
    invoice_id = issued["Invoice"]["id"]

    status, body = await update(client, invoice_id, {"draft": 1, "notes": "changed"})

    assert_failed(status, body, 409)
    assert list(body["errors"]) == ["draft"]
    assert await read(client, invoice_id) == issued


async def test_an_issued_unpaid_invoice_can_still_be_edited(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await start(aiohttp_client)
    issued = await create(client, draft=0)
    invoice_id = issued["Invoice"]["id"]

    status, _ = await update(client, invoice_id, {"po_number": "PO-7", "draft": 0})

    assert status == 202
    assert (await read(client, invoice_id))["Invoice"]["po_number"] == "PO-7"


@pytest.mark.parametrize(("payment_status", "label"), [(1, "partially paid"), (2, "paid")])
async def test_an_invoice_with_payments_can_be_neither_updated_nor_deleted(
    aiohttp_client: AiohttpClient, payment_status: int, label: str
) -> None:
    client = await start(aiohttp_client)
    row = next(
        row
        for row in await all_invoices(client)
        if row["Invoice"]["payment_status"] == payment_status
    )
    invoice_id = row["Invoice"]["id"]
    assert row["Invoice"]["summary_paid"] > 0, label

    status, body = await update(client, invoice_id, {"notes": "late"})
    assert_failed(status, body, 409)
    assert f"payment_status {payment_status}" in body["message"]

    status, body = await call(client, "DELETE", invoice_path(invoice_id))
    assert_failed(status, body, 409)

    assert await read(client, invoice_id) == row


@pytest.mark.parametrize("draft", [0, 1])
async def test_an_unpaid_invoice_is_deleted_and_then_gone(
    aiohttp_client: AiohttpClient, draft: int
) -> None:
    client = await start(aiohttp_client)
    invoice_id = (await create(client, draft=draft))["Invoice"]["id"]

    status, body = await call(client, "DELETE", invoice_path(invoice_id))

    assert (status, body["id"]) == (200, invoice_id)
    status, body = await call(client, "GET", invoice_path(invoice_id))
    assert_failed(status, body, 404)
    status, body = await call(client, "DELETE", invoice_path(invoice_id))
    assert_failed(status, body, 404)
    assert invoice_id not in [row["Invoice"]["id"] for row in await all_invoices(client)]


async def test_a_seeded_unpaid_invoice_can_be_deleted(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)
    invoice_id = next(
        row["Invoice"]["id"]
        for row in await all_invoices(client)
        if row["Invoice"]["payment_status"] == 0 and row["Invoice"]["draft"] == 0
    )

    status, _ = await call(client, "DELETE", invoice_path(invoice_id))

    assert status == 200
    assert len(await all_invoices(client)) == SEED_COUNT - 1


async def test_update_without_items_keeps_the_lines_and_recomputes_the_header(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await start(aiohttp_client)
    before = await create(client, draft=1)
    invoice_id = before["Invoice"]["id"]

    await update(client, invoice_id, {"discount": 10})

    after = await read(client, invoice_id)
    assert after["InvoiceItem"] == before["InvoiceItem"]
    assert after["Invoice"]["discount"] == 10
    assert after["Invoice"]["summary_discount"] == Decimal("10.00")
    assert after["Invoice"]["summary_total"] == Decimal("90.00")
    assert after["Invoice"]["summary_unpaid"] == Decimal("90.00")


async def test_update_with_items_replaces_them_and_keeps_the_ids_it_names(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await start(aiohttp_client)
    before = await create(
        client,
        InvoiceItem=[
            {"product_id": 1, "quantity": 1, "unit_price": 100},
            {"product_id": 3, "quantity": 1, "unit_price": 50},
        ],
    )
    invoice_id = before["Invoice"]["id"]
    kept_id, dropped_id = (item["id"] for item in before["InvoiceItem"])

    status, _ = await update(
        client,
        invoice_id,
        {
            "InvoiceItem": [
                {"id": kept_id, "product_id": 1, "quantity": 3, "unit_price": 100, "tax1": 3},
                {"product_id": 5, "quantity": 2, "unit_price": Decimal("12.49")},
            ]
        },
    )

    assert status == 202
    after = await read(client, invoice_id)
    ids = [item["id"] for item in after["InvoiceItem"]]
    assert ids[0] == kept_id and dropped_id not in ids and ids[1] > dropped_id
    assert [item["item"] for item in after["InvoiceItem"]] == ["Consulting Hour", "USB-C Cable"]
    assert after["Invoice"]["summary_subtotal"] == Decimal("324.98")
    assert after["Invoice"]["summary_tax1"] == Decimal("60.00")
    assert after["Invoice"]["summary_total"] == Decimal("384.98")


@pytest.mark.parametrize(
    "items",
    [
        [{"id": 1, "product_id": 1, "quantity": 1, "unit_price": 1}],
        "twice",
    ],
    ids=["another invoice's line", "same line twice"],
)
async def test_update_naming_a_line_it_does_not_own_is_422(
    aiohttp_client: AiohttpClient, items: Any
) -> None:
    client = await start(aiohttp_client)
    before = await create(client)
    invoice_id = before["Invoice"]["id"]
    if items == "twice":
        line = {"id": before["InvoiceItem"][0]["id"], "product_id": 1, "quantity": 1}
        items = [{**line, "unit_price": 1}, {**line, "unit_price": 2}]

    status, body = await update(client, invoice_id, {"InvoiceItem": items})

    assert_failed(status, body, 422)
    assert any(key.endswith(".id") for key in body["errors"])
    assert await read(client, invoice_id) == before


async def test_a_rejected_update_changes_nothing(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)
    before = await create(client, draft=1)
    invoice_id = before["Invoice"]["id"]

    status, body = await update(
        client, invoice_id, {"notes": "kept?", "InvoiceItem": [{"product_id": 1, "quantity": 0}]}
    )

    assert_failed(status, body, 422)
    assert await read(client, invoice_id) == before
    # A failed write consumes no line ids either.
    again = await create(client)
    assert again["InvoiceItem"][0]["id"] == before["InvoiceItem"][0]["id"] + 1


async def test_creates_get_consecutive_ids_and_numbers(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)

    first = await create(client)
    second = await create(client, draft=1)

    assert (first["Invoice"]["id"], second["Invoice"]["id"]) == (124, 125)
    assert (first["Invoice"]["no"], second["Invoice"]["no"]) == ("INV-0057", "INV-0058")


async def test_an_issued_invoice_with_nothing_to_pay_shows_paid_and_a_draft_does_not(
    aiohttp_client: AiohttpClient,
) -> None:
    """A zero total: issued, nothing is due, and the provider shows it paid (2), as the spec's
    status model says providers do; the same invoice as a draft owes nothing yet (0)."""
    client = await start(aiohttp_client)
    free = [{"product_id": 1, "quantity": 1, "unit_price": Decimal("0.00")}]
    issued = await create(client, draft=0, InvoiceItem=free)
    draft = await create(client, draft=1, InvoiceItem=free)
    assert Decimal(str(issued["Invoice"]["summary_total"])) == 0
    assert (issued["Invoice"]["payment_status"], draft["Invoice"]["payment_status"]) == (2, 0)
    status, _ = await update(client, draft["Invoice"]["id"], {"draft": 0})
    assert status == 202
    assert (await read(client, draft["Invoice"]["id"]))["Invoice"]["payment_status"] == 2
