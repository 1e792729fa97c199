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


@pytest.mark.parametrize("connection", [p for p in PROVIDERS if p != "order_linked"])
async def test_each_connections_example_replaces_an_invoice_of_its_own(
    sandbox: Sandbox, connection: str
) -> None:
    """The docs page's PUT offered no example: Swagger UI filled a body from the whole schema
    (null amounts, a payment of 0), which every connection refused. It offers the create's,
    which replaces an invoice made from it (order_linked has no update: a 501)."""
    document = (await call(sandbox, "GET", "/openapi.json", key=None)).body
    examples = _offered(document, "/v1/connections/{connection}/invoices/{invoice_id}", "put")
    assert set(examples) == set(PROVIDERS)
    path = f"/v1/connections/{connection}/invoices"
    made = await call(sandbox, "POST", path, body=examples[connection])
    assert made.status == 201, made.body
    changed = {**examples[connection], "notes": "Replaced from the docs page's example"}
    replaced = await call(sandbox, "PUT", f"{path}/{made.body['id']}", body=changed)
    assert replaced.status == 200, replaced.body
    assert replaced.body["notes"] == "Replaced from the docs page's example"
    assert replaced.body.get("warnings", []) == []


async def test_a_preview_documents_no_provider_answer_it_cannot_give(sandbox: Sandbox) -> None:
    """A preview calls no provider and keeps no key: 409, 502, 503 and 504 were listed, which a
    client generated from the document would handle for nothing."""
    document = (await call(sandbox, "GET", "/openapi.json", key=None)).body
    answers = document["paths"]["/v1/connections/{connection}/invoices/preview"]["post"]
    assert not {"409", "502", "503", "504"} & set(answers["responses"])
    assert {"200", "400", "401", "403", "404", "413", "415", "422", "501"} <= set(
        answers["responses"]
    )


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
        # Without it, Swagger UI sent its sample item, a text part "string" (422).
        "examples": [[]],
    }


async def test_a_note_with_the_file_input_left_empty_is_a_note_without_files(
    sandbox: Sandbox,
) -> None:
    """The docs page (and a browser's form) sends a ``file`` part for a file input left empty:
    no file name, no bytes. It was refused ("file needs its file name"); it is no file."""
    boundary = "b0undary"
    parts = [
        ('name="note"', b"Called the customer"),
        ('name="file"', b""),  # the docs page's: no file name at all
        ('name="file"; filename=""', b""),  # a browser form's
    ]
    raw = (
        b"".join(
            f"--{boundary}\r\nContent-Disposition: form-data; {said}\r\n\r\n".encode()
            + content
            + b"\r\n"
            for said, content in parts
        )
        + f"--{boundary}--\r\n".encode()
    )
    answer = await call(
        sandbox,
        "POST",
        "/v1/connections/order_linked/invoices/INV-00001/notes",
        raw=raw,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert answer.status == 201, answer.body
    assert (answer.body["note"]["content"], answer.body["note"]["files"]) == (
        "Called the customer",
        [],
    )
