"""A preview names each tax as the invoice, once made, reads it back: a tax given by its rate
alone was unnamed in the preview (line and breakdown) where the create named it (draft_publish,
bill_crm, order_linked send it as the connection's tax of that rate), and order_linked's
breakdown split one rate into two rows, one named and one not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import PROVIDERS, profile
from tests.e2e.conftest_sandbox import call
from tests.e2e.sandbox import sandbox_in_thread


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=1) as running:
        yield running


def _names(invoice: dict[str, Any]) -> tuple[list[list[str | None]], list[tuple[Any, ...]]]:
    lines = [[tax.get("name") for tax in line.get("taxes", [])] for line in invoice["lines"]]
    rows = [
        (r["name"], r["rate"], r["taxable"], r["tax"]) for r in invoice["totals"]["tax_breakdown"]
    ]
    return lines, rows


@pytest.mark.parametrize("sample", [0, 1, 2])
@pytest.mark.parametrize("connection", PROVIDERS)
async def test_a_preview_names_taxes_as_the_create_reads_them_back(
    sandbox: Sandbox, connection: str, sample: int
) -> None:
    body = profile(connection).sample(sample).model_dump(mode="json", exclude_none=True)
    for line in body["lines"]:
        for tax in line.get("taxes", []):
            tax.pop("name", None)  # by rate (or id) alone
    base = f"/v1/connections/{connection}/invoices"
    previewed = await call(sandbox, "POST", f"{base}/preview", body=body)
    assert previewed.status == 200, previewed.body
    created = await call(sandbox, "POST", base, body=body)
    assert created.status == 201, created.body
    assert _names(previewed.body) == _names(created.body)
