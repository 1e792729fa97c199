"""The shared control layer, proven over real HTTP against a tiny stand-in provider."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from emulators.common import bearer_token, is_control_path
from emulators.control import Control

TOKEN = "tok-3f9a1c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def provider_error(status: int, message: str) -> web.StreamResponse:
    """The stand-in provider's own error envelope, distinct from anything aiohttp makes."""
    return web.json_response(
        {"ok": False, "problem": {"status": status, "text": message}}, status=status
    )


class StandIn:
    """A provider with a dict store, bearer auth and the control layer wired as emulators do."""

    def __init__(self, control_cls: type[Control] = Control) -> None:
        self.items: dict[str, Any] = {}
        self.finished: list[str] = []
        self.reseed()
        self.control = control_cls(reset=self.reseed, error_response=provider_error)

    def reseed(self) -> None:
        self.items.clear()
        self.items["seeded"] = {"name": "seeded item"}

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._track, self.control.middleware, self._auth])
        self.control.add_routes(app)
        app.router.add_get("/items", self._list)
        app.router.add_get("/items/{id}", self._get)
        app.router.add_post("/items", self._create)
        app.router.add_put("/items/{id}", self._put)
        app.router.add_post("/items/{id}/notes", self._note)
        return app

    @web.middleware
    async def _track(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # Outside the control layer, so it sees when a hung or dropped request really ends.
        try:
            return await handler(request)
        finally:
            self.finished.append(f"{request.method} {request.path}")

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_control_path(request) and bearer_token(request) != TOKEN:
            return provider_error(401, "unauthenticated")
        return await handler(request)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"ids": sorted(self.items)})

    async def _get(self, request: web.Request) -> web.StreamResponse:
        item = self.items.get(request.match_info["id"])
        if item is None:
            return provider_error(404, "no such item")
        return web.json_response(item)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        item_id = f"item-{len(self.items)}"
        self.items[item_id] = body
        return web.json_response({"id": item_id, "echo": await request.text()}, status=201)

    async def _put(self, request: web.Request) -> web.StreamResponse:
        self.items[request.match_info["id"]] = {"text": await request.text()}
        return web.json_response({"stored": True})

    async def _note(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        upload = form["file"]
        assert isinstance(upload, web.FileField)
        return web.json_response({"note": form["note"], "file": upload.file.read().decode()})


@pytest.fixture
def stand_in() -> StandIn:
    return StandIn()


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, stand_in: StandIn) -> TestClient[Any, Any]:
    return await aiohttp_client(stand_in.app())


async def logged(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    response = await client.get("/_emulator/requests")
    assert response.status == 200
    entries: list[dict[str, Any]] = (await response.json())["requests"]
    return entries


async def set_faults(client: TestClient[Any, Any], **config: Any) -> dict[str, Any]:
    response = await client.post("/_emulator/faults", json=config)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def stored_ids(client: TestClient[Any, Any]) -> list[str]:
    await client.delete("/_emulator/faults")
    response = await client.get("/items", headers=AUTH)
    ids: list[str] = (await response.json())["ids"]
    return ids


# -- request log ----------------------------------------------------------------------------------


async def test_log_records_requests_oldest_first_with_query_and_parsed_body(
    client: TestClient[Any, Any],
) -> None:
    await client.get("/items?status=open&tag=a&tag=b", headers=AUTH)
    raw = '{"name": "widget", "price": 10.10, "qty": 3}'
    created = await client.post(
        "/items", data=raw, headers={**AUTH, "Content-Type": "application/json"}
    )
    await client.put("/items/x", data="plain words", headers={**AUTH, "Content-Type": "text/plain"})
    await client.get("/items/missing", headers=AUTH)

    # The handler still read the whole body after the log had read it.
    assert created.status == 201
    assert (await created.json())["echo"] == raw

    log_text = await (await client.get("/_emulator/requests")).text()
    assert '"price": 10.10' in log_text  # the number as sent, not through a float
    entries = json.loads(log_text)["requests"]
    assert [(e["method"], e["path"]) for e in entries] == [
        ("GET", "/items"),
        ("POST", "/items"),
        ("PUT", "/items/x"),
        ("GET", "/items/missing"),
    ]
    assert entries[0]["query"] == {"status": "open", "tag": ["a", "b"]}
    assert entries[0]["body"] is None
    assert entries[1]["body"] == {"name": "widget", "price": 10.1, "qty": 3}
    assert entries[1]["query"] == {}
    assert entries[2]["body"] == "plain words"
    assert entries[1]["headers"]["Content-Type"] == "application/json"


async def test_body_over_the_size_limit_is_a_413_in_the_provider_envelope(
    client: TestClient[Any, Any],
) -> None:
    too_big = b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    response = await client.post(
        "/items", data=too_big, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status == 413
    body = await response.json()
    assert body["ok"] is False
    assert body["problem"]["status"] == 413
    log = (await (await client.get("/_emulator/requests")).json())["requests"]
    assert [(e["method"], e["path"], e["body"]) for e in log] == [
        ("POST", "/items", "[unread: Request Entity Too Large]")
    ]
    listed = await (await client.get("/items", headers=AUTH)).json()
    assert listed == {"ids": ["seeded"]}


async def test_log_redacts_credentials_and_keeps_other_headers(
    client: TestClient[Any, Any],
) -> None:
    await client.get(
        "/items",
        headers={
            **AUTH,
            "X-API-Key": "key-77aa",
            "Cookie": "session=cookie-55bb",
            "Proxy-Authorization": "Basic cHJveHk6cHc=",
            "X-Auth-Token": "hdr-66cc",
            "X-Client-Secret": "sec-88dd",
            "Idempotency-Key": "idem-1",
            "X-Trace": "trace-1",
        },
    )
    log_text = await (await client.get("/_emulator/requests")).text()
    for secret in (TOKEN, "key-77aa", "cookie-55bb", "cHJveHk6cHc=", "hdr-66cc", "sec-88dd"):
        assert secret not in log_text
    headers = json.loads(log_text)["requests"][0]["headers"]
    assert headers["Authorization"] == "Bearer [redacted]"
    assert headers["Proxy-Authorization"] == "Basic [redacted]"
    assert headers["X-API-Key"] == "[redacted]"
    assert headers["Cookie"] == "[redacted]"
    assert headers["X-Auth-Token"] == "[redacted]"
    assert headers["X-Client-Secret"] == "[redacted]"
    assert headers["Idempotency-Key"] == "idem-1"
    assert headers["X-Trace"] == "trace-1"


async def test_multipart_body_is_logged_and_still_readable_by_the_handler(
    client: TestClient[Any, Any],
) -> None:
    form = aiohttp.FormData()
    form.add_field("note", "called the customer")
    form.add_field("file", b"hello file", filename="call.txt", content_type="text/plain")
    response = await client.post("/items/seeded/notes", data=form, headers=AUTH)

    assert response.status == 200
    assert await response.json() == {"note": "called the customer", "file": "hello file"}
    [entry] = await logged(client)
    assert entry["body"] == {
        "note": "called the customer",
        "file": {"filename": "call.txt", "content_type": "text/plain", "size": 10},
    }


async def test_json_labelled_as_a_form_is_logged_as_json_and_real_forms_as_fields(
    client: TestClient[Any, Any],
) -> None:
    form_type = {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}
    created = await client.post("/items", data='{"name": "from curl -d"}', headers=form_type)
    await client.put("/items/f", data="a=1&b=two&b=three", headers=form_type)

    assert created.status == 201
    bodies = [e["body"] for e in await logged(client)]
    assert bodies == [{"name": "from curl -d"}, {"a": "1", "b": ["two", "three"]}]


async def test_control_requests_are_not_logged_and_need_no_auth(
    client: TestClient[Any, Any],
) -> None:
    await client.get("/items", headers=AUTH)
    await set_faults(client, latency_ms=1)
    await client.get("/_emulator/faults")
    unauthenticated = await client.get("/items")

    assert unauthenticated.status == 401
    assert [e["path"] for e in await logged(client)] == ["/items", "/items"]


async def test_log_keeps_only_the_most_recent_requests(aiohttp_client: AiohttpClient) -> None:
    class SmallLogControl(Control):
        LOG_LIMIT = 3

    client = await aiohttp_client(StandIn(SmallLogControl).app())
    for n in range(5):
        await client.get(f"/items/{n}", headers=AUTH)

    assert [e["path"] for e in await logged(client)] == ["/items/2", "/items/3", "/items/4"]


# -- fault kinds --------------------------------------------------------------------------------


async def test_error_fault_answers_in_the_provider_envelope_and_skips_the_handler(
    client: TestClient[Any, Any], stand_in: StandIn
) -> None:
    await set_faults(client, error_rate=1, error_status=503)
    response = await client.post("/items", json={"name": "lost"}, headers=AUTH)

    assert response.status == 503
    body = await response.json()
    assert body["ok"] is False
    assert body["problem"]["status"] == 503
    assert list(stand_in.items) == ["seeded"]


async def test_rate_limit_fault_is_429_with_retry_after(client: TestClient[Any, Any]) -> None:
    await set_faults(client, rate_limit_rate=1)
    default = await client.get("/items", headers=AUTH)
    await set_faults(client, rate_limit_rate=1, retry_after=7)
    custom = await client.get("/items", headers=AUTH)

    assert default.status == 429
    assert default.headers["Retry-After"] == "1"
    assert (await default.json())["problem"]["status"] == 429
    assert custom.status == 429
    assert custom.headers["Retry-After"] == "7"
    await set_faults(client, rate_limit_rate=1, retry_after=None)
    unnamed = await client.get("/items", headers=AUTH)
    assert unnamed.status == 429 and "Retry-After" not in unnamed.headers


async def test_reset_fault_drops_the_connection_before_the_write(
    client: TestClient[Any, Any], stand_in: StandIn
) -> None:
    await set_faults(client, reset_rate=1)
    # POST is not idempotent, so the client does not retry it on a fresh connection.
    with pytest.raises(aiohttp.ClientConnectionError):
        await client.post("/items", json={"name": "dropped"}, headers=AUTH)

    assert list(stand_in.items) == ["seeded"]
    assert [e["method"] for e in await logged(client)] == ["POST"]


async def test_timeout_fault_hangs_until_the_client_gives_up(stand_in: StandIn) -> None:
    # A plain AppRunner, as `emulate` runs it: unlike aiohttp's test server it does not cancel
    # handlers when the client disconnects, so the hang has to notice by itself.
    runner = web.AppRunner(stand_in.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(base) as session:
            await session.post("/_emulator/faults", json={"timeout_rate": 1})
            started = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):
                await session.post(
                    "/items",
                    json={"name": "hung"},
                    headers=AUTH,
                    timeout=aiohttp.ClientTimeout(total=0.3),
                )
            assert time.monotonic() - started >= 0.3
            assert list(stand_in.items) == ["seeded"]

            for _ in range(40):
                if "POST /items" in stand_in.finished:
                    break
                await asyncio.sleep(0.05)
            assert "POST /items" in stand_in.finished

            # The event loop was never blocked: other requests are answered meanwhile.
            await session.delete("/_emulator/faults")
            assert (await session.get("/items", headers=AUTH)).status == 200
    finally:
        await runner.cleanup()


async def test_timeout_fault_ends_when_the_app_shuts_down(
    client: TestClient[Any, Any], stand_in: StandIn
) -> None:
    await set_faults(client, timeout_rate=1)
    hung = asyncio.create_task(client.get("/items", headers=AUTH))
    await asyncio.sleep(0.2)
    assert not hung.done()

    started = time.monotonic()
    await client.server.close()
    assert time.monotonic() - started < 2
    with pytest.raises(aiohttp.ClientError):
        await hung
    assert "GET /items" in stand_in.finished


async def test_latency_and_jitter_delay_the_answer(client: TestClient[Any, Any]) -> None:
    await set_faults(client, latency_ms=300)
    started = time.monotonic()
    delayed = await client.get("/items", headers=AUTH)
    assert delayed.status == 200
    assert time.monotonic() - started >= 0.3

    await set_faults(client, latency_ms=150, jitter_ms=100, seed=3)
    for _ in range(5):
        started = time.monotonic()
        await client.get("/items", headers=AUTH)
        elapsed = time.monotonic() - started
        assert 0.05 <= elapsed < 0.25 + 0.2  # latency ± jitter, plus scheduling slack


async def test_after_commit_error_stores_the_write_then_fails(
    client: TestClient[Any, Any],
) -> None:
    await set_faults(client, error_rate=1, error_status=502, after_commit=True)
    response = await client.post("/items", json={"name": "ambiguous"}, headers=AUTH)

    assert response.status == 502
    assert (await response.json())["problem"]["status"] == 502
    assert await stored_ids(client) == ["item-1", "seeded"]


async def test_after_commit_reset_stores_the_write_then_drops(
    client: TestClient[Any, Any], stand_in: StandIn
) -> None:
    await set_faults(client, reset_rate=1, after_commit=True)
    with pytest.raises(aiohttp.ClientConnectionError):
        await client.post("/items", json={"name": "ambiguous"}, headers=AUTH)

    assert stand_in.items["item-1"] == {"name": "ambiguous"}


async def test_after_commit_timeout_stores_the_write_then_hangs(
    client: TestClient[Any, Any], stand_in: StandIn
) -> None:
    await set_faults(client, timeout_rate=1, after_commit=True)
    with pytest.raises(asyncio.TimeoutError):
        await client.post(
            "/items",
            json={"name": "ambiguous"},
            headers=AUTH,
            timeout=aiohttp.ClientTimeout(total=0.3),
        )

    assert stand_in.items["item-1"] == {"name": "ambiguous"}


# -- filters and determinism ----------------------------------------------------------------------


async def test_methods_filter_faults_only_the_listed_methods(
    client: TestClient[Any, Any],
) -> None:
    await set_faults(client, error_rate=1, methods=["post"])
    read = await client.get("/items", headers=AUTH)
    write = await client.post("/items", json={"name": "x"}, headers=AUTH)

    assert read.status == 200
    assert write.status == 500


async def test_path_regex_faults_only_matching_paths(client: TestClient[Any, Any]) -> None:
    await set_faults(client, error_rate=1, error_status=503, path_regex=r"^/items/b")
    spared = await client.get("/items/a", headers=AUTH)
    faulted = await client.get("/items/b", headers=AUTH)

    assert spared.status == 404  # the handler's own answer: no item "a"
    assert faulted.status == 503


async def statuses(client: TestClient[Any, Any], seed: int, count: int = 50) -> list[int]:
    await set_faults(client, error_rate=0.5, rate_limit_rate=0.2, seed=seed)
    return [(await client.get("/items", headers=AUTH)).status for _ in range(count)]


async def test_same_seed_gives_the_same_fault_sequence(client: TestClient[Any, Any]) -> None:
    first = await statuses(client, seed=7)
    again = await statuses(client, seed=7)
    other = await statuses(client, seed=8)

    assert first == again
    assert first != other
    assert {200, 429, 500} == set(first)


# -- configuration --------------------------------------------------------------------------------


async def test_get_shows_the_active_config_and_delete_or_empty_post_clears_it(
    client: TestClient[Any, Any],
) -> None:
    assert await (await client.get("/_emulator/faults")).json() == {"faults": None}

    posted = await set_faults(client, error_rate=0.25, methods=["PUT", "post"], seed=4)
    shown = await (await client.get("/_emulator/faults")).json()
    assert shown == posted
    assert shown["faults"] == {
        "latency_ms": 0,
        "jitter_ms": 0,
        "error_rate": 0.25,
        "error_status": 500,
        "rate_limit_rate": 0.0,
        "retry_after": 1,
        "reset_rate": 0.0,
        "timeout_rate": 0.0,
        "after_commit": False,
        "methods": ["POST", "PUT"],
        "path_regex": None,
        "seed": 4,
    }

    deleted = await client.delete("/_emulator/faults")
    assert await deleted.json() == {"faults": None}
    await set_faults(client, error_rate=1)
    assert await set_faults(client) == {"faults": None}
    assert (await client.get("/items", headers=AUTH)).status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"error_rate": 1.5}, "error_rate"),
        ({"reset_rate": -0.1}, "reset_rate"),
        ({"timeout_rate": "0.5"}, "timeout_rate"),
        ({"rate_limit_rate": True}, "rate_limit_rate"),
        ({"error_rate": 0.6, "rate_limit_rate": 0.6}, "error_rate"),
        ({"error_status": 302}, "error_status"),
        ({"error_status": 600}, "error_status"),
        ({"error_status": 500.5}, "error_status"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"jitter_ms": "10"}, "jitter_ms"),
        ({"retry_after": -1}, "retry_after"),
        ({"after_commit": "yes"}, "after_commit"),
        ({"methods": "GET"}, "methods"),
        ({"methods": []}, "methods"),
        ({"methods": ["FETCH"]}, "methods"),
        ({"path_regex": "("}, "path_regex"),
        ({"path_regex": 5}, "path_regex"),
        ({"seed": 1.5}, "seed"),
        ({"error_rate": 0.1, "erorr_status": 503}, "erorr_status"),
        ([{"error_rate": 1}], "body"),
    ],
)
async def test_invalid_fault_config_is_400_naming_the_field_and_keeps_the_old_one(
    client: TestClient[Any, Any], body: Any, field: str
) -> None:
    before = await set_faults(client, latency_ms=5)
    response = await client.post("/_emulator/faults", json=body)

    assert response.status == 400
    error = (await response.json())["error"]
    assert error["field"] == field
    assert field in error["message"]
    assert await (await client.get("/_emulator/faults")).json() == before


@pytest.mark.parametrize(
    "rates",
    [(0.05, 0.55, 0.30, 0.10), (0.05, 0.65, 0.20, 0.10), (0.2, 0.4, 0.3, 0.1), (0.25,) * 4],
)
async def test_rates_that_add_up_to_exactly_1_are_taken(
    client: TestClient[Any, Any], rates: tuple[float, ...]
) -> None:
    """Their float sum is 1.0000000000000002 for some: refused, saying the sum "is 1"."""
    names = ("timeout_rate", "reset_rate", "rate_limit_rate", "error_rate")
    taken = await set_faults(client, **dict(zip(names, rates, strict=True)))
    assert [taken["faults"][name] for name in names] == list(rates)
    over = dict(zip(names, (*rates[:3], rates[3] + 0.001), strict=True))
    refused = await client.post("/_emulator/faults", json=over)
    assert refused.status == 400
    assert "is 1.001" in (await refused.json())["error"]["message"]


async def test_malformed_fault_json_is_400(client: TestClient[Any, Any]) -> None:
    response = await client.post("/_emulator/faults", data="{nope")

    assert response.status == 400
    assert "malformed JSON" in (await response.json())["error"]["message"]


async def test_control_endpoints_are_never_faulted(client: TestClient[Any, Any]) -> None:
    await set_faults(client, error_rate=1, latency_ms=400)
    started = time.monotonic()
    response = await client.get("/_emulator/requests")

    assert response.status == 200
    assert time.monotonic() - started < 0.4


async def test_reset_reseeds_the_store_and_clears_log_and_faults(
    client: TestClient[Any, Any], stand_in: StandIn
) -> None:
    await client.post("/items", json={"name": "temporary"}, headers=AUTH)
    await set_faults(client, error_rate=1)

    response = await client.post("/_emulator/reset")

    assert response.status == 200
    assert await response.json() == {"reset": True}
    assert stand_in.items == {"seeded": {"name": "seeded item"}}
    assert await logged(client) == []
    assert await (await client.get("/_emulator/faults")).json() == {"faults": None}
    assert (await client.get("/items", headers=AUTH)).status == 200
