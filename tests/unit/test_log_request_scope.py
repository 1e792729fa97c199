"""A line's ``request_id`` names the request it was written for, not one long answered: a
library's task started while a request was served (asyncpg's pool restoring its connections
after a store outage) kept that request's context, and its warnings, seconds after the request
had answered 201, named it (docs/operations.md, "Observability")."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import structlog
from aiohttp import web

from gateway.config import LoggingSettings
from gateway.http.middlewares import request_id_middleware
from gateway.logging_setup import configure_logging

_library = logging.getLogger("some.library")
_own = structlog.get_logger("gateway.test")


async def test_a_librarys_line_after_the_request_ended_names_no_request(
    aiohttp_client: Any,
) -> None:
    answered = asyncio.Event()
    later: list[asyncio.Task[None]] = []

    async def library_task() -> None:
        _library.warning("while served")  # the request is still being served
        await answered.wait()
        _library.warning("after the answer")  # a pool's retry, long after

    async def own_work() -> None:
        await answered.wait()
        _own.info("kept_later")  # the gateway's own work for that request: its id

    async def view(request: web.Request) -> web.Response:
        task = asyncio.create_task(library_task())
        await asyncio.sleep(0)
        later.extend([task, asyncio.create_task(own_work())])
        _library.warning("in the view")
        return web.Response(text="ok")

    app = web.Application(middlewares=[request_id_middleware])
    app.router.add_get("/", view)
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="info", format="json"), stream)
    try:
        client = await aiohttp_client(app)
        answer = await client.get("/", headers={"X-Request-ID": "req-scope-1"})
        assert answer.status == 200
        answered.set()
        await asyncio.gather(*later)
    finally:
        structlog.reset_defaults()
    lines = {line["event"]: line for line in map(json.loads, stream.getvalue().splitlines())}
    assert lines["in the view"]["request_id"] == "req-scope-1"
    assert lines["while served"]["request_id"] == "req-scope-1"
    assert lines["kept_later"]["request_id"] == "req-scope-1"
    assert "request_id" not in lines["after the answer"], lines["after the answer"]
