"""A provider's answer for another invoice than the one asked for (a misrouted request, a
proxy's cache) was passed on under the id asked for, its ETag with it: an ``If-Match`` was
then checked against another invoice's. Each adapter's read refuses it (502, not retryable),
naming both ids; the ids are compared as the provider writes them."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.base import ListQuery
from adapters.registry import build_adapter
from adapters.unreadable import the_one_asked
from emulators.registry import PROVIDERS, create_app
from gateway.canonical.model import Invoice
from gateway.sandbox import sandbox_connection
from gateway.upstream_answers import UnusableAnswer


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_answer_for_another_invoice_is_refused(aiohttp_server: Any, provider: str) -> None:
    """The provider behind a relay that sends a read of one invoice on as a read of another."""
    emulator = await aiohttp_server(create_app(provider, seed_invoices=3))
    misroute: dict[str, str] = {}

    async def relay(request: web.Request) -> web.Response:
        path = request.rel_url.path
        for asked, other in misroute.items():
            if request.method == "GET":  # the id's own segment: /1 of /v1/invoices/1
                path = re.sub(rf"/{re.escape(asked)}(?=$|[/.])", f"/{other}", path)
        url = emulator.make_url(path).with_query(request.rel_url.query)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with session.request(
            request.method, url, headers=headers, data=await request.read()
        ) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
            return web.Response(status=answer.status, body=body, headers=kept)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", relay)
    front = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        adapter = build_adapter(
            sandbox_connection(provider, str(front.make_url("")).rstrip("/")), session
        )
        listed = (await adapter.list_page(ListQuery(), None, 10)).invoices
        first, second = listed[0].id, listed[1].id
        assert first is not None and second is not None
        assert (await adapter.get(first)).id == first  # not misrouted: read as asked
        misroute[first] = second
        with pytest.raises(UnusableAnswer) as refused:
            await adapter.get(first)
    assert refused.value.retryable is False
    assert refused.value.message == (
        f"{provider} answered invoice {second} when asked for invoice {first}; the gateway "
        "passes on only the invoice asked for"
    )


_HOP = frozenset({"host", "content-length", "transfer-encoding", "connection", "content-encoding"})


@pytest.mark.parametrize(
    ("asked", "answered", "same"),
    [
        ("7", "7", True),
        ("007", "7", True),  # crm_v1 and bill_crm read 007 as 7
        ("7", "8", False),
        ("82F4B48A-78A5-4D6B-B2DE-D00F63E86951", "82f4b48a-78a5-4d6b-b2de-d00f63e86951", True),
        ("INV-00001", "INV-00002", False),
        ("1" * 100, "1" * 100, True),
        ("0" * 70 + "68", "68", True),  # a number however many zeros lead it
        ("0" * 70 + "68", "69", False),
    ],
)
def test_ids_are_compared_as_the_providers_write_them(
    asked: str, answered: str, same: bool
) -> None:
    invoice = Invoice.model_validate({"id": answered, "currency": "USD", "lines": []})
    if same:
        assert the_one_asked("p", asked, invoice) is invoice
    else:
        with pytest.raises(UnusableAnswer):
            the_one_asked("p", asked, invoice)
