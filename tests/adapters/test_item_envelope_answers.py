"""item_envelope answers the emulator never gives: its failure envelope on a success status
(``"result": "failed"``) is the refusal its ``code`` says, never a success the gateway could
not use (which a write's runner would wait out, the key held)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from adapters.base import InvalidRequest, UpstreamAuthFailed, UpstreamError, UpstreamUnavailable
from adapters.item_envelope.adapter import ItemEnvelopeAdapter
from adapters.mapping import load_mapping
from gateway.canonical.model import Invoice
from gateway.config import RetrySettings
from gateway.sandbox import sandbox_connection
from gateway.upstream import UpstreamClient
from tests.unit.mock_upstream import raised_by

BASE = "http://envelope.invalid"
INVOICES = f"{BASE}/api2/api2/invoices.json"
ONE = re.compile(r"^http://envelope\.invalid/api2/api2/invoices/\d+\.json$")
INVOICE = Invoice.model_validate(
    {
        "customer": {"id": "1"},
        "currency": "USD",
        "lines": [{"item_id": "1", "quantity": "1", "unit_price": "50.00"}],
    }
)


@pytest.fixture
async def adapter() -> AsyncIterator[ItemEnvelopeAdapter]:
    connection = sandbox_connection("item_envelope", BASE).model_copy(
        update={"retries": RetrySettings(max_attempts=1)}
    )
    async with aiohttp.ClientSession() as session:
        yield ItemEnvelopeAdapter(
            UpstreamClient(session, connection), connection, load_mapping("item_envelope")
        )


async def test_a_create_answered_202_with_the_failure_envelope_is_its_422(
    adapter: ItemEnvelopeAdapter,
) -> None:
    failed = {
        "code": 422,
        "result": "failed",
        "message": "Validation failed: client_id",
        "errors": {"client_id": ["client 99 does not exist"]},
    }
    error, _ = await raised_by(
        lambda: adapter.create(INVOICE), InvalidRequest, ("POST", INVOICES, 202, failed)
    )
    assert error.message == "item_envelope rejected the invoice: Validation failed: client_id"
    assert [(e.pointer, e.detail) for e in error.errors] == [
        ("/customer/id", "client 99 does not exist")
    ]


async def test_a_delete_answered_200_with_the_failure_envelope_is_a_kept_refusal(
    adapter: ItemEnvelopeAdapter,
) -> None:
    failed = {"code": 423, "result": "failed", "message": "Invoice is locked", "errors": {}}
    error, calls = await raised_by(
        lambda: adapter.delete("7"), UpstreamError, ("DELETE", ONE, 200, failed)
    )
    assert (error.retryable, error.status) == (False, None)
    assert error.message == "item_envelope answered 200: Invoice is locked"
    assert (calls.sent, calls.refused) == (1, 1)


@pytest.mark.parametrize(
    ("code", "expected"), [(401, UpstreamAuthFailed), (403, UpstreamAuthFailed), (429, None)]
)
async def test_credentials_refused_or_rate_limited_in_the_envelope_are_read_as_those_statuses(
    adapter: ItemEnvelopeAdapter, code: int, expected: type[UpstreamError] | None
) -> None:
    """Nothing processed: the write call un-counted (a key is freed, not left holding a
    refusal), and the caller told what the status says (its credentials; wait and retry)."""
    failed = {"code": code, "result": "failed", "message": "no", "errors": {}}
    error, calls = await raised_by(
        lambda: adapter.delete("7"), UpstreamError, ("DELETE", ONE, 200, failed)
    )
    if expected is not None:
        assert isinstance(error, expected) and error.retryable is False
    else:  # with no Retry-After of its own, a second, as the client's first wait
        assert isinstance(error, UpstreamUnavailable) and error.retryable is True
        assert error.retry_after == 1.0
    assert error.status is None and not error.may_have_landed
    assert (calls.sent, calls.refused) == (0, 0)
