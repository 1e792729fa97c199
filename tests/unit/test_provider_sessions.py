"""The provider sessions: what each call carries is the connection's, never state a provider
handed the gateway on an earlier call."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.provider_sessions import provider_sessions
from gateway.sandbox import sandbox_connection


async def test_a_providers_cookies_are_never_sent_back() -> None:
    """A provider (its host a name, as a real one's is: aiohttp keeps no cookie of a bare IP)
    that sets a cookie on every answer: the gateway kept each and sent them all back on its
    later calls, whichever client each call served, and the jar grew without a bound."""
    seen: list[str | None] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie(f"session_{len(seen)}", "x" * 900)
        return response

    app = web.Application()
    app.router.add_get("/", answer)
    server = TestServer(app, host="localhost")
    await server.start_server()
    try:
        connection = sandbox_connection("crm_v1", f"http://localhost:{server.port}")
        async with provider_sessions([connection]) as sessions:
            session = sessions["crm_v1"]
            for _ in range(3):
                async with session.get(f"http://localhost:{server.port}/") as response:
                    assert response.status == 200
                    assert response.cookies  # the provider did set one
            assert len(session.cookie_jar) == 0
    finally:
        await server.close()
    assert seen == [None, None, None]
