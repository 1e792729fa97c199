"""A write's fingerprint is taken only when it has an ``Idempotency-Key``: an unkeyed write is
compared with nothing, so it pays for no dump of its invoice (nor digest of its files)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import IdempotencyKeyReused
from gateway.service.idempotency import KeyedWrites
from gateway.service.invoices import InvoiceService
from gateway.service.write_request import WriteRequest
from gateway.store import Store, open_store
from tests.adapters.order_linked_env import Env, start
from tests.contract.profiles.order_linked import sample


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


@pytest.fixture
def fingerprints(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    taken: list[Any] = []
    real = WriteRequest.fingerprint

    def counting(self: WriteRequest, body: Any, handling: str | None) -> str:
        taken.append(body)
        return real(self, body, handling)

    monkeypatch.setattr(WriteRequest, "fingerprint", counting)
    return taken


def create_request(env: Env, key: str | None) -> WriteRequest:
    name = env.adapter.connection.name
    return WriteRequest("client", name, "POST /v1/invoices", "/v1/invoices", key)


async def test_an_unkeyed_create_takes_no_fingerprint_and_a_keyed_one_is_still_checked(
    env: Env, tmp_path: Path, fingerprints: list[Any]
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    await store.open()
    try:
        await creates(env, store, fingerprints)
    finally:
        await store.close()
    posts = [call for call in await env.log() if call["method"] == "POST"]
    assert len(posts) == 2  # the unkeyed create and the keyed one: no second send, no third


async def creates(env: Env, store: Store, fingerprints: list[Any]) -> None:
    service = InvoiceService(
        {env.adapter.connection.name: env.adapter}, KeyedWrites(store, lease_s=30, ttl_s=3600)
    )
    unkeyed = await service.create(create_request(env, None), sample(1), "lenient")
    assert unkeyed.invoice is not None and unkeyed.invoice.id is not None
    assert fingerprints == []

    first = await service.create(create_request(env, "key-1"), sample(1), "lenient")
    again = await service.create(create_request(env, "key-1"), sample(1), "lenient")
    assert first.invoice is not None and again.invoice is not None
    assert (again.replayed, again.invoice.id) == (True, first.invoice.id)
    assert [body["lines"] for body in fingerprints] == [
        sample(1).model_dump(mode="json")["lines"]
    ] * 2
    with pytest.raises(IdempotencyKeyReused):
        await service.create(create_request(env, "key-1"), sample(2), "lenient")
