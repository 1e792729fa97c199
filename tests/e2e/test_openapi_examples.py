"""The request examples the OpenAPI document offers (what the docs page's "Try it out" fills
in) are requests that succeed: the calculation, and on each sandbox connection a preview and a
create of its provider's invoice, with no warning."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from emulators.registry import PROVIDERS
from gateway.sandbox.serve import Sandbox
from tests.e2e.conftest_sandbox import call
from tests.e2e.sandbox import sandbox_in_thread


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=3) as running:
        yield running


async def _examples(sandbox: Sandbox, path: str) -> dict[str, Any]:
    document = (await call(sandbox, "GET", "/openapi.json", key=None)).body
    body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return {name: example["value"] for name, example in body["examples"].items()}


async def test_the_calculation_example_calculates(sandbox: Sandbox) -> None:
    [example] = (await _examples(sandbox, "/v1/invoices/calculate")).values()
    answer = await call(sandbox, "POST", "/v1/invoices/calculate", key=None, body=example)
    assert answer.status == 200, answer.body
    assert answer.body["totals"]["total"] == "6065.56"  # 5950.00 + 108.00 × 1.07


@pytest.mark.parametrize("connection", PROVIDERS)
async def test_each_connections_example_invoice_previews_and_is_created(
    sandbox: Sandbox, connection: str
) -> None:
    create = "/v1/connections/{connection}/invoices"
    examples = await _examples(sandbox, create)
    assert set(examples) == set(PROVIDERS)
    path = create.format(connection=connection)
    preview = await call(sandbox, "POST", f"{path}/preview", body=examples[connection])
    assert preview.status == 200, preview.body
    made = await call(sandbox, "POST", path, body=examples[connection])
    assert made.status == 201, made.body
    assert made.body.get("warnings", []) == []
    assert made.body["totals"]["total"] == preview.body["totals"]["total"]
    assert made.body["totals_check"]["consistent"] is True


def _offered(document: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    body = document["paths"][path][method]["requestBody"]["content"]
    (media,) = body
    return {name: example["value"] for name, example in body[media].get("examples", {}).items()}


async def test_the_examples_are_dated_today_so_an_issued_one_is_not_overdue(
    sandbox: Sandbox,
) -> None:
    """The create examples carried fixed dates, long past: one issued from the docs page was
    overdue at once."""
    before = date.today()
    document = (await call(sandbox, "GET", "/openapi.json", key=None)).body
    examples = _offered(document, "/v1/connections/{connection}/invoices")
    today = date.today()
    for body in examples.values():
        if "issue_date" in body:  # (the day the document was built: before midnight, or after)
            assert body["issue_date"] in (before.isoformat(), today.isoformat())
        if "due_date" in body:
            assert date.fromisoformat(body["due_date"]) > today
    made = await call(
        sandbox, "POST", "/v1/connections/draft_publish/invoices", body=examples["draft_publish"]
    )
    assert made.status == 201, made.body
    issued = await call(
        sandbox, "POST", f"/v1/connections/draft_publish/invoices/{made.body['id']}/issue"
    )
    assert issued.status == 200, issued.body
    assert issued.body["overdue"] is False


async def test_the_action_payment_and_order_examples_succeed(sandbox: Sandbox) -> None:
    """Try it out filled an action's body from the whole duplicate-inputs schema (a 422 on
    every action), a payment's from the payment schema (no method: 422) and an order's from
    the whole invoice schema (422): each now offers a body that works."""
    document = (await call(sandbox, "GET", "/openapi.json", key=None)).body
    invoice = "/v1/connections/{connection}/invoices/{invoice_id}"
    actions = _offered(document, invoice + "/{action}")
    payments = _offered(document, invoice + "/payments")
    orders = _offered(document, "/v1/connections/{connection}/orders/{order_id}/invoices")
    create = _offered(document, "/v1/connections/{connection}/invoices")

    made = await call(
        sandbox, "POST", "/v1/connections/draft_publish/invoices", body=create["draft_publish"]
    )
    one = f"/v1/connections/draft_publish/invoices/{made.body['id']}"
    issued = await call(sandbox, "POST", one + "/issue", body=actions["none"])
    assert issued.status == 200, issued.body
    [payment] = payments.values()
    paid = await call(sandbox, "POST", one + "/payments", body=payment)
    assert paid.status == 201, paid.body
    bill = await call(sandbox, "POST", "/v1/connections/bill_crm/invoices", body=create["bill_crm"])
    copy = await call(
        sandbox,
        "POST",
        f"/v1/connections/bill_crm/invoices/{bill.body['id']}/duplicate",
        body=actions["duplicate_dated"],
    )
    assert copy.status == 201, copy.body
    assert copy.body["issue_date"] == date.today().isoformat()
    for order, body in zip(("SO-1002", "SO-1003"), orders.values(), strict=True):
        answer = await call(
            sandbox, "POST", f"/v1/connections/order_linked/orders/{order}/invoices", body=body
        )
        assert answer.status == 201, (order, answer.body)


async def test_a_note_offers_a_file_input_not_an_empty_value(sandbox: Sandbox) -> None:
    """A nullable ``file`` with a null default was drawn by Swagger UI as "Send empty value",
    which sent a part ``file=null``."""
    document = (await call(sandbox, "GET", "/openapi.json", key=None)).body
    file = document["components"]["schemas"]["NoteRequest"]["properties"]["file"]
    assert file == {
        "items": {"format": "binary", "type": "string"},
        "title": "File",
        "type": "array",
    }
