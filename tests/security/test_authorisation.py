"""Authentication and object-level authorisation (OWASP API1, API2, API5), route by route.

Every test iterates the application's own route table (``support.route_table``), so a route
added later is covered without editing this file, and every refusal is checked twice: the
answer (401 or 403, RFC 9457) and the providers' request logs (nothing reached them). Each
refusal has a positive control beside it (the right key on the same route is not refused), so
a gateway that refused everything would fail too.

Beyond tests/e2e/test_error_table.py (one key for crm_v1 refused on every route of bill_crm):
every other connection and a connection that does not exist, read-only keys on every write,
malformed credentials, and ids, idempotency keys and cursors that never cross a connection or
a client.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from emulators.registry import create_app as create_emulator
from gateway.http.app import create_app
from gateway.sandbox import default_token
from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import profile
from tests.e2e.sandbox import sandbox_in_thread
from tests.security.support import (
    Route,
    check_problem,
    client,
    connection,
    is_public,
    request_counts,
    route_table,
    settings,
)

ALL = "sk_sec_all_7c1d9e0b4f2a"
ONLY_CRM = "sk_sec_crm_only_51e6a2d8"
READER = "sk_sec_reader_b93f04c7"
ADMIN = "sk_sec_admin_0e8a6d21"
OTHER = "sk_sec_other_all_f4a2c9e1"  # a second client with the same rights as ALL
PROVIDERS = ("crm_v1", "draft_publish", "bill_crm", "item_envelope", "order_linked")
NOWHERE = "no-such-connection"
# The routes that need no key (docs/facade.md, "Auth"). A route made public by accident, or a
# documented one that starts asking for a key, fails test_only_the_documented_routes_are_public.
PUBLIC_ROUTES = {
    "GET /",
    "GET /healthz",
    "GET /readyz",
    "GET /openapi.json",
    "GET /docs",
    "GET /docs/assets/{name}",
    "POST /v1/invoices/calculate",
}

# POSTs that write nothing and call no provider: a read key may use them.
READS = {"POST /v1/connections/{connection}/invoices/preview"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=3) as running:
        yield running


@pytest.fixture
async def gateway(sandbox: Sandbox, aiohttp_client: Any) -> TestClient:  # type: ignore[type-arg]
    clients = [
        client("all", ALL),
        client("other", OTHER),
        client("crm-only", ONLY_CRM, connections=["crm_v1"]),
        client("reader", READER, scopes=["invoices:read"]),
        client("ops", ADMIN, scopes=["admin"]),
    ]
    connections = [connection(p, url) for p, url in sandbox.emulator_urls.items()]
    found: TestClient = await aiohttp_client(create_app(settings(connections, clients)))  # type: ignore[type-arg]
    return found


@pytest.fixture
async def logs(sandbox: Sandbox) -> AsyncIterator[Any]:
    """``await logs()``: the emulators' request counts, to show that nothing reached them."""
    async with aiohttp.ClientSession() as session:

        async def counts() -> dict[str, int]:
            return await request_counts(session, sandbox.emulator_urls)

        yield counts


def routes_of(gateway: TestClient) -> list[Route]:  # type: ignore[type-arg]
    return route_table(gateway.server.app)


async def send(
    gateway: TestClient,  # type: ignore[type-arg]
    route: Route,
    path: str,
    headers: dict[str, str],
) -> tuple[int, Any, Any]:
    """The route called with a small JSON body where it takes one: whatever the body, a
    refused key must be refused before it is read."""
    body = {"currency": "EUR"} if route.method in ("POST", "PUT") else None
    async with gateway.request(route.method, path, json=body, headers=headers) as response:
        text = await response.text()
        parsed = await response.json(content_type=None) if "json" in response.content_type else text
        return response.status, response.headers, parsed


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_only_the_documented_routes_are_public() -> None:
    app = create_app(settings([], []))
    table = route_table(app)
    assert {str(r) for r in table if is_public(r)} == PUBLIC_ROUTES
    keyed = [r for r in table if not is_public(r)]
    assert len(keyed) >= 15  # the table was read: every connection route and /metrics
    assert {str(r) for r in keyed if r.scope == "admin"} == {"GET /metrics"}
    # Every write asks for invoices:write; preview is a POST that writes and sends nothing.
    for route in keyed:
        if route.method in ("POST", "PUT", "DELETE", "PATCH") and str(route) not in READS:
            assert route.scope == "invoices:write", route


CREDENTIALS: list[tuple[str, dict[str, str]]] = [
    ("no Authorization header", {}),
    ("an unknown key", bearer("sk_sec_unknown_0000")),
    ("a valid key with one character changed", bearer(ALL[:-1] + "X")),
    ("a valid key as a prefix", bearer(ALL + "x")),
    ("Bearer and no key", {"Authorization": "Bearer"}),
    ("Bearer and spaces", {"Authorization": "Bearer    "}),
    (
        "a valid key under Basic",
        {"Authorization": "Basic " + base64.b64encode(ALL.encode()).decode()},
    ),
    ("a valid key under another scheme", {"Authorization": f"Token {ALL}"}),
    ("a valid key with no scheme", {"Authorization": ALL}),
    ("a valid key in X-API-Key", {"X-API-Key": ALL}),
    ("a valid key in the query", {}),  # see the path below: ?api_key=
]


async def test_no_key_a_wrong_key_or_a_malformed_header_is_401_on_every_keyed_route(
    gateway: TestClient,  # type: ignore[type-arg]
    logs: Any,
) -> None:
    before = await logs()
    checked = 0
    for route in routes_of(gateway):
        if is_public(route):
            continue
        for what, headers in CREDENTIALS:
            path = route.path()
            if what == "a valid key in the query":
                path += f"?api_key={ALL}"
            status, answer_headers, body = await send(gateway, route, path, headers)
            assert status == 401, f"{route} with {what}: {status} {body}"
            check_problem(status, answer_headers, body, 401, "unauthenticated")
            assert answer_headers["WWW-Authenticate"].startswith("Bearer")
            assert ALL not in str(body) and "sk_sec_unknown" not in str(body)
            checked += 1
    assert checked >= 15 * len(CREDENTIALS)
    assert await logs() == before  # nothing reached any provider

    # The positive control: the right key on the same routes is not refused.
    for route in routes_of(gateway):
        if not is_public(route):
            key = ADMIN if route.scope == "admin" else ALL
            status, _, body = await send(gateway, route, route.path(), bearer(key))
            assert status not in (401, 403), f"{route} refused a valid key: {status} {body}"


async def test_public_routes_need_no_key(gateway: TestClient) -> None:  # type: ignore[type-arg]
    for route in routes_of(gateway):
        if is_public(route):
            status, _, body = await send(gateway, route, route.path(name="swagger-ui.css"), {})
            assert status not in (401, 403), f"{route}: {status} {body}"


@pytest.mark.parametrize("other", [*PROVIDERS[1:], NOWHERE])
async def test_a_key_for_one_connection_is_403_on_every_route_of_any_other(
    gateway: TestClient,  # type: ignore[type-arg]
    logs: Any,
    other: str,
) -> None:
    before = await logs()
    checked = 0
    for route in routes_of(gateway):
        if not route.per_connection:
            continue
        status, headers, body = await send(gateway, route, route.path(other), bearer(ONLY_CRM))
        assert status == 403, f"{route} on {other}: {status} {body}"
        check_problem(status, headers, body, 403, "forbidden")
        # The same answer whether the connection exists or not: no way to list them by probing.
        assert body["detail"] == f"This API key may not use connection {other!r}."
        checked += 1
    assert checked >= 13  # every route under /v1/connections/{connection}
    assert await logs() == before  # nothing reached any provider

    # The positive control: the same key on its own connection is not refused…
    for route in routes_of(gateway):
        if route.per_connection:
            status, _, body = await send(gateway, route, route.path("crm_v1"), bearer(ONLY_CRM))
            assert status != 403, f"{route} on crm_v1: {body}"
    # …and it sees only its own connection listed.
    async with gateway.get("/v1/connections", headers=bearer(ONLY_CRM)) as response:
        assert [c["name"] for c in (await response.json())["data"]] == ["crm_v1"]


async def test_a_read_only_key_is_403_on_every_write_and_admin_route_of_every_connection(
    gateway: TestClient,  # type: ignore[type-arg]
    logs: Any,
) -> None:
    before = await logs()
    refused = 0
    for route in routes_of(gateway):
        if route.scope not in ("invoices:write", "admin"):
            continue
        for name in PROVIDERS if route.per_connection else ("-",):
            status, headers, body = await send(gateway, route, route.path(name), bearer(READER))
            assert status == 403, f"{route} on {name}: {status} {body}"
            check_problem(status, headers, body, 403, "forbidden")
            assert body["detail"] == f"This API key lacks the {route.scope} scope."
            refused += 1
    assert refused >= 8 * len(PROVIDERS) + 1  # 8 write routes on each, and /metrics
    assert await logs() == before

    # The positive control: every read route is open to it.
    for route in routes_of(gateway):
        if route.scope == "invoices:read":
            status, _, body = await send(gateway, route, route.path("crm_v1"), bearer(READER))
            assert status not in (401, 403), f"{route}: {status} {body}"


async def test_an_admin_key_sees_metrics_and_a_reader_does_not_see_base_urls(
    gateway: TestClient,  # type: ignore[type-arg]
    sandbox: Sandbox,
) -> None:
    async with gateway.get("/v1/connections/crm_v1", headers=bearer(READER)) as response:
        text = await response.text()
    assert response.status == 200
    assert "base_url" not in text and sandbox.emulator_urls["crm_v1"] not in text
    async with gateway.get("/v1/connections", headers=bearer(ALL)) as response:
        text = await response.text()
    assert not any(url in text for url in sandbox.emulator_urls.values())
    async with gateway.get("/metrics", headers=bearer(ADMIN)) as response:
        assert response.status == 200


# -- ids, idempotency keys and cursors never cross a connection or a client --------------------


@pytest.fixture
async def twins(sandbox: Sandbox, aiohttp_server: Any, aiohttp_client: Any) -> Any:
    """A gateway with two connections per provider: ``<p>`` (the sandbox's emulator, seeded)
    and ``<p>-b`` (an emulator of the same provider, a different account, empty)."""
    connections = []
    for provider, url in sandbox.emulator_urls.items():
        empty: TestServer = await aiohttp_server(
            create_emulator(provider, token=default_token(provider), seed_invoices=0)
        )
        connections.append(connection(provider, url))
        b_url = str(empty.make_url("")).rstrip("/")
        connections.append(connection(provider, b_url, name=f"{provider}-b"))
    clients = [client("all", ALL), client("other", OTHER)]
    gateway: TestClient = await aiohttp_client(create_app(settings(connections, clients)))  # type: ignore[type-arg]
    urls = {c.name: c.base_url for c in connections}
    return gateway, urls


async def call(
    gateway: TestClient,  # type: ignore[type-arg]
    method: str,
    path: str,
    *,
    key: str = ALL,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, Any]:
    async with gateway.request(
        method, path, json=body, headers={**bearer(key), **(headers or {})}
    ) as response:
        parsed = await response.json(content_type=None) if response.content_length != 0 else None
        return response.status, response.headers, parsed


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_invoice_id_from_one_connection_never_resolves_in_another(
    twins: Any, provider: str
) -> None:
    gateway, urls = twins
    a, b = provider, f"{provider}-b"
    sample = profile(provider).sample(0).model_dump(mode="json", exclude_none=True)
    status, _, created = await call(
        gateway,
        "POST",
        f"/v1/connections/{a}/invoices",
        body=sample,
        headers={"Idempotency-Key": f"sec-twin-{provider}"},
    )
    assert status == 201, created
    status, _, page = await call(gateway, "GET", f"/v1/connections/{a}/invoices?limit=5")
    assert status == 200 and page["data"], page
    ids = {created["id"], *(invoice["id"] for invoice in page["data"])}

    async with aiohttp.ClientSession() as session:
        before = await request_counts(session, {b: urls[b]})
    for invoice_id in sorted(ids):
        path = f"/v1/connections/{b}/invoices/{invoice_id}"
        status, _, body = await call(gateway, "GET", path)
        assert status == 404, f"{a}'s invoice {invoice_id} answered on {b}: {body}"
        assert (body["code"], body["connection"]) == ("not_found", b)
        for method, suffix in (("GET", "/payments"), ("DELETE", ""), ("POST", "/void")):
            status, _, body = await call(gateway, method, path + suffix)
            assert status in (404, 501), f"{method} {path}{suffix}: {status} {body}"
    async with aiohttp.ClientSession() as session:
        after = await request_counts(session, {b: urls[b]})
    assert after[b] > before[b]  # b was asked, and said it has no such invoice

    # The same Idempotency-Key and body on the other connection is another write, not a replay
    # of the first connection's stored answer.
    status, headers, other = await call(
        gateway,
        "POST",
        f"/v1/connections/{b}/invoices",
        body=sample,
        headers={"Idempotency-Key": f"sec-twin-{provider}"},
    )
    assert status == 201, other
    assert "Idempotent-Replayed" not in headers
    assert other["connection"] == b
    assert headers["Location"] == f"/v1/connections/{b}/invoices/{other['id']}"

    # A cursor made for one connection is refused on the other.
    status, _, first = await call(gateway, "GET", f"/v1/connections/{a}/invoices?limit=1")
    assert first["next_cursor"], first
    status, _, body = await call(
        gateway, "GET", f"/v1/connections/{b}/invoices?limit=1&cursor={first['next_cursor']}"
    )
    assert (status, body["code"]) == (400, "bad_request"), body
    assert body["errors"][0]["pointer"] == "#/query/cursor"

    # And the first connection's invoice is as it was.
    status, _, again = await call(gateway, "GET", f"/v1/connections/{a}/invoices/{created['id']}")
    assert status == 200 and again["connection"] == a
    assert (again["id"], again["status"], again["totals"]) == (
        created["id"],
        created["status"],
        created["totals"],
    )


async def test_one_clients_idempotency_key_never_replays_to_another_client(twins: Any) -> None:
    """The stored answer of a write is the caller's: another client sending the same key (a
    guess, or a shared library's counter) gets its own write, never the first one's invoice."""
    gateway, _ = twins
    sample = profile("draft_publish").sample(1).model_dump(mode="json", exclude_none=True)
    path = "/v1/connections/draft_publish/invoices"
    key = {"Idempotency-Key": "sec-shared-key-1"}
    status, _, mine = await call(gateway, "POST", path, body=sample, headers=key)
    assert status == 201, mine
    status, headers, replayed = await call(gateway, "POST", path, body=sample, headers=key)
    assert (status, headers.get("Idempotent-Replayed")) == (201, "true")  # the control
    assert replayed["id"] == mine["id"]
    status, headers, theirs = await call(gateway, "POST", path, key=OTHER, body=sample, headers=key)
    assert status == 201, theirs
    assert "Idempotent-Replayed" not in headers
    assert theirs["id"] != mine["id"]


def test_route_paths_fill_every_parameter() -> None:
    """The table's templates are filled completely (a new parameter name would otherwise be
    sent as ``{name}`` and test nothing)."""
    for route in route_table(create_app(settings([], []))):
        assert not re.search(r"[{}]", route.path("crm_v1", name="x")), route
