"""Money at the edges, over HTTP: one decimal grammar, places refused (never rounded), bounds on
what a write computes, and provider figures of any size read and listed on every connection."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from adapters.registry import build_adapter
from emulators.registry import PROVIDERS
from gateway.canonical.model import Invoice
from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import profile
from tests.e2e.conftest_sandbox import call
from tests.e2e.sandbox import sandbox_in_thread


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=2) as running:
        yield running


def item(**fields: Any) -> dict[str, Any]:
    return {"quantity": "1", "unit_price": "19.99", **fields}


# (where the value goes, the value as JSON text, the pointer named)
REFUSED = [
    ("unit_price", '"19.9949999999999999999999999999999"', "/lines/0/unit_price"),
    ("quantity", '"0.' + "9" * 29 + '"', "/lines/0/quantity"),
    ("quantity", '"1E-1000000000000"', "/lines/0/quantity"),
    ("quantity", "1E-1000000000000", "/lines/0/quantity"),  # a JSON number: exponent is fine
    ("unit_price", '"\u0665"', "/lines/0/unit_price"),  # an Arabic-Indic five
    ("unit_price", '"1_000"', "/lines/0/unit_price"),
    ("unit_price", '" 2 "', "/lines/0/unit_price"),
    ("unit_price", '"+5"', "/lines/0/unit_price"),
    ("unit_price", '".5"', "/lines/0/unit_price"),
    ("unit_price", '"5."', "/lines/0/unit_price"),
    ("unit_price", "9" * 5000, "/lines/0/unit_price"),  # a 5000-digit JSON integer
]


def body_with(field: str, raw: str) -> bytes:
    line = json.dumps(item(**{field: "@@"})).replace('"@@"', raw)
    return ('{"currency": "USD", "lines": [' + line + "]}").encode()


@pytest.mark.parametrize(("field", "raw", "pointer"), REFUSED)
async def test_a_decimal_outside_the_grammar_or_places_is_a_422_naming_it(
    sandbox: Sandbox, field: str, raw: str, pointer: str
) -> None:
    answer = await call(sandbox, "POST", "/v1/invoices/calculate", raw=body_with(field, raw))
    assert answer.status == 422, answer.body
    assert answer.body["code"] == "validation_error"
    assert [e["pointer"] for e in answer.body["errors"]] == [pointer]
    assert "set_int_max_str_digits" not in answer.body["detail"]
    assert "Decimal" not in answer.body["detail"] and "int(" not in answer.body["detail"]


@pytest.mark.parametrize("compound", ['"yes"', '"true"', "1", '"on"', "0"])
async def test_compound_is_true_or_false_as_json_writes_them(
    sandbox: Sandbox, compound: str
) -> None:
    """A compound tax is charged on the taxes before it: "yes" read as true changed the tax
    the caller asked for, unseen. Only JSON's true and false are taken."""
    taxes = '[{"rate": "10"}, {"rate": "5", "compound": ' + compound + "}]"
    raw = body_with("taxes", taxes)
    answer = await call(sandbox, "POST", "/v1/invoices/calculate", raw=raw)
    assert answer.status == 422, answer.body
    assert [e["pointer"] for e in answer.body["errors"]] == ["/lines/0/taxes/1/compound"]
    accepted = body_with("taxes", '[{"rate": "10"}, {"rate": "5", "compound": true}]')
    taken = await call(sandbox, "POST", "/v1/invoices/calculate", raw=accepted)
    assert taken.status == 200 and taken.body["totals"]["tax"] == "3.10"  # 2.00 + 5% of 21.99


async def test_a_percent_a_hair_over_100_is_refused_not_rounded(sandbox: Sandbox) -> None:
    invoice = {
        "currency": "USD",
        "lines": [item()],
        "discount": {"type": "percent", "value": "100.00000000000000000000000000001"},
    }
    answer = await call(sandbox, "POST", "/v1/invoices/calculate", body=invoice)
    assert answer.status == 422
    assert [e["pointer"] for e in answer.body["errors"]] == ["/discount/value"]


async def test_exactly_written_values_are_taken_as_they_are(sandbox: Sandbox) -> None:
    raw = (
        b'{"currency": "USD", "lines": [{"quantity": "2.500000", "unit_price": 19.9900,'
        b' "taxes": [{"rate": "20"}]}], "shipping": "-0"}'
    )
    answer = await call(sandbox, "POST", "/v1/invoices/calculate", raw=raw)
    assert answer.status == 200, answer.body
    assert answer.body["lines"][0]["subtotal"] == "49.98"  # 2.5 × 19.99 = 49.975 → 49.98
    assert answer.body["totals"]["shipping"] == "0.00"  # -0 is read as 0


def huge(provider: str) -> dict[str, Any]:
    """The provider's sample invoice with one line of a million units at a billion each."""
    invoice: dict[str, Any] = profile(provider).sample(0).model_dump(mode="json", exclude_none=True)
    first = next(line for line in invoice["lines"] if line.get("kind", "item") == "item")
    first.update(quantity="1000000", unit_price="1000000000")
    first.pop("discount", None)
    invoice["lines"] = [first]
    invoice.pop("discount", None)
    invoice.pop("adjustment", None)
    return invoice


@pytest.mark.parametrize("connection", PROVIDERS)
async def test_a_write_that_would_compute_10_to_the_15_is_refused_before_sending(
    sandbox: Sandbox, connection: str
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(sandbox.emulator_urls[connection] + "/_emulator/requests") as response,
    ):
        before = len((await response.json())["requests"])
    answer = await call(
        sandbox, "POST", f"/v1/connections/{connection}/invoices", body=huge(connection)
    )
    assert answer.status == 422, answer.body
    pointers = [e["pointer"] for e in answer.body["errors"]]
    assert "/lines/0/subtotal" in pointers
    assert all("10^15" in e["detail"] for e in answer.body["errors"])
    async with (
        aiohttp.ClientSession() as session,
        session.get(sandbox.emulator_urls[connection] + "/_emulator/requests") as response,
    ):
        sent = (await response.json())["requests"][before:]
    assert [r for r in sent if r["method"] != "GET"] == []


@pytest.mark.parametrize("connection", PROVIDERS)
async def test_a_provider_invoice_of_10_to_the_15_is_read_and_listed(
    sandbox: Sandbox, connection: str
) -> None:
    # Made at the provider directly (every provider stores it), not through the gateway.
    settings = sandbox.settings.connection(connection)
    assert settings is not None
    async with aiohttp.ClientSession() as session:
        adapter = build_adapter(settings, session)
        made = await adapter.create(Invoice.model_validate(huge(connection)), handling="lenient")
    invoice_id = made.invoice.id
    read = await call(sandbox, "GET", f"/v1/connections/{connection}/invoices/{invoice_id}")
    assert read.status == 200, read.body
    assert Decimal(read.body["totals"]["subtotal"]) >= Decimal(10) ** 15
    assert Decimal(read.body["lines"][0]["subtotal"]) == Decimal(10) ** 15
    ids = []
    path = f"/v1/connections/{connection}/invoices?limit=100"
    while path:
        page = await call(sandbox, "GET", path)
        assert page.status == 200, page.body
        ids += [invoice["id"] for invoice in page.body["data"]]
        cursor = page.body["next_cursor"]
        path = f"/v1/connections/{connection}/invoices?limit=100&cursor={cursor}" if cursor else ""
    assert invoice_id in ids


# A keyed write that answers a provider's invoice without changing its lines, per connection.
ACTION_ON_A_NEW_INVOICE = {
    "bill_crm": "void",
    "draft_publish": "issue",
    "item_envelope": "issue",
    "order_linked": "void",
}


@pytest.mark.parametrize("connection", sorted(ACTION_ON_A_NEW_INVOICE))
async def test_a_keyed_write_answering_a_provider_invoice_of_10_to_the_15_replays_it(
    sandbox: Sandbox, connection: str
) -> None:
    """The answer kept with the key holds the provider's figures past a caller's bounds; the
    same key sent again replays it (read as the provider's figures), not a 500."""
    settings = sandbox.settings.connection(connection)
    assert settings is not None
    async with aiohttp.ClientSession() as session:
        adapter = build_adapter(settings, session)
        made = await adapter.create(Invoice.model_validate(huge(connection)), handling="lenient")
    action = ACTION_ON_A_NEW_INVOICE[connection]
    path = f"/v1/connections/{connection}/invoices/{made.invoice.id}/{action}"
    key = {"Idempotency-Key": f"huge-{connection}-{action}"}
    first = await call(sandbox, "POST", path, headers=key)
    assert first.status == 200, first.body
    assert Decimal(first.body["lines"][0]["subtotal"]) == Decimal(10) ** 15
    again = await call(sandbox, "POST", path, headers=key)
    assert again.status == 200, again.body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.body == first.body


async def test_every_bad_field_is_listed_at_once_with_the_currencys_own_places(
    sandbox: Sandbox,
) -> None:
    """The currency's places (and a compound tax in an inclusive invoice) were checked only once
    every field had validated: a too-fine unit_price and a too-fine shipping listed the price
    alone, and the caller who fixed it was then told of the shipping. One answer names every
    bad field, on calculate and on a connection's create and preview."""
    body = {
        "currency": "USD",
        "tax_mode": "inclusive",
        "shipping": "0.001",
        "adjustment": {"amount": "-0.005", "description": "rounding"},
        "discount": {"type": "amount", "value": "0.011"},
        "lines": [
            item(unit_price="1.00001"),
            item(
                discount={"type": "amount", "value": "0.001"},
                taxes=[{"rate": "5", "compound": True}],
            ),
        ],
    }
    wanted = {
        "/lines/0/unit_price",
        "/shipping",
        "/adjustment/amount",
        "/discount/value",
        "/lines/1/discount/value",
        "/lines/1/taxes/0/compound",
    }
    answer = await call(sandbox, "POST", "/v1/invoices/calculate", body=body)
    assert answer.status == 422, answer.body
    pointers = [e["pointer"] for e in answer.body["errors"]]
    assert sorted(pointers) == sorted(wanted), answer.body["errors"]
    assert "(and 5 more)" in answer.body["detail"]
    fine = {e["pointer"]: e["detail"] for e in answer.body["errors"]}
    assert fine["/shipping"] == "must have at most 2 decimal places for USD"
    sample = profile("crm_v1").sample(0).model_dump(mode="json", exclude_none=True)
    sample["shipping"] = "0.001"
    sample["lines"][0]["quantity"] = "-1"
    for path in ("/v1/connections/crm_v1/invoices", "/v1/connections/crm_v1/invoices/preview"):
        made = await call(sandbox, "POST", path, body=sample)
        assert made.status == 422, made.body
        assert sorted(e["pointer"] for e in made.body["errors"]) == [
            "/lines/0/quantity",
            "/shipping",
        ], made.body["errors"]
    # A value that does not parse is named once, by its own error.
    body = {"currency": "USD", "shipping": "1e-3", "lines": [item()]}
    answer = await call(sandbox, "POST", "/v1/invoices/calculate", body=body)
    assert [e["pointer"] for e in answer.body["errors"]] == ["/shipping"], answer.body


async def test_an_amount_finer_than_four_places_is_told_its_own_currencys_places(
    sandbox: Sandbox,
) -> None:
    """An amount with 3 or 4 places was told "at most 2 decimal places for USD", and one with 5
    or more "at most 4 decimal places, and no more than its currency has (2 for USD, 0 for
    JPY)": JPY named on a USD invoice. Both now say what the body's currency allows."""
    sample = profile("bill_crm").sample(0).model_dump(mode="json", exclude_none=True)
    for value in ("0.001", "1.9949999999999999999999999999999", "0.00001"):
        adjustment = {"amount": value, "description": "rounding"}
        calculated = {"currency": "USD", "adjustment": adjustment, "lines": [item()]}
        sent = {**sample, "currency": "USD", "adjustment": adjustment}
        for path, body in (
            ("/v1/invoices/calculate", calculated),
            ("/v1/connections/bill_crm/invoices/preview", sent),
            ("/v1/connections/bill_crm/invoices", sent),
        ):
            answer = await call(sandbox, "POST", path, body=body)
            assert answer.status == 422, answer.body
            assert answer.body["errors"] == [
                {
                    "pointer": "/adjustment/amount",
                    "detail": "must have at most 2 decimal places for USD",
                }
            ], (value, path)


async def test_a_currency_not_the_bodys_own_is_never_the_one_named(sandbox: Sandbox) -> None:
    """A payment's body has no currency (its invoice's is its own): a stray ``currency`` in it
    is refused, not taken to word the amount's places. An order's invoice has its own."""
    listed = await call(sandbox, "GET", "/v1/connections/draft_publish/invoices?limit=1")
    invoice_id = listed.body["data"][0]["id"]
    payment = {"amount": "1.00001", "date": "2026-05-02", "method": "cash", "currency": "JPY"}
    path = f"/v1/connections/draft_publish/invoices/{invoice_id}/payments"
    answer = await call(sandbox, "POST", path, body=payment)
    assert answer.status == 422, answer.body
    assert {e["pointer"]: e["detail"] for e in answer.body["errors"]} == {
        "/amount": "must have at most 4 decimal places, and no more than its currency has",
        "/currency": "is not a field of this object",
    }
    order = {"currency": "AUD", "shipping": "1.00001"}
    path = "/v1/connections/order_linked/orders/SO-1001/invoices"
    answer = await call(sandbox, "POST", path, body=order)
    assert answer.status == 422, answer.body
    assert answer.body["errors"] == [
        {"pointer": "/shipping", "detail": "must have at most 2 decimal places for AUD"}
    ]


async def test_a_create_past_the_bounds_is_told_what_its_provider_refuses_too(
    sandbox: Sandbox,
) -> None:
    """A bill_crm create whose line computed past 10^15 was told of the bounds alone (lower the
    quantities or prices), and once the quantity was lowered, of the unit price bill_crm cannot
    take; its preview named the unit price alone. Both name every problem in one answer, the
    same ones, and nothing is sent."""
    sample = profile("bill_crm").sample(0).model_dump(mode="json", exclude_none=True)
    sample["lines"] = [{**sample["lines"][0], "quantity": "100", "unit_price": "9999999999999.99"}]
    sample.pop("discount", None)
    async with (
        aiohttp.ClientSession() as session,
        session.get(sandbox.emulator_urls["bill_crm"] + "/_emulator/requests") as response,
    ):
        before = len((await response.json())["requests"])
    told = {}
    for path in ("/v1/connections/bill_crm/invoices", "/v1/connections/bill_crm/invoices/preview"):
        answer = await call(sandbox, "POST", path, body=sample)
        assert answer.status == 422, answer.body
        told[path] = sorted(e["pointer"] for e in answer.body["errors"])
        assert "/lines/0/unit_price" in told[path], answer.body["errors"]
        assert any("10^15" in e["detail"] for e in answer.body["errors"]), answer.body["errors"]
    create, preview = told.values()
    assert create == preview
    async with (
        aiohttp.ClientSession() as session,
        session.get(sandbox.emulator_urls["bill_crm"] + "/_emulator/requests") as response,
    ):
        sent = (await response.json())["requests"][before:]
    assert [r for r in sent if r["method"] != "GET"] == []
