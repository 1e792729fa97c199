"""Lifecycle of draft_publish invoices: every transition, every refusal, payments, batch, trash."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from aiohttp import ClientResponse

from emulators.draft_publish.reference import TAX_STANDARD
from tests.emulators._draft_publish_support import AUTH, BASE, CUSTOMER_ID, Client, act, read
from tests.emulators._draft_publish_support import client as client  # pytest fixture, used by name


def body(**overrides: Any) -> dict[str, Any]:
    """A valid create body: 2 × 100.00 at 20 % VAT, due after NOW (so never overdue)."""
    return {
        "customer_id": CUSTOMER_ID,
        "issue_date": "2026-06-01",
        "due_date": "2026-07-01",
        "currency": "USD",
        "items": [
            {"description": "Consulting", "quantity": 2, "unit_price": 100, "tax_id": TAX_STANDARD}
        ],
        **overrides,
    }


async def new_draft(client: Client, **overrides: Any) -> dict[str, Any]:
    response = await client.post(BASE, json=body(**overrides), headers=AUTH)
    assert response.status == 201, await response.text()
    data: dict[str, Any] = (await read(response))["data"]
    return data


async def act_ok(client: Client, invoice_id: str, action: str) -> dict[str, Any]:
    response = await act(client, invoice_id, action)
    assert response.status in {200, 201}, await response.text()
    data: dict[str, Any] = (await read(response))["data"]
    return data


async def fetch(client: Client, invoice_id: str) -> dict[str, Any]:
    response = await client.get(f"{BASE}/{invoice_id}", headers=AUTH)
    assert response.status == 200
    data: dict[str, Any] = (await read(response))["data"]
    return data


async def pay(client: Client, invoice_id: str, amount: str) -> ClientResponse:
    # The amount is written as a JSON number literal, exactly as given.
    payload = f'{{"amount": {amount}, "method": "cash", "date": "2026-06-10"}}'
    return await client.post(
        f"{BASE}/{invoice_id}/payments",
        data=payload,
        headers={**AUTH, "Content-Type": "application/json"},
    )


async def in_state(client: Client, state: str) -> dict[str, Any]:
    """A fresh invoice in ``state``, reached only through the API."""
    draft = await new_draft(client)
    if state == "draft":
        return draft
    sent = await act_ok(client, draft["id"], "publish")
    if state == "sent":
        return sent
    if state == "partially_paid":
        assert (await pay(client, draft["id"], "40.00")).status == 201
        return await fetch(client, draft["id"])
    if state == "paid":
        return await act_ok(client, draft["id"], "mark-paid")
    assert state == "voided"
    return await act_ok(client, draft["id"], "void")


async def trashed_draft(client: Client) -> dict[str, Any]:
    """A new draft, deleted into the trash."""
    draft = await new_draft(client)
    await client.delete(f"{BASE}/{draft['id']}", headers=AUTH)
    return draft


async def batch(client: Client, path: str, action: str, ids: list[str]) -> dict[str, Any]:
    """POST ``action`` on ``ids`` to ``path`` (``batch`` or ``trash/batch``); answers ``data``."""
    response = await client.post(
        f"{BASE}/{path}", json={"action": action, "ids": ids}, headers=AUTH
    )
    result: dict[str, Any] = (await read(response))["data"]
    return result


async def assert_conflict(response: ClientResponse, shown_status: str) -> None:
    assert response.status == 409, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "invalid_status"
    assert {"field": "status", "message": shown_status} in error["details"]


# -- transitions --------------------------------------------------------------------------------


async def test_draft_publish_unpublish_publish_again(client: Client) -> None:
    draft = await new_draft(client)

    first = await act_ok(client, draft["id"], "publish")
    back = await act_ok(client, draft["id"], "unpublish")
    second = await act_ok(client, draft["id"], "publish")

    assert (first["status"], back["status"], second["status"]) == ("sent", "draft", "sent")
    assert back["share_token"] is None
    assert first["share_token"] != second["share_token"], "a revoked token is never reissued"


async def test_mark_sent_then_void(client: Client) -> None:
    draft = await new_draft(client)

    sent = await act_ok(client, draft["id"], "mark-sent")
    voided = await act_ok(client, draft["id"], "void")

    assert (sent["status"], voided["status"]) == ("sent", "voided")


async def test_mark_paid_records_the_remaining_balance_as_a_payment(client: Client) -> None:
    partial = await in_state(client, "partially_paid")
    assert (partial["amount_paid"], partial["balance_due"]) == (Decimal("40.00"), Decimal("200.00"))

    paid = await act_ok(client, partial["id"], "mark-paid")

    assert paid["status"] == "paid"
    assert [p["amount"] for p in paid["payments"]] == [Decimal("40.00"), Decimal("200.00")]
    assert paid["payments"][-1]["method"] == "other"
    assert paid["payments"][-1]["date"] == "2026-06-15"
    assert (paid["amount_paid"], paid["balance_due"]) == (Decimal("240.00"), Decimal("0.00"))


async def test_send_resends_a_sent_or_paid_invoice_without_changing_it(client: Client) -> None:
    for state in ("sent", "paid"):
        before = await in_state(client, state)

        after = await act_ok(client, before["id"], "send")

        assert after["status"] == before["status"]
        assert after["share_token"] == before["share_token"] is not None


async def test_send_gives_a_marked_sent_invoice_a_share_link(client: Client) -> None:
    draft = await new_draft(client)
    await act_ok(client, draft["id"], "mark-sent")

    sent = await act_ok(client, draft["id"], "send")

    assert sent["status"] == "sent"
    assert isinstance(sent["share_token"], str)


async def test_a_sent_invoice_past_its_due_date_reads_overdue(client: Client) -> None:
    draft = await new_draft(client, issue_date="2026-05-01", due_date="2026-06-14")

    sent = await act_ok(client, draft["id"], "publish")
    assert sent["status"] == "overdue"
    paid = await act_ok(client, draft["id"], "mark-paid")
    assert paid["status"] == "paid"


async def test_overdue_invoices_take_the_same_actions_as_sent_ones(client: Client) -> None:
    draft = await new_draft(client, issue_date="2026-05-01", due_date="2026-06-14")
    await act_ok(client, draft["id"], "publish")

    assert (await pay(client, draft["id"], "10.00")).status == 201
    voided = await act_ok(client, draft["id"], "void")

    assert voided["status"] == "voided"


# -- refusals -----------------------------------------------------------------------------------

CONFLICTS = [
    ("publish", "sent"),
    ("publish", "paid"),
    ("publish", "voided"),
    ("unpublish", "draft"),
    ("unpublish", "paid"),
    ("unpublish", "voided"),
    ("void", "draft"),
    ("void", "paid"),
    ("void", "voided"),
    ("mark-paid", "draft"),
    ("mark-paid", "paid"),
    ("mark-paid", "voided"),
    ("mark-sent", "sent"),
    ("mark-sent", "paid"),
    ("mark-sent", "voided"),
    ("send", "voided"),
    ("credit-note", "draft"),
    ("credit-note", "voided"),
]


@pytest.mark.parametrize(("action", "state"), CONFLICTS, ids=[f"{a}-{s}" for a, s in CONFLICTS])
async def test_action_in_the_wrong_state_is_409(client: Client, action: str, state: str) -> None:
    invoice = await in_state(client, state)

    response = await act(client, invoice["id"], action)

    await assert_conflict(response, state)
    assert (await fetch(client, invoice["id"]))["status"] == state


@pytest.mark.parametrize("state", ["sent", "partially_paid", "paid", "voided"])
async def test_only_drafts_can_be_edited(client: Client, state: str) -> None:
    invoice = await in_state(client, state)

    response = await client.put(f"{BASE}/{invoice['id']}", json=body(notes="x"), headers=AUTH)

    await assert_conflict(response, "sent" if state == "partially_paid" else state)
    assert (await fetch(client, invoice["id"]))["notes"] is None


async def test_the_edit_conflict_comes_before_validation(client: Client) -> None:
    sent = await in_state(client, "sent")

    response = await client.put(f"{BASE}/{sent['id']}", json={"items": []}, headers=AUTH)

    await assert_conflict(response, "sent")


@pytest.mark.parametrize(
    ("body", "code"), [(b"[]", "invalid_body"), (b'"x"', "invalid_body"), (b"{", "malformed_json")]
)
async def test_a_body_that_is_no_json_object_is_400_before_the_edit_conflict(
    client: Client, body: bytes, code: str
) -> None:
    # The documented order: body JSON (400: malformed, or not an object), then lifecycle (409).
    sent = await in_state(client, "sent")
    headers = {**AUTH, "Content-Type": "application/json"}
    response = await client.put(f"{BASE}/{sent['id']}", data=body, headers=headers)
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["code"] == code


@pytest.mark.parametrize("state", ["sent", "paid", "voided"])
async def test_only_drafts_can_be_deleted(client: Client, state: str) -> None:
    invoice = await in_state(client, state)

    response = await client.delete(f"{BASE}/{invoice['id']}", headers=AUTH)

    await assert_conflict(response, state)
    assert (await fetch(client, invoice["id"]))["status"] == state


async def test_unpublish_with_payments_is_409(client: Client) -> None:
    partial = await in_state(client, "partially_paid")

    response = await act(client, partial["id"], "unpublish")

    assert response.status == 409
    error = (await response.json())["error"]
    assert error["code"] == "invalid_status"
    assert error["details"][0]["field"] == "payments"


async def test_a_credit_note_cannot_be_credited(client: Client) -> None:
    sent = await in_state(client, "sent")
    note = await act_ok(client, sent["id"], "credit-note")

    await act_ok(client, note["id"], "publish")
    response = await act(client, note["id"], "credit-note")

    assert response.status == 409
    assert (await response.json())["error"]["details"] == [
        {"field": "type", "message": "credit_note"}
    ]


async def test_voided_is_final(client: Client) -> None:
    voided = await in_state(client, "voided")

    for action in ("publish", "unpublish", "mark-sent", "mark-paid", "void", "send"):
        await assert_conflict(await act(client, voided["id"], action), "voided")
    assert (await pay(client, voided["id"], "1.00")).status == 409
    assert (await fetch(client, voided["id"]))["status"] == "voided"


# -- duplicate and credit notes -----------------------------------------------------------------


async def test_duplicate_leaves_the_source_alone_and_numbers_the_copy(client: Client) -> None:
    source = await in_state(client, "partially_paid")
    expected_number = (await read(await client.get(f"{BASE}/next-number", headers=AUTH)))["data"]

    copy = await act_ok(client, source["id"], "duplicate")

    assert copy["number"] == expected_number["number"]
    assert (copy["status"], copy["amount_paid"], copy["balance_due"]) == (
        "draft",
        Decimal("0.00"),
        source["total"],
    )
    assert copy["issue_date"] == source["issue_date"]
    assert {i["id"] for i in copy["items"]}.isdisjoint({i["id"] for i in source["items"]})
    assert await fetch(client, source["id"]) == source


async def test_credit_notes_have_their_own_number_sequence(client: Client) -> None:
    sent = await in_state(client, "sent")

    first = await act_ok(client, sent["id"], "credit-note")
    second = await act_ok(client, sent["id"], "credit-note")
    next_invoice = await new_draft(client)

    assert (first["number"], second["number"]) == ("CN-0001", "CN-0002")
    assert next_invoice["number"].startswith("INV-")
    assert (await fetch(client, sent["id"]))["status"] == "sent"


# -- payments -----------------------------------------------------------------------------------


async def test_payments_move_sent_to_paid_when_the_balance_reaches_zero(client: Client) -> None:
    sent = await in_state(client, "sent")
    assert sent["total"] == Decimal("240.00")

    first = await pay(client, sent["id"], "100.00")
    middle = await fetch(client, sent["id"])
    last = await pay(client, sent["id"], "140.00")
    final = await fetch(client, sent["id"])

    assert (first.status, last.status) == (201, 201)
    assert (middle["status"], middle["balance_due"]) == ("sent", Decimal("140.00"))
    assert (final["status"], final["balance_due"]) == ("paid", Decimal("0.00"))


async def test_an_overpayment_is_422_naming_amount(client: Client) -> None:
    sent = await in_state(client, "sent")

    response = await pay(client, sent["id"], "240.01")

    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "validation_error"
    assert error["details"] == [
        {"field": "amount", "message": "must not exceed the balance due (240.00)"}
    ]
    assert (await fetch(client, sent["id"]))["payments"] == []


@pytest.mark.parametrize("state", ["draft", "paid", "voided"])
async def test_payments_need_a_sent_invoice(client: Client, state: str) -> None:
    invoice = await in_state(client, state)

    await assert_conflict(await pay(client, invoice["id"], "1.00"), state)


async def test_deleting_a_payment_of_a_paid_invoice_reopens_it(client: Client) -> None:
    sent = await in_state(client, "sent")
    await pay(client, sent["id"], "240.00")
    paid = await fetch(client, sent["id"])
    payment_id = paid["payments"][0]["id"]

    response = await client.delete(f"{BASE}/{sent['id']}/payments/{payment_id}", headers=AUTH)

    assert response.status == 200
    reopened = (await read(response))["data"]
    assert (reopened["status"], reopened["payments"]) == ("sent", [])
    assert reopened["balance_due"] == Decimal("240.00")
    again = await client.delete(f"{BASE}/{sent['id']}/payments/{payment_id}", headers=AUTH)
    assert again.status == 404


async def test_payments_of_a_voided_invoice_cannot_be_deleted(client: Client) -> None:
    partial = await in_state(client, "partially_paid")
    await act_ok(client, partial["id"], "void")
    payment_id = partial["payments"][0]["id"]

    response = await client.delete(f"{BASE}/{partial['id']}/payments/{payment_id}", headers=AUTH)

    await assert_conflict(response, "voided")


async def test_payments_are_listed_by_date(client: Client) -> None:
    sent = await in_state(client, "sent")
    for day, amount in (("2026-06-12", "3.00"), ("2026-06-02", "2.00")):
        await client.post(
            f"{BASE}/{sent['id']}/payments",
            json={"amount": int(Decimal(amount)), "method": "check", "date": day},
            headers=AUTH,
        )

    listed = await read(await client.get(f"{BASE}/{sent['id']}/payments?limit=1", headers=AUTH))

    assert [p["date"] for p in listed["data"]] == ["2026-06-02"]
    assert listed["meta"] == {"page": 1, "limit": 1, "total": 2, "total_pages": 2}


# -- batch and trash ----------------------------------------------------------------------------


async def test_batch_delete_trashes_drafts_and_reports_the_rest(client: Client) -> None:
    draft, sent = await in_state(client, "draft"), await in_state(client, "sent")
    ids = [draft["id"], sent["id"], "missing", draft["id"]]

    result = await batch(client, "batch", "delete", ids)

    assert result["succeeded"] == [draft["id"]]
    assert [(f["id"], f["code"]) for f in result["failed"]] == [
        (sent["id"], "invalid_status"),
        ("missing", "not_found"),
    ]
    assert (await client.get(f"{BASE}/{draft['id']}", headers=AUTH)).status == 404


async def test_batch_void_and_mark_sent(client: Client) -> None:
    draft, sent = await in_state(client, "draft"), await in_state(client, "sent")

    marked = await batch(client, "batch", "mark-sent", [draft["id"], sent["id"]])
    voided = await batch(client, "batch", "void", [draft["id"], sent["id"]])

    assert marked["succeeded"] == [draft["id"]]
    assert [f["id"] for f in marked["failed"]] == [sent["id"]]
    assert voided["succeeded"] == [draft["id"], sent["id"]]
    assert (await fetch(client, draft["id"]))["status"] == "voided"


async def test_restore_brings_a_trashed_draft_back(client: Client) -> None:
    draft = await trashed_draft(client)

    result = await batch(client, "trash/batch", "restore", [draft["id"]])

    assert result["succeeded"] == [draft["id"]]
    restored = await fetch(client, draft["id"])
    assert (restored["status"], restored["number"]) == ("draft", draft["number"])
    trash = await read(await client.get(f"{BASE}/trash/list", headers=AUTH))
    assert draft["id"] not in [row["id"] for row in trash["data"]]


async def test_purge_removes_for_good_and_never_reuses_the_number(client: Client) -> None:
    draft = await trashed_draft(client)

    result = await batch(client, "trash/batch", "purge", [draft["id"]])

    assert result["succeeded"] == [draft["id"]]
    trash = await read(await client.get(f"{BASE}/trash/list", headers=AUTH))
    assert draft["id"] not in [row["id"] for row in trash["data"]]
    assert (await client.get(f"{BASE}/{draft['id']}", headers=AUTH)).status == 404
    assert (await new_draft(client))["number"] != draft["number"]


async def test_trash_batch_only_touches_trashed_invoices(client: Client) -> None:
    live = await new_draft(client)

    result = await batch(client, "trash/batch", "purge", [live["id"]])

    assert (result["succeeded"], [f["code"] for f in result["failed"]]) == ([], ["not_found"])
    assert (await fetch(client, live["id"]))["id"] == live["id"]


async def test_trashed_invoices_take_no_actions(client: Client) -> None:
    draft = await trashed_draft(client)

    for action in ("publish", "duplicate"):
        assert (await act(client, draft["id"], action)).status == 404
    put = await client.put(f"{BASE}/{draft['id']}", json=body(), headers=AUTH)
    assert put.status == 404


# -- reset --------------------------------------------------------------------------------------


async def test_reset_restores_the_seeded_state(client: Client) -> None:
    before = await client.get(f"{BASE}?limit=100", headers=AUTH)
    before_text = await before.text()
    draft = await new_draft(client)
    seeded_draft = (await read(await client.get(f"{BASE}?status=draft", headers=AUTH)))["data"][0]
    await client.delete(f"{BASE}/{seeded_draft['id']}", headers=AUTH)

    assert (await client.post("/_emulator/reset")).status == 200

    assert await (await client.get(f"{BASE}?limit=100", headers=AUTH)).text() == before_text
    assert (await client.get(f"{BASE}/{draft['id']}", headers=AUTH)).status == 404
    after_reset = await new_draft(client)
    assert (after_reset["id"], after_reset["number"]) == (draft["id"], draft["number"])
