"""item_envelope as its doc calls it: every request the adapter sends goes to the doc's URL
(``{{subdomain}}/api2/api2/…``), and every body is JSON text sent as ``Content-Type: text/plain``.

Read from the emulator's request log, over every operation the adapter has; the emulator refuses
anything else (tests/emulators/test_item_envelope_strict.py), so this is also what reaches it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from adapters.base import ListQuery
from gateway.canonical.model import Invoice
from tests.adapters.item_envelope_env import Env, start
from tests.contract.profiles.item_envelope import sample


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


async def test_every_request_takes_the_docs_path_and_every_body_its_type(env: Env) -> None:
    begin = len(await env.log())
    created = await env.adapter.create(sample(0))
    invoice_id = str(created.invoice.id)
    changed = Invoice.model_validate({**sample(0).model_dump(), "notes": "second thoughts"})
    await env.adapter.update(invoice_id, changed)
    await env.adapter.act(invoice_id, "issue")
    await env.adapter.list_page(ListQuery(), None, 10)
    await env.adapter.get(invoice_id)
    created_too = await env.adapter.create(sample(1))
    await env.adapter.delete(str(created_too.invoice.id))
    sent = (await env.log())[begin:]
    assert {(r["method"], r["path"]) for r in sent} == {
        ("POST", "/api2/api2/invoices.json"),
        ("PUT", f"/api2/api2/invoices/{invoice_id}.json"),
        ("GET", f"/api2/api2/invoices/{invoice_id}.json"),
        ("GET", "/api2/api2/invoices.json"),
        ("GET", f"/api2/api2/invoices/{created_too.invoice.id}.json"),
        ("DELETE", f"/api2/api2/invoices/{created_too.invoice.id}.json"),
    }
    with_body = [r for r in sent if r["method"] in ("POST", "PUT")]
    assert [r["method"] for r in with_body] == ["POST", "PUT", "PUT", "POST"]
    assert all(r["headers"]["Content-Type"] == "text/plain" for r in with_body)
    # The body is the doc's envelope as JSON text, amounts as numbers.
    first = with_body[0]["body"]["Invoice"]
    assert first["client_id"] == 15
    assert first["InvoiceItem"][0]["unit_price"] == Decimal(sample(0).lines[0].unit_price or 0)
    assert all("Content-Type" not in r["headers"] for r in sent if r["method"] in ("GET", "DELETE"))
