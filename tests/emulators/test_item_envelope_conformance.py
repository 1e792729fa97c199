"""item_envelope emulator: the provider's documented example verbatim, envelopes, types, auth."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from emulators import registry
from tests.emulators._exact_json import loads
from tests.emulators._item_envelope_support import (
    AUTH,
    DOC_BODY,
    FIRST_SEED_ID,
    INVOICE_READ_FIELDS,
    ITEM_READ_FIELDS,
    SEED_COUNT,
    TOKEN,
    all_invoices,
    assert_failed,
    assert_types,
    call,
    create,
    read,
    start,
    update,
)

DOC_HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"}


async def test_documented_create_example_answers_the_documented_response(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await start(aiohttp_client)
    # The doc's curl: its base URL already ends in /api2 and the path repeats it.
    response = await client.post(
        "/api2/api2/invoices.json", data=DOC_BODY.encode(), headers=DOC_HEADERS
    )

    assert response.status == 202
    assert response.content_type == "application/json"
    body = loads(await response.text())
    assert body == {"code": 202, "result": "successful", "id": 124}
    assert type(body["code"]) is int and type(body["id"]) is int


async def test_documented_example_reads_back_with_every_field_and_its_type(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await start(aiohttp_client)
    await client.post("/api2/api2/invoices.json", data=DOC_BODY.encode(), headers=DOC_HEADERS)

    status, answer = await call(client, "GET", "/api2/api2/invoices/124.json")

    assert status == 200
    assert set(answer) == {"code", "result", "data"}
    assert (answer["code"], answer["result"]) == (200, "successful")
    assert set(answer["data"]) == {"Invoice", "InvoiceItem"}
    invoice, items = answer["data"]["Invoice"], answer["data"]["InvoiceItem"]
    assert_types(invoice, INVOICE_READ_FIELDS)
    for item in items:
        assert_types(item, ITEM_READ_FIELDS)
    assert invoice == {
        "id": 124,
        "no": f"INV-{SEED_COUNT + 1:04d}",
        "client_id": 15,
        "store_id": 1,
        "currency_code": "USD",
        "date": "2023-03-23",
        "draft": 0,
        "discount": 0,
        "discount_amount": Decimal("0.00"),
        "notes": "Invoice for March services",
        "po_number": None,
        "is_offline": 0,
        # 2 × 100 + (1 × 50 − 10 %), no taxes.
        "summary_subtotal": Decimal("245.00"),
        "summary_discount": Decimal("0.00"),
        "summary_tax1": Decimal("0.00"),
        "summary_tax2": Decimal("0.00"),
        "summary_total": Decimal("245.00"),
        "summary_paid": Decimal("0.00"),
        "summary_unpaid": Decimal("245.00"),
        "payment_status": 0,
    }
    assert [
        (i["product_id"], i["item"], i["quantity"], i["unit_price"], i["discount"]) for i in items
    ] == [(1, "Consulting Hour", 2, 100, 0), (3, "Support Plan", 1, 50, 10)]
    assert [(i["discount_type"], i["subtotal"]) for i in items] == [
        (1, Decimal("200.00")),
        (1, Decimal("45.00")),
    ]
    assert all(i["tax1"] is None and i["tax2"] is None and i["col_3"] is None for i in items)


async def test_list_envelope_and_the_type_of_every_field_of_every_seeded_invoice(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await start(aiohttp_client)

    status, answer = await call(client, "GET", "/api2/api2/invoices.json?limit=100")

    assert status == 200
    assert set(answer) == {"code", "result", "data", "pagination"}
    assert (answer["code"], answer["result"]) == (200, "successful")
    assert answer["pagination"] == {"page": 1, "limit": 100, "total": 56, "page_count": 1}
    assert [row["Invoice"]["id"] for row in answer["data"]] == list(
        range(FIRST_SEED_ID, FIRST_SEED_ID + SEED_COUNT)
    )
    for row in answer["data"]:
        assert set(row) == {"Invoice", "InvoiceItem"}
        assert_types(row["Invoice"], INVOICE_READ_FIELDS)
        assert row["InvoiceItem"]
        for item in row["InvoiceItem"]:
            assert_types(item, ITEM_READ_FIELDS)


async def test_update_and_delete_answer_in_the_write_envelope(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await start(aiohttp_client)
    created = await create(client, draft=1)
    invoice_id = created["Invoice"]["id"]

    status, updated = await update(client, invoice_id, {"notes": "x"})
    assert (status, updated) == (202, {"code": 202, "result": "successful", "id": invoice_id})

    status, deleted = await call(client, "DELETE", f"/api2/api2/invoices/{invoice_id}.json")
    assert (status, deleted) == (200, {"code": 200, "result": "successful", "id": invoice_id})


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Missing bearer token"),
        ({"Authorization": "Bearer sandbox-crm_v1"}, "Invalid bearer token"),
        ({"Authorization": f"Basic {TOKEN}"}, "Missing bearer token"),
        ({"Authorization": "Bearer "}, "Missing bearer token"),
        ({"X-API-Key": TOKEN}, "Missing bearer token"),
    ],
)
async def test_a_missing_or_wrong_credential_is_401_in_the_envelope(
    aiohttp_client: AiohttpClient, headers: dict[str, str], message: str
) -> None:
    client = await start(aiohttp_client)
    for method, path in (
        ("GET", "/api2/api2/invoices.json"),
        ("GET", f"/api2/api2/invoices/{FIRST_SEED_ID}.json"),
        ("DELETE", f"/api2/api2/invoices/{FIRST_SEED_ID}.json"),
    ):
        response = await client.request(method, path, headers=headers)
        body = loads(await response.text())
        assert_failed(response.status, body, 401)
        assert body["message"] == message
        assert response.headers["WWW-Authenticate"].startswith("Bearer")

    response = await client.post(
        "/api2/api2/invoices.json", data=DOC_BODY.encode(), headers=headers
    )
    assert_failed(response.status, loads(await response.text()), 401)
    # Nothing was written: the seeded invoice is still there and nothing was created.
    rows = await all_invoices(client)
    assert len(rows) == SEED_COUNT


async def test_a_custom_token_replaces_the_sandbox_one(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client, token="tok-live-42")

    status, body = await call(client, "GET", "/api2/api2/invoices.json")
    assert_failed(status, body, 401)
    ok = await client.get(
        "/api2/api2/invoices.json", headers={"Authorization": "Bearer tok-live-42"}
    )
    assert ok.status == 200


@pytest.mark.parametrize(
    "raw",
    ['{"Invoice": {"client_id": 15,', "", "not json", "[1, 2]", '"Invoice"'],
    ids=["truncated", "empty", "text", "array", "string"],
)
async def test_malformed_json_is_400_in_the_envelope(
    aiohttp_client: AiohttpClient, raw: str
) -> None:
    client = await start(aiohttp_client)

    status, body = await call(client, "POST", "/api2/api2/invoices.json", raw=raw)
    assert_failed(status, body, 400)
    assert body["message"].startswith("Malformed JSON body")

    status, body = await call(client, "PUT", f"/api2/api2/invoices/{FIRST_SEED_ID}.json", raw=raw)
    assert_failed(status, body, 400)
    assert len(await all_invoices(client)) == SEED_COUNT


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("invoice_id", ["999999", "1", "abc", "124x", "-5"])
async def test_an_unknown_id_is_404_in_the_envelope(
    aiohttp_client: AiohttpClient, method: str, invoice_id: str
) -> None:
    client = await start(aiohttp_client)
    body: Any = {"Invoice": {"notes": "x"}} if method == "PUT" else None

    status, answer = await call(client, method, f"/api2/api2/invoices/{invoice_id}.json", body)

    assert_failed(status, answer, 404)
    assert answer["message"] == f"Invoice {invoice_id} not found"


@pytest.mark.parametrize(
    "path", ["/api2/nothing.json", "/api2/api2/invoices", "/api2/clients.json", "/v1/invoices", "/"]
)
async def test_an_unknown_path_is_404_in_the_envelope(
    aiohttp_client: AiohttpClient, path: str
) -> None:
    client = await start(aiohttp_client)

    status, answer = await call(client, "GET", path)

    assert_failed(status, answer, 404)
    assert path in answer["message"]


async def test_an_undocumented_method_is_405_in_the_envelope(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await start(aiohttp_client)

    response = await client.patch(f"/api2/api2/invoices/{FIRST_SEED_ID}.json", headers=AUTH)

    assert_failed(response.status, loads(await response.text()), 405)
    assert "PUT" in response.headers["Allow"]


async def test_control_endpoints_need_no_provider_credential_and_log_the_call(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await start(aiohttp_client)
    await client.post("/api2/api2/invoices.json", data=DOC_BODY.encode(), headers=DOC_HEADERS)

    response = await client.get("/_emulator/requests")

    assert response.status == 200
    [logged] = loads(await response.text())["requests"]
    assert (logged["method"], logged["path"]) == ("POST", "/api2/api2/invoices.json")
    assert logged["body"]["Invoice"]["client_id"] == 15
    assert logged["headers"]["Content-Type"] == "text/plain"
    assert logged["headers"]["Authorization"] == "Bearer [redacted]"
    assert TOKEN not in str(logged["headers"])


async def test_injected_faults_answer_in_the_provider_envelope(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await start(aiohttp_client)
    await client.post("/_emulator/faults", json={"error_rate": 1, "error_status": 503})

    status, body = await call(client, "GET", "/api2/api2/invoices.json")
    assert_failed(status, body, 503)

    await client.post("/_emulator/faults", json={"rate_limit_rate": 1, "retry_after": 7})
    response = await client.get("/api2/api2/invoices.json", headers=AUTH)
    assert_failed(response.status, loads(await response.text()), 429)
    assert response.headers["Retry-After"] == "7"


async def test_reset_restores_the_seeded_state(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)
    before = await client.get("/api2/api2/invoices.json?limit=100", headers=AUTH)
    before_text = await before.text()
    created = await create(client)
    unpaid = next(
        row["Invoice"]["id"]
        for row in await all_invoices(client)
        if row["Invoice"]["payment_status"] == 0
    )
    await call(client, "DELETE", f"/api2/api2/invoices/{unpaid}.json")

    response = await client.post("/_emulator/reset")
    assert response.status == 200

    after = await client.get("/api2/api2/invoices.json?limit=100", headers=AUTH)
    assert await after.text() == before_text
    again = await create(client)
    # Ids and numbers restart too, so the documented "id": 124 comes back.
    assert again["Invoice"]["id"] == created["Invoice"]["id"] == 124
    assert again["Invoice"]["no"] == created["Invoice"]["no"]
    assert (await read(client, unpaid))["Invoice"]["id"] == unpaid


async def test_the_registry_builds_this_emulator_with_the_sandbox_token(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await aiohttp_client(registry.create_app("item_envelope", seed_invoices=3))

    response = await client.get(
        "/api2/api2/invoices.json", headers={"Authorization": f"Bearer {TOKEN}"}
    )

    assert response.status == 200
    assert loads(await response.text())["pagination"]["total"] == 3
