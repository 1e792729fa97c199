"""A create fits the caller's invoice to what the provider carries once, not three times
(``adapters.fits``), and what is kept is what fitting again would give."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import adapters.representable as representable
from adapters.base import UnsupportedFields, WriteWarning
from adapters.fits import Fits
from gateway.canonical.model import Invoice
from gateway.service.idempotency import KeyedWrites
from gateway.service.invoices import InvoiceService
from gateway.service.write_request import WriteRequest
from gateway.store import open_store
from tests.adapters.order_linked_env import Env, start
from tests.contract.profiles.order_linked import ITEM_RATES, line, sample


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


def named_lines(count: int) -> Invoice:
    """An invoice with room for a marker (no notes) whose lines carry names and units, which
    order_linked cannot carry: lenient handling drops them."""
    items = sorted(ITEM_RATES)
    lines = [
        line(items[i % len(items)], "2", "10.50", name=f"Widget {i}", unit="pcs")
        for i in range(count)
    ]
    return Invoice.model_validate({**sample(1).model_dump(), "notes": None, "lines": lines})


@pytest.fixture
def fits_counted(monkeypatch: pytest.MonkeyPatch) -> list[Invoice]:
    fitted: list[Invoice] = []
    real = representable.fit

    def counting(invoice: Invoice, *args: Any) -> Any:
        fitted.append(invoice)
        return real(invoice, *args)

    monkeypatch.setattr(representable, "fit", counting)
    return fitted


async def test_a_keyed_create_fits_its_invoice_once(
    env: Env, tmp_path: Path, fits_counted: list[Invoice]
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    await store.open()
    try:
        service = InvoiceService(
            {env.adapter.connection.name: env.adapter},
            KeyedWrites(store, lease_s=30, ttl_s=3600),
        )
        request = WriteRequest(
            "client", env.adapter.connection.name, "POST /v1/invoices", "/v1/invoices", "key-1"
        )
        outcome = await service.create(request, named_lines(3), "lenient")
    finally:
        await store.close()
    assert len(fits_counted) == 1  # bounds, the marker's lookup and the send: one fit
    assert outcome.invoice is not None and outcome.invoice.id is not None
    dropped = sorted(w.field for w in outcome.warnings if w.field.startswith("/lines"))
    assert dropped == [f"/lines/{i}/{name}" for i in range(3) for name in ("name", "unit")]
    sent = (await env.log())[-1]
    assert sent["method"] == "POST" and "ig-" in str(sent["body"])  # the marker went with it
    assert "Widget" not in str(sent["body"])  # the names were dropped, not sent


async def test_the_marked_invoice_fits_as_fitting_it_afresh_would(env: Env) -> None:
    adapter, invoice = env.adapter, named_lines(2)
    adapter.fit(invoice, "lenient")
    marked = adapter.marked(invoice, {"marker_field": "notes", "marker": "ig-0123abcd"})
    kept, kept_warnings = adapter.fit(marked, "lenient")
    fresh, fresh_warnings = representable.fit(
        marked, adapter.capabilities, adapter.provider, "lenient"
    )
    assert kept is not marked and kept.notes == "ig-0123abcd"
    assert kept.model_dump() == fresh.model_dump()
    assert kept_warnings == fresh_warnings and len(kept_warnings) == 4


def test_only_the_same_object_is_answered_from_what_was_kept() -> None:
    fits, invoice = Fits(), named_lines(1)
    computed: list[int] = []

    def compute() -> tuple[Invoice, list[WriteWarning]]:
        computed.append(1)
        return invoice, [WriteWarning("/lines/0/name", "dropped")]

    first = fits.fit(invoice, "lenient", compute)
    first[1].append(WriteWarning("/x", "a caller's own list"))
    assert fits.fit(invoice, "lenient", compute)[1] == [WriteWarning("/lines/0/name", "dropped")]
    assert len(computed) == 1
    fits.fit(invoice, "strict", compute)  # another handling: fitted again
    fits.fit(invoice.model_copy(), "lenient", compute)  # an equal copy: fitted again
    assert len(computed) == 3
    for _ in range(Fits.SIZE):
        fits.fit(named_lines(1), "lenient", compute)
    fits.fit(invoice, "lenient", compute)  # pushed out by newer ones: fitted again
    assert len(computed) == 3 + Fits.SIZE + 1


def test_a_refusal_is_not_kept(env: Env, fits_counted: list[Invoice]) -> None:
    invoice = named_lines(1)
    for _ in range(2):
        with pytest.raises(UnsupportedFields):
            env.adapter.fit(invoice, "strict")
    assert len(fits_counted) == 2
