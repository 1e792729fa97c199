"""item_envelope emulator: as strict as the doc about its URL and its body's type.

The doc's one request is ``POST {{subdomain}}/api2/api2/invoices.json`` (its base URL ends in
``/api2`` and its path repeats it) with ``Content-Type: text/plain``: the emulator serves that URL
only and refuses a body of any other type, so a client that strays from the doc is caught.
"""

from __future__ import annotations

import pytest
from pytest_aiohttp import AiohttpClient

from tests.emulators._exact_json import loads
from tests.emulators._item_envelope_support import (
    AUTH,
    DOC_BODY,
    FIRST_SEED_ID,
    SEED_COUNT,
    all_invoices,
    assert_failed,
    start,
)

DOC_PATH = "/api2/api2/invoices.json"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api2/invoices.json"),
        ("GET", "/api2/invoices.json"),
        ("GET", f"/api2/invoices/{FIRST_SEED_ID}.json"),
        ("PUT", f"/api2/invoices/{FIRST_SEED_ID}.json"),
        ("DELETE", f"/api2/invoices/{FIRST_SEED_ID}.json"),
        ("POST", "/invoices.json"),
    ],
)
async def test_the_un_doubled_path_is_not_the_docs_and_is_404(
    aiohttp_client: AiohttpClient, method: str, path: str
) -> None:
    client = await start(aiohttp_client)
    headers = {**AUTH, "Content-Type": "text/plain"}
    response = await client.request(method, path, data=DOC_BODY.encode(), headers=headers)
    body = loads(await response.text())
    assert_failed(response.status, body, 404)
    assert body["message"] == f"No endpoint at {method} {path}"
    assert len(await all_invoices(client)) == SEED_COUNT  # nothing was written


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/x-www-form-urlencoded"],
)
@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_a_body_that_is_not_text_plain_is_415(
    aiohttp_client: AiohttpClient, content_type: str, method: str
) -> None:
    client = await start(aiohttp_client)
    path = DOC_PATH if method == "POST" else f"/api2/api2/invoices/{FIRST_SEED_ID}.json"
    headers = {**AUTH, "Content-Type": content_type}
    response = await client.request(method, path, data=DOC_BODY.encode(), headers=headers)
    body = loads(await response.text())
    assert_failed(response.status, body, 415)
    assert body["message"] == (
        f"Unsupported Content-Type {content_type}: send the JSON body as text/plain"
    )
    assert len(await all_invoices(client)) == SEED_COUNT


async def test_the_docs_type_with_a_charset_is_taken(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)
    headers = {**AUTH, "Content-Type": "text/plain; charset=utf-8"}
    response = await client.post(DOC_PATH, data=DOC_BODY.encode(), headers=headers)
    assert response.status == 202
    assert len(await all_invoices(client)) == SEED_COUNT + 1
