"""item_envelope emulator: its URL and its body's type, as the doc and providers.md give them.

The doc's one request is ``POST {{subdomain}}/api2/api2/invoices.json`` (its base URL ends in
``/api2`` and its path repeats it) with ``Content-Type: text/plain``; providers.md writes the path
as ``/api2/invoices.json`` and says the emulator accepts either type. Both paths are served and
both types taken; any other path is a 404, any other type a 415.
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


@pytest.mark.parametrize("prefix", ["/api2/api2", "/api2"])
async def test_the_docs_url_and_the_path_providers_md_writes_are_one_resource(
    aiohttp_client: AiohttpClient, prefix: str
) -> None:
    """The doc's curl calls ``{{subdomain}}/api2/api2/invoices.json`` (its base URL ends in
    ``/api2``); providers.md writes the path from the host, ``/api2/invoices.json``. Both are
    served, and they are the same invoices."""
    client = await start(aiohttp_client)
    headers = {**AUTH, "Content-Type": "text/plain"}
    created = await client.post(f"{prefix}/invoices.json", data=DOC_BODY.encode(), headers=headers)
    made = loads(await created.text())
    assert (created.status, made["result"]) == (202, "successful")
    for other in ("/api2/api2", "/api2"):
        read = await client.get(f"{other}/invoices/{made['id']}.json", headers=AUTH)
        assert read.status == 200
        assert loads(await read.text())["data"]["Invoice"]["id"] == made["id"]
    assert len(await all_invoices(client)) == SEED_COUNT + 1


@pytest.mark.parametrize("path", ["/invoices.json", "/api/invoices.json", "/api2/api2/api2/x"])
async def test_a_path_that_is_neither_is_404(aiohttp_client: AiohttpClient, path: str) -> None:
    client = await start(aiohttp_client)
    headers = {**AUTH, "Content-Type": "text/plain"}
    response = await client.post(path, data=DOC_BODY.encode(), headers=headers)
    body = loads(await response.text())
    assert_failed(response.status, body, 404)
    assert body["message"] == f"No endpoint at POST {path}"
    assert len(await all_invoices(client)) == SEED_COUNT  # nothing was written


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/csv", "application/xml"]
)
@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_a_body_that_is_not_json_text_is_415(
    aiohttp_client: AiohttpClient, content_type: str, method: str
) -> None:
    client = await start(aiohttp_client)
    path = DOC_PATH if method == "POST" else f"/api2/api2/invoices/{FIRST_SEED_ID}.json"
    headers = {**AUTH, "Content-Type": content_type}
    response = await client.request(method, path, data=DOC_BODY.encode(), headers=headers)
    body = loads(await response.text())
    assert_failed(response.status, body, 415)
    assert body["message"] == (
        f"Unsupported Content-Type {content_type}: send the JSON body as text/plain "
        "(or application/json)"
    )
    assert len(await all_invoices(client)) == SEED_COUNT


@pytest.mark.parametrize(
    "content_type",
    ["text/plain; charset=utf-8", "application/json", "application/json; charset=utf-8"],
)
async def test_the_docs_type_and_json_s_own_are_taken(
    aiohttp_client: AiohttpClient, content_type: str
) -> None:
    client = await start(aiohttp_client)
    headers = {**AUTH, "Content-Type": content_type}
    response = await client.post(DOC_PATH, data=DOC_BODY.encode(), headers=headers)
    assert response.status == 202
    assert len(await all_invoices(client)) == SEED_COUNT + 1
