"""The request examples the OpenAPI document offers (what the docs page's "Try it out" fills
in) are requests that succeed: the calculation, and on each sandbox connection a preview and a
create of its provider's invoice, with no warning."""

from __future__ import annotations

from collections.abc import Iterator
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
