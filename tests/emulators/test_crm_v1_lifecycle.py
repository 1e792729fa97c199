"""crm_v1 emulator lifecycle: create opens an invoice; open invoices can be edited and deleted;
paid and cancelled ones cannot be edited; nothing with payments can be deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.emulators._crm_v1_support import AUTH, assert_error, fetch, line, read, write
from tests.emulators._crm_v1_support import client as client  # pytest fixture, used by name

OPEN, PAID, CANCELLED = 0, 1, 2


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "customer_id": 10,
        "template_id": 1,
        "items": [
            {
                "item_id": 12,
                "item_name": "Consulting Services",
                "quantity": 10,
                "price": Decimal("500.00"),
                "type": "item",
                "tax_rate": 5,
            }
        ],
    }
    base.update(changes)
    return base


async def seeded(client: TestClient[Any, Any], predicate: Any) -> dict[str, Any]:
    """The first seeded invoice (by id) that ``predicate`` accepts."""
    for inv_id in range(1, 57):
        invoice = await fetch(client, inv_id)
        if predicate(invoice):
            return invoice
    raise AssertionError("the seed has no such invoice")


def is_unpaid_open(invoice: dict[str, Any]) -> bool:
    return invoice["inv_status"] == OPEN and not invoice["payments"]


def is_partly_paid(invoice: dict[str, Any]) -> bool:
    return invoice["inv_status"] == OPEN and bool(invoice["payments"])


def is_paid(invoice: dict[str, Any]) -> bool:
    return invoice["inv_status"] == PAID


def is_cancelled(invoice: dict[str, Any]) -> bool:
    return invoice["inv_status"] == CANCELLED


# -- create ------------------------------------------------------------------------------------------


async def test_create_opens_an_unpaid_invoice_with_the_next_number(
    client: TestClient[Any, Any],
) -> None:
    first = await read(await write(client, "POST", "/v1/invoices", body()))
    second = await read(await write(client, "POST", "/v1/invoices", body()))

    assert first["data"] == {"inv_id": 57, "inv_number": "INV-0057"}
    assert second["data"] == {"inv_id": 58, "inv_number": "INV-0058"}
    invoice = await fetch(client, 57)
    assert invoice["inv_status"] == OPEN
    assert (invoice["amount_paid"], invoice["amount_due"]) == (Decimal("0.00"), Decimal("5250.00"))
    assert invoice["payments"] == []


async def test_create_defaults_dates_currency_and_optional_fields(
    client: TestClient[Any, Any],
) -> None:
    await write(client, "POST", "/v1/invoices", body())

    invoice = await fetch(client, 57)

    today = datetime.now(UTC).date()
    assert invoice["transaction_date"] == today.isoformat()
    assert invoice["due_date"] == (today + timedelta(days=30)).isoformat()
    assert (invoice["org_currency_id"], invoice["conversion_rate"]) == (1, 1)
    for name in ("reference", "notes", "terms_conditions", "deal_id", "assigned_to"):
        assert invoice[name] is None, name
    assert invoice["tag_ids"] == []


async def test_create_without_a_due_date_counts_thirty_days_from_the_invoice_date(
    client: TestClient[Any, Any],
) -> None:
    await write(client, "POST", "/v1/invoices", body(transaction_date="2026-02-15"))
    await write(client, "POST", "/v1/invoices", body(transaction_date="2026-02-15", due_date=None))

    assert (await fetch(client, 57))["due_date"] == "2026-03-17"
    assert (await fetch(client, 58))["due_date"] is None


async def test_create_keeps_every_documented_field(client: TestClient[Any, Any]) -> None:
    payload = body(
        transaction_date="2026-03-01",
        due_date="2026-03-31",
        reference="PO-9",
        billing_address="300 Pine Street",
        shipping_address="Dock 4",
        notes="n",
        terms_conditions="t",
        deal_id=2,
        assigned_to=3,
        org_currency_id=2,
        conversion_rate=Decimal("1.10"),
        overall_discount=Decimal("10.00"),
        overall_discount_type=1,
        tag_ids=[1, 6],
        items=[
            line(2, Decimal("85.00"), description="on site", discount=5, discount_type=2),
            line(1, Decimal("85.00"), tax_id="20"),
        ],
    )

    assert (await write(client, "POST", "/v1/invoices", payload)).status == 201

    invoice = await fetch(client, 57)
    for name in (
        "reference",
        "billing_address",
        "shipping_address",
        "notes",
        "terms_conditions",
        "deal_id",
        "assigned_to",
        "org_currency_id",
        "conversion_rate",
        "overall_discount",
        "overall_discount_type",
        "tag_ids",
        "transaction_date",
        "due_date",
    ):
        assert invoice[name] == payload[name], name
    assert [(x["description"], x["discount"], x["discount_type"]) for x in invoice["items"]] == [
        ("on site", 5, 2),
        (None, None, None),
    ]
    assert [(x["tax_id"], x["tax_rate"]) for x in invoice["items"]] == [(None, None), ("20", 20)]


async def test_create_in_another_currency_takes_its_default_rate(
    client: TestClient[Any, Any],
) -> None:
    await write(client, "POST", "/v1/invoices", body(org_currency_id=3))

    invoice = await fetch(client, 57)

    assert (invoice["org_currency_id"], invoice["conversion_rate"]) == (3, Decimal("1.27"))


# -- update ------------------------------------------------------------------------------------------


async def test_update_replaces_the_lines_and_recomputes_the_totals(
    client: TestClient[Any, Any],
) -> None:
    before = await seeded(client, is_unpaid_open)

    response = await write(
        client,
        "PUT",
        f"/v1/invoices/{before['inv_id']}",
        body(items=[line(3, Decimal("85.00"), tax_id="10")]),
    )

    assert response.status == 200
    after = await fetch(client, before["inv_id"])
    assert [(x["item_id"], x["line_total"]) for x in after["items"]] == [(6, Decimal("255.00"))]
    assert (after["sub_total"], after["tax_total"], after["total"]) == (
        Decimal("255.00"),
        Decimal("25.50"),
        Decimal("280.50"),
    )
    assert after["amount_due"] == Decimal("280.50")
    assert (after["customer_id"], after["inv_status"]) == (10, OPEN)


async def test_update_keeps_omitted_fields_and_clears_nulls(client: TestClient[Any, Any]) -> None:
    await write(
        client,
        "POST",
        "/v1/invoices",
        body(
            transaction_date="2026-03-01",
            reference="PO-1",
            notes="keep me",
            deal_id=2,
            tag_ids=[3],
            org_currency_id=2,
        ),
    )

    await write(client, "PUT", "/v1/invoices/57", body(reference=None, tag_ids=None, deal_id=None))

    invoice = await fetch(client, 57)
    assert (invoice["reference"], invoice["tag_ids"], invoice["deal_id"]) == (None, [], None)
    assert (invoice["notes"], invoice["transaction_date"], invoice["due_date"]) == (
        "keep me",
        "2026-03-01",
        "2026-03-31",
    )
    assert (invoice["org_currency_id"], invoice["conversion_rate"]) == (2, Decimal("1.08"))


@pytest.mark.parametrize(
    ("stored", "change", "field", "message"),
    [
        (
            {"overall_discount": 10, "overall_discount_type": 2},
            {"overall_discount_type": None},
            "overall_discount_type",
            "The overall_discount_type field is required when overall_discount is present.",
        ),
        (
            {"overall_discount": 150, "overall_discount_type": 1},
            {"overall_discount_type": 2},
            "overall_discount",
            "The overall_discount field must not be greater than 100.",
        ),
    ],
    ids=["type-cleared", "fixed-150-turned-percentage"],
)
async def test_update_rechecks_the_discount_pair_after_the_merge(
    client: TestClient[Any, Any],
    stored: dict[str, Any],
    change: dict[str, Any],
    field: str,
    message: str,
) -> None:
    await write(client, "POST", "/v1/invoices", body(**stored))
    before = await fetch(client, 57)

    response = await write(client, "PUT", "/v1/invoices/57", body(**change))

    assert response.status == 422
    assert_error(await read(response), message, {field: [message]})
    assert await fetch(client, 57) == before


async def test_update_to_another_currency_takes_its_rate_unless_one_is_given(
    client: TestClient[Any, Any],
) -> None:
    await write(client, "POST", "/v1/invoices", body())
    await write(client, "POST", "/v1/invoices", body())

    await write(client, "PUT", "/v1/invoices/57", body(org_currency_id=4))
    await write(
        client, "PUT", "/v1/invoices/58", body(org_currency_id=4, conversion_rate=Decimal("0.007"))
    )

    jpy = await fetch(client, 57)
    assert (jpy["conversion_rate"], jpy["total"]) == (Decimal("0.0067"), 5250)
    assert (await fetch(client, 58))["conversion_rate"] == Decimal("0.007")


async def test_partly_paid_invoice_can_be_edited_keeping_its_payments(
    client: TestClient[Any, Any],
) -> None:
    before = await seeded(client, is_partly_paid)
    paid = before["amount_paid"]

    response = await write(
        client, "PUT", f"/v1/invoices/{before['inv_id']}", body(items=[line(1, paid + 100)])
    )

    assert response.status == 200
    after = await fetch(client, before["inv_id"])
    assert after["payments"] == before["payments"]
    assert (after["inv_status"], after["amount_paid"], after["amount_due"]) == (
        OPEN,
        paid,
        Decimal("100.00"),
    )


async def test_editing_a_partly_paid_invoice_down_to_what_was_paid_makes_it_paid(
    client: TestClient[Any, Any],
) -> None:
    before = await seeded(client, is_partly_paid)
    paid = before["amount_paid"]

    response = await write(
        client, "PUT", f"/v1/invoices/{before['inv_id']}", body(items=[line(1, paid)])
    )

    assert response.status == 200
    after = await fetch(client, before["inv_id"])
    assert (after["inv_status"], after["total"], after["amount_due"]) == (
        PAID,
        paid,
        Decimal("0.00"),
    )
    again = await write(client, "PUT", f"/v1/invoices/{before['inv_id']}", body())
    assert again.status == 422


async def test_total_below_the_amount_paid_is_refused(client: TestClient[Any, Any]) -> None:
    before = await seeded(client, is_partly_paid)
    paid = before["amount_paid"]
    lower = paid - Decimal("0.01")

    response = await write(
        client, "PUT", f"/v1/invoices/{before['inv_id']}", body(items=[line(1, lower)])
    )

    assert response.status == 422
    message = f"The invoice total {lower} must not be less than the amount already paid {paid}."
    assert_error(await read(response), message, {"items": [message]})
    assert await fetch(client, before["inv_id"]) == before


@pytest.mark.parametrize(("predicate", "state"), [(is_paid, "paid"), (is_cancelled, "cancelled")])
async def test_paid_and_cancelled_invoices_cannot_be_edited(
    client: TestClient[Any, Any], predicate: Any, state: str
) -> None:
    before = await seeded(client, predicate)
    number = before["inv_number"]

    valid = await write(client, "PUT", f"/v1/invoices/{before['inv_id']}", body())
    # The state is the answer whatever the body says: no edit could succeed.
    invalid = await write(client, "PUT", f"/v1/invoices/{before['inv_id']}", {"items": []})

    message = f"Invoice {number} is {state} and can no longer be edited."
    for response in (valid, invalid):
        assert response.status == 422
        assert_error(await read(response), message, {"inv_status": [message]})
    assert await fetch(client, before["inv_id"]) == before


# -- delete ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("predicate", [is_unpaid_open, is_cancelled], ids=["open", "cancelled"])
async def test_invoices_without_payments_can_be_deleted_once(
    client: TestClient[Any, Any], predicate: Any
) -> None:
    inv_id = (await seeded(client, predicate))["inv_id"]

    response = await client.delete(f"/v1/invoices/{inv_id}", headers=AUTH)

    assert response.status == 200
    assert await read(response) == {"success": True, "message": "Invoice deleted successfully"}
    for method in ("GET", "PUT", "DELETE"):
        again = await write(client, method, f"/v1/invoices/{inv_id}", body())
        assert again.status == 404, method
    listing = await read(await client.get("/v1/invoices?pageSize=100", headers=AUTH))
    assert listing["data"]["total_records"] == 55
    assert inv_id not in [row["inv_id"] for row in listing["data"]["data"]]


@pytest.mark.parametrize("predicate", [is_partly_paid, is_paid], ids=["partly-paid", "paid"])
async def test_invoices_with_payments_cannot_be_deleted(
    client: TestClient[Any, Any], predicate: Any
) -> None:
    before = await seeded(client, predicate)

    response = await client.delete(f"/v1/invoices/{before['inv_id']}", headers=AUTH)

    assert response.status == 422
    message = f"Invoice {before['inv_number']} has payments recorded and cannot be deleted."
    assert_error(await read(response), message, {"payments": [message]})
    assert await fetch(client, before["inv_id"]) == before


async def test_deleted_ids_are_never_reused(client: TestClient[Any, Any]) -> None:
    await write(client, "POST", "/v1/invoices", body())
    assert (await client.delete("/v1/invoices/57", headers=AUTH)).status == 200

    created = await read(await write(client, "POST", "/v1/invoices", body()))

    assert created["data"] == {"inv_id": 58, "inv_number": "INV-0058"}


async def test_created_invoice_goes_through_the_whole_open_lifecycle(
    client: TestClient[Any, Any],
) -> None:
    created = await read(
        await write(client, "POST", "/v1/invoices", body(transaction_date="2026-07-02"))
    )
    inv_id = created["data"]["inv_id"]
    newest = await read(await client.get("/v1/invoices?pageSize=1", headers=AUTH))
    assert newest["data"]["data"][0]["inv_id"] == inv_id

    updated = await write(client, "PUT", f"/v1/invoices/{inv_id}", body(items=[line(2, 100)]))
    assert updated.status == 200
    assert (await fetch(client, inv_id))["total"] == Decimal("200.00")

    assert (await client.delete(f"/v1/invoices/{inv_id}", headers=AUTH)).status == 200
    assert (await client.get(f"/v1/invoices/{inv_id}", headers=AUTH)).status == 404
