"""A line tax given by its id alone takes the connection's rate for that id (issue 12: lines as
the docs write them; crm_v1's ``tax_id`` alone sets ``tax_rate``). It was a 422 "rate is
required" on every connection, though the connection's taxes said the rate."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from gateway.sandbox import sandbox_connection
from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import profile
from tests.e2e.conftest_sandbox import call
from tests.e2e.migrating import requests_log
from tests.e2e.sandbox import sandbox_in_thread

# order_linked sets a line's taxes itself, from its item's tax code.
CONNECTIONS = ["crm_v1", "draft_publish", "bill_crm", "item_envelope"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=2) as running:
        yield running


def _by_id(sandbox: Sandbox, connection: str) -> tuple[dict[str, Any], dict[str, Any], int]:
    """The provider's sample invoice, the same with its first taxed line's tax given by the
    connection's id alone, and that line's index."""
    sample = profile(connection).sample(0).model_dump(mode="json", exclude_none=True)
    index, line = next((i, line) for i, line in enumerate(sample["lines"]) if line.get("taxes"))
    rate = Decimal(line["taxes"][0]["rate"])
    configured = sandbox_connection(connection, sandbox.emulator_urls[connection])
    setting = next(tax for tax in configured.taxes if tax.rate == rate)
    full = copy.deepcopy(sample)
    full["lines"][index]["taxes"] = [{"id": setting.id, "name": setting.name, "rate": str(rate)}]
    alone = copy.deepcopy(sample)
    alone["lines"][index]["taxes"] = [{"id": setting.id}]
    return full, alone, index


def _figures(invoice: dict[str, Any]) -> dict[str, str]:
    totals: dict[str, str] = invoice["totals"]
    return {name: totals[name] for name in ("subtotal", "discount", "tax", "shipping", "total")}


@pytest.mark.parametrize("connection", CONNECTIONS)
async def test_a_tax_given_by_id_alone_is_the_connections_tax_of_that_id(
    sandbox: Sandbox, connection: str
) -> None:
    full, alone, index = _by_id(sandbox, connection)
    base = f"/v1/connections/{connection}/invoices"
    previewed = await call(sandbox, "POST", f"{base}/preview", body=alone)
    expected = await call(sandbox, "POST", f"{base}/preview", body=full)
    assert previewed.status == expected.status == 200, (previewed.body, expected.body)
    assert previewed.body["totals"] == expected.body["totals"]
    assert previewed.body["lines"][index]["taxes"] == expected.body["lines"][index]["taxes"]

    created = await call(sandbox, "POST", base, body=alone)
    assert created.status == 201, created.body
    [tax] = created.body["lines"][index]["taxes"]
    assert tax == {**full["lines"][index]["taxes"][0], "compound": False}
    assert _figures(created.body) == _figures(expected.body)


async def test_crm_v1_is_sent_the_id_with_its_rate(sandbox: Sandbox) -> None:
    _, alone, index = _by_id(sandbox, "crm_v1")
    before = len(await requests_log(sandbox, "crm_v1"))
    created = await call(sandbox, "POST", "/v1/connections/crm_v1/invoices", body=alone)
    assert created.status == 201, created.body
    [sent] = [r for r in (await requests_log(sandbox, "crm_v1"))[before:] if r["method"] == "POST"]
    item = sent["body"]["items"][index]
    assert (item["tax_id"], Decimal(str(item["tax_rate"]))) == (
        alone["lines"][index]["taxes"][0]["id"],
        Decimal(created.body["lines"][index]["taxes"][0]["rate"]),
    )


@pytest.mark.parametrize("connection", CONNECTIONS)
async def test_an_id_the_connection_does_not_configure_is_a_422_naming_it(
    sandbox: Sandbox, connection: str
) -> None:
    _, alone, index = _by_id(sandbox, connection)
    alone["lines"][index]["taxes"] = [{"id": "no-such-tax"}]
    before = len(await requests_log(sandbox, connection))
    refused = await call(sandbox, "POST", f"/v1/connections/{connection}/invoices", body=alone)
    assert refused.status == 422, refused.body
    [error] = refused.body["errors"]
    assert error["pointer"] == f"/lines/{index}/taxes/0/rate"
    assert "no tax with id no-such-tax" in error["detail"]
    assert len(await requests_log(sandbox, connection)) == before  # nothing sent


async def test_a_tax_with_neither_id_nor_rate_is_still_refused_for_its_rate(
    sandbox: Sandbox,
) -> None:
    _, alone, index = _by_id(sandbox, "crm_v1")
    alone["lines"][index]["taxes"] = [{"name": "VAT"}]
    refused = await call(sandbox, "POST", "/v1/connections/crm_v1/invoices/preview", body=alone)
    assert refused.status == 422, refused.body
    assert [e["pointer"] for e in refused.body["errors"]] == [f"/lines/{index}/taxes/0/rate"]


async def test_a_tax_with_a_null_rate_is_refused_not_filled(sandbox: Sandbox) -> None:
    """Only a rate left out is taken from the connection: ``"rate": null`` is a wrong value."""
    _, alone, index = _by_id(sandbox, "crm_v1")
    alone["lines"][index]["taxes"][0]["rate"] = None
    refused = await call(sandbox, "POST", "/v1/connections/crm_v1/invoices/preview", body=alone)
    assert refused.status == 422, refused.body
    assert [e["pointer"] for e in refused.body["errors"]] == [f"/lines/{index}/taxes/0/rate"]


async def test_an_unknown_id_is_said_with_every_other_error_and_a_numeric_id_is_taken(
    sandbox: Sandbox,
) -> None:
    _, alone, index = _by_id(sandbox, "crm_v1")
    unknown = {**alone, "currency": "usd"}
    unknown["lines"] = [dict(line) for line in alone["lines"]]
    unknown["lines"][index]["taxes"] = [{"id": "no-such-tax"}]
    refused = await call(sandbox, "POST", "/v1/connections/crm_v1/invoices/preview", body=unknown)
    assert refused.status == 422, refused.body
    pointers = [e["pointer"] for e in refused.body["errors"]]
    assert pointers.count(f"/lines/{index}/taxes/0/rate") == 1
    assert "/currency" in pointers
    numeric = dict(alone)
    numeric["lines"] = [dict(line) for line in alone["lines"]]
    numeric["lines"][index]["taxes"] = [{"id": int(alone["lines"][index]["taxes"][0]["id"])}]
    taken = await call(sandbox, "POST", "/v1/connections/crm_v1/invoices/preview", body=numeric)
    assert taken.status == 200, taken.body
    [tax] = taken.body["lines"][index]["taxes"]
    assert (tax["id"], tax["rate"]) == (alone["lines"][index]["taxes"][0]["id"], "5")


@pytest.mark.parametrize("connection", CONNECTIONS)
async def test_a_tax_named_otherwise_is_refused_strict_and_renamed_lenient(
    sandbox: Sandbox, connection: str
) -> None:
    """The provider keeps a tax by its id and names it itself: the caller's name came back
    replaced, with no warning, under strict too; the preview showed the caller's."""
    full, _, index = _by_id(sandbox, connection)
    theirs = full["lines"][index]["taxes"][0]["name"]
    full["lines"][index]["taxes"][0]["name"] = "Provincial levy"
    base = f"/v1/connections/{connection}/invoices"
    before = len(await requests_log(sandbox, connection))
    refused = await call(sandbox, "POST", base, body=full)
    assert refused.status == 422, refused.body
    assert refused.body["errors"][0]["pointer"] == f"/lines/{index}/taxes/0/name"
    sent = (await requests_log(sandbox, connection))[before:]
    assert [r["method"] for r in sent if r["method"] != "GET"] == []  # nothing written
    lenient = {"Prefer": "handling=lenient"}
    created = await call(sandbox, "POST", base, body=full, headers=lenient)
    assert created.status == 201, created.body
    assert created.body["lines"][index]["taxes"][0]["name"] == theirs
    said = [w for w in created.body["warnings"] if w["field"] == f"/lines/{index}/taxes/0/name"]
    assert len(said) == 1 and f"names this tax {theirs!r}" in said[0]["reason"]
    # The lenient preview shows what the lenient create made, and says so as the create does
    # (it showed the caller's name, in the line and in the breakdown, with no warning).
    previewed = await call(sandbox, "POST", f"{base}/preview", body=full, headers=lenient)
    assert previewed.status == 200, previewed.body
    assert previewed.body["lines"][index]["taxes"][0]["name"] == theirs
    assert "Provincial levy" not in str(previewed.body["totals"]["tax_breakdown"])
    assert [w for w in previewed.body["warnings"] if w["field"].endswith("/name")] == said
