"""``remote_data`` is the provider's payload as it sent it (issue 12, item 8).

Over the sandbox, for each provider: the gateway's ``?expand=remote_data`` answer is compared with
the emulator's own JSON text for the same invoice: equal parsed with ``parse_float=Decimal`` on
both sides, every value of the same JSON type (a number stays a number, a string a string), and
every number written with the same text (``500.00`` stays ``500.00``). A replayed write (the
answer kept in the store with its Idempotency-Key) renders the same.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from gateway.sandbox import sandbox_connection
from gateway.sandbox.serve import Sandbox
from tests.e2e.conftest_sandbox import call
from tests.e2e.sandbox import sandbox_in_thread

# Where each emulator serves one invoice, and where in its answer the invoice is.
PROVIDER_GET = {
    "crm_v1": ("/v1/invoices/{}", "data"),
    "draft_publish": ("/api/v1/invoices/{}", "data"),
    "bill_crm": ("/api/v1/invoices/{}", "data"),
    "item_envelope": ("/api2/api2/invoices/{}.json", "data"),
    "order_linked": ("/invoices/{}", "invoice"),
}


@dataclass(frozen=True)
class Number:
    """A JSON number as written: equal only to the same text."""

    text: str


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread() as running:
        yield running


async def text_of(url: str, headers: dict[str, str]) -> str:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as answer:
        assert answer.status == 200, await answer.text()
        return await answer.text()


async def provider_text(sandbox: Sandbox, provider: str, invoice_id: str) -> str:
    base = sandbox.emulator_urls[provider]
    auth = sandbox_connection(provider, base).auth
    header = auth.sent_in
    value = f"Bearer {auth.secret()}" if auth.type == "bearer" else auth.secret()
    return await text_of(base + PROVIDER_GET[provider][0].format(invoice_id), {header: value})


def types(value: Any) -> Any:
    """The JSON type of every value, in the value's shape."""
    if isinstance(value, dict):
        return {key: types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [types(item) for item in value]
    return type(value).__name__


def numbers(value: Any) -> list[str]:
    """Every number's text, in document order."""
    if isinstance(value, dict):
        return [text for item in value.values() for text in numbers(item)]
    if isinstance(value, list):
        return [text for item in value for text in numbers(item)]
    return [value.text] if isinstance(value, Number) else []


def parsed(text: str, *, exact: bool) -> Any:
    if exact:
        return json.loads(text, parse_float=Number, parse_int=Number)
    return json.loads(text, parse_float=Decimal)


@pytest.mark.parametrize("provider", sorted(PROVIDER_GET))
def test_remote_data_is_the_providers_json_as_sent(sandbox: Sandbox, provider: str) -> None:
    async def pairs() -> list[tuple[str, str]]:
        page = await call(sandbox, "GET", f"/v1/connections/{provider}/invoices?limit=5")
        assert page.status == 200 and len(page.body["data"]) == 5, page.body
        found = []
        for invoice in page.body["data"]:
            path = f"/v1/connections/{provider}/invoices/{invoice['id']}?expand=remote_data"
            key = {"Authorization": "Bearer sk_sandbox"}
            gateway = await text_of(sandbox.gateway_url + path, key)
            found.append((gateway, await provider_text(sandbox, provider, invoice["id"])))
        return found

    where = PROVIDER_GET[provider][1]
    seen: list[str] = []
    for gateway_text, provider_answer in asyncio.run(pairs()):
        mine = parsed(gateway_text, exact=False)["remote_data"]
        theirs = parsed(provider_answer, exact=False)[where]
        assert mine == theirs
        assert types(mine) == types(theirs)
        # Every number as the provider wrote it.
        mine_exact = parsed(gateway_text, exact=True)["remote_data"]
        theirs_exact = parsed(provider_answer, exact=True)[where]
        assert numbers(mine_exact) == numbers(theirs_exact)
        seen += numbers(theirs_exact)
    if provider != "order_linked":  # order_linked writes its amounts as strings
        assert any("." in text for text in seen)  # fractional numbers were there to see


def test_a_replayed_write_renders_remote_data_the_same(sandbox: Sandbox) -> None:
    async def twice() -> tuple[str, str]:
        read = await call(sandbox, "GET", "/v1/connections/crm_v1/invoices/8")
        body = {
            key: read.body[key]
            for key in ("customer", "issue_date", "due_date", "currency", "lines")
        }
        body["provider_fields"] = {"template_id": 1}
        texts = []
        for _ in range(2):
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    sandbox.gateway_url + "/v1/connections/crm_v1/invoices?expand=remote_data",
                    data=json.dumps(body),
                    headers={
                        "Authorization": "Bearer sk_sandbox",
                        "Content-Type": "application/json",
                        "Idempotency-Key": "remote-data-replay",
                    },
                ) as answer,
            ):
                assert answer.status == 201, await answer.text()
                texts.append(await answer.text())
        return texts[0], texts[1]

    first, replayed = asyncio.run(twice())
    assert first == replayed
    remote = parsed(first, exact=True)["remote_data"]
    assert remote["items"][0]["price"] == Number("500.00")  # the doc's example price, a number
