"""A connection says which currencies its invoices can be in, where its provider takes only some:
a sync script learns it before its first create, not from the 422 each one gets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulators.registry import PROVIDERS
from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import profile
from tests.e2e.conftest_sandbox import call
from tests.e2e.sandbox import sandbox_in_thread

# The sandbox's configuration: crm_v1 and order_linked name currencies by their own ids, those
# configured; bill_crm works in its account's; the others keep no list.
LISTED = {
    "crm_v1": ["EUR", "GBP", "JPY", "USD"],
    "bill_crm": ["USD"],
    "order_linked": ["AUD", "EUR", "GBP", "JPY", "NZD", "USD"],
    "draft_publish": None,
    "item_envelope": None,
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=1) as running:
        yield running


async def test_each_connection_names_the_currencies_it_takes(sandbox: Sandbox) -> None:
    listed = await call(sandbox, "GET", "/v1/connections")
    assert {c["name"]: c["currencies"] for c in listed.body["data"]} == LISTED
    for name in PROVIDERS:
        one = await call(sandbox, "GET", f"/v1/connections/{name}")
        assert one.body["currencies"] == LISTED[name], name


@pytest.mark.parametrize("name", [n for n, taken in LISTED.items() if taken is not None])
async def test_a_listed_currency_is_taken_and_another_refused_at_currency(
    sandbox: Sandbox, name: str
) -> None:
    invoice = profile(name).sample(0).model_dump(mode="json", exclude_none=True)
    path = f"/v1/connections/{name}/invoices/preview"
    assert invoice["currency"] in LISTED[name]
    taken = await call(sandbox, "POST", path, body=invoice)
    assert taken.status == 200, taken.body
    refused = await call(sandbox, "POST", path, body={**invoice, "currency": "CHF"})
    assert refused.status == 422, refused.body
    assert [e["pointer"] for e in refused.body["errors"]] == ["/currency"]
