"""What a keyed create keeps to be found again, and when: its marker in the claim itself when
the marker's field is free (no provider call is needed to choose it); otherwise the
look-alikes already there, looked up after the claim (order_linked, against its emulator)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.canonical.model import Invoice
from gateway.service.idempotency import SENT_AT, KeyedWrites
from gateway.service.invoices import InvoiceService
from gateway.service.write_request import WriteRequest
from gateway.store import KeyScope, open_store
from tests.adapters.order_linked_env import Env, start
from tests.contract.profiles.order_linked import sample


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


async def _create(env: Env, tmp_path: Path, invoice: Invoice) -> tuple[list[Any], Any, Any]:
    """Create ``invoice`` with a key; what each claim was given, the key's record after, and
    the provider's requests."""
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    await store.open()
    given: list[Any] = []
    real = store.claim

    async def claim(*args: Any, **kwargs: Any) -> Any:
        given.append(kwargs.get("sending"))
        return await real(*args, **kwargs)

    store.claim = claim  # type: ignore[method-assign]
    name = env.adapter.connection.name
    try:
        service = InvoiceService({name: env.adapter}, KeyedWrites(store, lease_s=30, ttl_s=3600))
        request = WriteRequest("client", name, "POST /v1/invoices", "/v1/invoices", "key-1")
        await service.create(request, invoice, "lenient")
        record = await store.get(KeyScope("client", name, "POST /v1/invoices", "key-1"))
    finally:
        await store.close()
    return given, record, await env.log()


async def test_a_create_with_room_for_its_marker_is_claimed_with_it(
    env: Env, tmp_path: Path
) -> None:
    invoice = Invoice.model_validate({**sample(1).model_dump(), "notes": None})

    given, record, log = await _create(env, tmp_path, invoice)

    assert len(given) == 1 and given[0] is not None
    marker = given[0]["marker"]
    assert given[0]["marker_field"] == "notes" and marker.startswith("ig-")
    assert record.recovery == given[0] and record.state == "done"
    assert [r["method"] for r in log] == ["POST"]  # nothing looked up before the create
    assert marker in str(log[-1]["body"])  # the marker the key keeps is the one sent


async def test_a_create_whose_marker_field_is_taken_looks_up_after_its_claim(
    env: Env, tmp_path: Path
) -> None:
    invoice = Invoice.model_validate({**sample(1).model_dump(), "notes": "Thanks for your order"})

    given, record, log = await _create(env, tmp_path, invoice)

    assert given == [None]  # claimed first: a replay would call nothing
    assert set(record.recovery) == {"existing", "complete", "started_at", SENT_AT}
    assert [r["method"] for r in log][-1] == "POST" and log[0]["method"] == "GET"
