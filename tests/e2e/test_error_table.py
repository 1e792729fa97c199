"""Every row of the error table in docs/facade.md, produced against the running sandbox."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from gateway.config import Client, Connection, Settings, StoreSettings
from gateway.http.app import create_app
from gateway.sandbox import sandbox_connection
from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import PROVIDERS, profile
from tests.e2e.conftest_sandbox import Answer, call, created, provider_writes
from tests.e2e.sandbox import sandbox_in_thread
from tests.stores import sqlite_url


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=5) as running:
        yield running


@pytest.fixture
async def faults(sandbox: Sandbox) -> AsyncIterator[Any]:
    """Set faults on an emulator for one test; cleared afterwards."""
    touched: list[str] = []

    async def set_faults(provider: str, **config: Any) -> None:
        touched.append(provider)
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                sandbox.emulator_urls[provider] + "/_emulator/faults", json=config
            ) as response,
        ):
            assert response.status == 200, await response.text()

    yield set_faults
    async with aiohttp.ClientSession() as session:
        for provider in touched:
            async with session.delete(sandbox.emulator_urls[provider] + "/_emulator/faults"):
                pass


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def settings(
    sandbox: Sandbox,
    *,
    clients: list[dict[str, Any]] | None = None,
    tokens: dict[str, str] | None = None,
    **changes: dict[str, Any],
) -> Settings:
    """A gateway over the sandbox's emulators, with other clients or connection settings."""
    connections = []
    for provider, url in sandbox.emulator_urls.items():
        base = sandbox_connection(provider, url, token=(tokens or {}).get(provider))
        data = {**base.model_dump(exclude={"auth"}), "auth": base.auth, **changes.get(provider, {})}
        connections.append(Connection.model_validate(data))
    everyone = {
        "name": "all",
        "key_sha256": key_hash("k-all"),
        "connections": ["*"],
        "scopes": ["invoices:read", "invoices:write"],
    }
    return Settings(
        store=StoreSettings(url=sqlite_url()),
        clients=[Client.model_validate(c) for c in clients or [everyone]],
        connections=connections,
    )


async def client_for(aiohttp_client: Any, settings: Settings) -> TestClient:  # type: ignore[type-arg]
    return await aiohttp_client(create_app(settings))


def problem(answer: Answer, status: int, code: str) -> dict[str, Any]:
    assert (answer.status, answer.body.get("code")) == (status, code), answer.body
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.body["type"] == f"/problems/{code}"
    assert answer.body["request_id"] == answer.headers["X-Request-ID"]
    assert "sandbox-" not in str(answer.body) and "127.0.0.1" not in str(answer.body)
    return answer.body  # type: ignore[no-any-return]


async def test_400_malformed_json_bad_query_bad_cursor(sandbox: Sandbox) -> None:
    body = problem(
        await call(sandbox, "POST", "/v1/connections/crm_v1/invoices", raw=b'{"currency": '),
        400,
        "bad_request",
    )
    assert body["detail"].startswith("The request body is not valid JSON")
    body = problem(
        await call(sandbox, "GET", "/v1/connections/crm_v1/invoices?limit=0"), 400, "bad_request"
    )
    assert body["detail"] == "limit must be a whole number from 1 to 100."
    problem(
        await call(sandbox, "GET", "/v1/connections/crm_v1/invoices?colour=red"), 400, "bad_request"
    )
    body = problem(
        await call(sandbox, "GET", "/v1/connections/crm_v1/invoices?cursor=abc.def"),
        400,
        "bad_request",
    )
    assert body["detail"].startswith("cursor: is not valid (")
    # An empty cursor would start the walk again from the first page, unseen.
    for path in (
        "/v1/connections/crm_v1/invoices?cursor=",
        "/v1/connections/draft_publish/trash/invoices?cursor=",
        "/v1/invoices?connection=crm_v1&connection=bill_crm&cursor=",
    ):
        body = problem(await call(sandbox, "GET", path), 400, "bad_request")
        assert body["errors"] == [
            {
                "pointer": "#/query/cursor",
                "detail": "is empty: give the next_cursor of the previous page, or leave it out",
            }
        ], path


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        # Not in the document they make, and no less strict.
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/v1/connections"),
        ("GET", "/v1/connections/crm_v1"),
        ("GET", "/v1/connections/crm_v1/invoices/1"),
        ("GET", "/v1/connections/draft_publish/invoices/next-number"),
        ("POST", "/v1/connections/crm_v1/invoices"),
        ("POST", "/v1/connections/crm_v1/invoices/preview"),
        ("POST", "/v1/invoices/calculate"),
        ("PUT", "/v1/connections/crm_v1/invoices/1"),
        ("DELETE", "/v1/connections/crm_v1/invoices/1"),
    ],
)
async def test_400_a_query_parameter_the_route_does_not_take(
    sandbox: Sandbox, method: str, path: str
) -> None:
    """Every route, not only the lists, names a parameter it does not take (the OpenAPI
    document says which it takes), before anything is read or written."""
    body = problem(await call(sandbox, method, f"{path}?colour=red", body={}), 400, "bad_request")
    assert body["errors"] == [
        {"pointer": "#/query/colour", "detail": "is not a query parameter of this route"}
    ]
    kept = await call(sandbox, "GET", "/v1/connections/crm_v1/invoices/1")
    assert kept.status == 200  # nothing was deleted or changed on the way


async def test_a_documented_query_parameter_still_goes_through(sandbox: Sandbox) -> None:
    one = await call(sandbox, "GET", "/v1/connections/crm_v1/invoices/1?expand=remote_data")
    assert one.status == 200 and one.body["remote_data"]["inv_id"] == 1
    listed = await call(sandbox, "GET", "/v1/connections/crm_v1/invoices?colour=red")
    assert listed.body["errors"] == [  # the list's own check, as before
        {"pointer": "#/query/colour", "detail": "is not a query parameter of this route"}
    ]


def _sample(connection: str, at: int = 0) -> dict[str, Any]:
    return profile(connection).sample(at).model_dump(mode="json", exclude_none=True)


@pytest.mark.parametrize("connection", PROVIDERS)
async def test_400_bad_expand_on_a_write_is_refused_before_anything_is_sent(
    sandbox: Sandbox, connection: str
) -> None:
    """``?expand`` only shapes a write's answer, and a bad one is a 400 (not retryable): so it is
    refused before the write, not after it was made. The same request without it, with the
    same key, is then the first write for the key, not the replay of one never answered."""
    one = await created(sandbox, connection)
    before = await provider_writes(sandbox, connection)
    key = {"Idempotency-Key": f"expand-{connection}"}
    invoices = f"/v1/connections/{connection}/invoices"
    writes = [
        ("POST", f"{invoices}?expand=bogus", _sample(connection), key),
        ("PUT", f"{one}?expand=bogus", _sample(connection), {"If-Match": '"stale"'}),
        ("DELETE", f"{one}?expand=remote_data,bogus", None, {}),
    ]
    if connection == "order_linked":  # it neither updates nor deletes: a 501 before all
        writes = [*writes[:1], ("POST", f"{one}/void?expand=bogus", None, {})]
    for method, path, body, headers in writes:
        answer = await call(sandbox, method, path, body=body, headers=headers)
        refused = problem(answer, 400, "bad_request")
        assert refused["retryable"] is False
        assert refused["errors"][0]["pointer"] == "#/query/expand", (method, refused)
    assert await provider_writes(sandbox, connection) == before
    answer = await call(sandbox, "POST", invoices, body=_sample(connection), headers=key)
    assert answer.status == 201 and "Idempotent-Replayed" not in answer.headers
    assert len(await provider_writes(sandbox, connection)) > len(before)


@pytest.mark.parametrize("connection", PROVIDERS)
async def test_a_preview_refuses_what_the_create_refuses_before_sending(
    sandbox: Sandbox, connection: str
) -> None:
    """A preview that answers 200 is a create that would be sent: the provider's own checks of
    a create (its fields, not only what the canonical fit sees) refuse it the same way."""
    body = {**_sample(connection), "provider_fields": {"not_a_field": 1}}
    invoices = f"/v1/connections/{connection}/invoices"
    before = await provider_writes(sandbox, connection)
    answers = [
        await call(sandbox, "POST", f"{invoices}/preview", body=body),
        await call(sandbox, "POST", invoices, body=body),
    ]
    for answer in answers:
        assert answer.status == 422, answer.body
        assert "/provider_fields/not_a_field" in [e["pointer"] for e in answer.body["errors"]]
    assert answers[0].body["errors"] == answers[1].body["errors"]
    assert await provider_writes(sandbox, connection) == before


async def test_a_preview_on_bill_crm_refuses_another_currency_as_the_create_does(
    sandbox: Sandbox,
) -> None:
    body = {**_sample("bill_crm"), "currency": "EUR"}
    for path in ("/invoices/preview", "/invoices"):
        answer = await call(sandbox, "POST", f"/v1/connections/bill_crm{path}", body=body)
        assert answer.status == 422, answer.body
        assert answer.body["errors"][0]["pointer"] == "/currency"
        assert "account's currency (USD)" in answer.body["errors"][0]["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/invoices/calculate",
        "/v1/connections/crm_v1/invoices",
        "/v1/connections/crm_v1/invoices/preview",
    ],
)
@pytest.mark.parametrize(
    "number", ["1E-99999999999999999999", "1e+99999999999999999999", "0E-99999999999999999999"]
)
async def test_422_a_json_number_whose_exponent_no_decimal_can_hold(
    sandbox: Sandbox, path: str, number: str
) -> None:
    """Read exactly as written means refused where it stands, not a 500: the pointer names
    every such number, and nothing is sent."""
    data = _sample("crm_v1")
    data["lines"][0].update(quantity="<number>", unit_price="<number>")
    text = json.dumps(data).replace('"<number>"', number)
    before = await provider_writes(sandbox, "crm_v1")
    refused = problem(await call(sandbox, "POST", path, raw=text.encode()), 422, "validation_error")
    pointers = [e["pointer"] for e in refused["errors"]]
    assert pointers == ["/lines/0/quantity", "/lines/0/unit_price"], refused
    assert "exponent is out of range" in refused["errors"][0]["detail"]
    assert refused["detail"].startswith("lines[0].quantity ")
    assert await provider_writes(sandbox, "crm_v1") == before


async def test_400_bad_expand_even_when_the_page_is_empty(sandbox: Sandbox) -> None:
    # crm_v1 has no drafts: the page is empty, and the bad parameter is still refused
    path = "/v1/connections/crm_v1/invoices?status=draft&expand=everything"
    body = problem(await call(sandbox, "GET", path), 400, "bad_request")
    assert body["detail"] == "expand: everything cannot be expanded (remote_data can)."
    problem(
        await call(sandbox, "GET", "/v1/connections/crm_v1/invoices/1?expand=null"),
        400,
        "bad_request",
    )


async def test_400_dates_the_wrong_way_round_on_every_list(sandbox: Sandbox) -> None:
    """An empty page read as "none issued then"; export refused the same dates."""
    dates = "issued_from=2026-06-01&issued_to=2026-01-01"
    for path in (
        f"/v1/connections/bill_crm/invoices?{dates}",
        f"/v1/invoices?connection=crm_v1&connection=order_linked&{dates}",
        f"/v1/connections/draft_publish/invoices/export.csv?{dates}",  # a file of no rows
    ):
        body = problem(await call(sandbox, "GET", path), 400, "bad_request")
        assert body["detail"] == "issued_from 2026-06-01 is after issued_to 2026-01-01: swap them."
        assert [e["pointer"] for e in body["errors"]] == ["#/query/issued_from"]
    same_day = await call(
        sandbox,
        "GET",
        "/v1/connections/bill_crm/invoices?issued_from=2026-01-01&issued_to=2026-01-01",
    )
    assert same_day.status == 200, same_day.body
    empty = problem(
        await call(sandbox, "GET", "/v1/connections/crm_v1/invoices/1?expand="), 400, "bad_request"
    )
    assert empty["detail"] == "expand: an empty name cannot be expanded (remote_data can)."


async def test_a_body_refused_on_a_connections_route_names_the_connection(
    sandbox: Sandbox,
) -> None:
    """As the spec's own example does ("lines[0].quantity must be a decimal", with
    "connection" and "provider"): it named neither, the body being refused before the
    provider was asked. A caller not yet known is told no name."""
    body = {"customer": {"id": "10"}, "currency": "USD", "lines": [{"quantity": "abc"}]}
    path = "/v1/connections/crm_v1/invoices"
    refused = problem(await call(sandbox, "POST", path, body=body), 422, "validation_error")
    assert (refused["connection"], refused["provider"]) == ("crm_v1", "crm_v1")
    query = problem(await call(sandbox, "GET", path + "?limit=0"), 400, "bad_request")
    assert (query["connection"], query["provider"]) == ("crm_v1", "crm_v1")
    key = {"Idempotency-Key": f"names-{uuid.uuid4()}"}
    made = profile("crm_v1").sample(1).model_dump(mode="json", exclude_none=True)
    assert (await call(sandbox, "POST", path, body=made, headers=key)).status == 201
    other = {**made, "notes": "another request under the key"}
    reused = problem(
        await call(sandbox, "POST", path, body=other, headers=key), 422, "idempotency_key_reused"
    )
    assert (reused["connection"], reused["provider"]) == ("crm_v1", "crm_v1")
    unknown = problem(
        await call(sandbox, "POST", path, body=body, key=None), 401, "unauthenticated"
    )
    assert "connection" not in unknown and "provider" not in unknown


async def test_401_without_or_with_a_wrong_key(sandbox: Sandbox) -> None:
    for key in (None, "sk_wrong"):
        answer = await call(sandbox, "GET", "/v1/connections", key=key)
        problem(answer, 401, "unauthenticated")
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


async def test_401_says_whether_the_key_was_missing_unknown_or_not_a_bearer_key(
    sandbox: Sandbox,
) -> None:
    """A newcomer who mistyped the key was told to send one, word for word the answer to a
    request with none."""
    path = "/v1/connections"
    missing = problem(await call(sandbox, "GET", path, key=None), 401, "unauthenticated")
    assert missing["detail"] == "Send an API key as 'Authorization: Bearer <key>'."
    unknown = problem(await call(sandbox, "GET", path, key="sk_sandboxx"), 401, "unauthenticated")
    assert unknown["detail"].startswith("The API key sent is not one this gateway knows")
    assert "sk_sandboxx" not in json.dumps(unknown)
    basic = problem(
        await call(sandbox, "GET", path, key=None, headers={"Authorization": "Basic c2s6"}),
        401,
        "unauthenticated",
    )
    assert basic["detail"] == (
        "The Authorization header is not a Bearer API key. "
        "Send an API key as 'Authorization: Bearer <key>'."
    )


async def test_403_scope_and_connection(sandbox: Sandbox, aiohttp_client: Any) -> None:
    reader = {
        "name": "reader",
        "key_sha256": key_hash("k-read"),
        "connections": ["crm_v1"],
        "scopes": ["invoices:read"],
    }
    gateway = await client_for(aiohttp_client, settings(sandbox, clients=[reader]))
    auth = {"Authorization": "Bearer k-read"}
    write = await gateway.post("/v1/connections/crm_v1/invoices", json={}, headers=auth)
    assert (write.status, (await write.json())["code"]) == (403, "forbidden")
    other = await gateway.get("/v1/connections/bill_crm/invoices", headers=auth)
    assert (other.status, (await other.json())["detail"]) == (
        403,
        "This API key may not use connection 'bill_crm'.",
    )


async def test_404_unknown_connection_and_invoice(sandbox: Sandbox) -> None:
    nowhere = problem(await call(sandbox, "GET", "/v1/connections/crm/invoices"), 404, "not_found")
    assert nowhere["detail"] == (
        "No connection named 'crm'. This API key's connections: bill_crm, crm_v1, "
        "draft_publish, item_envelope, order_linked (GET /v1/connections lists them)."
    )
    body = problem(
        await call(sandbox, "GET", "/v1/connections/crm_v1/invoices/999999"), 404, "not_found"
    )
    assert (body["connection"], body["provider"]) == ("crm_v1", "crm_v1")


async def test_404_a_payment_recorded_on_an_unknown_invoice_says_what_was_missing(
    sandbox: Sandbox,
) -> None:
    """The gateway reads the invoice's payments before it records one: its 404 said "could not
    list payments", which the caller, recording a payment, never asked for."""
    unknown = "/v1/connections/draft_publish/invoices/00000000-0000-0000-0000-000000000000"
    payment = {"amount": "10.00", "date": "2026-07-02", "method": "bank_transfer"}
    for method, body in (("POST", payment), ("GET", None)):
        answer = await call(sandbox, method, unknown + "/payments", body=body)
        detail = problem(answer, 404, "not_found")["detail"]
        assert detail == (
            "draft_publish could not read the invoice's payments: "
            "Invoice 00000000-0000-0000-0000-000000000000 not found"
        )


@pytest.mark.parametrize("given", ["abc", "W/abc", '"a", b', " "])
async def test_412_an_if_match_that_is_no_etag_is_not_told_the_invoice_changed(
    sandbox: Sandbox, given: str
) -> None:
    """A value written by hand that is no entity-tag matches nothing (412, nothing written);
    it was answered "The invoice changed", which it had not."""
    location = await created(sandbox, "crm_v1")
    tag = (await call(sandbox, "GET", location)).headers["ETag"]
    replacement = profile("crm_v1").sample(1).model_dump(mode="json", exclude_none=True)
    refused = await call(sandbox, "PUT", location, body=replacement, headers={"If-Match": given})
    detail = problem(refused, 412, "precondition_failed")["detail"]
    shown = f"If-Match {given.strip()}" if given.strip() else "An empty If-Match"
    assert detail == (
        f"{shown} is no ETag, so it matches none: send the ETag a read of the invoice "
        f"answered, quotes included (it is {tag} now), or * for any."
    )
    assert (await call(sandbox, "GET", location)).headers["ETag"] == tag  # nothing written


async def test_409_editing_a_published_invoice(sandbox: Sandbox) -> None:
    location = await created(sandbox, "draft_publish")
    assert (await call(sandbox, "POST", location + "/issue")).status == 200
    replacement = profile("draft_publish").sample(1).model_dump(mode="json", exclude_none=True)
    problem(await call(sandbox, "PUT", location, body=replacement), 409, "conflict")


async def test_412_if_match_with_a_stale_etag(sandbox: Sandbox) -> None:
    location = await created(sandbox, "crm_v1")
    current = await call(sandbox, "GET", location)
    replacement = profile("crm_v1").sample(1).model_dump(mode="json", exclude_none=True)
    stale = await call(
        sandbox, "PUT", location, body=replacement, headers={"If-Match": 'W/"stale"'}
    )
    body = problem(stale, 412, "precondition_failed")
    assert current.headers["ETag"] in body["detail"]
    fresh = await call(
        sandbox, "PUT", location, body=replacement, headers={"If-Match": current.headers["ETag"]}
    )
    assert fresh.status == 200, fresh.body
    assert fresh.headers["ETag"] != current.headers["ETag"]


async def test_if_match_with_a_list_of_tags_goes_ahead_when_one_is_current(
    sandbox: Sandbox,
) -> None:
    """RFC 9110: If-Match lists entity-tags and holds when any of them is the current one."""
    location = await created(sandbox, "crm_v1")
    current = await call(sandbox, "GET", location)
    tag = current.headers["ETag"]
    replacement = profile("crm_v1").sample(1).model_dump(mode="json", exclude_none=True)
    stale = await call(
        sandbox, "PUT", location, body=replacement, headers={"If-Match": 'W/"a,b", "0"'}
    )
    assert tag in problem(stale, 412, "precondition_failed")["detail"]
    listed = await call(
        sandbox, "PUT", location, body=replacement, headers={"If-Match": f'W/"a,b" , {tag}'}
    )
    assert listed.status == 200, listed.body
    assert listed.headers["ETag"] != tag


async def test_if_match_on_several_header_lines_is_one_list(sandbox: Sandbox) -> None:
    """RFC 9110: a list field sent on several lines is one list: a stale tag on the first line
    and the current one on the second goes ahead, whichever line comes first."""
    location = await created(sandbox, "crm_v1")
    replacement = profile("crm_v1").sample(1).model_dump(mode="json", exclude_none=True)
    for stale_first in (True, False):
        tag = (await call(sandbox, "GET", location)).headers["ETag"]
        lines = ['"nope"', tag] if stale_first else [tag, '"nope"']
        headers = CIMultiDict([("Authorization", "Bearer sk_sandbox")])
        for line in lines:
            headers.add("If-Match", line)
        async with (
            aiohttp.ClientSession() as session,
            session.put(sandbox.gateway_url + location, json=replacement, headers=headers) as put,
        ):
            assert put.status == 200, await put.text()


@pytest.mark.parametrize(
    ("connection", "method", "suffix"),
    [("order_linked", "POST", "/void"), ("bill_crm", "DELETE", "")],
)
async def test_412_if_match_on_an_action_or_a_delete_leaves_the_invoice_as_it_is(
    sandbox: Sandbox, connection: str, method: str, suffix: str
) -> None:
    """If-Match is checked on every write to an invoice, not only a replace: a stale ETag
    sends nothing, the current one (or *) goes through."""
    location = await created(sandbox, connection)
    current = await call(sandbox, "GET", location)
    for key, tag in (("stale", 'W/"stale"'), ("old-version", '"0"')):
        stale = await call(
            sandbox,
            method,
            location + suffix,
            headers={"If-Match": tag, "Idempotency-Key": f"{key}-{method}-{location}"},
        )
        body = problem(stale, 412, "precondition_failed")
        assert current.headers["ETag"] in body["detail"]
        after = await call(sandbox, "GET", location)
        assert (after.status, after.body["status"]) == (200, current.body["status"])
    fresh = await call(
        sandbox, method, location + suffix, headers={"If-Match": current.headers["ETag"]}
    )
    assert fresh.status in (200, 204), fresh.body
    after = await call(sandbox, "GET", location)
    assert after.status == 404 if method == "DELETE" else after.body["status"] == "void"


async def test_413_body_too_large(sandbox: Sandbox) -> None:
    problem(
        await call(sandbox, "POST", "/v1/connections/crm_v1/invoices", raw=b" " * 1_100_000),
        413,
        "payload_too_large",
    )


async def test_422_validation_and_unsupported_field(sandbox: Sandbox) -> None:
    sample = profile("crm_v1").sample(0).model_dump(mode="json", exclude_none=True)
    bad = {**sample, "lines": [{**sample["lines"][0], "quantity": "-1"}]}
    body = problem(
        await call(sandbox, "POST", "/v1/connections/crm_v1/invoices", body=bad),
        422,
        "validation_error",
    )
    assert body["errors"] == [{"pointer": "/lines/0/quantity", "detail": "must not be negative"}]
    shipped = {**sample, "shipping": "5.00"}
    body = problem(
        await call(sandbox, "POST", "/v1/connections/crm_v1/invoices", body=shipped),
        422,
        "unsupported_field",
    )
    assert body["errors"] == [
        {"pointer": "/shipping", "detail": "crm_v1 cannot carry a shipping amount"}
    ]
    lenient = await call(
        sandbox,
        "POST",
        "/v1/connections/crm_v1/invoices",
        body=shipped,
        headers={"Prefer": "handling=lenient"},
    )
    assert lenient.status == 201
    assert lenient.headers["Preference-Applied"] == "handling=lenient"
    assert lenient.body["warnings"] == [
        {"field": "/shipping", "reason": "crm_v1 cannot carry a shipping amount"}
    ]


async def test_429_over_the_callers_rate_limit(sandbox: Sandbox, aiohttp_client: Any) -> None:
    slow = {
        "name": "slow",
        "key_sha256": key_hash("k-slow"),
        "connections": ["*"],
        "scopes": ["invoices:read"],
        "rate_limit": {"per_second": 0.5, "burst": 2},
    }
    gateway = await client_for(aiohttp_client, settings(sandbox, clients=[slow]))
    auth = {"Authorization": "Bearer k-slow"}
    statuses = [(await gateway.get("/v1/connections", headers=auth)).status for _ in range(2)]
    limited = await gateway.get("/v1/connections", headers=auth)
    assert statuses == [200, 200]
    assert limited.status == 429
    assert (await limited.json())["code"] == "rate_limited"
    assert limited.headers["Retry-After"] == "2"


async def test_a_check_of_the_gateways_own_names_the_connection_and_its_provider(
    sandbox: Sandbox,
) -> None:
    """A payment finer than its currency is refused before anything is sent, by a check that
    raises without a provider: the problem names it all the same, as facade.md says of every
    problem on a connection's route."""
    listed = await call(sandbox, "GET", "/v1/connections/draft_publish/invoices?status=open")
    invoice_id = listed.body["data"][0]["id"]
    body = problem(
        await call(
            sandbox,
            "POST",
            f"/v1/connections/draft_publish/invoices/{invoice_id}/payments",
            body={"amount": "1.001", "date": "2026-05-01", "method": "cash"},
        ),
        422,
        "validation_error",
    )
    assert (body["connection"], body["provider"]) == ("draft_publish", "draft_publish")
    assert [e["pointer"] for e in body["errors"]] == ["/amount"]


async def test_501_not_supported_never_reaches_the_provider(sandbox: Sandbox) -> None:
    body = problem(
        await call(
            sandbox, "PUT", "/v1/connections/order_linked/invoices/x", body={"currency": "AUD"}
        ),
        501,
        "not_supported",
    )
    assert (
        body["provider"] == "order_linked"
        and body["capabilities"] == "/v1/connections/order_linked"
    )
    problem(
        await call(sandbox, "POST", "/v1/connections/crm_v1/invoices/1/void"), 501, "not_supported"
    )


async def test_502_provider_failing_after_retries(sandbox: Sandbox, faults: Any) -> None:
    await faults("crm_v1", error_rate=1, error_status=500, methods=["GET"])
    body = problem(
        await call(sandbox, "GET", "/v1/connections/crm_v1/invoices/1"), 502, "upstream_error"
    )
    assert body["retryable"] is True


@pytest.mark.parametrize("status", [400, 409, 413, 422])
@pytest.mark.parametrize("connection", PROVIDERS)
async def test_502_a_provider_refusing_the_gateways_read_on_every_connection(
    sandbox: Sandbox, faults: Any, connection: str, status: int
) -> None:
    """A read carries nothing of the caller's to fix: a provider's 400, 409, 413 or 422 to it is
    the provider failing (502), not retryable (it would answer the same), and never a 422
    `validation_error` or a 409 `conflict` about a body the caller did not send."""
    one = await created(sandbox, connection)
    await faults(connection, error_rate=1, error_status=status, methods=["GET"])
    listing = f"/v1/connections/{connection}/invoices?limit=2"
    for path in (one, listing):
        body = problem(await call(sandbox, "GET", path), 502, "upstream_error")
        assert body["retryable"] is False, path
        assert f"{connection} refused the gateway's read with {status}" in body["detail"], path
        assert "errors" not in body


@pytest.mark.parametrize("connection", PROVIDERS)
async def test_502_a_provider_answering_404_to_its_list_is_no_unknown_connection(
    sandbox: Sandbox, faults: Any, connection: str
) -> None:
    """A list names no invoice: a 404 to it is the list's path missing at the base_url (the
    provider failing, 502, final), never the 404 `not_found` that says the caller named an
    unknown connection or invoice, alone or in a fan-out. A 404 to one invoice's read stays
    `not_found`."""
    other = "crm_v1" if connection != "crm_v1" else "bill_crm"
    await faults(connection, error_rate=1, error_status=404, methods=["GET"])
    for path in (
        f"/v1/connections/{connection}/invoices?limit=2",
        f"/v1/invoices?connection={other}&connection={connection}&limit=2",
    ):
        body = problem(await call(sandbox, "GET", path), 502, "upstream_error")
        assert (body["retryable"], body["connection"]) == (False, connection), path
        assert "no invoice" not in body["detail"] and "such invoice" not in body["detail"]
    one = await call(sandbox, "GET", f"/v1/connections/{connection}/invoices/77")
    assert problem(one, 404, "not_found")["connection"] == connection


async def test_502_a_404_to_the_trash_list(sandbox: Sandbox, faults: Any) -> None:
    await faults("draft_publish", error_rate=1, error_status=404, path_regex="trash")
    answer = await call(sandbox, "GET", "/v1/connections/draft_publish/trash/invoices")
    body = problem(answer, 502, "upstream_error")
    assert "trash list" in body["detail"] and "base_url" in body["detail"]
    assert body["retryable"] is False


async def test_502_provider_rejecting_the_gateways_credentials(
    sandbox: Sandbox, aiohttp_client: Any
) -> None:
    gateway = await client_for(
        aiohttp_client,
        settings(sandbox, tokens={"crm_v1": "not-the-token", "bill_crm": "not-the-token"}),
    )
    response = await gateway.get(
        "/v1/connections/crm_v1/invoices/1", headers={"Authorization": "Bearer k-all"}
    )
    body = await response.json()
    assert (response.status, body["code"], body["retryable"]) == (
        502,
        "upstream_auth_failed",
        False,
    )
    assert "not-the-token" not in str(body)
    # A create refused so answers the same, however the refusal came (here the lookup before
    # the create meets it first; tests/unit/test_keyed_writes.py has the create's own call).
    for connection in ("crm_v1", "bill_crm"):
        sample = profile(connection).sample(0).model_dump(mode="json", exclude_none=True)
        headers = {"Authorization": "Bearer k-all", "Idempotency-Key": f"refused-{connection}"}
        for _ in range(2):
            response = await gateway.post(
                f"/v1/connections/{connection}/invoices", json=sample, headers=headers
            )
            body = await response.json()
            assert (response.status, body["code"], body["retryable"]) == (
                502,
                "upstream_auth_failed",
                False,
            ), body


async def test_503_provider_rate_limiting_us(sandbox: Sandbox, faults: Any) -> None:
    await faults("bill_crm", rate_limit_rate=1, retry_after=0, methods=["GET"])
    answer = await call(sandbox, "GET", "/v1/connections/bill_crm/invoices/1")
    problem(answer, 503, "upstream_unavailable")
    assert answer.headers["Retry-After"] == "1"


@pytest.mark.parametrize(
    ("connection", "fault", "says"),
    [
        ("bill_crm", {"rate_limit_rate": 1, "retry_after": None}, "is rate-limiting the gateway"),
        ("draft_publish", {"reset_rate": 1}, "dropped the connection"),
    ],
)
async def test_503_provider_refusing_or_dropping_to_the_end_says_when_to_try_again(
    sandbox: Sandbox,
    faults: Any,
    aiohttp_client: Any,
    connection: str,
    fault: dict[str, Any],
    says: str,
) -> None:
    """The provider's 429s name no wait, or every attempt's connection is reset: the 503 names
    the longest the gateway's next retry would have waited (base 1.5 s × 2^(2−1), after two
    attempts), so a script knows when."""
    paced = {"retries": {"max_attempts": 2, "backoff_base_s": 1.5, "backoff_max_s": 10}}
    gateway = await client_for(aiohttp_client, settings(sandbox, **{connection: paced}))
    await faults(connection, **fault, methods=["GET"])
    response = await gateway.get(
        f"/v1/connections/{connection}/invoices?limit=1", headers={"Authorization": "Bearer k-all"}
    )
    body = await response.json()
    assert (response.status, body["code"], body["retryable"]) == (
        503,
        "upstream_unavailable",
        True,
    ), body
    assert says in body["detail"]
    assert response.headers["Retry-After"] == "3"


async def test_504_provider_not_answering(
    sandbox: Sandbox, faults: Any, aiohttp_client: Any
) -> None:
    quick = {"timeout_s": 0.3, "retries": {"max_attempts": 1}}
    gateway = await client_for(aiohttp_client, settings(sandbox, item_envelope=quick))
    await faults("item_envelope", timeout_rate=1, methods=["GET"])
    response = await gateway.get(
        "/v1/connections/item_envelope/invoices/120", headers={"Authorization": "Bearer k-all"}
    )
    assert (response.status, (await response.json())["code"]) == (504, "upstream_timeout")


async def test_a_key_for_one_connection_is_refused_on_every_route_of_another(
    sandbox: Sandbox, aiohttp_client: Any
) -> None:
    only_crm = {
        "name": "crm-only",
        "key_sha256": key_hash("k-crm"),
        "connections": ["crm_v1"],
        "scopes": ["invoices:read", "invoices:write"],
    }
    app = create_app(settings(sandbox, clients=[only_crm]))
    gateway = await aiohttp_client(app)
    auth = {"Authorization": "Bearer k-crm"}
    values = {
        "connection": "bill_crm",
        "invoice_id": "1",
        "payment_id": "1",
        "order_id": "1",
        "action": "issue",
        "note_id": "1",
    }
    checked = 0
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if "{connection}" not in path or route.method == "HEAD":
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
        response = await gateway.request(route.method, url, headers=auth, json={})
        assert response.status == 403, f"{route.method} {path}"
        checked += 1
    assert checked == 22  # every route of a connection (a new one changes this count)
    assert (await gateway.get("/v1/connections/crm_v1/invoices", headers=auth)).status == 200


async def test_a_plain_replace_reads_nothing_first(sandbox: Sandbox) -> None:
    location = await created(sandbox, "crm_v1")
    async with aiohttp.ClientSession() as session:
        log_url = sandbox.emulator_urls["crm_v1"] + "/_emulator/requests"
        async with session.get(log_url) as response:
            before = len((await response.json())["requests"])
        replacement = profile("crm_v1").sample(1).model_dump(mode="json", exclude_none=True)
        assert (await call(sandbox, "PUT", location, body=replacement)).status == 200
        async with session.get(log_url) as response:
            sent = [(r["method"], r["path"]) for r in (await response.json())["requests"][before:]]
    invoice_path = "/v1/invoices/" + location.rsplit("/", 1)[1]
    assert sent == [("PUT", invoice_path), ("GET", invoice_path)]  # the update, then its read-back


async def test_an_invoice_put_back_as_it_was_read_passes(sandbox: Sandbox) -> None:
    location = await created(sandbox, "crm_v1")
    read = await call(sandbox, "GET", location)
    assert read.body["number"]  # assigned by crm_v1, which cannot take a caller's number
    again = await call(
        sandbox, "PUT", location, body=read.body, headers={"If-Match": read.headers["ETag"]}
    )
    assert again.status == 200, again.body
    assert again.body["number"] == read.body["number"]
    changed = {**read.body, "number": "MY-OWN-1"}
    refused = await call(sandbox, "PUT", location, body=changed)
    body = problem(refused, 422, "unsupported_field")
    assert body["errors"][0]["pointer"] == "/number"


async def test_a_refusal_points_at_the_callers_line_when_lenient_handling_dropped_one(
    sandbox: Sandbox,
) -> None:
    """draft_publish carries no section lines: lenient handling drops line 0, so the provider's
    line 0 is the caller's line 1, and a refusal of it says line 1, in the preview and in the
    create alike (nothing is sent)."""
    body = _sample("draft_publish")
    item = {**body["lines"][0], "taxes": [{"rate": "1"}]}  # no such rate is configured
    body["lines"] = [{"kind": "section", "name": "Hardware"}, item]
    lenient = {"Prefer": "handling=lenient"}
    before = await provider_writes(sandbox, "draft_publish")
    for path in ("/invoices/preview", "/invoices"):
        answer = await call(
            sandbox, "POST", f"/v1/connections/draft_publish{path}", body=body, headers=lenient
        )
        assert answer.status == 422, answer.body
        assert [e["pointer"] for e in answer.body["errors"]] == ["/lines/1/taxes/0/rate"]
        assert answer.body["detail"].startswith("lines[1].taxes[0].rate ")
    assert await provider_writes(sandbox, "draft_publish") == before


async def test_a_body_of_many_mistakes_lists_a_hundred_and_counts_the_rest(
    sandbox: Sandbox,
) -> None:
    """Each unknown provider field is an error, but an answer does not grow with the body
    (60,000 unknown members answered 8 MB): the first 100 are listed, the others counted."""
    body = {**_sample("crm_v1"), "provider_fields": {f"x{i:04}": 1 for i in range(1500)}}
    raw = json.dumps(body).encode()
    answer = await call(sandbox, "POST", "/v1/connections/crm_v1/invoices/preview", raw=raw)
    refused = problem(answer, 422, "validation_error")
    assert len(refused["errors"]) == 100
    assert refused["errors_omitted"] >= 1400  # the 1,500 fields, and anything else refused
    assert refused["errors"][0]["pointer"].startswith("/provider_fields/x")
    assert len(json.dumps(refused)) < len(raw) * 2


async def test_a_huge_member_name_is_cut_in_the_pointer_as_in_the_detail(sandbox: Sandbox) -> None:
    """A 900 KB unknown member name was answered with its detail cut at 100 characters and a
    900 KB pointer: an answer as large as the request, to anyone (calculate takes no key)."""
    name = "k" * 900_000
    raw = json.dumps({"currency": "EUR", name: 1, "lines": []}).encode()
    answer = await call(sandbox, "POST", "/v1/invoices/calculate", raw=raw)
    refused = problem(answer, 422, "validation_error")
    assert [e["pointer"] for e in refused["errors"]] == ["/" + "k" * 100 + "…"]
    assert len(json.dumps(refused)) < 2_000
