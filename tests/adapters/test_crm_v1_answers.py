"""crm_v1 answers the emulator never gives (it follows its own envelope): the adapter still
says what happened, and never invites a second create."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from adapters.base import (
    Conflict,
    InvalidRequest,
    ListQuery,
    NotFound,
    ReadBackFailed,
    UpstreamError,
)
from adapters.crm_v1.adapter import CrmV1Adapter
from adapters.mapping import load_mapping
from gateway.canonical.model import Invoice
from gateway.config import RetrySettings
from gateway.sandbox import sandbox_connection
from gateway.upstream import UpstreamClient
from tests.unit.mock_upstream import mocked_network, raised_by

BASE = "http://crm.invalid"
ONE = re.compile(r"^http://crm\.invalid/v1/invoices/\d+$")
INVOICE = Invoice.model_validate(
    {
        "customer": {"id": "10"},
        "currency": "USD",
        "lines": [{"item_id": "12", "name": "Consulting", "quantity": "1", "unit_price": "500.00"}],
    }
)


@pytest.fixture
async def adapter() -> AsyncIterator[CrmV1Adapter]:
    connection = sandbox_connection("crm_v1", BASE).model_copy(
        update={"retries": RetrySettings(max_attempts=1)}
    )
    async with aiohttp.ClientSession() as session:
        yield CrmV1Adapter(UpstreamClient(session, connection), connection, load_mapping("crm_v1"))


async def test_a_create_answer_without_the_new_id_is_not_retryable(adapter: CrmV1Adapter) -> None:
    with mocked_network() as mock:
        mock.post(f"{BASE}/v1/invoices", status=201, payload={"success": True, "data": {}})
        with pytest.raises(ReadBackFailed) as info:
            await adapter.create(INVOICE)
    assert info.value.retryable is False
    assert "look for it before creating it again" in info.value.message


async def test_a_success_status_outside_the_envelope_is_an_upstream_error(
    adapter: CrmV1Adapter,
) -> None:
    with mocked_network() as mock:
        mock.get(ONE, status=200, payload={"inv_id": 8})
        with pytest.raises(UpstreamError) as info:
            await adapter.get("8")
    assert info.value.message == "crm_v1 sent a 200 answer outside its success envelope"


async def test_a_404_on_the_list_itself_is_not_an_unknown_invoice(adapter: CrmV1Adapter) -> None:
    # The route is missing (a wrong base path): the connection's problem, not the caller's.
    route = {
        "success": False,
        "message": "The route /v1/invoices could not be found.",
        "errors": {},
    }
    with mocked_network() as mock:
        mock.get(re.compile(r"^http://crm\.invalid/v1/invoices\?.*$"), status=404, payload=route)
        with pytest.raises(UpstreamError) as info:
            await adapter.list_page(ListQuery(), None, 10)
    assert not isinstance(info.value, NotFound)
    assert info.value.status == 404
    assert "could not be found" in info.value.message


async def test_a_409_is_a_conflict(adapter: CrmV1Adapter) -> None:
    busy = {"success": False, "message": "Invoice INV-0008 is locked.", "errors": {}}
    with mocked_network() as mock:
        mock.put(ONE, status=409, payload=busy)
        with pytest.raises(Conflict) as info:
            await adapter.update("8", INVOICE)
    assert info.value.message == "Invoice INV-0008 is locked."


async def test_a_field_the_mapping_cannot_place_keeps_its_name(adapter: CrmV1Adapter) -> None:
    errors: dict[str, Any] = {
        "items.0.price": ["The items.0.price field must be a number."],
        "warehouse_id": ["The warehouse_id field is required."],
    }
    rejected = {"success": False, "message": "The items.0.price field …", "errors": errors}
    with mocked_network() as mock:
        mock.post(f"{BASE}/v1/invoices", status=422, payload=rejected)
        with pytest.raises(InvalidRequest) as info:
            await adapter.create(INVOICE)
    assert [(e.pointer, e.detail) for e in info.value.errors] == [
        ("/lines/0/unit_price", "The items.0.price field must be a number."),
        ("", "warehouse_id: The warehouse_id field is required."),
    ]


async def test_a_success_status_whose_envelope_says_false_is_crm_v1s_refusal(
    adapter: CrmV1Adapter,
) -> None:
    """crm_v1's error form on a 200: its message and its fields, each at its pointer, as its
    422 is read. It was "accepted the invoice but its answer does not name it; look for it
    before creating it again" of an invoice crm_v1 said it refused, its words dropped."""
    refused = {
        "success": False,
        "message": "Validation failed",
        "errors": {"items.0.price": ["The price must be positive."]},
    }
    with mocked_network() as mock:
        mock.post(f"{BASE}/v1/invoices", status=200, payload=refused)
        with pytest.raises(InvalidRequest) as made:
            await adapter.create(INVOICE)
        mock.put(ONE, status=200, payload=refused)
        with pytest.raises(InvalidRequest) as replaced:
            await adapter.update("8", INVOICE)
    for info in (made, replaced):
        assert info.value.message == "Validation failed"
        assert [(e.pointer, e.detail) for e in info.value.errors] == [
            ("/lines/0/unit_price", "The price must be positive.")
        ]


async def test_a_read_answered_success_false_is_a_refused_read_with_crm_v1s_words(
    adapter: CrmV1Adapter,
) -> None:
    refused = {"success": False, "message": "The given data was invalid.", "errors": {"x": ["y"]}}
    with mocked_network() as mock:
        mock.get(ONE, status=200, payload=refused)
        with pytest.raises(UpstreamError) as info:
            await adapter.get("8")
    assert not isinstance(info.value, InvalidRequest)  # the gateway's read, not the caller's
    assert info.value.retryable is False
    assert info.value.message == (
        "crm_v1 answered 200: The given data was invalid. (crm_v1 refused the gateway's read in "
        "its error envelope: nothing in the request can change that)"
    )


async def test_a_delete_answered_success_false_is_a_kept_refusal_not_a_maybe(
    adapter: CrmV1Adapter,
) -> None:
    """With no field to point at, the gateway's own call refused: final (not retryable), and
    counted as refused, so a keyed DELETE keeps it as its answer. It was "the write may have
    taken effect (sending it again converges)", and the key's retry sent the DELETE again."""
    refused = {"success": False, "message": "Invoice cannot be deleted", "errors": {}}
    error, calls = await raised_by(
        lambda: adapter.delete("8"), UpstreamError, ("DELETE", ONE, 200, refused)
    )
    assert error.retryable is False and error.status is None
    assert error.message == "crm_v1 answered 200: Invoice cannot be deleted"
    assert (calls.sent, calls.refused) == (1, 1)


async def test_success_false_with_no_message_does_not_read_as_a_success(
    adapter: CrmV1Adapter,
) -> None:
    with mocked_network() as mock:
        mock.post(f"{BASE}/v1/invoices", status=200, payload={"success": False})
        with pytest.raises(InvalidRequest) as info:
            await adapter.create(INVOICE)
    assert info.value.message == (
        "crm_v1 refused the request (its answer says success: false, with no message)"
    )
