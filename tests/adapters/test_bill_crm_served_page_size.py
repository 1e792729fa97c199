"""bill_crm's doc sets no largest page: a CRM that serves fewer rows than asked, and says so in
``meta.per_page``, numbers its pages by what it served. The walk follows its pages, every
invoice once, rather than taking a page of its size for the end, or for a contradiction."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.base import ListQuery
from adapters.registry import build_adapter
from emulators.registry import create_app
from gateway.sandbox import sandbox_connection

SERVED = 5


@web.middleware
async def _capped(request: web.Request, handler: Any) -> web.StreamResponse:
    """The CRM serving at most ``SERVED`` rows a page, whatever ``limit`` asks."""
    if "limit" in request.query:
        query = dict(request.query)
        query["limit"] = str(min(int(query["limit"]), SERVED))
        request = request.clone(rel_url=request.rel_url.with_query(query))
    return await handler(request)


async def test_a_page_smaller_than_asked_is_followed_to_the_end() -> None:
    app = create_app("bill_crm", seed_invoices=23)
    app.middlewares.append(_capped)
    server = TestServer(app)
    await server.start_server()
    try:
        connection = sandbox_connection("bill_crm", str(server.make_url("")).rstrip("/"))
        async with aiohttp.ClientSession() as session:
            adapter = build_adapter(connection, session)
            ids: list[str | None] = []
            token: str | None = None
            while True:
                page = await adapter.list_page(ListQuery(), token, 10)
                assert len(page.invoices) <= SERVED
                ids += [invoice.id for invoice in page.invoices]
                if page.next_page is None:
                    break
                token = page.next_page
    finally:
        await server.close()
    assert len(ids) == len(set(ids)) == 23
