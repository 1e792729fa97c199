"""Idempotency-Key over HTTP, against the five emulators: replay, reuse, concurrent use, expiry,
what is kept and what is not, and lost answers resolved without a second write."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from emulators.registry import PROVIDERS
from gateway.config import BreakerSettings, Client, Connection, Settings, StoreSettings
from gateway.http.app import create_app
from gateway.http.keys import ADAPTERS, STORE
from gateway.sandbox import sandbox_connection
from gateway.sandbox.serve import Sandbox
from gateway.service import invoice_locks
from gateway.store import KeyScope, open_store
from tests.contract.profiles.load import profile
from tests.e2e.conftest_sandbox import Answer
from tests.e2e.migrating import keeps
from tests.e2e.sandbox import sandbox_in_thread
from tests.stores import POSTGRES, postgres_url, sqlite_url

KEY = "k-idem"
CREATE = "POST /v1/connections/{connection}/invoices"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=3) as running:
        yield running


def gateway_settings(sandbox: Sandbox, *, store_url: str, ttl_hours: float = 24) -> Settings:
    """A gateway of its own over the sandbox's emulators: its own store, a patient breaker."""
    connections = []
    for provider, url in sandbox.emulator_urls.items():
        base = sandbox_connection(provider, url)
        data = {
            **base.model_dump(exclude={"auth"}),
            "auth": base.auth,
            "breaker": BreakerSettings(failures=1000),
        }
        connections.append(Connection.model_validate(data))
    client = Client(
        name="sync",
        key_sha256=hashlib.sha256(KEY.encode()).hexdigest(),
        connections=["*"],
        scopes=frozenset({"invoices:read", "invoices:write", "admin"}),
    )
    return Settings(
        store=StoreSettings(url=store_url, idempotency_ttl_hours=ttl_hours, lease_seconds=5),
        clients=[client],
        connections=connections,
    )


@pytest.fixture
async def store_url() -> str:
    return sqlite_url()


@pytest.fixture
async def gateway(sandbox: Sandbox, store_url: str, aiohttp_client: Any) -> TestClient:  # type: ignore[type-arg]
    return await aiohttp_client(create_app(gateway_settings(sandbox, store_url=store_url)))


@pytest.fixture
async def faults(sandbox: Sandbox) -> AsyncIterator[Any]:
    touched: set[str] = set()

    async def set_faults(provider: str, **config: Any) -> None:
        touched.add(provider)
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


async def send(
    gateway: TestClient,  # type: ignore[type-arg]
    method: str,
    path: str,
    *,
    body: Any = None,
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    send_headers = {"Authorization": f"Bearer {KEY}", **(headers or {})}
    if key is not None:
        send_headers["Idempotency-Key"] = key
    async with gateway.request(method, path, json=body, headers=send_headers) as response:
        text = await response.text()
        parsed = await response.json() if text and "json" in response.content_type else text
        return Answer(response.status, CIMultiDict(response.headers), parsed)


def sample(connection: str, n: int = 0) -> dict[str, Any]:
    invoice: dict[str, Any] = (
        profile(connection).sample(n).model_dump(mode="json", exclude_none=True)
    )
    return invoice


async def invoice_ids(sandbox: Sandbox, gateway: TestClient, connection: str) -> set[str]:  # type: ignore[type-arg]
    """Every invoice id the provider lists (read through the gateway, no key needed to list)."""
    ids: set[str] = set()
    path = f"/v1/connections/{connection}/invoices?limit=100"
    while True:
        page = await send(gateway, "GET", path)
        assert page.status == 200, page.body
        ids |= {invoice["id"] for invoice in page.body["data"]}
        if not page.body["has_more"]:
            return ids
        path = f"/v1/connections/{connection}/invoices?limit=100&cursor={page.body['next_cursor']}"


async def provider_log(sandbox: Sandbox, provider: str) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(sandbox.emulator_urls[provider] + "/_emulator/requests") as response,
    ):
        entries: list[dict[str, Any]] = (await response.json())["requests"]
        return entries


async def clear_faults(sandbox: Sandbox, provider: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.delete(sandbox.emulator_urls[provider] + "/_emulator/faults") as response,
    ):
        assert response.status == 200


async def lose_create_answers(faults: Any, connection: str) -> None:
    """Every answer to ``connection``'s create lost after the provider stored it (a 503)."""
    await faults(
        connection,
        error_rate=1,
        error_status=503,
        after_commit=True,
        methods=["POST"],
        path_regex=CREATE_PATHS[connection],
    )


def fresh_key() -> str:
    return "key-" + uuid.uuid4().hex


# -- replay and reuse ---------------------------------------------------------------------------


@pytest.mark.parametrize("connection", PROVIDERS)
async def test_the_same_key_twice_replays_the_first_answer_and_writes_once(
    sandbox: Sandbox,
    gateway: TestClient,
    connection: str,  # type: ignore[type-arg]
) -> None:
    before = await invoice_ids(sandbox, gateway, connection)
    key = fresh_key()
    path = f"/v1/connections/{connection}/invoices"
    first = await send(gateway, "POST", path, body=sample(connection), key=key)
    second = await send(gateway, "POST", path, body=sample(connection), key=key)
    assert first.status == 201, first.body
    assert "Idempotent-Replayed" not in first.headers
    assert second.status == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.body == first.body
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["ETag"] == first.headers["ETag"]
    after = await invoice_ids(sandbox, gateway, connection)
    assert after - before == {first.body["id"]}


async def test_the_key_travels_to_the_provider_with_the_write(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
) -> None:
    key = fresh_key()
    answer = await send(
        gateway, "POST", "/v1/connections/crm_v1/invoices", body=sample("crm_v1"), key=key
    )
    assert answer.status == 201, answer.body
    writes = [e for e in await provider_log(sandbox, "crm_v1") if e["method"] == "POST"]
    assert writes[-1]["headers"]["Idempotency-Key"] == key
    reads = [e for e in await provider_log(sandbox, "crm_v1") if e["method"] == "GET"]
    assert all("Idempotency-Key" not in entry["headers"] for entry in reads)


async def test_a_key_reused_with_another_body_is_422_and_writes_nothing(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
) -> None:
    key = fresh_key()
    path = "/v1/connections/crm_v1/invoices"
    first = await send(gateway, "POST", path, body=sample("crm_v1", 0), key=key)
    assert first.status == 201
    before = await invoice_ids(sandbox, gateway, "crm_v1")
    reused = await send(gateway, "POST", path, body=sample("crm_v1", 1), key=key)
    assert reused.status == 422
    assert reused.body["code"] == "idempotency_key_reused"
    assert reused.body["retryable"] is False
    assert key in reused.body["detail"]
    lenient = await send(
        gateway,
        "POST",
        path,
        body=sample("crm_v1", 0),
        key=key,
        headers={"Prefer": "handling=lenient"},
    )
    assert lenient.status == 422 and lenient.body["code"] == "idempotency_key_reused"
    assert await invoice_ids(sandbox, gateway, "crm_v1") == before


async def test_one_key_on_two_invoices_of_one_route_is_a_reuse(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
) -> None:
    made = []
    for n in (0, 1):
        answer = await send(
            gateway,
            "POST",
            "/v1/connections/draft_publish/invoices",
            body=sample("draft_publish", n),
        )
        made.append(answer.body["id"])
    key = fresh_key()
    first = await send(
        gateway, "POST", f"/v1/connections/draft_publish/invoices/{made[0]}/issue", key=key
    )
    assert first.status == 200 and first.body["status"] == "open"
    other = await send(
        gateway, "POST", f"/v1/connections/draft_publish/invoices/{made[1]}/issue", key=key
    )
    assert other.status == 422 and other.body["code"] == "idempotency_key_reused"
    untouched = await send(gateway, "GET", f"/v1/connections/draft_publish/invoices/{made[1]}")
    assert untouched.body["status"] == "draft"
    # The same key on another route is another scope: it may be used there.
    voided = await send(
        gateway, "POST", f"/v1/connections/draft_publish/invoices/{made[1]}", key=key
    )
    assert voided.status in (404, 405)  # no such route: refused before the service


async def test_the_same_key_on_another_route_is_independent(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
) -> None:
    key = fresh_key()
    created = await send(
        gateway,
        "POST",
        "/v1/connections/draft_publish/invoices",
        body=sample("draft_publish"),
        key=key,
    )
    assert created.status == 201
    issued = await send(
        gateway,
        "POST",
        f"/v1/connections/draft_publish/invoices/{created.body['id']}/issue",
        key=key,
    )
    assert issued.status == 200 and "Idempotent-Replayed" not in issued.headers
    assert issued.body["status"] == "open"


# -- concurrent use -----------------------------------------------------------------------------


async def test_a_key_still_running_is_409_with_retry_after_and_one_write(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
) -> None:
    await faults("crm_v1", latency_ms=800, methods=["POST"])
    before = await invoice_ids(sandbox, gateway, "crm_v1")
    key = fresh_key()
    path = "/v1/connections/crm_v1/invoices"

    async def later() -> Answer:
        await asyncio.sleep(0.3)
        return await send(gateway, "POST", path, body=sample("crm_v1"), key=key)

    first, second = await asyncio.gather(
        send(gateway, "POST", path, body=sample("crm_v1"), key=key), later()
    )
    assert first.status == 201, first.body
    assert second.status == 409, second.body
    assert second.body["code"] == "idempotency_in_progress"
    assert second.body["retryable"] is True
    assert 1 <= int(second.headers["Retry-After"]) <= 5
    after = await invoice_ids(sandbox, gateway, "crm_v1")
    assert after - before == {first.body["id"]}
    writes = [
        e
        for e in await provider_log(sandbox, "crm_v1")
        if e["headers"].get("Idempotency-Key") == key
    ]
    assert len(writes) == 1
    third = await send(gateway, "POST", path, body=sample("crm_v1"), key=key)
    assert third.status == 201 and third.body["id"] == first.body["id"]
    assert third.headers["Idempotent-Replayed"] == "true"


async def test_many_concurrent_requests_with_one_key_make_one_invoice(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
) -> None:
    await faults("item_envelope", latency_ms=300, methods=["POST"])
    before = await invoice_ids(sandbox, gateway, "item_envelope")
    key = fresh_key()
    path = "/v1/connections/item_envelope/invoices"
    answers = await asyncio.gather(
        *(send(gateway, "POST", path, body=sample("item_envelope"), key=key) for _ in range(12))
    )
    statuses = sorted(a.status for a in answers)
    assert statuses.count(201) == 1 and statuses.count(409) == 11, statuses
    after = await invoice_ids(sandbox, gateway, "item_envelope")
    assert len(after - before) == 1


# -- what is kept, what is not ------------------------------------------------------------------


async def test_a_request_refused_before_the_provider_is_not_kept(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
) -> None:
    key = fresh_key()
    path = "/v1/connections/crm_v1/invoices"
    bad = {**sample("crm_v1"), "lines": [{**sample("crm_v1")["lines"][0], "quantity": "-1"}]}
    refused = await send(gateway, "POST", path, body=bad, key=key)
    assert refused.status == 422 and refused.body["code"] == "validation_error"
    unsupported = await send(
        gateway, "POST", path, body={**sample("crm_v1"), "shipping": "5.00"}, key=key
    )
    assert unsupported.status == 422 and unsupported.body["code"] == "unsupported_field"
    not_supported = await send(gateway, "POST", "/v1/connections/crm_v1/invoices/1/void", key=key)
    assert not_supported.status == 501
    fixed = await send(gateway, "POST", path, body=sample("crm_v1"), key=key)
    assert fixed.status == 201, fixed.body
    assert "Idempotent-Replayed" not in fixed.headers


async def test_a_provider_refusal_is_kept_and_replayed(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
) -> None:
    created = await send(
        gateway, "POST", "/v1/connections/draft_publish/invoices", body=sample("draft_publish")
    )
    location = f"/v1/connections/draft_publish/invoices/{created.body['id']}"
    assert (await send(gateway, "POST", location + "/issue")).status == 200
    key = fresh_key()
    replacement = sample("draft_publish", 1)
    first = await send(gateway, "PUT", location, body=replacement, key=key)
    assert first.status == 409 and first.body["code"] == "conflict"
    puts_before = [e for e in await provider_log(sandbox, "draft_publish") if e["method"] == "PUT"]
    again = await send(gateway, "PUT", location, body=replacement, key=key)
    assert again.status == 409 and again.body["code"] == "conflict"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.body["detail"] == first.body["detail"]
    puts_after = [e for e in await provider_log(sandbox, "draft_publish") if e["method"] == "PUT"]
    assert len(puts_after) == len(puts_before)


async def test_put_and_delete_with_a_key_replay(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
) -> None:
    created = await send(gateway, "POST", "/v1/connections/crm_v1/invoices", body=sample("crm_v1"))
    location = f"/v1/connections/crm_v1/invoices/{created.body['id']}"
    key = fresh_key()
    replaced = await send(gateway, "PUT", location, body=sample("crm_v1", 1), key=key)
    assert replaced.status == 200, replaced.body
    puts = len([e for e in await provider_log(sandbox, "crm_v1") if e["method"] == "PUT"])
    again = await send(gateway, "PUT", location, body=sample("crm_v1", 1), key=key)
    assert again.status == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.body == replaced.body
    assert len([e for e in await provider_log(sandbox, "crm_v1") if e["method"] == "PUT"]) == puts
    delete_key = fresh_key()
    deleted = await send(gateway, "DELETE", location, key=delete_key)
    assert deleted.status == 204
    replayed = await send(gateway, "DELETE", location, key=delete_key)
    assert replayed.status == 204 and replayed.headers["Idempotent-Replayed"] == "true"
    plain = await send(gateway, "DELETE", location)
    assert plain.status == 404  # without the key, a second delete is a new request


async def paid_amounts(client: TestClient, location: str) -> list[str]:  # type: ignore[type-arg]
    """The amounts of the payments the invoice at ``location`` has, in order."""
    listed = await send(client, "GET", location + "/payments")
    return [p["amount"] for p in listed.body["data"]]


async def test_a_payment_recorded_twice_with_one_key_is_recorded_once(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
) -> None:
    created = await send(
        gateway, "POST", "/v1/connections/draft_publish/invoices", body=sample("draft_publish")
    )
    location = f"/v1/connections/draft_publish/invoices/{created.body['id']}"
    assert (await send(gateway, "POST", location + "/issue")).status == 200
    payment = {"amount": "10.00", "date": "2026-03-05", "method": "bank_transfer"}
    key = fresh_key()
    first = await send(gateway, "POST", location + "/payments", body=payment, key=key)
    second = await send(gateway, "POST", location + "/payments", body=payment, key=key)
    assert first.status == 201, first.body
    assert second.status == 201 and second.headers["Idempotent-Replayed"] == "true"
    assert await paid_amounts(gateway, location) == ["10.00"]


async def test_two_payments_alike_under_two_keys_are_two_payments_when_one_answer_is_lost(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
    faults: Any,
) -> None:
    """Two instalments of one amount and date, each with its own key. The first is held by the
    provider and refused with nothing stored (503); the second was recorded meanwhile. The
    first's lookup counted one payment more than before, took it for its own and answered 201:
    both callers told "recorded", one payment at the provider. Payments on one invoice now run
    one at a time (the invoice's lock): the first is told nothing was recorded (retryable),
    the second is recorded after it, and the first sent again is a second payment."""
    created = await send(
        gateway, "POST", "/v1/connections/draft_publish/invoices", body=sample("draft_publish")
    )
    location = f"/v1/connections/draft_publish/invoices/{created.body['id']}"
    assert (await send(gateway, "POST", location + "/issue")).status == 200
    payment = {"amount": "100.00", "date": "2026-01-05", "method": "bank_transfer"}
    # Seeded: the first payment POST waits about 1.9 s and is refused (503) before anything is
    # stored; the second waits 0.05 s and is recorded.
    await faults(
        "draft_publish",
        latency_ms=1000,
        jitter_ms=1000,
        error_rate=0.5,
        error_status=503,
        seed=22,
        methods=["POST"],
        path_regex="/payments$",
    )
    first_key, second_key = fresh_key(), fresh_key()
    first = asyncio.create_task(
        send(gateway, "POST", location + "/payments", body=payment, key=first_key)
    )
    await asyncio.sleep(0.4)
    second = await send(gateway, "POST", location + "/payments", body=payment, key=second_key)
    lost = await first
    assert second.status == 201, second.body
    assert lost.status == 502 and lost.body["retryable"] is True, lost.body
    await faults("draft_publish")  # the provider well again
    again = await send(gateway, "POST", location + "/payments", body=payment, key=first_key)
    assert again.status == 201, again.body
    assert await paid_amounts(gateway, location) == ["100.00", "100.00"]


async def test_a_payment_deleted_while_another_alike_is_recorded_is_not_counted_against_it(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
    faults: Any,
) -> None:
    """A payment recorded by the provider whose answer is lost, while an earlier one of the
    same amount and date is deleted: the count before and after was the same (one more, one
    fewer), the payment was said not recorded, and its retry recorded it a second time. A
    payment's deletion waits for the payment, as another payment does."""
    created = await send(
        gateway, "POST", "/v1/connections/draft_publish/invoices", body=sample("draft_publish")
    )
    location = f"/v1/connections/draft_publish/invoices/{created.body['id']}"
    assert (await send(gateway, "POST", location + "/issue")).status == 200
    payment = {"amount": "10.00", "date": "2026-01-01", "method": "bank_transfer"}
    earlier = await send(gateway, "POST", location + "/payments", body=payment, key=fresh_key())
    assert earlier.status == 201, earlier.body
    earlier_id = earlier.body["payments"][-1]["id"]
    await faults(  # the next payment is stored, and its answer lost (a 500 after the commit)
        "draft_publish",
        latency_ms=1500,
        error_rate=1,
        error_status=500,
        after_commit=True,
        methods=["POST"],
        path_regex="/payments$",
    )
    key = fresh_key()
    recording = asyncio.create_task(
        send(gateway, "POST", location + "/payments", body=payment, key=key)
    )
    await asyncio.sleep(0.5)
    deleted = await send(gateway, "DELETE", f"{location}/payments/{earlier_id}", key=fresh_key())
    recorded = await recording
    await faults("draft_publish")
    assert deleted.status == 200, deleted.body
    assert recorded.status == 201, recorded.body  # found: one more payment alike than before
    again = await send(gateway, "POST", location + "/payments", body=payment, key=key)
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    listed = await send(gateway, "GET", location + "/payments")
    assert [p["amount"] for p in listed.body["data"]] == ["10.00"]
    assert earlier_id not in {p["id"] for p in listed.body["data"]}


PAYMENT = {"amount": "100.00", "date": "2026-01-05", "method": "bank_transfer"}


@dataclass
class LostPayment:
    gateway: TestClient  # type: ignore[type-arg]
    reader: TestClient  # type: ignore[type-arg]
    location: str
    key: str
    payment: dict[str, str]


async def a_lost_payment(
    sandbox: Sandbox,
    aiohttp_client: Any,
    faults: Any,
    *,
    settle_s: float,
    payment: Callable[[dict[str, Any]], dict[str, str]] = lambda invoice: PAYMENT,
    **fault: Any,
) -> LostPayment:
    """A payment (``payment`` of the issued invoice) sent with a key through a gateway that
    waits 1 s for draft_publish (settle time ``settle_s``) and met with ``fault``, answered
    uncertain; then the provider well again. The gateway, one with the usual settings on the
    same store (to read and write through), the invoice's path, the key and the payment. Both
    have a second connection to the same draft_publish account, ``draft_publish_b``."""
    settings = gateway_settings(sandbox, store_url=sqlite_url())
    [usual] = [c for c in settings.connections if c.name == "draft_publish"]
    sibling = usual.model_copy(update={"name": "draft_publish_b"})
    settings = settings.model_copy(update={"connections": [*settings.connections, sibling]})
    gateway, reader = await slow_and_usual(
        aiohttp_client, settings, timeout_s=1.0, write_settle_s=settle_s
    )
    path = "/v1/connections/draft_publish/invoices"
    created = await send(reader, "POST", path, body=sample("draft_publish"))
    assert created.status == 201, created.body
    location = f"{path}/{created.body['id']}"
    issued = await send(reader, "POST", location + "/issue")
    assert issued.status == 200, issued.body
    sent = payment(issued.body)
    await faults("draft_publish", methods=["POST"], path_regex="/payments$", **fault)
    key = fresh_key()
    lost = await send(gateway, "POST", location + "/payments", body=sent, key=key)
    assert (lost.status, lost.body.get("outcome")) == (502, "uncertain"), lost.body
    await asyncio.sleep(fault.get("latency_ms", 0) / 1000)  # a slow one stored by now
    await faults("draft_publish")
    return LostPayment(gateway, reader, location, key, sent)


@pytest.mark.parametrize("others_key", [True, False], ids=["keyed", "unkeyed"])
async def test_a_payment_retried_after_an_uncertain_answer_never_takes_another_keys_for_its_own(
    sandbox: Sandbox,
    aiohttp_client: Any,
    faults: Any,
    others_key: bool,
) -> None:
    """A payment that timed out (nothing stored) is uncertain and lets go of the invoice's
    lock; another write (with a key of its own, or none) then records a payment alike. The
    first key's retry counted one payment alike more than before and answered 201: both
    callers told "recorded", one payment at the provider. The new payment is the other
    write's (the store keeps it as that write's), so the retry, once the settle time has
    passed, records its own."""
    lost = await a_lost_payment(sandbox, aiohttp_client, faults, settle_s=2, timeout_rate=1)
    gateway, reader, location, key = lost.gateway, lost.reader, lost.location, lost.key
    other_key = fresh_key() if others_key else None
    other = await send(reader, "POST", location + "/payments", body=PAYMENT, key=other_key)
    assert other.status == 201, other.body
    early = await send(gateway, "POST", location + "/payments", body=PAYMENT, key=key)
    assert (early.status, early.body.get("outcome")) == (502, "uncertain"), early.body
    await asyncio.sleep(2.2)  # the settle time: a payment sent then would be there by now
    again = await send(gateway, "POST", location + "/payments", body=PAYMENT, key=key)
    assert again.status == 201, again.body
    assert "Idempotent-Replayed" not in again.headers
    assert await paid_amounts(reader, location) == ["100.00", "100.00"]
    replayed = await send(gateway, "POST", location + "/payments", body=PAYMENT, key=key)
    assert replayed.status == 201 and replayed.headers["Idempotent-Replayed"] == "true"


async def test_a_payment_recorded_through_another_connection_to_the_account_is_not_taken(
    sandbox: Sandbox,
    aiohttp_client: Any,
    faults: Any,
) -> None:
    """Two connections to one draft_publish account share the invoice's lock; the payment
    recorded through the other was looked up as "made by another write" on this connection
    alone, and the retry of a payment lost meanwhile took it for its own."""
    lost = await a_lost_payment(sandbox, aiohttp_client, faults, settle_s=2, timeout_rate=1)
    gateway, reader, location, key = lost.gateway, lost.reader, lost.location, lost.key
    through_b = location.replace("/draft_publish/", "/draft_publish_b/")
    other = await send(reader, "POST", through_b + "/payments", body=PAYMENT)
    assert other.status == 201, other.body
    await asyncio.sleep(2.2)  # the settle time
    again = await send(gateway, "POST", location + "/payments", body=PAYMENT, key=key)
    assert again.status == 201, again.body
    assert await paid_amounts(reader, location) == ["100.00", "100.00"]


async def test_mark_paids_payment_is_not_taken_for_a_payment_whose_answer_was_lost(
    sandbox: Sandbox,
    aiohttp_client: Any,
    faults: Any,
) -> None:
    """A payment of the whole balance, dated today, whose answer was lost; the invoice then
    marked paid, which records a payment of the balance today: the payment's retry took that
    one for its own and said its bank transfer was recorded. mark_paid's payment is kept as
    its write's: the retry finds nothing of its own and is sent, and the provider refuses a
    payment on a paid invoice."""
    today = datetime.now(UTC).date().isoformat()

    def whole(invoice: dict[str, Any]) -> dict[str, str]:
        return {"amount": invoice["totals"]["due"], "date": today, "method": "bank_transfer"}

    lost = await a_lost_payment(
        sandbox, aiohttp_client, faults, settle_s=2, payment=whole, timeout_rate=1
    )
    gateway, reader, location, key = lost.gateway, lost.reader, lost.location, lost.key
    paid = await send(reader, "POST", location + "/mark_paid", key=fresh_key())
    assert paid.status == 200, paid.body
    await asyncio.sleep(2.2)  # the settle time
    again = await send(gateway, "POST", location + "/payments", body=lost.payment, key=key)
    assert again.status == 409, again.body  # not "recorded": the invoice is paid already
    listed = await send(reader, "GET", location + "/payments")
    assert [p["method"] for p in listed.body["data"]] == ["other"]  # mark_paid's alone


async def test_a_payment_that_landed_late_is_found_beside_another_keys_alike(
    sandbox: Sandbox,
    aiohttp_client: Any,
    faults: Any,
) -> None:
    """A payment stored by the provider after the gateway stopped waiting, then another key's
    payment alike: two new payments alike, one of them kept as the other key's, so the retry
    finds the other as its own (201) rather than staying uncertain or sending a third."""
    lost = await a_lost_payment(sandbox, aiohttp_client, faults, settle_s=5, latency_ms=1600)
    gateway, reader, location, key = lost.gateway, lost.reader, lost.location, lost.key
    other = await send(reader, "POST", location + "/payments", body=PAYMENT, key=fresh_key())
    assert other.status == 201, other.body
    again = await send(gateway, "POST", location + "/payments", body=PAYMENT, key=key)
    assert again.status == 201, again.body
    assert await paid_amounts(reader, location) == ["100.00", "100.00"]
    invoice_id = location.rsplit("/", 1)[1]
    posts = [
        e
        for e in await provider_log(sandbox, "draft_publish")
        if e["method"] == "POST" and e["path"].endswith(f"{invoice_id}/payments")
    ]
    assert len(posts) == 2  # the retry found its payment: nothing sent a third time


async def test_a_key_given_on_two_header_lines_is_a_400_and_writes_nothing(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
) -> None:
    """Two ``Idempotency-Key`` lines are one list (RFC 9110), not one key: taking the first
    would make a retry whose first line repeats the key a replay of another request."""
    before = await invoice_ids(sandbox, gateway, "crm_v1")
    first = fresh_key()
    for second in (fresh_key(), fresh_key()):
        lines = [("Idempotency-Key", first), ("Idempotency-Key", second)]
        headers = CIMultiDict([("Authorization", f"Bearer {KEY}"), *lines])
        async with gateway.post(
            "/v1/connections/crm_v1/invoices", json=sample("crm_v1"), headers=headers
        ) as response:
            body = await response.json()
        assert (response.status, body["code"]) == (400, "bad_request")
        assert body["detail"] == "Idempotency-Key is given more than once; give one key."
    assert await invoice_ids(sandbox, gateway, "crm_v1") == before


async def test_an_expired_key_is_forgotten_and_reaped(
    sandbox: Sandbox, aiohttp_client: Any
) -> None:
    url = sqlite_url()
    gateway = await aiohttp_client(
        create_app(gateway_settings(sandbox, store_url=url, ttl_hours=1.5 / 3600))
    )
    key = fresh_key()
    path = "/v1/connections/crm_v1/invoices"
    first = await send(gateway, "POST", path, body=sample("crm_v1", 0), key=key)
    assert first.status == 201
    within = await send(gateway, "POST", path, body=sample("crm_v1", 1), key=key)
    assert within.status == 422 and within.body["code"] == "idempotency_key_reused"
    await asyncio.sleep(1.6)
    after = await send(gateway, "POST", path, body=sample("crm_v1", 1), key=key)
    assert after.status == 201, after.body
    assert after.body["id"] != first.body["id"]
    assert "Idempotent-Replayed" not in after.headers
    store = open_store(url)
    await store.open()
    try:
        scope = KeyScope("sync", "crm_v1", CREATE, key)
        assert (await store.get(scope)) is not None
        assert await store.reap(time.time() + 2) == 1
        assert await store.get(scope) is None
    finally:
        await store.close()


# -- lost answers -------------------------------------------------------------------------------

CREATE_PATHS = {
    "crm_v1": "^/v1/invoices$",
    "draft_publish": "^/api/v1/invoices$",
    "bill_crm": "^/api/v1/invoices$",
    "item_envelope": "^/api2/api2/invoices.json$",
    "order_linked": "^/.*invoices/?$",
}


@pytest.mark.parametrize("fault", ["error", "reset"])
@pytest.mark.parametrize("connection", PROVIDERS)
async def test_a_lost_create_answer_is_found_not_sent_again(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,
    connection: str,
    fault: str,  # type: ignore[type-arg]
) -> None:
    before = await invoice_ids(sandbox, gateway, connection)
    kind = {"error": {"error_rate": 1, "error_status": 503}, "reset": {"reset_rate": 1}}[fault]
    await faults(
        connection, after_commit=True, methods=["POST"], path_regex=CREATE_PATHS[connection], **kind
    )
    key = fresh_key()
    answer = await send(
        gateway, "POST", f"/v1/connections/{connection}/invoices", body=sample(connection), key=key
    )
    assert answer.status == 201, answer.body
    after = await invoice_ids(sandbox, gateway, connection)
    assert after - before == {answer.body["id"]}
    writes = [
        e
        for e in await provider_log(sandbox, connection)
        if e["method"] == "POST" and e["headers"].get("Idempotency-Key") == key
    ]
    assert len([e for e in writes if e["path"] == writes[0]["path"]]) == 1
    replay = await send(
        gateway, "POST", f"/v1/connections/{connection}/invoices", body=sample(connection), key=key
    )
    assert replay.status == 201 and replay.body["id"] == answer.body["id"]


@pytest.mark.parametrize("connection", PROVIDERS)
async def test_a_404_to_a_create_is_a_final_502_on_every_connection_not_an_unknown_invoice(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,
    connection: str,  # type: ignore[type-arg]
) -> None:
    """A create names no invoice: a 404 to it says its path is missing at the base_url. Three
    connections answered 404 ``not_found``, which reads as an unknown connection or invoice."""
    before = await invoice_ids(sandbox, gateway, connection)
    await faults(
        connection,
        error_rate=1,
        error_status=404,
        methods=["POST"],
        path_regex=CREATE_PATHS[connection],
    )
    path = f"/v1/connections/{connection}/invoices"
    for key in (None, fresh_key()):
        refused = await send(gateway, "POST", path, body=sample(connection), key=key)
        assert (refused.status, refused.body["code"]) == (502, "upstream_error"), refused.body
        assert refused.body["retryable"] is False
        assert "nothing was" in refused.body["detail"]  # made, or written: said either way
    await clear_faults(sandbox, connection)
    assert await invoice_ids(sandbox, gateway, connection) == before


@pytest.mark.parametrize("notes", [None, "ours"], ids=["marker", "notes"])
@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
@pytest.mark.parametrize("connection", PROVIDERS)
async def test_a_lost_create_dated_at_the_calendars_end_is_found(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,
    connection: str,
    day: str,
    notes: str | None,  # type: ignore[type-arg]
) -> None:
    """The lookup for a lost create asks the provider for a day either side of its issue date:
    at 9999-12-31 or 0001-01-01 that day is not there, and the create was a 500 (with notes,
    where the invoices alike are listed before sending, even with its answer not lost)."""
    body = {**sample(connection), "issue_date": day, "notes": notes}
    if keeps(connection, "due_date"):
        body["due_date"] = day
    path = f"/v1/connections/{connection}/invoices"
    await lose_create_answers(faults, connection)
    answer = await send(gateway, "POST", path, body=body, key=fresh_key())
    assert answer.status == 201, answer.body
    assert (answer.body["issue_date"], answer.body["notes"]) == (day, notes)


@pytest.mark.parametrize("connection", PROVIDERS)
async def test_lost_creates_alike_but_for_their_notes_are_each_found_as_their_own(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,
    connection: str,  # type: ignore[type-arg]
) -> None:
    """Three creates sent at once that differ only in their notes (the caller's, so no room
    for the gateway's marker), each answer lost after the provider stored it: each lookup
    tells its invoice by its notes, as the providers' docs advise (make them unique), and no
    create is left uncertain or sent twice."""
    before = await invoice_ids(sandbox, gateway, connection)
    await lose_create_answers(faults, connection)
    path = f"/v1/connections/{connection}/invoices"
    notes = [f"unique note {n} {fresh_key()}" for n in range(3)]
    answers = await asyncio.gather(
        *(send(gateway, "POST", path, body={**sample(connection), "notes": note}, key=fresh_key())
          for note in notes)
    )  # fmt: skip
    assert [a.status for a in answers] == [201] * 3, [a.body for a in answers]
    made = {a.body["id"] for a in answers}
    assert len(made) == 3
    assert (await invoice_ids(sandbox, gateway, connection)) - before == made
    assert [a.body["notes"] for a in answers] == notes


async def slow_and_usual(
    aiohttp_client: Any, settings: Settings, **slow: Any
) -> tuple[TestClient, TestClient]:  # type: ignore[type-arg]
    """A gateway whose connections take ``slow`` (a short timeout), and one over the same store
    with the usual settings, to list through: crm_v1's full list reads each invoice, and one
    read slower than a short timeout on a loaded machine would fail the listing, not the test."""
    connections = [c.model_copy(update=slow) for c in settings.connections]
    gateway = await aiohttp_client(
        create_app(settings.model_copy(update={"connections": connections}))
    )
    return gateway, await aiohttp_client(create_app(settings))


@pytest.mark.parametrize("connection", PROVIDERS)
async def test_a_create_slower_than_the_timeout_is_not_made_twice_by_a_retry(
    sandbox: Sandbox,
    store_url: str,
    aiohttp_client: Any,
    faults: Any,  # type: ignore[type-arg]
    connection: str,
) -> None:
    """The provider stores the create after the gateway stopped waiting for it. A lookup right
    after the timeout finds nothing, which proves nothing while the provider may still be at
    work: the answer is uncertain with a Retry-After, never "nothing was written", and the
    retry with the same key finds the invoice instead of making a second."""
    settings = gateway_settings(sandbox, store_url=store_url)
    gateway, reader = await slow_and_usual(
        aiohttp_client, settings, timeout_s=0.4, write_settle_s=5
    )
    before = await invoice_ids(sandbox, reader, connection)
    # The provider stores the create 2.5 s after it came: the first answer (after 0.4 s) and
    # the early retry come well before that, however loaded the machine (with 1.2 s, a CI run
    # sent the early retry after the provider had stored it, and it was found: a 201).
    await faults(connection, latency_ms=2500, methods=["POST"], path_regex=CREATE_PATHS[connection])
    key, path = fresh_key(), f"/v1/connections/{connection}/invoices"
    sent = asyncio.get_running_loop().time()
    first = await send(gateway, "POST", path, body=sample(connection), key=key)
    assert (first.status, first.body.get("outcome")) == (502, "uncertain"), first.body
    assert first.body["retryable"] is True and "nothing was written" not in first.body["detail"]
    assert 1 <= int(first.headers["Retry-After"]) <= 5
    early = await send(gateway, "POST", path, body=sample(connection), key=key)
    assert asyncio.get_running_loop().time() - sent < 2.5, "the early retry came too late"
    assert (early.status, early.body.get("outcome")) == (502, "uncertain"), early.body
    await asyncio.sleep(3.0)  # the provider has stored the first create by now
    await clear_faults(sandbox, connection)
    retried = await send(gateway, "POST", path, body=sample(connection), key=key)
    assert retried.status == 201, retried.body
    assert (await invoice_ids(sandbox, reader, connection)) - before == {retried.body["id"]}
    creates = [
        e
        for e in await provider_log(sandbox, connection)
        if e["method"] == "POST" and e["headers"].get("Idempotency-Key") == key
    ]
    assert len([e for e in creates if e["path"] == creates[0]["path"]]) == 1


async def test_without_a_key_a_create_slower_than_the_timeout_is_not_called_unwritten(
    sandbox: Sandbox,
    store_url: str,
    aiohttp_client: Any,
    faults: Any,  # type: ignore[type-arg]
) -> None:
    settings = gateway_settings(sandbox, store_url=store_url)
    gateway, reader = await slow_and_usual(aiohttp_client, settings, timeout_s=0.4)
    before = await invoice_ids(sandbox, reader, "crm_v1")
    await faults("crm_v1", latency_ms=1000, methods=["POST"], path_regex=CREATE_PATHS["crm_v1"])
    # Free text left empty: the create carries its marker and reads nothing before it is sent,
    # so the short timeout meets the create itself (a read first, slow on a loaded machine,
    # would be a 504 with nothing sent, which is no answer about the create).
    body = {k: v for k, v in sample("crm_v1").items() if k not in ("notes", "reference")}
    answer = await send(gateway, "POST", "/v1/connections/crm_v1/invoices", body=body)
    assert (answer.status, answer.body.get("outcome")) == (502, "uncertain"), answer.body
    assert answer.body["retryable"] is False and "Retry-After" not in answer.headers
    await asyncio.sleep(1.2)
    assert len((await invoice_ids(sandbox, reader, "crm_v1")) - before) == 1  # it was written


async def test_a_create_that_cannot_be_told_is_uncertain_then_resolved_by_a_retry(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
) -> None:
    before = await invoice_ids(sandbox, gateway, "crm_v1")
    # Free text left empty, so the create carries a marker and needs no read before it is sent.
    body = {k: v for k, v in sample("crm_v1").items() if k not in ("notes", "reference")}
    # The write is stored and its answer lost; every read fails too, so nothing can be told.
    await faults("crm_v1", error_rate=1, error_status=503, after_commit=True)
    key = fresh_key()
    path = "/v1/connections/crm_v1/invoices"
    lost = await send(gateway, "POST", path, body=body, key=key)
    assert lost.status == 502, lost.body
    assert lost.body.get("outcome") == "uncertain", lost.body
    assert lost.body["retryable"] is True
    assert "Idempotency-Key" in lost.body["detail"]
    await clear_faults(sandbox, "crm_v1")
    after_fault = await invoice_ids(sandbox, gateway, "crm_v1")
    made = after_fault - before
    assert len(made) == 1  # the provider did take it
    retried = await send(gateway, "POST", path, body=body, key=key)
    assert retried.status == 201, retried.body
    assert {retried.body["id"]} == made
    assert await invoice_ids(sandbox, gateway, "crm_v1") == after_fault


async def test_an_uncertain_create_whose_lookup_met_an_open_circuit_says_when_to_ask(
    sandbox: Sandbox,
    aiohttp_client: Any,
    faults: Any,
) -> None:
    """The create's lost answer opens the breaker (one failure is enough here), so its lookup is
    refused at once: the 502 says when to ask again, the time the circuit stays open."""
    settings = gateway_settings(sandbox, store_url=sqlite_url())
    settings = settings.model_copy(
        update={
            "connections": [
                c.model_copy(update={"breaker": BreakerSettings(failures=1, open_s=30)})
                for c in settings.connections
            ]
        }
    )
    gateway = await aiohttp_client(create_app(settings))
    body = {k: v for k, v in sample("crm_v1").items() if k not in ("notes", "reference")}
    await faults("crm_v1", error_rate=1, error_status=503, after_commit=True, methods=["POST"])
    lost = await send(
        gateway, "POST", "/v1/connections/crm_v1/invoices", body=body, key=fresh_key()
    )
    assert lost.status == 502, lost.body
    assert (lost.body.get("outcome"), lost.body["retryable"]) == ("uncertain", True)
    assert "circuit" in lost.body["detail"] or "unavailable" in lost.body["detail"], lost.body
    assert 25 <= int(lost.headers["Retry-After"]) <= 30


async def test_a_lost_answer_of_a_write_that_did_not_happen_is_safe_to_retry(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
) -> None:
    before = await invoice_ids(sandbox, gateway, "crm_v1")
    # Reset before the provider handles it: nothing stored.
    await faults("crm_v1", reset_rate=1, methods=["POST"])
    key = fresh_key()
    path = "/v1/connections/crm_v1/invoices"
    failed = await send(gateway, "POST", path, body=sample("crm_v1"), key=key)
    assert failed.status == 502, failed.body
    assert failed.body.get("outcome") != "uncertain"
    assert failed.body["retryable"] is True
    assert "nothing was written" in failed.body["detail"]
    assert await invoice_ids(sandbox, gateway, "crm_v1") == before
    await clear_faults(sandbox, "crm_v1")
    retried = await send(gateway, "POST", path, body=sample("crm_v1"), key=key)
    assert retried.status == 201
    assert (await invoice_ids(sandbox, gateway, "crm_v1")) - before == {retried.body["id"]}


@pytest.mark.parametrize("connection", ["crm_v1", "order_linked", "bill_crm"])
async def test_a_create_the_provider_rate_limits_is_refused_unprocessed_not_uncertain(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
    connection: str,
) -> None:
    """A 429 is the provider refusing the call before processing it: there is no lost answer
    to look for. The caller gets the provider's Retry-After and the key is free for the retry."""
    before = await invoice_ids(sandbox, gateway, connection)
    await faults(connection, rate_limit_rate=1, retry_after=60, methods=["POST"])
    key = fresh_key()
    path = f"/v1/connections/{connection}/invoices"
    limited = await send(gateway, "POST", path, body=sample(connection), key=key)
    assert (limited.status, limited.body["code"]) == (503, "upstream_unavailable"), limited.body
    assert limited.headers["Retry-After"] == "60"
    assert limited.body["retryable"] is True and "outcome" not in limited.body
    calls = [(e["method"], e["path"]) for e in await provider_log(sandbox, connection)][-1:]
    assert calls[0][0] == "POST", calls  # no lookup after it
    await clear_faults(sandbox, connection)
    assert await invoice_ids(sandbox, gateway, connection) == before
    retried = await send(gateway, "POST", path, body=sample(connection), key=key)
    assert retried.status == 201, retried.body
    assert (await invoice_ids(sandbox, gateway, connection)) - before == {retried.body["id"]}


@pytest.mark.parametrize("connection", ["crm_v1", "bill_crm"])
async def test_a_delete_whose_first_answer_was_lost_is_done_when_its_repeat_finds_nothing(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
    connection: str,
) -> None:
    """The provider deleted the invoice and its answer was lost (a 503 after the commit); the
    gateway's repeat of the DELETE is told 404. The invoice is gone, as asked: 204, kept for
    the key, not a 404 replayed forever."""
    path = f"/v1/connections/{connection}/invoices"
    made = await send(gateway, "POST", path, body=sample(connection))
    assert made.status == 201, made.body
    one = f"{path}/{made.body['id']}"
    # Seed 1 draws a fault for the first DELETE and none for the second.
    await faults(
        connection, error_rate=0.5, error_status=503, after_commit=True, methods=["DELETE"], seed=1
    )
    key = fresh_key()
    deleted = await send(gateway, "DELETE", one, key=key)
    assert deleted.status == 204, deleted.body
    deletes = [
        e
        for e in await provider_log(sandbox, connection)
        if e["method"] == "DELETE" and e["headers"].get("Idempotency-Key") == key
    ]
    assert len(deletes) == 2  # the first (deleted, its answer a 503) and its repeat
    await clear_faults(sandbox, connection)
    replay = await send(gateway, "DELETE", one, key=key)
    assert (replay.status, replay.headers.get("Idempotent-Replayed")) == (204, "true")
    assert (await send(gateway, "GET", one)).status == 404


@pytest.mark.parametrize("connection", ["crm_v1", "bill_crm", "item_envelope", "draft_publish"])
async def test_a_delete_whose_answer_was_lost_once_is_a_204_and_not_the_repeats_404(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
    connection: str,
) -> None:
    """The provider deletes the invoice and drops the connection before answering; the
    DELETE sent again is told 404. aiohttp's client sent it again by itself, unseen by the
    gateway, which took that 404 for the provider's word on the first: "no such invoice",
    kept as the key's answer, of a delete that was done. The gateway now sends every repeat
    itself, knows the 404 for a repeat's, and answers 204."""
    path = f"/v1/connections/{connection}/invoices"
    made = await send(gateway, "POST", path, body=sample(connection))
    assert made.status == 201, made.body
    # Seeded: the first DELETE is handled and its connection dropped; the second is answered.
    await faults(connection, reset_rate=0.5, after_commit=True, methods=["DELETE"], seed=1)
    key = fresh_key()
    deleted = await send(gateway, "DELETE", f"{path}/{made.body['id']}", key=key)
    await clear_faults(sandbox, connection)
    sent = [
        e
        for e in await provider_log(sandbox, connection)
        if e["method"] == "DELETE" and str(made.body["id"]) in e["path"].split("/")[-1]
    ]
    assert len(sent) == 2  # the first, dropped, and its repeat
    assert deleted.status == 204, deleted.body
    assert (await send(gateway, "GET", f"{path}/{made.body['id']}")).status == 404
    metrics = (await send(gateway, "GET", "/metrics")).body.splitlines()
    assert f'gateway_upstream_retries_total{{connection="{connection}"}} 1.0' in metrics
    replayed = await send(gateway, "DELETE", f"{path}/{made.body['id']}", key=key)
    assert replayed.status == 204 and replayed.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("connection", ["crm_v1", "bill_crm", "item_envelope", "draft_publish"])
async def test_a_keyed_delete_whose_every_answer_was_lost_is_done_when_the_key_retries_it(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
    connection: str,
) -> None:
    """Every answer to the DELETE is lost after the provider deleted: a 502 that says it may
    have taken effect. The retry with the key repeats it, is told 404, and that is the 204
    asked for (kept for the key), not a 404 replayed from then on."""
    path = f"/v1/connections/{connection}/invoices"
    made = await send(gateway, "POST", path, body=sample(connection))
    assert made.status == 201, made.body
    one = f"{path}/{made.body['id']}"
    await faults(connection, error_rate=1, error_status=503, after_commit=True, methods=["DELETE"])
    key = fresh_key()
    lost = await send(gateway, "DELETE", one, key=key)
    assert (lost.status, lost.body["retryable"]) == (502, True), lost.body
    assert "may have taken effect" in lost.body["detail"]
    await clear_faults(sandbox, connection)
    retried = await send(gateway, "DELETE", one, key=key)
    assert retried.status == 204, retried.body
    replay = await send(gateway, "DELETE", one, key=key)
    assert (replay.status, replay.headers.get("Idempotent-Replayed")) == (204, "true")
    other = await send(gateway, "DELETE", one, key=fresh_key())  # a new key: a new request
    assert other.status == 404, other.body


async def _paid_draft_publish_invoice(gateway: TestClient) -> tuple[str, str]:  # type: ignore[type-arg]
    """An issued draft_publish invoice with one payment: its path and the payment's id."""
    path = "/v1/connections/draft_publish/invoices"
    made = await send(gateway, "POST", path, body=sample("draft_publish"))
    assert made.status == 201, made.body
    one = f"{path}/{made.body['id']}"
    assert (await send(gateway, "POST", f"{one}/issue", key=fresh_key())).status == 200
    payment = {"amount": "5.00", "date": "2026-01-15", "method": "bank_transfer"}
    paid = await send(gateway, "POST", f"{one}/payments", body=payment, key=fresh_key())
    assert paid.status == 201, paid.body
    return one, paid.body["payments"][-1]["id"]


async def test_a_payment_delete_whose_first_answer_was_lost_is_done_when_its_repeat_finds_none(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
    faults: Any,
) -> None:
    """draft_publish deleted the payment and its answer was lost (a 503 after the commit); the
    gateway's repeat is told 404. The payment is gone, as asked: the invoice without it, kept
    for the key, not a 404 replayed for ever."""
    one, payment = await _paid_draft_publish_invoice(gateway)
    # Seed 1 draws a fault for the first DELETE and none for the second.
    await faults(
        "draft_publish",
        error_rate=0.5,
        error_status=503,
        after_commit=True,
        methods=["DELETE"],
        seed=1,
    )
    key = fresh_key()
    deleted = await send(gateway, "DELETE", f"{one}/payments/{payment}", key=key)
    await clear_faults(sandbox, "draft_publish")
    assert deleted.status == 200, deleted.body
    assert payment not in {p["id"] for p in deleted.body["payments"]}
    deletes = [
        e
        for e in await provider_log(sandbox, "draft_publish")
        if e["method"] == "DELETE" and e["headers"].get("Idempotency-Key") == key
    ]
    assert len(deletes) == 2  # the first (deleted, its answer a 503) and its repeat
    replay = await send(gateway, "DELETE", f"{one}/payments/{payment}", key=key)
    assert (replay.status, replay.headers.get("Idempotent-Replayed")) == (200, "true")


async def test_a_keyed_payment_delete_whose_every_answer_was_lost_is_done_when_retried(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
    faults: Any,
) -> None:
    """Every answer lost after the payment was deleted: a 502 that says it may have taken
    effect; the key's retry, as told, is the invoice without the payment, not a 404."""
    one, payment = await _paid_draft_publish_invoice(gateway)
    await faults(
        "draft_publish", error_rate=1, error_status=503, after_commit=True, methods=["DELETE"]
    )
    key = fresh_key()
    lost = await send(gateway, "DELETE", f"{one}/payments/{payment}", key=key)
    await clear_faults(sandbox, "draft_publish")
    assert (lost.status, lost.body["retryable"]) == (502, True), lost.body
    retried = await send(gateway, "DELETE", f"{one}/payments/{payment}", key=key)
    assert retried.status == 200, retried.body
    assert payment not in {p["id"] for p in retried.body["payments"]}
    # A new key is a new request: that payment is not there to delete.
    other = await send(gateway, "DELETE", f"{one}/payments/{payment}", key=fresh_key())
    assert other.status == 404, other.body


async def test_a_guarded_payment_delete_whose_answers_were_lost_is_done_when_retried(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
    faults: Any,
) -> None:
    """The same with If-Match: the lost delete itself moved the invoice's ETag, so the retry's
    If-Match no longer matches; the retry finds the payment gone (its earlier attempt took
    effect) and answers the invoice without it, never a 412 that frees the key, after which a
    fresh tag would meet the provider's 404, kept for good."""
    one, payment = await _paid_draft_publish_invoice(gateway)
    tag = (await send(gateway, "GET", one)).headers["ETag"]
    await faults(
        "draft_publish", error_rate=1, error_status=503, after_commit=True, methods=["DELETE"]
    )
    key, guard = fresh_key(), {"If-Match": tag}
    lost = await send(gateway, "DELETE", f"{one}/payments/{payment}", key=key, headers=guard)
    await clear_faults(sandbox, "draft_publish")
    assert (lost.status, lost.body["retryable"]) == (502, True), lost.body
    retried = await send(gateway, "DELETE", f"{one}/payments/{payment}", key=key, headers=guard)
    assert retried.status == 200, retried.body
    assert payment not in {p["id"] for p in retried.body["payments"]}
    again = await send(gateway, "DELETE", f"{one}/payments/{payment}", key=key, headers=guard)
    assert (again.status, again.headers.get("Idempotent-Replayed")) == (200, "true"), again.body


async def test_a_keyed_purge_whose_every_answer_was_lost_is_done_when_retried(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
    faults: Any,
) -> None:
    """A purge from draft_publish's trash (sent as a POST) whose every answer was lost after it
    took effect: one sentence says it may have taken effect, and the key's retry is the 204."""
    path = "/v1/connections/draft_publish/invoices"
    made = await send(gateway, "POST", path, body=sample("draft_publish"))
    assert (await send(gateway, "DELETE", f"{path}/{made.body['id']}")).status == 204
    purge = f"/v1/connections/draft_publish/trash/invoices/{made.body['id']}"
    await faults(
        "draft_publish", error_rate=1, error_status=503, after_commit=True, methods=["POST"]
    )
    key = fresh_key()
    lost = await send(gateway, "DELETE", purge, key=key)
    await clear_faults(sandbox, "draft_publish")
    assert (lost.status, lost.body["retryable"]) == (502, True), lost.body
    detail = lost.body["detail"]
    assert "the write may have taken effect (sending it again converges)" in detail
    assert "may or may not" not in detail, detail
    retried = await send(gateway, "DELETE", purge, key=key)
    assert retried.status == 204, retried.body
    assert (await send(gateway, "DELETE", purge, key=fresh_key())).status == 404


@pytest.mark.parametrize("connection", ["crm_v1", "bill_crm", "draft_publish", "item_envelope"])
async def test_writes_sent_at_once_with_the_same_if_match_change_the_invoice_once(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
    faults: Any,
    connection: str,
) -> None:
    """Three PUTs sent at once with the ETag they read (two keyed, one not), while the provider
    takes 0.3 s a call: one changes the invoice, the others are told 412, not a 200 whose
    change the next write silently overwrote (a lost update)."""
    path = f"/v1/connections/{connection}/invoices"
    made = await send(gateway, "POST", path, body=sample(connection))
    assert made.status == 201, made.body
    one = f"{path}/{made.body['id']}"
    tag = (await send(gateway, "GET", one)).headers["ETag"]
    await faults(connection, latency_ms=300)
    bodies = [{**sample(connection), "notes": f"by writer {n}"} for n in range(3)]
    answers = await asyncio.gather(
        *(
            send(gateway, "PUT", one, body=body, key=key, headers={"If-Match": tag})
            for body, key in zip(bodies, [fresh_key(), fresh_key(), None], strict=True)
        )
    )
    await clear_faults(sandbox, connection)
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [200, 412, 412], [(a.status, a.body) for a in answers]
    winner = next(answer for answer in answers if answer.status == 200)
    assert (await send(gateway, "GET", one)).body["notes"] == winner.body["notes"]
    refused = next(answer for answer in answers if answer.status == 412)
    assert refused.body["code"] == "precondition_failed"
    # A DELETE sent with the same, now old, ETag is refused too; the lock was let go.
    gone = await send(gateway, "DELETE", one, headers={"If-Match": tag})
    assert gone.status == 412, gone.body


@pytest.mark.parametrize("connection", ["crm_v1", "bill_crm", "item_envelope"])
async def test_writes_naming_one_invoice_by_two_spellings_of_its_id_share_its_lock(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
    faults: Any,
    connection: str,
) -> None:
    """``7`` and ``007`` are one invoice to these providers (numeric ids): two PUTs sent at once
    with its ETag, one by each spelling, change it once; the other is told 412."""
    path = f"/v1/connections/{connection}/invoices"
    made = await send(gateway, "POST", path, body=sample(connection))
    assert made.status == 201, made.body
    tag = (await send(gateway, "GET", f"{path}/{made.body['id']}")).headers["ETag"]
    await faults(connection, latency_ms=300)
    answers = await asyncio.gather(
        *(
            send(
                gateway,
                "PUT",
                f"{path}/{spelling}",
                body={**sample(connection), "notes": f"as {spelling}"},
                headers={"If-Match": tag},
            )
            for spelling in (made.body["id"], "00" + made.body["id"])
        )
    )
    await clear_faults(sandbox, connection)
    assert sorted(answer.status for answer in answers) == [200, 412], [
        (a.status, a.body) for a in answers
    ]


async def test_a_write_kept_waiting_by_another_on_its_invoice_is_refused_and_its_key_freed(
    gateway: TestClient,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another process holds the invoice's lock (its write still running) past the wait: a
    409 that says so, nothing sent, and the key free for the retry once that write is done."""
    monkeypatch.setattr(invoice_locks, "GUARD_WAIT_S", 0.5)
    path = "/v1/connections/crm_v1/invoices"
    made = await send(gateway, "POST", path, body=sample("crm_v1"))
    one = f"{path}/{made.body['id']}"
    tag = (await send(gateway, "GET", one)).headers["ETag"]
    store = gateway.app[STORE]
    crm = gateway.app[ADAPTERS]["crm_v1"]
    lock = f"crm_v1 {crm.connection.base_url} {made.body['id']}"
    assert await store.take_lock(lock, "another gateway", now=time.time(), lease_s=30)
    key = fresh_key()
    body = {**sample("crm_v1"), "notes": "after the other write"}
    busy = await send(gateway, "PUT", one, body=body, key=key, headers={"If-Match": tag})
    assert (busy.status, busy.body["code"]) == (409, "conflict"), busy.body
    assert "still running" in busy.body["detail"]
    # Nothing was sent and the key is free: said retryable, with when to try again.
    assert busy.body["retryable"] is True and busy.headers["Retry-After"] == "5", busy.body
    assert (await send(gateway, "GET", one)).body["notes"] != "after the other write"
    await store.release_lock(lock, "another gateway")
    done = await send(gateway, "PUT", one, body=body, key=key, headers={"If-Match": tag})
    assert done.status == 200, done.body
    assert done.body["notes"] == "after the other write"


async def test_a_lost_create_never_takes_the_invoice_a_create_without_a_key_made(
    sandbox: Sandbox,
    faults: Any,
    aiohttp_client: Any,
) -> None:
    """The caller's notes leave no room for the marker, so a lost create is found by what was
    sent. While the provider held a keyed create (that it never stored), another caller made
    the same invoice without a key; the lookup took that one for its own, and both callers
    were told "created" of one invoice: the keyed caller's was never made."""
    settings = gateway_settings(sandbox, store_url=sqlite_url())
    quick = [
        c.model_copy(update={"timeout_s": 1.0}) if c.provider == "draft_publish" else c
        for c in settings.connections
    ]
    gateway = await aiohttp_client(create_app(settings.model_copy(update={"connections": quick})))
    path = "/v1/connections/draft_publish/invoices"
    body = {**sample("draft_publish"), "notes": f"monthly {fresh_key()}"}
    creates = [e for e in await provider_log(sandbox, "draft_publish") if e["method"] == "POST"]
    await faults(
        "draft_publish", timeout_rate=1, methods=["POST"], path_regex=CREATE_PATHS["draft_publish"]
    )
    held = asyncio.ensure_future(send(gateway, "POST", path, body=body, key=fresh_key()))

    async def sent() -> bool:
        log = await provider_log(sandbox, "draft_publish")
        return len([e for e in log if e["method"] == "POST"]) > len(creates)

    deadline = time.monotonic() + 10
    while not await sent():
        assert time.monotonic() < deadline, "the held create never reached the provider"
        await asyncio.sleep(0.02)
    await clear_faults(sandbox, "draft_publish")
    other = await send(gateway, "POST", path, body=body)  # no key
    assert other.status == 201, other.body

    lost = await held

    assert (lost.status, lost.body.get("outcome")) == (502, "uncertain"), lost.body
    assert "another write" in lost.body["detail"]


async def test_a_create_answered_with_a_success_too_large_to_read_says_it_most_likely_landed(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
    aiohttp_client: Any,
) -> None:
    """order_linked answers the create 201 with a body over the connection's
    max_response_bytes, and no lookup can read its listing either: the answer says the
    provider answered a success (most likely done), stays uncertain (a body that is not the
    provider's proves nothing), and the key's retry asks again, sending nothing twice."""
    settings = gateway_settings(sandbox, store_url=sqlite_url())
    small = [
        c.model_copy(update={"max_response_bytes": 1024}) if c.provider == "order_linked" else c
        for c in settings.connections
    ]
    capped = await aiohttp_client(create_app(settings.model_copy(update={"connections": small})))
    before = await invoice_ids(sandbox, gateway, "order_linked")
    path = "/v1/connections/order_linked/invoices"
    key = fresh_key()
    # No notes: the marker's field is free, so nothing is read before the create is sent.
    body = {k: v for k, v in sample("order_linked").items() if k != "notes"}
    made = await send(capped, "POST", path, body=body, key=key)
    assert (made.status, made.body["outcome"]) == (502, "uncertain"), made.body
    assert "It answered 201, a success whose answer the gateway cannot read" in made.body["detail"]
    again = await send(capped, "POST", path, body=body, key=key)
    assert (again.status, again.body["outcome"]) == (502, "uncertain"), again.body
    assert len(await invoice_ids(sandbox, gateway, "order_linked") - before) == 1


async def test_a_purge_whose_answers_were_lost_is_sent_again_as_a_delete_is(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
) -> None:
    """A purge from the trash converges when sent again (its repeat is the provider's 404,
    the purge done), but is a POST at the provider: it was never sent again, and a dropped
    connection was a 502 where a DELETE's is resent, then a 503 with a Retry-After."""
    path = "/v1/connections/draft_publish/invoices"
    made = await send(gateway, "POST", path, body=sample("draft_publish"))
    assert (await send(gateway, "DELETE", f"{path}/{made.body['id']}")).status == 204
    purge = f"/v1/connections/draft_publish/trash/invoices/{made.body['id']}"
    await faults(
        "draft_publish",
        reset_rate=1,
        after_commit=True,
        methods=["POST"],
        path_regex="/trash/batch$",
    )
    key = fresh_key()
    lost = await send(gateway, "DELETE", purge, key=key)
    assert (lost.status, lost.body["code"]) == (503, "upstream_unavailable"), lost.body
    assert lost.body["retryable"] is True and "Retry-After" in lost.headers
    sent = [e for e in await provider_log(sandbox, "draft_publish") if e["path"].endswith("/batch")]
    assert len(sent) >= 2  # sent again within the request
    await clear_faults(sandbox, "draft_publish")
    assert (await send(gateway, "DELETE", purge, key=key)).status == 204


async def test_a_purge_of_an_invoice_never_in_the_trash_is_not_said_done_by_its_retry(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
) -> None:
    """Its repeat's "not in the trash" was taken for the purge done (a DELETE's 404 is): the
    retry of a purge that failed before the provider handled it answered 204 of a live
    invoice. A live invoice is not purged: 404, as the first attempt would have said."""
    path = "/v1/connections/draft_publish/invoices"
    made = await send(gateway, "POST", path, body=sample("draft_publish"))
    purge = f"/v1/connections/draft_publish/trash/invoices/{made.body['id']}"
    await faults(
        "draft_publish", error_rate=1, error_status=503, methods=["POST"], path_regex="/batch$"
    )
    key = fresh_key()
    failed = await send(gateway, "DELETE", purge, key=key)
    assert failed.status in (502, 503), failed.body
    await clear_faults(sandbox, "draft_publish")
    again = await send(gateway, "DELETE", purge, key=key)
    assert (again.status, again.body["code"]) == (404, "not_found"), again.body
    assert (await send(gateway, "GET", f"{path}/{made.body['id']}")).status == 200


@pytest.mark.parametrize("keyed", [False, True], ids=["no-key", "key"])
async def test_a_delete_whose_answers_were_lost_says_what_a_404_to_its_repeat_means(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,
    keyed: bool,  # type: ignore[type-arg]
) -> None:
    """Every answer to the DELETE lost after draft_publish deleted the draft: a retry without
    a key met a 404 "not found" for the invoice its own DELETE had removed, after being told
    the retry converges. The answer says what that 404 means; with the key, the retry is 204."""
    path = "/v1/connections/draft_publish/invoices"
    made = await send(gateway, "POST", path, body=sample("draft_publish"))
    one = f"{path}/{made.body['id']}"
    await faults(
        "draft_publish", error_rate=1, error_status=503, after_commit=True, methods=["DELETE"]
    )
    key = fresh_key() if keyed else None
    guard = {"If-Match": made.headers["ETag"]}
    lost = await send(gateway, "DELETE", one, key=key, headers=guard)
    assert (lost.status, lost.body["retryable"], lost.body["outcome"]) == (502, True, "uncertain")
    said = "a 404 to the same request sent again means this one took effect"
    assert (said in lost.body["detail"]) is not keyed, lost.body["detail"]
    # Not the PUT's advice to read the ETag again: a DELETE that landed left nothing to read.
    assert "ETag" not in lost.body["detail"]
    await clear_faults(sandbox, "draft_publish")
    again = await send(gateway, "DELETE", one, key=key, headers=guard)
    assert again.status == (204 if keyed else 404), again.body


@pytest.mark.parametrize(
    ("connection", "method", "status"),
    [
        ("crm_v1", "DELETE", 400),
        ("crm_v1", "DELETE", 410),
        ("crm_v1", "PUT", 410),
        ("bill_crm", "PUT", 410),
    ],
)
async def test_a_put_or_delete_the_provider_refused_is_no_write_that_may_have_landed(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
    connection: str,
    method: str,
    status: int,
) -> None:
    """A provider's refusal (a 4xx) of a PUT or DELETE changed nothing: the answer was an
    uncertain outcome, "the write may have taken effect (sending it again converges)", of a
    request that would meet the same refusal. It is a plain refusal, kept as the key's answer
    (the provider's final word): the retry replays it, sending nothing, and the key with
    another request is refused as reused."""
    path = f"/v1/connections/{connection}/invoices"
    made = await send(gateway, "POST", path, body=sample(connection))
    assert made.status == 201, made.body
    one = f"{path}/{made.body['id']}"
    body = {**sample(connection), "notes": "changed"} if method == "PUT" else None
    await faults(connection, error_rate=1, error_status=status, methods=[method])
    key = fresh_key()
    refused = await send(gateway, method, one, body=body, key=key)
    assert (refused.status, refused.body["retryable"]) == (502, False), refused.body
    assert "outcome" not in refused.body, refused.body
    assert "may have taken effect" not in refused.body["detail"], refused.body["detail"]
    assert "injected fault" in refused.body["detail"], refused.body["detail"]  # the provider's
    assert (await send(gateway, "GET", one)).status == 200  # still there, unchanged
    await clear_faults(sandbox, connection)
    sent = len(await provider_log(sandbox, connection))
    again = await send(gateway, method, one, body=body, key=key)
    assert (again.status, again.headers.get("Idempotent-Replayed")) == (502, "true"), again.body
    assert again.body["detail"] == refused.body["detail"]
    assert len(await provider_log(sandbox, connection)) == sent  # nothing sent again
    if method == "PUT":  # the key names a request: another body under it is refused
        other = {**sample(connection), "notes": "another"}
        reused = await send(gateway, "PUT", one, body=other, key=key)
        assert (reused.status, reused.body["code"]) == (422, "idempotency_key_reused")


async def test_a_put_whose_answers_were_lost_says_it_may_have_landed_and_its_if_match_moved(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
) -> None:
    """Every answer to the PUT is lost after crm_v1 applied it: the caller is told the write may
    have taken effect and that its If-Match may no longer hold, before a retry meets a 412."""
    path = "/v1/connections/crm_v1/invoices"
    made = await send(gateway, "POST", path, body=sample("crm_v1"))
    one = f"{path}/{made.body['id']}"
    before = await send(gateway, "GET", one)
    changed = {**sample("crm_v1"), "notes": "changed by the lost PUT"}
    await faults("crm_v1", error_rate=1, error_status=503, after_commit=True, methods=["PUT"])
    key = fresh_key()
    lost = await send(
        gateway, "PUT", one, body=changed, key=key, headers={"If-Match": before.headers["ETag"]}
    )
    assert (lost.status, lost.body["retryable"]) == (502, True), lost.body
    assert lost.body["outcome"] == "uncertain"  # as every answer of a write that may have landed
    assert "the write may have taken effect (sending it again converges)" in lost.body["detail"]
    assert "the invoice's ETag is no longer the If-Match sent" in lost.body["detail"]
    await clear_faults(sandbox, "crm_v1")
    now = await send(gateway, "GET", one)
    assert now.body["notes"] == "changed by the lost PUT"  # it had landed
    assert now.headers["ETag"] != before.headers["ETag"]
    # Its own key's retry meets the write's own change: the 412 says that may be so.
    again = await send(
        gateway, "PUT", one, body=changed, key=key, headers={"If-Match": before.headers["ETag"]}
    )
    assert (again.status, again.body["code"]) == (412, "precondition_failed"), again.body
    assert (
        "This key's earlier attempt, whose answer was lost, may have made" in again.body["detail"]
    )


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "unkeyed"])
async def test_a_put_whose_read_back_failed_is_retryable_and_its_retry_converges(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
    keyed: bool,
) -> None:
    """crm_v1 took the PUT, and every read of the invoice after it failed. The answer said
    `retryable: false`, "read it before writing again", beside "the write may have taken effect
    (sending it again converges)"; and the key's retry did send it again, and answered 200. A
    PUT sent again converges: the answer is retryable, and says the write took effect."""
    path = "/v1/connections/crm_v1/invoices"
    made = await send(gateway, "POST", path, body=sample("crm_v1"))
    one = f"{path}/{made.body['id']}"
    changed = {**sample("crm_v1"), "notes": "changed by the PUT read back in vain"}
    await faults("crm_v1", error_rate=1, error_status=503, methods=["GET"])
    key = fresh_key() if keyed else None
    unread = await send(gateway, "PUT", one, body=changed, key=key)
    assert (unread.status, unread.body["retryable"]) == (502, True), unread.body
    assert unread.body["outcome"] == "uncertain"
    detail = unread.body["detail"]
    assert f"crm_v1 updated invoice {made.body['id']}, but reading it back failed" in detail
    assert detail.endswith("; the write took effect (sending it again converges)"), detail
    assert "read it before writing again" not in detail
    await clear_faults(sandbox, "crm_v1")
    again = await send(gateway, "PUT", one, body=changed, key=key)
    assert again.status == 200, again.body
    assert again.body["notes"] == "changed by the PUT read back in vain"
    assert (await send(gateway, "GET", one)).body == again.body


async def test_a_create_rate_limited_part_way_is_the_503_a_rate_limit_is(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
) -> None:
    """bill_crm rate-limits the gateway to the end at a create's second call (its lines): the
    header it made is deleted, and the answer was a 502 `upstream_error`, where the same 429 at
    the first call is the 503 `upstream_unavailable` facade.md's table gives a provider
    rate-limiting the gateway. Both are now the 503, with the provider's `Retry-After`."""
    before = await invoice_ids(sandbox, gateway, "bill_crm")
    await faults("bill_crm", rate_limit_rate=1, retry_after=7, path_regex="line-items$")
    key = fresh_key()
    path = "/v1/connections/bill_crm/invoices"
    limited = await send(gateway, "POST", path, body=sample("bill_crm"), key=key)
    assert (limited.status, limited.body["code"]) == (503, "upstream_unavailable"), limited.body
    assert limited.body["retryable"] is True and limited.headers["Retry-After"] == "7"
    assert "is rate-limiting the gateway" in limited.body["detail"]
    assert "nothing was written and the request can be sent again" in limited.body["detail"]
    assert await invoice_ids(sandbox, gateway, "bill_crm") == before  # its header deleted
    await clear_faults(sandbox, "bill_crm")
    made = await send(gateway, "POST", path, body=sample("bill_crm"), key=key)
    assert made.status == 201, made.body
    assert await invoice_ids(sandbox, gateway, "bill_crm") == before | {made.body["id"]}


async def _bill_crm_invoice(gateway: TestClient) -> tuple[str, Answer]:  # type: ignore[type-arg]
    """A new bill_crm invoice: its path, and its answer as read."""
    path = "/v1/connections/bill_crm/invoices"
    made = await send(gateway, "POST", path, body=sample("bill_crm"))
    one = f"{path}/{made.body['id']}"
    return one, await send(gateway, "GET", one)


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "unkeyed"])
async def test_a_bill_crm_update_put_back_is_retryable_and_not_uncertain(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
    keyed: bool,
) -> None:
    """bill_crm's update is several calls; its lines failed with a 500 three times (each may
    have landed) and the header it replaced and the lines are put back: the invoice is as it
    was (issue 4: nothing half-made remains), and the answer says so, retryable, not "may have
    taken effect", and that the ETag an If-Match names moved. Its retry converges."""
    one, before = await _bill_crm_invoice(gateway)
    changed = {**sample("bill_crm"), "notes": "never kept"}
    # Seed 41 at rate 0.5: the first three line-items calls fail (the update's three
    # attempts), the next ones do not (the put-back's).
    await faults("bill_crm", error_rate=0.5, seed=41, methods=["PUT"], path_regex="line-items$")
    key = fresh_key() if keyed else None
    failed = await send(
        gateway, "PUT", one, body=changed, key=key, headers={"If-Match": before.headers["ETag"]}
    )
    await clear_faults(sandbox, "bill_crm")
    assert (failed.status, failed.body["retryable"]) == (502, True), failed.body
    assert "outcome" not in failed.body, failed.body
    assert failed.body["detail"].endswith(
        "the update was not made: the invoice was put back as it was (its lines with new ids); "
        "the put-back is a write: the invoice's ETag changed"
    ), failed.body["detail"]
    after = await send(gateway, "GET", one)
    for field in ("notes", "totals", "tags", "discount"):
        assert after.body[field] == before.body[field], field
    assert [line["quantity"] for line in after.body["lines"]] == [
        line["quantity"] for line in before.body["lines"]
    ]
    again = await send(
        gateway,
        "PUT",
        one,
        body=changed,
        key=key,  # its own key's retry sends it again: nothing stands of the first
        headers={"If-Match": after.headers["ETag"]},
    )
    assert again.status == 200, again.body
    assert again.body["notes"] == "never kept"


async def test_a_bill_crm_update_put_back_after_a_final_refusal_is_not_retryable(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
) -> None:
    """The CRM refuses the tags with a final 413 after the header and the lines went through:
    they are put back, and the answer keeps the refusal's `retryable: false` (it said true, and
    each retry rewrote the invoice to meet the same refusal)."""
    one, before = await _bill_crm_invoice(gateway)
    changed = {**sample("bill_crm"), "notes": "never kept", "tags": ["refused"]}
    await faults("bill_crm", error_rate=1, error_status=413, methods=["PUT"], path_regex="tags$")
    failed = await send(gateway, "PUT", one, body=changed, key=fresh_key())
    await clear_faults(sandbox, "bill_crm")
    assert (failed.status, failed.body["retryable"]) == (502, False), failed.body
    assert "the update was not made: the invoice was put back as it was" in failed.body["detail"]
    after = await send(gateway, "GET", one)
    assert (after.body["notes"], after.body["tags"]) == (before.body["notes"], before.body["tags"])


async def test_a_lost_void_answer_is_recognised(
    sandbox: Sandbox,
    gateway: TestClient,
    faults: Any,  # type: ignore[type-arg]
) -> None:
    created = await send(
        gateway, "POST", "/v1/connections/draft_publish/invoices", body=sample("draft_publish")
    )
    location = f"/v1/connections/draft_publish/invoices/{created.body['id']}"
    assert (await send(gateway, "POST", location + "/issue")).status == 200
    await faults(
        "draft_publish",
        error_rate=1,
        error_status=502,
        after_commit=True,
        methods=["POST"],
        path_regex="/void$",
    )
    voided = await send(gateway, "POST", location + "/void", key=fresh_key())
    assert voided.status == 200, voided.body
    assert voided.body["status"] == "void"
    voids = [e for e in await provider_log(sandbox, "draft_publish") if e["path"].endswith("/void")]
    assert len(voids) == 1


async def test_a_lost_lenient_create_without_room_for_a_marker_is_found_by_what_was_sent(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
    faults: Any,
) -> None:
    # The caller wrote the marker's field itself, and a field item_envelope cannot carry
    # (due_date) that lenient handling drops: the invoice is found by what was actually sent.
    invoice = {**sample("item_envelope"), "notes": "Our own words", "due_date": "2026-07-31"}
    before = await invoice_ids(sandbox, gateway, "item_envelope")
    await lose_create_answers(faults, "item_envelope")
    key = fresh_key()
    answer = await send(
        gateway,
        "POST",
        "/v1/connections/item_envelope/invoices",
        body=invoice,
        key=key,
        headers={"Prefer": "handling=lenient"},
    )
    assert answer.status == 201, answer.body
    assert answer.body["notes"] == "Our own words"
    assert answer.body["due_date"] is None
    assert {"field": "/due_date", "reason": answer.body["warnings"][0]["reason"]} in answer.body[
        "warnings"
    ]
    assert answer.headers["Preference-Applied"] == "handling=lenient"
    assert (await invoice_ids(sandbox, gateway, "item_envelope")) - before == {answer.body["id"]}


async def test_without_its_store_the_gateway_says_so_and_writes_nothing(
    sandbox: Sandbox, aiohttp_client: Any
) -> None:
    url = postgres_url()
    gateway = await aiohttp_client(create_app(gateway_settings(sandbox, store_url=url)))
    ready = await send(gateway, "GET", "/readyz")
    assert ready.status == 200 and ready.body["store"]["backend"] == "postgresql"
    schema = url.rsplit("schema=", 1)[1]
    connection = await asyncpg.connect(POSTGRES)
    try:
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await connection.close()
    writes_before = [e for e in await provider_log(sandbox, "crm_v1") if e["method"] == "POST"]
    key = fresh_key()
    answer = await send(
        gateway, "POST", "/v1/connections/crm_v1/invoices", body=sample("crm_v1"), key=key
    )
    assert answer.status == 503, answer.body
    assert answer.body["code"] == "store_unavailable"
    assert answer.body["retryable"] is True
    assert "Retry-After" in answer.headers
    writes_after = [e for e in await provider_log(sandbox, "crm_v1") if e["method"] == "POST"]
    assert len(writes_after) == len(writes_before)
    # The failure made the tables again (a dropped schema was 503 for ever): the retry it
    # asked for makes the one invoice.
    ready = await send(gateway, "GET", "/readyz")
    assert ready.status == 200 and ready.body["store"]["schema_version"] >= 4
    retried = await send(
        gateway, "POST", "/v1/connections/crm_v1/invoices", body=sample("crm_v1"), key=key
    )
    assert retried.status == 201, retried.body
    posts = [e for e in await provider_log(sandbox, "crm_v1") if e["method"] == "POST"]
    assert len(posts) == len(writes_before) + 1


async def test_replays_and_resolutions_are_counted_in_metrics(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
    faults: Any,
) -> None:
    key = fresh_key()
    path = "/v1/connections/draft_publish/invoices"
    for _ in range(3):
        assert (
            await send(gateway, "POST", path, body=sample("draft_publish"), key=key)
        ).status == 201
    await faults(
        "draft_publish",
        reset_rate=1,
        after_commit=True,
        methods=["POST"],
        path_regex=CREATE_PATHS["draft_publish"],
    )
    found = await send(gateway, "POST", path, body=sample("draft_publish"), key=fresh_key())
    assert found.status == 201
    metrics = await send(gateway, "GET", "/metrics")
    lines = metrics.body.splitlines()
    assert 'gateway_writes_total{connection="draft_publish",event="replayed"} 2.0' in lines
    assert 'gateway_writes_total{connection="draft_publish",event="resolved_done"} 1.0' in lines


async def test_the_unanswered_and_resent_keys_hold_on_postgresql(
    sandbox: Sandbox,
    aiohttp_client: Any,
    faults: Any,  # type: ignore[type-arg]
) -> None:
    """The store keeps the new recovery points (``unanswered``, ``resent``) and the send time on
    PostgreSQL as on SQLite: a slow create made once, a lost DELETE done on the key's retry."""
    settings = gateway_settings(sandbox, store_url=postgres_url())
    # A timeout with room for a loaded machine's reads before the create (at 0.4 s, one of
    # them timed out in a CI run: a 504 before anything was sent).
    gateway, reader = await slow_and_usual(
        aiohttp_client, settings, timeout_s=1.0, write_settle_s=5
    )
    path = "/v1/connections/crm_v1/invoices"
    before = await invoice_ids(sandbox, reader, "crm_v1")
    await faults("crm_v1", latency_ms=2500, methods=["POST"], path_regex=CREATE_PATHS["crm_v1"])
    key = fresh_key()
    first = await send(gateway, "POST", path, body=sample("crm_v1"), key=key)
    assert (first.status, first.body.get("outcome")) == (502, "uncertain"), first.body
    await asyncio.sleep(2.0)  # the provider's create done (2.5 s from its start)
    await clear_faults(sandbox, "crm_v1")
    made = await send(gateway, "POST", path, body=sample("crm_v1"), key=key)
    assert made.status == 201, made.body
    assert (await invoice_ids(sandbox, reader, "crm_v1")) - before == {made.body["id"]}

    one = f"{path}/{made.body['id']}"
    await faults("crm_v1", error_rate=1, error_status=503, after_commit=True, methods=["DELETE"])
    gone = fresh_key()
    lost = await send(gateway, "DELETE", one, key=gone)
    assert lost.status == 502, lost.body
    await clear_faults(sandbox, "crm_v1")
    assert (await send(gateway, "DELETE", one, key=gone)).status == 204
    replay = await send(gateway, "DELETE", one, key=gone)
    assert (replay.status, replay.headers.get("Idempotent-Replayed")) == (204, "true")


async def _clear_faults(sandbox: Sandbox, provider: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.delete(sandbox.emulator_urls[provider] + "/_emulator/faults") as response,
    ):
        assert response.status in (200, 204), await response.text()


@pytest.mark.parametrize("connection", PROVIDERS)
async def test_a_lost_create_never_takes_another_keys_invoice_of_the_same_body_for_its_own(
    sandbox: Sandbox,
    gateway: TestClient,  # type: ignore[type-arg]
    faults: Any,
    connection: str,
) -> None:
    """Two keys send one body with the caller's own notes (no room for the marker): the
    first is held by the provider, then refused with nothing stored; the second is made
    meanwhile. The first's lookup finds the second's invoice, which the store keeps as the
    other key's: not its own, so nothing was written for it, and its retry makes its own. Each
    key ends with its invoice; none is told "created" of the other's."""
    path = f"/v1/connections/{connection}/invoices"
    before = await invoice_ids(sandbox, gateway, connection)
    body = {**sample(connection), "notes": f"sent twice {fresh_key()}"}
    await faults(
        connection,
        latency_ms=1500,
        error_rate=1,
        error_status=503,
        methods=["POST"],
        path_regex=CREATE_PATHS[connection],
    )
    first_key = fresh_key()
    first = asyncio.create_task(send(gateway, "POST", path, body=body, key=first_key))
    await asyncio.sleep(0.5)  # the first is held at the provider
    await _clear_faults(sandbox, connection)
    second = await send(gateway, "POST", path, body=body, key=fresh_key())
    assert second.status == 201, second.body
    answer = await first
    assert answer.status == 502, answer.body
    assert answer.body["retryable"] is True and "another write" in answer.body["detail"], (
        answer.body
    )
    retried = await send(gateway, "POST", path, body=body, key=first_key)
    assert retried.status == 201, retried.body
    assert retried.body["id"] != second.body["id"]
    after = await invoice_ids(sandbox, gateway, connection)
    assert after - before == {second.body["id"], retried.body["id"]}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


@pytest.mark.parametrize("connection", sorted(PROVIDERS))
async def test_a_write_that_never_reached_its_provider_keeps_no_key_and_is_not_uncertain(
    sandbox: Sandbox, aiohttp_client: Any, connection: str
) -> None:
    """A provider whose port refuses the connection heard nothing: the create is a 503 to send
    again, not an "uncertain" 502 whose key stays held until the provider is back (and whose
    DELETE, retried then, was answered 204 for an invoice that never existed)."""
    url = sqlite_url()
    unreachable = {provider: f"http://127.0.0.1:{_closed_port()}" for provider in PROVIDERS}
    settings = gateway_settings(sandbox, store_url=url)
    settings = settings.model_copy(
        update={
            "connections": [
                c.model_copy(update={"base_url": unreachable[c.provider]})
                for c in settings.connections
            ]
        }
    )
    gateway = await aiohttp_client(create_app(settings))
    body = sample(connection)
    body.pop("notes", None)  # no marker to look for: the create is its first call
    key = str(uuid.uuid4())
    path = f"/v1/connections/{connection}/invoices"
    for _ in range(2):  # sent again with its key: the same answer, never an uncertain one
        refused = await send(gateway, "POST", path, body=body, key=key)
        assert refused.status == 503, refused.body
        assert refused.body["code"] == "upstream_unavailable"
        assert refused.body["retryable"] is True
        assert "outcome" not in refused.body
        assert "may or may not" not in refused.body["detail"]
    if connection != "order_linked":  # the one that deletes nothing
        deleted = await send(gateway, "DELETE", f"{path}/404404", key=str(uuid.uuid4()))
        assert deleted.status == 503, deleted.body
        assert "outcome" not in deleted.body
    store = open_store(url)
    await store.open()
    try:
        assert await store.get(KeyScope("sync", connection, CREATE, key)) is None
    finally:
        await store.close()
