"""bill_crm over the sandbox, as a client calls it: a clone made with its inputs (client, dates,
project), every status the CRM lets a user set, the changes its doc forbids refused before
anything is sent, and an invoice marked paid that reads paid in full (issue 12, items 2 and 9).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from gateway.sandbox.serve import Sandbox
from tests.e2e.conftest_sandbox import Answer, call
from tests.e2e.sandbox import sandbox_in_thread

BASE = "/v1/connections/bill_crm/invoices"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=23) as running:
        yield running


async def provider_log(sandbox: Sandbox, provider: str = "bill_crm") -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(sandbox.emulator_urls[provider] + "/_emulator/requests") as response,
    ):
        entries: list[dict[str, Any]] = (await response.json())["requests"]
        return entries


async def writes_since(sandbox: Sandbox, start: int, provider: str = "bill_crm") -> list[str]:
    log = (await provider_log(sandbox, provider))[start:]
    return [f"{r['method']} {r['path']}" for r in log if r["method"] != "GET"]


async def a_draft(sandbox: Sandbox) -> dict[str, Any]:
    """A new draft of client 2 with one line (each test gets its own invoice)."""
    invoice = {
        "customer": {"id": "2"},
        "issue_date": "2026-07-01",
        "due_date": "2026-07-31",
        "currency": "USD",
        "lines": [{"name": "Audit", "quantity": "2", "unit_price": "150.00", "taxes": []}],
        "provider_fields": {"bill_categoryid": 1},
    }
    created = await call(sandbox, "POST", BASE, body=invoice)
    assert created.status == 201, created.body
    body: dict[str, Any] = created.body
    return body


async def act(sandbox: Sandbox, invoice_id: str, action: str, **options: Any) -> Answer:
    return await call(sandbox, "POST", f"{BASE}/{invoice_id}/{action}", **options)


def status_id(invoice: dict[str, Any]) -> int:
    value: int = invoice["provider_status"]["status"]["id"]
    return value


# -- clone with its inputs ------------------------------------------------------------------------


async def test_a_clone_to_another_client_and_dates_reads_back_with_them(sandbox: Sandbox) -> None:
    source = await a_draft(sandbox)
    inputs = {
        "customer": {"id": "6"},
        "issue_date": "2026-08-03",
        "due_date": "2026-09-02",
        "provider_fields": {"bill_projectid": 7},
    }
    key = f"clone-{uuid.uuid4().hex}"
    made = await act(
        sandbox, source["id"], "duplicate", body=inputs, headers={"Idempotency-Key": key}
    )
    assert made.status == 201, made.body
    copy = (await call(sandbox, "GET", f"{BASE}/{made.body['id']}")).body
    assert copy["id"] != source["id"] and copy["status"] == "draft"
    assert (copy["customer"]["id"], copy["issue_date"], copy["due_date"]) == (
        "6",
        "2026-08-03",
        "2026-09-02",
    )
    assert copy["provider_fields"]["bill_projectid"] == 7
    assert [line["name"] for line in copy["lines"]] == ["Audit"]
    assert copy["totals"]["total"] == source["totals"]["total"] == "300.00"
    # The same key and inputs: the answer replayed, no second clone; other inputs: refused.
    start = len(await provider_log(sandbox))
    again = await act(
        sandbox, source["id"], "duplicate", body=inputs, headers={"Idempotency-Key": key}
    )
    assert (again.status, again.body["id"]) == (201, made.body["id"])
    assert again.headers["Idempotent-Replayed"] == "true"
    other = {**inputs, "due_date": "2026-09-30"}
    reused = await act(
        sandbox, source["id"], "duplicate", body=other, headers={"Idempotency-Key": key}
    )
    assert (reused.status, reused.body["code"]) == (422, "idempotency_key_reused")
    assert await writes_since(sandbox, start) == []


async def test_a_new_issue_date_alone_keeps_the_payment_term_and_a_new_client_no_project(
    sandbox: Sandbox,
) -> None:
    source = await a_draft(sandbox)  # issued 07-01, due 07-31: a 30-day term
    made = await act(
        sandbox,
        source["id"],
        "duplicate",
        body={"customer": {"id": "3"}, "issue_date": "2026-10-01"},
    )
    assert made.status == 201, made.body
    assert (made.body["customer"]["id"], made.body["issue_date"], made.body["due_date"]) == (
        "3",
        "2026-10-01",
        "2026-10-31",
    )
    assert made.body["provider_fields"].get("bill_projectid") is None
    plain = await act(sandbox, source["id"], "duplicate")  # no body: a faithful copy
    assert plain.status == 201, plain.body
    assert (plain.body["customer"]["id"], plain.body["issue_date"], plain.body["due_date"]) == (
        "2",
        "2026-07-01",
        "2026-07-31",
    )


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        ({"customer_id": "6"}, ["/customer_id"]),
        (
            {"issue_date": "01/08/2026", "customer": {"id": "6", "name": "x"}},
            ["/customer/name", "/issue_date"],
        ),
        ({"customer": {"id": "acme"}}, ["/customer/id"]),
        ({"issue_date": "2026-08-03", "due_date": "2026-08-01"}, ["/due_date"]),
        ({"provider_fields": {"bill_categoryid": 2}}, ["/provider_fields/bill_categoryid"]),
        ({"provider_fields": {"bill_projectid": "seven"}}, ["/provider_fields/bill_projectid"]),
    ],
)
async def test_clone_inputs_are_checked_before_anything_is_sent(
    sandbox: Sandbox, body: dict[str, Any], pointers: list[str]
) -> None:
    source = await a_draft(sandbox)
    start = len(await provider_log(sandbox))
    refused = await act(sandbox, source["id"], "duplicate", body=body)
    assert refused.status == 422, refused.body
    assert sorted(e["pointer"] for e in refused.body["errors"]) == pointers
    assert await writes_since(sandbox, start) == []


async def test_a_clone_date_that_names_no_day_is_told_so(sandbox: Sandbox) -> None:
    source = await a_draft(sandbox)
    refused = await act(sandbox, source["id"], "duplicate", body={"due_date": "2026-04-31"})
    assert refused.status == 422, refused.body
    assert [(e["pointer"], e["detail"]) for e in refused.body["errors"]] == [
        ("/due_date", "names no day of the calendar: 2026-04 has 30 days")
    ]


async def test_a_project_of_another_client_is_the_crms_refusal_at_its_pointer(
    sandbox: Sandbox,
) -> None:
    source = await a_draft(sandbox)  # client 2; project 7 is client 6's
    refused = await act(
        sandbox, source["id"], "duplicate", body={"provider_fields": {"bill_projectid": 7}}
    )
    assert refused.status == 422, refused.body
    assert refused.body["errors"] == [
        {
            "pointer": "/provider_fields/bill_projectid",
            "detail": "The selected bill_projectid belongs to another client.",
        }
    ]


async def test_a_duplicate_that_takes_no_inputs_names_those_it_cannot_take(
    sandbox: Sandbox,
) -> None:
    listed = await call(sandbox, "GET", "/v1/connections/draft_publish/invoices?limit=1")
    invoice_id = listed.body["data"][0]["id"]
    start = len(await provider_log(sandbox, "draft_publish"))
    refused = await call(
        sandbox,
        "POST",
        f"/v1/connections/draft_publish/invoices/{invoice_id}/duplicate",
        body={"customer": {"id": "c-1"}, "issue_date": "2026-08-03"},
    )
    assert (refused.status, refused.body["code"]) == (422, "unsupported_field")
    assert [e["pointer"] for e in refused.body["errors"]] == ["/customer/id", "/issue_date"]
    assert "draft_publish" in refused.body["detail"]
    assert await writes_since(sandbox, start, "draft_publish") == []


@pytest.mark.parametrize(
    ("connection", "offered"),
    [
        (
            "bill_crm",
            'this connection\'s duplicate takes customer {"id": …}, issue_date, due_date, '
            'provider_fields {"bill_projectid": …}',
        ),
        (
            "draft_publish",
            "this connection's duplicate takes none: it copies the invoice as it is",
        ),
    ],
)
async def test_a_key_that_is_no_input_is_told_what_this_connection_takes(
    sandbox: Sandbox, connection: str, offered: str
) -> None:
    # Not every key the body's form has room for: draft_publish's duplicate takes none of them,
    # and a caller sent to "customer" by the first 422 only met a second.
    listed = await call(sandbox, "GET", f"/v1/connections/{connection}/invoices?limit=1")
    invoice_id = listed.body["data"][0]["id"]
    refused = await call(
        sandbox,
        "POST",
        f"/v1/connections/{connection}/invoices/{invoice_id}/duplicate",
        body={"custmer": {"id": "2"}},
    )
    assert refused.status == 422, refused.body
    assert refused.body["errors"] == [
        {"pointer": "/custmer", "detail": f"is not an input of duplicate ({offered})"}
    ]


async def test_another_action_takes_no_body(sandbox: Sandbox) -> None:
    source = await a_draft(sandbox)
    refused = await act(sandbox, source["id"], "issue", body={"issue_date": "2026-08-03"})
    assert refused.status == 422, refused.body
    assert refused.body["errors"][0]["pointer"] == "/issue_date"
    read = await call(sandbox, "GET", f"{BASE}/{source['id']}")
    assert read.body["status"] == "draft"


# -- every status the CRM lets a user set ----------------------------------------------------------


async def test_every_settable_status_is_reached_and_read_back(sandbox: Sandbox) -> None:
    invoice = await a_draft(sandbox)
    steps = [
        ("issue", 2, "open"),
        ("mark_overdue", 3, "open"),
        ("mark_partially_paid", 4, "open"),
        ("mark_paid", 5, "paid"),
        ("void", 20, "void"),  # paid → cancelled, as the doc allows
        ("reactivate", 2, "open"),
        ("mark_paid", 5, "paid"),
        ("mark_unpaid", 2, "open"),
        ("mark_overdue", 3, "open"),
        ("unpublish", 1, "draft"),
    ]
    for action, provider_id, status in steps:
        answer = await act(sandbox, invoice["id"], action)
        assert answer.status == 200, (action, answer.body)
        read = (await call(sandbox, "GET", f"{BASE}/{invoice['id']}")).body
        assert (action, status_id(read), read["status"]) == (action, provider_id, status)
        if provider_id == 3:
            assert read["overdue"] is True
        if provider_id == 4:
            assert read["payment_status"] == "partially_paid"


async def test_a_forbidden_change_is_409_and_nothing_is_sent(sandbox: Sandbox) -> None:
    invoice = await a_draft(sandbox)
    assert (await act(sandbox, invoice["id"], "issue")).status == 200
    assert (await act(sandbox, invoice["id"], "mark_paid")).status == 200
    start = len(await provider_log(sandbox))
    twice = await act(sandbox, invoice["id"], "issue")  # the doc: 409 if already published
    assert (twice.status, twice.body["code"]) == (409, "conflict")
    assert twice.body["detail"] == (
        f"bill_crm invoice {invoice['id']} is 5 Paid: issue (publish) publishes only a draft "
        "(409 if already published)"
    )
    wrong = await act(sandbox, invoice["id"], "reactivate")  # Paid, not Cancelled
    assert wrong.status == 409
    assert wrong.body["detail"].endswith(
        "reactivate sets 2 Due from 20 Cancelled only; from 5 Paid use mark_unpaid"
    )
    again = await act(sandbox, invoice["id"], "mark_paid")
    assert again.status == 409 and "is already 5 Paid: nothing to mark paid" in again.body["detail"]
    assert await writes_since(sandbox, start) == []
    read = (await call(sandbox, "GET", f"{BASE}/{invoice['id']}")).body
    assert status_id(read) == 5


# -- mark_paid: paid and due agree -------------------------------------------------------------------


async def test_mark_paid_leaves_paid_and_due_consistent_and_says_where_they_come_from(
    sandbox: Sandbox,
) -> None:
    invoice = await a_draft(sandbox)
    assert (await act(sandbox, invoice["id"], "issue")).status == 200
    paid = await act(sandbox, invoice["id"], "mark_paid")
    assert paid.status == 200, paid.body
    read = (await call(sandbox, "GET", f"{BASE}/{invoice['id']}?expand=remote_data")).body
    totals = read["totals"]
    assert (read["status"], read["payment_status"]) == ("paid", "paid")
    assert (totals["paid"], totals["due"], totals["paid_source"]) == ("300.00", "0.00", "status")
    assert Decimal(totals["paid"]) + Decimal(totals["due"]) == Decimal(totals["total"])
    # The CRM's own figures (it records no payment) are listed, not lost.
    assert read["totals_check"] == {
        "consistent": False,
        "differences": [
            {"field": "paid", "provider": "0.00", "computed": "300.00"},
            {"field": "due", "provider": "300.00", "computed": "0.00"},
        ],
    }
    assert Decimal(str(read["remote_data"]["totals"]["balance_due"])) == Decimal("300.00")
    # Back to Due: what is owed is the whole total again.
    unpaid = (await act(sandbox, invoice["id"], "mark_unpaid")).body
    assert (unpaid["totals"]["due"], unpaid["totals"]["paid_source"]) == ("300.00", "provider")
    assert unpaid["payment_status"] == "unpaid" and unpaid["totals_check"]["consistent"]
