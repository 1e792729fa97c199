"""A body no provider could take is a 400 in the provider's own envelope from every emulator,
never a 500, and never a number that makes every later read of the invoice enormous."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from emulators.registry import PROVIDERS, create_app

# provider → (create path, headers)
CREATES: dict[str, tuple[str, dict[str, str]]] = {
    "crm_v1": ("/v1/invoices", {"Authorization": "Bearer sandbox-crm_v1"}),
    "draft_publish": ("/api/v1/invoices", {"Authorization": "Bearer sandbox-draft_publish"}),
    "bill_crm": ("/api/v1/invoices", {"X-API-Key": "sandbox-bill_crm"}),
    "item_envelope": (
        "/api2/api2/invoices.json",
        {"Authorization": "Bearer sandbox-item_envelope", "Content-Type": "text/plain"},
    ),
    "order_linked": ("/invoices", {"Authorization": "Bearer sandbox-order_linked"}),
}
JSON = {"Content-Type": "application/json"}

HOSTILE = {
    "not-utf-8": b'{"customer_id": "\xff\xfe"}',
    "5000-digit-integer": b'{"x": ' + b"1" * 5000 + b"}",
    "1001-digit-integer": b'{"x": ' + b"9" * 1001 + b"}",
    "huge-exponent": b'{"x": 1e999999999}',
    "tiny-exponent": b'{"x": 1e-999999999}',
    "exponent-past-decimal": b'{"x": 1e99999999999999999999}',
    "zero-written-with-a-million-places": b'{"x": 0e-999999}',
    "nested-100000": b"[" * 100_000 + b"]" * 100_000,
}


async def _start(aiohttp_client: AiohttpClient, provider: str) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(provider))


@pytest.mark.parametrize("body", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_body_no_provider_could_take_is_a_400_in_its_envelope(
    aiohttp_client: AiohttpClient, provider: str, body: bytes
) -> None:
    client = await _start(aiohttp_client, provider)
    path, headers = CREATES[provider]

    response = await client.post(path, data=body, headers={**JSON, **headers})

    assert response.status == 400, await response.text()
    answer = json.loads(await response.text())  # the provider's envelope, not plain text
    assert isinstance(answer, dict)
    assert "Internal Server Error" not in json.dumps(answer)


@pytest.mark.parametrize("number", ["1e-999999999", "1e-1001", "1e1001", "0e-999999"])
async def test_a_quantity_past_any_bound_is_refused_not_stored(
    aiohttp_client: AiohttpClient, number: str
) -> None:
    """crm_v1 took ``1e-999999999`` as a quantity (its places check normalized it to 0) and
    then wrote a billion zeros into every read of the invoice; a zero written ``0e-999999``
    went the same way."""
    client = await _start(aiohttp_client, "crm_v1")
    path, headers = CREATES["crm_v1"]
    before = await (await client.get("/v1/invoices?pageSize=100", headers=headers)).text()
    body = (
        '{"customer_id": 10, "template_id": 1, "items": [{"item_id": 12, "item_name": "x", '
        f'"quantity": {number}, "price": 1, "type": "item"}}]}}'
    )

    response = await client.post(path, data=body, headers={**JSON, **headers})

    assert response.status == 400, await response.text()
    assert "out of range" in (await response.json())["message"]
    after = await (await client.get("/v1/invoices?pageSize=100", headers=headers)).text()
    assert after == before


@pytest.mark.parametrize("number", ["1e-1000", "1e-40", "1E-7"])
async def test_a_quantity_within_range_but_too_fine_is_a_validation_error(
    aiohttp_client: AiohttpClient, number: str
) -> None:
    """Within the parse bound, crm_v1's own "at most 6 decimal places" rule answers (422)."""
    client = await _start(aiohttp_client, "crm_v1")
    path, headers = CREATES["crm_v1"]
    body = (
        '{"customer_id": 10, "template_id": 1, "items": [{"item_id": 12, "item_name": "x", '
        f'"quantity": {number}, "price": 1, "type": "item"}}]}}'
    )

    response = await client.post(path, data=body, headers={**JSON, **headers})

    assert response.status == 422, await response.text()
