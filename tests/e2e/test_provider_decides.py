"""What a provider decides for itself is said, not silently done: a replace that empties a field
the provider cannot empty on an update (its mapping's ``capabilities.update_keeps``) is refused
or kept with a warning, instead of answering 200 with the field unchanged; a preview on a
provider that taxes each line by its item (``capabilities.taxes_by_item``) warns that it used
the taxes sent; issuing twice is a 409 even where the provider would take it
(``capabilities.reissue_accepted``) (docs/facade.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import profile
from tests.e2e.conftest_sandbox import call, created, provider_writes
from tests.e2e.sandbox import sandbox_in_thread

LENIENT = {"Prefer": "handling=lenient"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=3) as running:
        yield running


def _line(**fields: Any) -> dict[str, Any]:
    return {"name": "Hours", "quantity": "2", "unit_price": "10.00", **fields}


BODIES = {
    "bill_crm": {
        "customer": {"id": "1"},
        "currency": "USD",
        "issue_date": "2026-03-01",
        "due_date": "2026-03-31",
        "lines": [_line()],
    },
    "crm_v1": {
        "customer": {"id": "10"},
        "currency": "EUR",
        "exchange_rate": "1.2",
        "issue_date": "2026-03-01",
        "due_date": "2026-03-31",
        "lines": [_line(item_id="10")],
    },
    "item_envelope": {
        "customer": {"id": "4"},
        "currency": "USD",
        "issue_date": "2026-07-03",
        "lines": [{"item_id": "1", "quantity": "1", "unit_price": "50"}],
    },
}


@pytest.mark.parametrize(
    ("connection", "field", "kept"),
    [
        ("bill_crm", "due_date", "2026-03-31"),
        ("crm_v1", "issue_date", "2026-03-01"),
        ("crm_v1", "exchange_rate", "1.2"),
        ("item_envelope", "issue_date", "2026-07-03"),
    ],
)
async def test_emptying_a_kept_field_is_refused_strict_and_kept_with_a_warning_lenient(
    sandbox: Sandbox, connection: str, field: str, kept: str
) -> None:
    location = await created(sandbox, connection, BODIES[connection])
    read = (await call(sandbox, "GET", location)).body
    assert read[field] == kept
    emptied = {**BODIES[connection], field: None, "notes": "changed"}

    strict = await call(sandbox, "PUT", location, body=emptied)
    assert (strict.status, strict.body["code"]) == (422, "unsupported_field"), strict.body
    assert strict.body["errors"] == [
        {
            "pointer": f"/{field}",
            "detail": strict.body["errors"][0]["detail"],
        }
    ]
    detail = strict.body["errors"][0]["detail"]
    assert detail.startswith(f"{connection} cannot empty") and detail.endswith(f"keeps {kept}")
    unchanged = (await call(sandbox, "GET", location)).body
    assert (unchanged[field], unchanged["notes"]) == (kept, read["notes"])

    lenient = await call(sandbox, "PUT", location, body=emptied, headers=LENIENT)
    assert lenient.status == 200, lenient.body
    assert lenient.body["warnings"] == [{"field": f"/{field}", "reason": detail}]
    after = (await call(sandbox, "GET", location)).body
    assert (after[field], after["notes"]) == (kept, "changed")


async def test_a_preview_where_the_provider_taxes_by_item_says_it_used_the_taxes_sent(
    sandbox: Sandbox,
) -> None:
    """order_linked taxes each line by its item's tax code, which only it knows: the preview
    computes with the taxes sent and says so on each line; the create shows what was applied."""
    body = {
        "customer": {"id": "ACC-1003"},
        "currency": "USD",
        "issue_date": "2026-03-01",
        "due_date": "2026-03-31",
        "lines": [
            {"item_id": "ITM-1008", "quantity": "1", "unit_price": "10"},  # GST 10% by its item
            {"item_id": "ITM-1009", "quantity": "1", "unit_price": "10"},  # GST-free
        ],
    }
    path = "/v1/connections/order_linked/invoices"
    preview = await call(sandbox, "POST", path + "/preview", body=body)
    assert preview.status == 200, preview.body
    assert [w["field"] for w in preview.body["warnings"]] == ["/lines/0/taxes", "/lines/1/taxes"]
    assert all("by its item's tax code" in w["reason"] for w in preview.body["warnings"])
    assert preview.body["totals"]["tax"] == "0.00"  # the taxes sent: none
    created = await call(sandbox, "POST", path, body=body)
    assert created.status == 201, created.body
    assert created.body["totals"]["tax"] == "1.00"  # what the provider applied
    assert [w["field"] for w in created.body["warnings"]] == ["/lines/0/taxes"]


async def test_a_preview_names_a_tax_as_the_created_invoice_does(sandbox: Sandbox) -> None:
    """A tax sent by its id alone is named from the connection's tax table in the preview, as
    the provider names it in the invoice the create reads back: the same breakdown rows."""
    body = {**BODIES["bill_crm"], "lines": [_line(taxes=[{"id": "5", "rate": "5"}])]}
    path = "/v1/connections/bill_crm/invoices"
    preview = await call(sandbox, "POST", path + "/preview", body=body)
    assert preview.status == 200, preview.body
    made = await call(sandbox, "POST", path, body=body)
    assert made.status == 201, made.body
    names = [tax["name"] for tax in made.body["lines"][0]["taxes"]]
    assert names == ["GST 5%"]  # the sandbox's tax table (gateway/sandbox)
    assert [tax["name"] for tax in preview.body["lines"][0]["taxes"]] == names
    breakdown = made.body["totals"]["tax_breakdown"]
    assert [row["name"] for row in breakdown] == names
    assert preview.body["totals"]["tax_breakdown"] == breakdown


@pytest.mark.parametrize("connection", ["item_envelope", "draft_publish", "bill_crm"])
async def test_issue_twice_is_a_conflict_whatever_the_provider_would_do(
    sandbox: Sandbox, connection: str
) -> None:
    """item_envelope takes `issue` again on an issued invoice and changes nothing; the others
    refuse it (capabilities.reissue_accepted). Every connection answers a 409, the invoice as
    it was, and the gateway sends item_envelope nothing."""
    one = await created(sandbox, connection)
    number = one.rsplit("/", 1)[1]
    first = await call(sandbox, "POST", one + "/issue")
    assert (first.status, first.body["status"]) == (200, "open"), first.body
    writes = len(await provider_writes(sandbox, connection))
    again = await call(sandbox, "POST", one + "/issue")
    assert (again.status, again.body["code"]) == (409, "conflict"), again.body
    if connection == "item_envelope":  # the provider would take it: the gateway says why not
        assert again.body["detail"] == (
            f"{connection} invoice {number} is already issued (it is open): issue takes a draft"
        )
    # item_envelope (the gateway) and bill_crm (its adapter) refuse before sending; draft_publish
    # refuses the publish it is sent.
    sent = len(await provider_writes(sandbox, connection)) - writes
    assert sent == (1 if connection == "draft_publish" else 0)
    after = await call(sandbox, "GET", one)
    assert (after.body["status"], after.headers["ETag"]) == ("open", first.headers["ETag"])


async def test_a_replace_that_moves_lines_may_send_back_their_names_as_read(
    sandbox: Sandbox,
) -> None:
    """item_envelope keeps no line names of its own (each line is its product's): the names a
    read gives back pass unchanged, also once the lines are reordered or one is left out, each
    compared with the line of its id; a name changed is still refused, strict."""
    body = {
        **BODIES["item_envelope"],
        "lines": [
            {"item_id": "1", "quantity": "1", "unit_price": "50"},
            {"item_id": "2", "quantity": "2", "unit_price": "25"},
        ],
    }
    location = await created(sandbox, "item_envelope", body)
    read = (await call(sandbox, "GET", location)).body
    first, second = read["lines"]
    assert first["name"] and second["name"]
    for lines in ([second, first], [second]):
        answer = await call(sandbox, "PUT", location, body={**read, "lines": lines})
        assert answer.status == 200, answer.body
        assert [line["item_id"] for line in answer.body["lines"]] == [
            line["item_id"] for line in lines
        ]
        read = answer.body
    renamed = {**read["lines"][0], "name": "Another name"}
    refused = await call(sandbox, "PUT", location, body={**read, "lines": [renamed]})
    assert (refused.status, refused.body["code"]) == (422, "unsupported_field"), refused.body


@pytest.mark.parametrize("connection", ["crm_v1", "draft_publish", "item_envelope", "bill_crm"])
async def test_an_amount_discount_over_lines_that_net_to_nothing_is_refused_before_sending(
    sandbox: Sandbox, connection: str
) -> None:
    """The engine shares an amount discount over lines netting to 0 as nothing (the spec's step
    4), and calculate says so; every provider that carries a document discount refuses one above
    the subtotal. The preview answered 200 and the create then met the provider's 422 (on
    bill_crm after making half an invoice and deleting it): both now refuse it at
    ``/discount/value``, and nothing is sent."""
    body = profile(connection).sample(0).model_dump(mode="json", exclude_none=True)
    for line in body["lines"]:
        if line.get("kind", "item") == "item":
            line["unit_price"] = "0"
            line.pop("discount", None)
    body["discount"] = {"type": "amount", "value": "1.00"}
    body.pop("adjustment", None)
    path = f"/v1/connections/{connection}/invoices"
    calculated = await call(sandbox, "POST", "/v1/invoices/calculate", body=body)
    assert calculated.status == 200, calculated.body
    assert calculated.body["totals"]["discount"] == "0.00"
    before = await provider_writes(sandbox, connection)
    for answer in (
        await call(sandbox, "POST", path + "/preview", body=body),
        await call(sandbox, "POST", path, body=body),
    ):
        assert answer.status == 422, answer.body
        errors = answer.body["errors"]
        assert [e["pointer"] for e in errors] == ["/discount/value"], errors
        assert f"{connection} refuses a document discount above the subtotal" in errors[0]["detail"]
        assert "net total 0.00" in errors[0]["detail"]
    assert await provider_writes(sandbox, connection) == before
    item = next(line for line in body["lines"] if line.get("kind", "item") == "item")
    item["unit_price"] = "1.00"  # a net total to share it over: made
    made = await call(sandbox, "POST", path, body=body)
    assert made.status == 201, made.body
    assert made.body["totals"]["discount"] == "1.00"
