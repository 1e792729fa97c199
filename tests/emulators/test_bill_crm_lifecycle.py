"""bill_crm emulator: status changes, publish and email conflicts, clone, tags, delete."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.emulators._bill_crm_support import (
    BASE,
    HEADER,
    KEY,
    call,
    everything,
    new_draft,
    put_lines,
    set_status,
    update,
)
from tests.emulators._bill_crm_support import client as client  # pytest fixture, used by name

STATUS_TITLES = {1: "Draft", 2: "Due", 3: "Overdue", 4: "Part Paid", 5: "Paid", 20: "Cancelled"}


async def new_invoice(
    client: TestClient[Any, Any],
    tax_type: str = "summary",
    items: list[dict[str, Any]] | None = None,
) -> int:
    invoice_id = await new_draft(client, tax_type)
    lines = items or [{"description": "Work", "quantity": 2, "rate": "100.00"}]
    payload: dict[str, Any] = {"items": lines}
    if tax_type == "summary":
        payload["tax_rate_ids"] = [1]
    await put_lines(client, invoice_id, payload)
    return invoice_id


async def act(
    client: TestClient[Any, Any], invoice_id: int, action: str, body: Any = None
) -> tuple[int, Any]:
    """POST to one of the invoice's actions: publish, email, clone."""
    return await call(client, "POST", f"{BASE}/{invoice_id}/{action}", body)


async def status_of(client: TestClient[Any, Any], invoice_id: int) -> int:
    _, body = await call(client, "GET", f"{BASE}/{invoice_id}")
    status_id: int = body["data"]["status"]["id"]
    return status_id


async def seeded_with_status(client: TestClient[Any, Any], status_id: int) -> dict[str, Any]:
    _, body = await call(client, "GET", f"{BASE}?status={status_id}&limit=1")
    invoice: dict[str, Any] = body["data"][0]
    return invoice


async def test_publishing_a_draft_makes_it_due(client: TestClient[Any, Any]) -> None:
    invoice_id = await new_invoice(client)

    status, body = await act(client, invoice_id, "publish")

    assert status == 200
    assert body["data"]["status"]["id"] == 2
    assert await status_of(client, invoice_id) == 2


async def test_publishing_twice_is_409_and_changes_nothing(client: TestClient[Any, Any]) -> None:
    invoice_id = await new_invoice(client)
    await act(client, invoice_id, "publish")
    await set_status(client, invoice_id, 3)

    status, body = await act(client, invoice_id, "publish")

    assert status == 409
    assert body == {
        "success": False,
        "message": f"Invoice {invoice_id} has already been published.",
        "errors": {},
    }
    assert await status_of(client, invoice_id) == 3


@pytest.mark.parametrize("status_id", [2, 3, 4, 5, 20])
async def test_every_non_draft_seeded_invoice_counts_as_published(
    client: TestClient[Any, Any], status_id: int
) -> None:
    invoice = await seeded_with_status(client, status_id)

    status, body = await act(client, invoice["id"], "publish")

    assert status == 409
    assert "already been published" in body["message"]


async def test_emailing_a_draft_is_409(client: TestClient[Any, Any]) -> None:
    invoice_id = await new_invoice(client)

    status, body = await act(client, invoice_id, "email")

    assert status == 409
    assert body["success"] is False
    assert body["message"] == f"Invoice {invoice_id} is a draft; publish it before emailing it."
    assert await status_of(client, invoice_id) == 1


@pytest.mark.parametrize("status_id", [2, 3, 4, 5, 20])
async def test_emailing_a_published_invoice_succeeds_and_keeps_its_status(
    client: TestClient[Any, Any], status_id: int
) -> None:
    invoice = await seeded_with_status(client, status_id)

    status, body = await act(client, invoice["id"], "email")

    assert status == 200
    assert body["message"] == f"Invoice {invoice['id']} emailed to {invoice['client']['email']}."
    assert body["data"]["status"]["id"] == status_id


@pytest.mark.parametrize("target", [1, 2, 3, 4, 5, 20])
@pytest.mark.parametrize("start", [1, 2, 5, 20])
async def test_any_status_can_be_set_manually_and_it_sticks(
    client: TestClient[Any, Any], start: int, target: int
) -> None:
    invoice_id = await new_invoice(client)
    await set_status(client, invoice_id, start)

    status, body = await set_status(client, invoice_id, target)
    # Editing the header and the lines recalculates totals but never moves the status.
    await update(
        client,
        invoice_id,
        {"bill_categoryid": 2, "bill_date": "2026-07-01", "bill_adjustment_amount": "1.00"},
    )
    await call(
        client,
        "PUT",
        f"{BASE}/{invoice_id}/line-items",
        {"items": [{"description": "More work", "quantity": 3, "rate": 50}]},
    )

    assert status == 200
    assert body["data"]["status"] == {
        "id": target,
        "title": STATUS_TITLES[target],
        "color": body["data"]["status"]["color"],
    }
    assert await status_of(client, invoice_id) == target


async def test_cancel_then_reactivate(client: TestClient[Any, Any]) -> None:
    invoice_id = await new_invoice(client)
    await act(client, invoice_id, "publish")

    cancelled, _ = await set_status(client, invoice_id, 20)
    cancelled_id = await status_of(client, invoice_id)
    reactivated, _ = await set_status(client, invoice_id, 2)

    assert (cancelled, cancelled_id) == (200, 20)
    assert reactivated == 200 and await status_of(client, invoice_id) == 2


async def test_a_draft_set_back_from_paid_can_be_published_again(
    client: TestClient[Any, Any],
) -> None:
    invoice_id = await new_invoice(client)
    await set_status(client, invoice_id, 5)
    refused, _ = await act(client, invoice_id, "publish")
    await set_status(client, invoice_id, 1)

    published, _ = await act(client, invoice_id, "publish")

    assert refused == 409 and published == 200
    assert await status_of(client, invoice_id) == 2


async def test_marking_paid_by_status_records_no_payment(client: TestClient[Any, Any]) -> None:
    invoice_id = await new_invoice(client)

    _, body = await set_status(client, invoice_id, 5)

    # No payments resource: the status is a label, the paid amount only moves with payments.
    assert body["data"]["totals"]["paid_amount"] == Decimal("0.00")
    assert body["data"]["totals"]["balance_due"] == Decimal("240.00")


async def test_editing_a_part_paid_invoice_keeps_the_payment_and_moves_the_balance(
    client: TestClient[Any, Any],
) -> None:
    invoice = await seeded_with_status(client, 4)
    paid = invoice["totals"]["paid_amount"]
    payload: dict[str, Any] = {"items": [{"description": "Reissued", "quantity": 1, "rate": 1000}]}
    if invoice["tax_type"] == "summary":
        payload["tax_rate_ids"] = []

    status, body = await call(client, "PUT", f"{BASE}/{invoice['id']}/line-items", payload)

    assert status == 200
    assert Decimal(0) < paid < invoice["totals"]["final_amount"]
    assert body["data"]["paid_amount"] == paid
    assert body["data"]["balance_due"] == body["data"]["final_amount"] - paid
    assert await status_of(client, invoice["id"]) == 4


async def test_published_and_cancelled_invoices_stay_editable(client: TestClient[Any, Any]) -> None:
    invoice_id = await new_invoice(client)
    await act(client, invoice_id, "publish")
    await set_status(client, invoice_id, 20)

    status, body = await update(
        client, invoice_id, {"bill_categoryid": 4, "bill_date": "2026-07-03"}
    )

    assert status == 200
    assert body["data"]["category"]["id"] == 4 and body["data"]["status"]["id"] == 20


async def test_clone_copies_lines_taxes_and_settings_into_a_new_draft(
    client: TestClient[Any, Any],
) -> None:
    invoice_id = await new_invoice(client)
    await update(
        client,
        invoice_id,
        {
            "bill_categoryid": 5,
            "bill_date": "2026-07-01",
            "bill_notes": "See attached",
            "bill_discount_type": "fixed",
            "bill_discount_amount": "15.00",
            "bill_adjustment_amount": "0.50",
            "bill_adjustment_description": "Rounding",
        },
    )
    await call(client, "PUT", f"{BASE}/{invoice_id}/tags", {"tags": ["web"]})
    await set_status(client, invoice_id, 5)
    _, source = await call(client, "GET", f"{BASE}/{invoice_id}")

    status, body = await act(
        client,
        invoice_id,
        "clone",
        {"bill_clientid": 4, "bill_date": "2026-09-01", "bill_due_date": "2026-10-01"},
    )

    assert status == 201
    clone, original = body["data"], source["data"]
    assert clone["id"] != invoice_id and clone["status"]["id"] == 1
    assert clone["client"]["id"] == 4 and clone["project_id"] is None
    assert clone["category"] == original["category"] and clone["notes"] == "See attached"
    assert (
        clone["discount"] == original["discount"] and clone["adjustment"] == original["adjustment"]
    )
    assert clone["totals"] == original["totals"] and clone["tags"] == ["web"]
    assert [line["description"] for line in clone["line_items"]] == ["Work"]
    assert clone["line_items"][0]["id"] != original["line_items"][0]["id"]
    assert [tax["taxrate_id"] for tax in clone["taxes"]] == [1]
    assert clone["taxes"][0]["id"] != original["taxes"][0]["id"]
    assert await status_of(client, invoice_id) == 5


async def test_clone_of_an_inline_invoice_ties_taxes_to_the_new_lines(
    client: TestClient[Any, Any],
) -> None:
    invoice_id = await new_invoice(
        client,
        "inline",
        [
            {"description": "A", "quantity": 1, "rate": 10, "tax_rate_id": 2},
            {"description": "B", "quantity": 1, "rate": 20, "tax_rate_id": 1},
        ],
    )

    _, body = await act(
        client,
        invoice_id,
        "clone",
        {"bill_clientid": 1, "bill_date": "2026-07-05", "bill_due_date": "2026-07-05"},
    )

    clone = body["data"]
    line_ids = [line["id"] for line in clone["line_items"]]
    assert [(tax["lineitem_id"], tax["taxrate_id"]) for tax in clone["taxes"]] == [
        (line_ids[0], 2),
        (line_ids[1], 1),
    ]
    assert clone["totals"]["tax_amount"] == Decimal("5.00")


async def test_clone_of_a_paid_invoice_owes_the_full_amount(client: TestClient[Any, Any]) -> None:
    invoice = await seeded_with_status(client, 5)

    _, body = await act(
        client,
        invoice["id"],
        "clone",
        {"bill_clientid": 2, "bill_date": "2026-07-01", "bill_due_date": "2026-07-31"},
    )

    totals = body["data"]["totals"]
    assert invoice["totals"]["balance_due"] == Decimal("0.00")
    assert totals["paid_amount"] == Decimal("0.00")
    assert totals["balance_due"] == totals["final_amount"] == invoice["totals"]["final_amount"]


async def test_tags_are_replaced_trimmed_deduplicated_and_clearable(
    client: TestClient[Any, Any],
) -> None:
    invoice_id = await new_invoice(client)
    await call(client, "PUT", f"{BASE}/{invoice_id}/tags", {"tags": ["old"]})

    _, replaced = await call(
        client, "PUT", f"{BASE}/{invoice_id}/tags", {"tags": [" q3 ", "vip", "q3"]}
    )
    _, cleared = await call(client, "PUT", f"{BASE}/{invoice_id}/tags", {"tags": []})

    assert replaced["data"]["tags"] == ["q3", "vip"]
    assert cleared["data"]["tags"] == []


async def test_delete_removes_the_invoice_from_get_list_and_delete(
    client: TestClient[Any, Any],
) -> None:
    status, _ = await call(client, "DELETE", f"{BASE}/12")

    assert status == 200
    assert (await call(client, "GET", f"{BASE}/12"))[0] == 404
    assert (await call(client, "DELETE", f"{BASE}/12"))[0] == 404
    _, listed = await call(client, "GET", f"{BASE}?limit=100")
    assert listed["meta"]["total"] == 55
    assert 12 not in [invoice["id"] for invoice in listed["data"]]


async def test_switching_summary_to_inline_drops_the_invoice_taxes(
    client: TestClient[Any, Any],
) -> None:
    invoice_id = await new_invoice(client)

    _, body = await update(client, invoice_id, {**HEADER, "bill_tax_type": "inline"})

    invoice = body["data"]
    assert invoice["tax_type"] == "inline" and invoice["taxes"] == []
    assert [line["description"] for line in invoice["line_items"]] == ["Work"]
    assert invoice["totals"]["tax_amount"] == Decimal("0.00")
    assert invoice["totals"]["final_amount"] == Decimal("200.00")


async def test_switching_inline_to_summary_drops_line_taxes_and_discounts(
    client: TestClient[Any, Any],
) -> None:
    invoice_id = await new_invoice(
        client,
        "inline",
        [
            {
                "description": "A",
                "quantity": 1,
                "rate": 100,
                "tax_rate_id": 1,
                "discount_type": "percentage",
                "discount_value": 50,
            }
        ],
    )

    _, body = await update(client, invoice_id, {**HEADER, "bill_tax_type": "summary"})

    invoice = body["data"]
    line = invoice["line_items"][0]
    assert invoice["taxes"] == [] and line["tax_rate_id"] is None
    assert line["discount_type"] == "none" and line["discount_amount"] == Decimal("0.00")
    assert invoice["totals"]["final_amount"] == Decimal("100.00")


async def test_an_update_keeps_optional_fields_it_does_not_send(
    client: TestClient[Any, Any],
) -> None:
    invoice_id = await new_invoice(client)
    await update(
        client,
        invoice_id,
        {
            **HEADER,
            "bill_projectid": 1,
            "bill_notes": "Kept",
            "bill_discount_type": "percentage",
            "bill_discount_percentage": "5",
        },
    )

    _, body = await update(client, invoice_id, {"bill_categoryid": 2, "bill_date": "2026-07-02"})
    _, cleared = await update(
        client,
        invoice_id,
        {
            "bill_categoryid": 2,
            "bill_date": "2026-07-02",
            "bill_projectid": None,
            "bill_notes": "",
            "bill_discount_type": "none",
        },
    )

    kept = body["data"]
    assert kept["project_id"] == 1 and kept["notes"] == "Kept"
    assert kept["discount"]["type"] == "percentage"
    assert kept["totals"]["discount_amount"] == Decimal("10.00")
    assert cleared["data"]["project_id"] is None and cleared["data"]["notes"] is None
    assert cleared["data"]["totals"]["discount_amount"] == Decimal("0.00")


async def test_create_defaults_the_due_date_from_the_client_or_the_system(
    client: TestClient[Any, Any],
) -> None:
    _, own_terms = await call(
        client, "POST", BASE, {"bill_clientid": 2, "bill_categoryid": 1, "bill_date": "2026-07-01"}
    )
    _, system = await call(
        client, "POST", BASE, {"bill_clientid": 1, "bill_categoryid": 1, "bill_date": "2026-07-01"}
    )

    # Client 2 pays in 14 days; client 1 has no terms of its own, so the system's 30 apply.
    assert own_terms["data"]["dates"]["due_date"] == "2026-07-15"
    assert system["data"]["dates"]["due_date"] == "2026-07-31"
    assert system["data"]["tax_type"] == "summary"


@pytest.mark.parametrize("tax_type", ["summary", "inline"])
async def test_line_items_as_read_can_be_written_back_unchanged(
    client: TestClient[Any, Any], tax_type: str
) -> None:
    source = next(
        invoice
        for invoice in await everything(client)
        if invoice["tax_type"] == tax_type
        and invoice["taxes"]
        and (
            tax_type == "summary"
            or any(li["discount_type"] != "none" for li in invoice["line_items"])
        )
    )
    payload: dict[str, Any] = {"items": source["line_items"]}
    if tax_type == "summary":
        payload["tax_rate_ids"] = [tax["taxrate_id"] for tax in source["taxes"]]

    response = await client.put(
        f"{BASE}/{source['id']}/line-items", data=json.dumps(payload, default=str), headers=KEY
    )
    answer = json.loads(await response.text(), parse_float=Decimal)

    assert response.status == 200, answer
    assert answer["data"] == source["totals"]
