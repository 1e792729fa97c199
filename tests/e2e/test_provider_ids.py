"""Ids can never change a provider path: dot segments and separators, in any encoding, on every
route that puts an id into a provider path, for each of the five connections; over HTTP, against
the sandbox, with the emulators' request logs as the witness.

The ids are sent exactly as written here (``yarl.URL(..., encoded=True)``): the gateway's router
decodes one layer (``%2e%2e`` arrives as ``..``, ``%252e`` as ``%2e``); the adapters refuse
what would change the provider path, with a 400, before any request leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from gateway.config import Client, Settings
from gateway.http.app import create_app
from gateway.sandbox import sandbox_connection
from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import profile
from tests.e2e.sandbox import sandbox_in_thread

# As written in the request line. Each must be refused by the adapter (400).
REFUSED = [
    "..",
    ".",
    "%2e%2e",
    "%2E%2e",
    "%2e",
    ".%2E",
    "%252e%252e",
    "%25252e%25252e",
    "%252E",
    "a%2Fb",
    "a%2fb",
    "a%252Fb",
    "a%5Cb",
    "a%255cb",
    "..%2F",
    "%2e%2e%2f",
    "%2e%2e%5c",
    "..;x",
    "x%00y",
    "x%0d%0ay",
    "%EF%BC%8E%EF%BC%8E",  # fullwidth ".."
    "%20",
]
# A raw "/" splits the id: a route of its own or none, never the adapter (404, 405, or 501).
SPLIT = ["a/b", "../x", "%2e%2e/x"]

WRITES = ("crm_v1", "draft_publish", "bill_crm", "item_envelope")
# One action each connection can do (crm_v1 has none: 501 before any id is looked at).
ACTIONS = {
    "crm_v1": "void",
    "draft_publish": "issue",
    "bill_crm": "void",
    "item_envelope": "issue",
    "order_linked": "void",
}
PAYMENT = {"amount": "10.00", "date": "2024-05-01", "method": "bank_transfer"}
NOTE = "a note, sent as multipart"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=3) as running:
        yield running


def routes(connection: str, bad: str, good: str) -> list[tuple[str, str, Any]]:
    """(method, path, JSON body) for every route that puts an id into a provider path, with the
    bad id in each id position."""
    invoice = profile(connection).sample(0).model_dump(mode="json", exclude_none=True)
    base = f"/v1/connections/{connection}"
    found: list[tuple[str, str, Any]] = [
        ("GET", f"{base}/invoices/{bad}", None),
        ("POST", f"{base}/invoices/{bad}/{ACTIONS[connection]}", None),
    ]
    if connection in WRITES:
        found += [
            ("PUT", f"{base}/invoices/{bad}", invoice),
            ("DELETE", f"{base}/invoices/{bad}", None),
        ]
    if connection in ("crm_v1", "draft_publish"):
        found.append(("GET", f"{base}/invoices/{bad}/payments", None))
    if connection == "draft_publish":
        found += [
            ("POST", f"{base}/invoices/{bad}/payments", PAYMENT),
            ("DELETE", f"{base}/invoices/{bad}/payments/1", None),
            ("DELETE", f"{base}/invoices/{good}/payments/{bad}", None),
            # the trash's: the id goes in a batch body, held to the same rule
            ("POST", f"{base}/invoices/{bad}/restore", None),
            ("DELETE", f"{base}/trash/invoices/{bad}", None),
        ]
    if connection == "order_linked":
        found += [
            ("POST", f"{base}/orders/{bad}/invoices", None),
            ("POST", f"{base}/invoices/{bad}/notes", NOTE),
        ]
    return found


async def send(
    session: aiohttp.ClientSession, sandbox: Sandbox, method: str, path: str, body: Any
) -> tuple[int, dict[str, Any]]:
    url = URL(sandbox.gateway_url + path, encoded=True)  # exactly as written
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    sent: dict[str, Any] = {"json": body}
    if body == NOTE:
        form = aiohttp.FormData(default_to_multipart=True)
        form.add_field("note", NOTE)
        sent = {"data": form}
    async with session.request(method, url, headers=headers, **sent) as response:
        answer = await response.json(content_type=None)
        return response.status, answer


async def logs(session: aiohttp.ClientSession, sandbox: Sandbox) -> dict[str, list[Any]]:
    found = {}
    for provider, url in sandbox.emulator_urls.items():
        async with session.get(url + "/_emulator/requests") as response:
            found[provider] = (await response.json())["requests"]
    return found


async def reset(session: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    for url in sandbox.emulator_urls.values():
        async with session.post(url + "/_emulator/reset") as response:
            assert response.status == 200


@pytest.mark.parametrize("connection", list(ACTIONS))
async def test_bad_ids_are_400_and_reach_no_provider(sandbox: Sandbox, connection: str) -> None:
    unsupported = {("crm_v1", "POST")}  # crm_v1 has no actions: 501, no id looked at
    async with aiohttp.ClientSession() as session:
        await reset(session, sandbox)
        good = await _an_invoice_id(session, sandbox, connection)
        await reset(session, sandbox)
        checked = 0
        for bad in REFUSED:
            for method, path, body in routes(connection, bad, good):
                status, answer = await send(session, sandbox, method, path, body)
                if (connection, method) in unsupported and "/payments" not in path:
                    assert status == 501, (method, path, answer)
                    continue
                assert (status, answer.get("code")) == (400, "bad_request"), (method, path, answer)
                assert "cannot name a record" in answer["detail"], answer
                checked += 1
        for bad in SPLIT:
            for method, path, body in routes(connection, bad, good):
                status, answer = await send(session, sandbox, method, path, body)
                assert status in (400, 404, 405, 501), (method, path, status, answer)
        assert checked >= len(REFUSED) * 2
        assert await logs(session, sandbox) == {p: [] for p in sandbox.emulator_urls}


async def _an_invoice_id(session: aiohttp.ClientSession, sandbox: Sandbox, connection: str) -> str:
    status, listed = await send(
        session, sandbox, "GET", f"/v1/connections/{connection}/invoices?limit=1", None
    )
    assert status == 200, listed
    invoice_id: str = listed["data"][0]["id"]
    return invoice_id


def settings(urls: dict[str, str]) -> Settings:
    key = hashlib.sha256(b"k-ids").hexdigest()
    client = Client.model_validate(
        {"name": "ids", "key_sha256": key, "connections": ["*"], "scopes": ["invoices:read"]}
    )
    return Settings(
        clients=[client], connections=[sandbox_connection(p, url) for p, url in urls.items()]
    )


async def test_the_path_an_adapter_builds_is_the_path_the_provider_receives(
    aiohttp_server: Any, aiohttp_client: Any
) -> None:
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.json_response({"error": {"code": "not_found", "message": "no"}}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    server: TestServer = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    gateway = await aiohttp_client(
        create_app(settings({"draft_publish": base, "order_linked": base}))
    )
    # The gateway's router decodes one layer; the adapter encodes the id as one segment again.
    for connection, raw_id in (
        ("draft_publish", "a%20b%3Bc%2525d%3F%23"),
        ("order_linked", "INV%2D1.2~x%E2%82%AC"),
    ):
        url = URL(f"/v1/connections/{connection}/invoices/{raw_id}", encoded=True)
        response = await gateway.get(url, headers={"Authorization": "Bearer k-ids"})
        assert response.status == 404, await response.text()
    assert seen == [
        "/api/v1/invoices/a%20b%3Bc%2525d%3F%23",
        "/invoices/INV-1.2~x%E2%82%AC",
    ]
