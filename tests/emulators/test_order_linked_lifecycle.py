"""order_linked lifecycle: cancel and reactivate, one active invoice per order, notes, reset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.emulators._order_linked_support import AUTH, Client, post
from tests.emulators._order_linked_support import client as client  # pytest fixture, used by name


async def get_invoice(client: Client, invoice_id: str) -> dict[str, Any]:
    response = await client.get(f"/invoices/{invoice_id}", headers=AUTH)
    assert response.status == 200
    invoice: dict[str, Any] = (await response.json())["invoice"]
    return invoice


async def first_invoice(client: Client, **filters: str) -> dict[str, Any]:
    response = await client.get("/invoices", params={"per_page": "100", **filters}, headers=AUTH)
    invoices: list[dict[str, Any]] = (await response.json())["invoices"]
    assert invoices, f"the seed has an invoice matching {filters}"
    return invoices[0]


def note_form(**fields: str | tuple[str, bytes]) -> aiohttp.FormData:
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        if isinstance(value, tuple):
            form.add_field(name, value[1], filename=value[0])
        else:
            form.add_field(name, value)
    return form


# -- cancel and reactivate ----------------------------------------------------------------------


async def test_cancel_makes_the_invoice_inactive_and_is_stored(client: Client) -> None:
    before = await first_invoice(client, status="ACTIVE", payment_status="UNPAID")
    status, body = await post(client, f"/invoices/{before['id']}/cancel")
    assert status == 200
    after = body["invoice"]
    assert after["status"] == "INACTIVE"
    assert after["version"] == str(int(before["version"]) + 1)
    assert after["last_updated_by"] == "API User"
    assert after["kpis"]["last_cancelled_on"] == after["last_updated_on"]
    assert after["kpis"]["outstanding"] == "0.00"
    # Cancelling changes no money: the invoice still says what was billed and what is unpaid.
    for name in ("subtotal", "tax", "total", "paid", "due", "payment_status"):
        assert after[name] == before[name], name
    assert await get_invoice(client, before["id"]) == after


async def test_cancel_keeps_the_settlement_state_of_a_paid_invoice(client: Client) -> None:
    paid = await first_invoice(client, status="ACTIVE", payment_status="PAID")
    status, body = await post(client, f"/invoices/{paid['id']}/cancel")
    assert status == 200
    assert body["invoice"]["status"] == "INACTIVE"
    assert body["invoice"]["payment_status"] == "PAID"
    assert body["invoice"]["paid"] == paid["total"]


async def test_cancelling_twice_is_a_conflict_that_changes_nothing(client: Client) -> None:
    status, body = await post(client, "/invoices/INV-00003/cancel")
    assert status == 200
    cancelled = body["invoice"]
    status, body = await post(client, "/invoices/INV-00003/cancel")
    assert status == 409
    assert body == {
        "error": {
            "code": "INVOICE_ALREADY_INACTIVE",
            "message": "invoice 'INV-00003' is already cancelled",
        }
    }
    assert await get_invoice(client, "INV-00003") == cancelled


async def test_reactivating_an_active_invoice_is_a_conflict(client: Client) -> None:
    active = await first_invoice(client, status="ACTIVE")
    status, body = await post(client, f"/invoices/{active['id']}/reactivate")
    assert status == 409
    assert body["error"]["code"] == "INVOICE_ALREADY_ACTIVE"
    assert active["id"] in body["error"]["message"]
    assert await get_invoice(client, active["id"]) == active


async def test_reactivate_brings_a_cancelled_invoice_back(client: Client) -> None:
    await post(client, "/invoices/INV-00004/cancel")
    status, body = await post(client, "/invoices/INV-00004/reactivate")
    assert status == 200
    invoice = body["invoice"]
    assert invoice["status"] == "ACTIVE"
    assert invoice["kpis"]["last_reactivated_on"] == invoice["last_updated_on"]
    assert invoice["kpis"]["last_cancelled_on"] is not None
    assert invoice["kpis"]["outstanding"] == invoice["due"]
    # It can go round again: cancel is not final for this provider.
    status, body = await post(client, "/invoices/INV-00004/cancel")
    assert (status, body["invoice"]["status"]) == (200, "INACTIVE")


async def test_seeded_cancelled_invoice_can_be_reactivated(client: Client) -> None:
    inactive = await first_invoice(client, status="INACTIVE")
    assert inactive["kpis"]["last_cancelled_on"] is not None
    status, body = await post(client, f"/invoices/{inactive['id']}/reactivate")
    assert (status, body["invoice"]["status"]) == (200, "ACTIVE")


@pytest.mark.parametrize("action", ["cancel", "reactivate"])
async def test_actions_on_an_unknown_invoice_are_404(client: Client, action: str) -> None:
    status, body = await post(client, f"/invoices/INV-99999/{action}")
    assert status == 404
    assert body == {"error": {"code": "NOT_FOUND", "message": "invoice 'INV-99999' not found"}}


# -- invoices made from orders ------------------------------------------------------------------


async def test_an_order_takes_one_active_invoice(client: Client) -> None:
    status, first = await post(client, "/orders/SO-1003/invoices", {"invoice": {}})
    assert status == 201
    first_id = first["invoice"]["id"]
    status, body = await post(client, "/orders/SO-1003/invoices", {"invoice": {}})
    assert status == 409
    assert body["error"]["code"] == "ORDER_ALREADY_INVOICED"
    assert first_id in body["error"]["message"]
    # Cancelling the invoice frees the order for a new one ...
    await post(client, f"/invoices/{first_id}/cancel")
    status, second = await post(client, "/orders/SO-1003/invoices", {"invoice": {}})
    assert status == 201
    assert second["invoice"]["id"] != first_id
    # ... and then the first cannot come back while the second is active.
    status, body = await post(client, f"/invoices/{first_id}/reactivate")
    assert status == 409
    assert body["error"]["code"] == "ORDER_ALREADY_INVOICED"
    assert (await get_invoice(client, first_id))["status"] == "INACTIVE"


async def test_create_from_order_without_a_body_uses_today_and_the_account_terms(
    client: Client,
) -> None:
    before = datetime.now(UTC).date()
    response = await client.post("/orders/SO-1004/invoices", headers=AUTH)
    after = datetime.now(UTC).date()
    assert response.status == 201
    invoice = (await response.json())["invoice"]
    assert invoice["issue_date"] in {before.isoformat(), after.isoformat()}
    issued = datetime.fromisoformat(invoice["issue_date"]).date()
    # ACC-1003 pays in 30 days.
    assert invoice["due_date"] == (issued + timedelta(days=30)).isoformat()
    assert invoice["invoice_note"] is None
    assert invoice["currency"]["name"] == "US Dollar"
    assert invoice["account_id"] == "ACC-1003"


async def test_create_from_order_takes_dates_and_purchase_order_from_the_body(
    client: Client,
) -> None:
    body = {
        "invoice": {
            "invoice_note": "Second shipment",
            "customer_purchase_order_id": "PO-OVERRIDE",
            "issue_date": "2026-08-01",
            "due_date": "2026-08-15",
        }
    }
    status, payload = await post(client, "/orders/SO-1001/invoices", body)
    assert status == 201
    invoice = payload["invoice"]
    assert (invoice["issue_date"], invoice["due_date"]) == ("2026-08-01", "2026-08-15")
    assert invoice["customer_purchase_order_id"] == "PO-OVERRIDE"
    assert invoice["invoice_note"] == "Second shipment"


async def test_create_from_an_unknown_order_is_404(client: Client) -> None:
    status, body = await post(client, "/orders/SO-0000/invoices", {"invoice": {}})
    assert status == 404
    assert body == {"error": {"code": "NOT_FOUND", "message": "order 'SO-0000' not found"}}


async def test_linked_create_through_post_invoices_holds_the_order(client: Client) -> None:
    invoice = {
        "type": "LINKED_WITH_ORDER",
        "order_id": "SO-1008",
        "currency": "EUR",
        "issue_date": "2026-07-01",
        "due_date": "2026-07-31",
        "price_tax_inclusive": False,
        "account_id": "ACC-1005",
        "lines": [{"item_id": "ITM-1002", "item_quantity": 2}],
    }
    status, body = await post(client, "/invoices", {"invoice": invoice})
    assert status == 201
    assert body["invoice"]["type"] == "LINKED_WITH_ORDER"
    assert body["invoice"]["order_id"] == "SO-1008"
    assert body["invoice"]["custom_form"]["name"] == "Sales Order Invoice"
    status, body = await post(client, "/orders/SO-1008/invoices")
    assert status == 409
    assert body["error"]["code"] == "ORDER_ALREADY_INVOICED"


async def test_seeded_linked_invoices_hold_their_orders(client: Client) -> None:
    response = await client.get("/invoices", params={"per_page": "100"}, headers=AUTH)
    invoices = (await response.json())["invoices"]
    linked = next(i for i in invoices if i["order_id"] and i["status"] == "ACTIVE")
    status, body = await post(client, f"/orders/{linked['order_id']}/invoices")
    assert status == 409
    assert linked["id"] in body["error"]["message"]


# -- notes --------------------------------------------------------------------------------------


async def test_note_files_accumulate_and_text_replaces(client: Client) -> None:
    form = note_form(note="Approved by <i>finance</i>", file=("approval.pdf", b"%PDF"))
    response = await client.post("/invoices/INV-00005/notes", data=form, headers=AUTH)
    assert response.status == 201
    note_uuid = (await response.json())["invoice"]["notes"]["uuid"]

    response = await client.post(
        f"/invoices/INV-00005/notes/{note_uuid}",
        data=note_form(text="Approved twice"),
        headers=AUTH,
    )
    assert response.status == 200
    assert await response.json() == {
        "invoice": {"notes": {"content": "Approved twice", "files": [{"name": "approval.pdf"}]}}
    }
    response = await client.post(
        f"/invoices/INV-00005/notes/{note_uuid}",
        data=note_form(file=("scan.jpg", b"\xff\xd8")),
        headers=AUTH,
    )
    assert response.status == 200
    assert await response.json() == {
        "invoice": {
            "notes": {
                "content": "Approved twice",
                "files": [{"name": "approval.pdf"}, {"name": "scan.jpg"}],
            }
        }
    }


async def test_a_new_note_takes_one_file_and_keeps_its_bytes(client: Client) -> None:
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("note", "Two scans")
    form.add_field("file", b"%PDF-1", filename="a.pdf", content_type="application/pdf")
    form.add_field("file", b"%PDF-2", filename="b.pdf", content_type="application/pdf")
    response = await client.post("/invoices/INV-00005/notes", data=form, headers=AUTH)
    assert response.status == 422
    assert (await response.json())["error"]["message"].startswith(
        "file: one file per new note, not 2: add more with POST"
    )
    form = note_form(note="One scan", file=("a.pdf", b"%PDF-1"))
    response = await client.post("/invoices/INV-00005/notes", data=form, headers=AUTH)
    note_uuid = (await response.json())["invoice"]["notes"]["uuid"]
    state = await (await client.get("/_emulator/invoices/INV-00005/notes")).json()
    (note,) = [n for n in state["notes"] if n["uuid"] == note_uuid]
    assert note["content"] == "One scan"
    assert [(f["name"], f["size"], f["content_base64"]) for f in note["files"]] == [
        ("a.pdf", 6, "JVBERi0x")
    ]


async def test_an_order_reads_as_an_invoice_made_from_it_would_take_it(client: Client) -> None:
    response = await client.get("/orders/SO-1001", headers=AUTH)
    assert response.status == 200
    order = (await response.json())["order"]
    assert (order["id"], order["account_id"], order["currency"]["name"]) == (
        "SO-1001",
        "ACC-1001",
        "Australian Dollar",
    )
    assert (order["shipping_cost"], order["price_tax_inclusive"]) == ("49.95", "false")
    assert [
        (
            ln["item_id"],
            ln["item_order_quantity"],
            ln["item_price_snapshot"]["pricing_rule"]["price"],
        )
        for ln in order["lines"]
    ] == [("ITM-1001", "2", "749.00"), ("ITM-1005", "3", "95.00")]
    status, made = await post(client, "/orders/SO-1001/invoices")
    assert status == 201
    assert made["invoice"]["shipping_cost"] == order["shipping_cost"]
    assert made["invoice"]["currency"] == order["currency"]


async def test_a_cancelled_invoice_still_takes_notes(client: Client) -> None:
    await post(client, "/invoices/INV-00006/cancel")
    form = note_form(note="Cancelled: customer changed the order")
    response = await client.post("/invoices/INV-00006/notes", data=form, headers=AUTH)
    assert response.status == 201


async def test_notes_on_unknown_invoices_and_notes_are_404(client: Client) -> None:
    response = await client.post(
        "/invoices/INV-99999/notes", data=note_form(note="x"), headers=AUTH
    )
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "NOT_FOUND"

    response = await client.post(
        "/invoices/INV-00001/notes/4b0c6a8e-0000-4000-8000-000000000000",
        data=note_form(text="x"),
        headers=AUTH,
    )
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "NOT_FOUND"

    # A note belongs to its invoice: another invoice's path does not reach it.
    response = await client.post(
        "/invoices/INV-00001/notes", data=note_form(note="x"), headers=AUTH
    )
    note_uuid = (await response.json())["invoice"]["notes"]["uuid"]
    response = await client.post(
        f"/invoices/INV-00002/notes/{note_uuid}", data=note_form(text="y"), headers=AUTH
    )
    assert response.status == 404


# -- reset --------------------------------------------------------------------------------------


async def test_reset_restores_the_seed(client: Client) -> None:
    pristine = await client.get("/invoices", params={"per_page": "100"}, headers=AUTH)
    pristine_body = await pristine.json()
    _, created = await post(client, "/orders/SO-1001/invoices", {"invoice": {}})
    await post(client, "/invoices/INV-00001/cancel")

    response = await client.post("/_emulator/reset")
    assert response.status == 200

    response = await client.get(f"/invoices/{created['invoice']['id']}", headers=AUTH)
    assert response.status == 404
    again = await client.get("/invoices", params={"per_page": "100"}, headers=AUTH)
    assert await again.json() == pristine_body
    # The order is free again, and the next invoice gets the same id and uuids as before.
    _, recreated = await post(client, "/orders/SO-1001/invoices", {"invoice": {}})
    assert recreated["invoice"]["id"] == created["invoice"]["id"]
    assert recreated["invoice"]["uuid"] == created["invoice"]["uuid"]
