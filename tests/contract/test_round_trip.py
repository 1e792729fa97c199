"""Round trip, property-based: any invoice a provider can carry comes back as written."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings

from adapters.registry import build_adapter
from gateway.canonical.model import Invoice
from gateway.canonical.totals import calculate
from gateway.sandbox import sandbox_connection
from tests.contract.compare import differences
from tests.contract.conftest import providers
from tests.contract.profiles.load import profile
from tests.contract.running import running_emulator

TOTALS = ("subtotal", "discount", "tax", "shipping", "adjustment", "total")


async def round_trip(provider: str, base_url: str, invoice: Invoice) -> None:
    async with aiohttp.ClientSession() as session:
        adapter = build_adapter(sandbox_connection(provider, base_url), session)
        created = await adapter.create(invoice)
        assert created.warnings == []
        assert created.invoice.id is not None
        read = await adapter.get(created.invoice.id)
    assert differences(invoice, read, adapter.capabilities) == []
    engine = calculate(invoice, adapter.policy_for(invoice)).totals
    assert read.totals is not None
    assert {f: getattr(read.totals, f) for f in TOTALS} == {f: getattr(engine, f) for f in TOTALS}
    assert read.totals_check is not None and read.totals_check.differences == []


@pytest.mark.parametrize("provider", providers(operations=("create", "get")))
def test_any_representable_invoice_round_trips(provider: str) -> None:
    prof = profile(provider)
    with running_emulator(provider, seed_invoices=1, **prof.emulator_options) as base_url:

        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(prof.invoices())
        def check(invoice: Invoice) -> None:
            asyncio.run(round_trip(provider, base_url, invoice))

        check()
