"""A payment is money of the invoice's currency: one finer than its minor unit is refused
before anything is sent (docs/canonical-invoice.md, "Money": refused, never rounded)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import profile
from tests.e2e.conftest_sandbox import call, created, provider_writes
from tests.e2e.sandbox import sandbox_in_thread

PAYMENT = {"date": "2026-04-02", "method": "cash", "reference": "p1"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=5) as running:
        yield running


async def _issued(sandbox: Sandbox, currency: str) -> str:
    body = profile("draft_publish").sample(0).model_dump(mode="json", exclude_none=True)
    location = await created(sandbox, "draft_publish", {**body, "currency": currency})
    issued = await call(sandbox, "POST", location + "/issue")
    assert issued.status == 200, issued.body
    return location


@pytest.mark.parametrize(("currency", "amount", "places"), [("USD", "1.001", 2), ("JPY", "1.5", 0)])
async def test_a_payment_finer_than_the_invoices_currency_is_refused_unsent(
    sandbox: Sandbox, currency: str, amount: str, places: int
) -> None:
    """1.001 USD reached the provider, whose own check was all that stood between it and a
    payment rounded to 1.00; JPY takes no fraction at all."""
    location = await _issued(sandbox, currency)
    writes = len(await provider_writes(sandbox, "draft_publish"))

    refused = await call(
        sandbox, "POST", location + "/payments", body={**PAYMENT, "amount": amount}
    )

    assert refused.status == 422, refused.body
    (error,) = refused.body["errors"]
    assert error["pointer"] == "/amount"
    assert error["detail"] == f"must have at most {places} decimal places for {currency}"
    assert len(await provider_writes(sandbox, "draft_publish")) == writes
    listed = await call(sandbox, "GET", location + "/payments")
    assert listed.body["data"] == []

    whole = "1.00" if places else "1"
    paid = await call(sandbox, "POST", location + "/payments", body={**PAYMENT, "amount": whole})
    assert paid.status == 201, paid.body
    assert [
        p["amount"] for p in (await call(sandbox, "GET", location + "/payments")).body["data"]
    ] == [whole]


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"amount": "5"}, [("/date", "is required"), ("/method", "is required by draft_publish")]),
        (
            {"amount": "10.005", "date": "2026-04-02"},
            [
                ("/amount", "must have at most 2 decimal places for USD"),
                ("/method", "is required by draft_publish"),
            ],
        ),
    ],
    ids=["no-date-no-method", "too-fine-no-method"],
)
async def test_every_mistake_of_a_payment_is_said_at_once(
    sandbox: Sandbox, given: dict[str, str], said: list[tuple[str, str]]
) -> None:
    """A payment with no date and no method was refused for its date; once that was fixed, a
    second 422 named the method: one field a round, where draft_publish's page says every one
    is reported at once, before anything is sent."""
    location = await _issued(sandbox, "USD")
    writes = len(await provider_writes(sandbox, "draft_publish"))

    refused = await call(sandbox, "POST", location + "/payments", body=given)

    assert refused.status == 422, refused.body
    assert [(e["pointer"], e["detail"]) for e in refused.body["errors"]] == said
    assert refused.body["detail"].endswith(" (and 1 more)"), refused.body["detail"]
    assert len(await provider_writes(sandbox, "draft_publish")) == writes
