"""bill_crm emulator: list pagination, filters and sorting; deterministic seeding; control layer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from emulators.bill_crm import create_app
from tests.emulators._bill_crm_support import BASE, CREATE, KEY, call, everything, set_status
from tests.emulators._bill_crm_support import client as client  # pytest fixture, used by name


async def ids(client: TestClient[Any, Any], query: str) -> list[int]:
    status, body = await call(client, "GET", f"{BASE}?{query}")
    assert status == 200, body
    return [invoice["id"] for invoice in body["data"]]


async def test_defaults_are_page_1_of_20_newest_id_first(client: TestClient[Any, Any]) -> None:
    status, body = await call(client, "GET", BASE)

    assert status == 200
    assert body["meta"] == {"current_page": 1, "per_page": 20, "total": 56}
    assert [invoice["id"] for invoice in body["data"]] == list(range(56, 36, -1))


async def test_the_last_page_is_partial_and_a_page_past_it_is_empty(
    client: TestClient[Any, Any],
) -> None:
    _, last = await call(client, "GET", f"{BASE}?page=3")
    _, beyond = await call(client, "GET", f"{BASE}?page=4")
    _, far = await call(client, "GET", f"{BASE}?page=1000&limit=100")

    assert [invoice["id"] for invoice in last["data"]] == list(range(16, 0, -1))
    assert beyond["data"] == [] and beyond["meta"] == {
        "current_page": 4,
        "per_page": 20,
        "total": 56,
    }
    assert far["data"] == [] and far["meta"]["total"] == 56


async def test_the_largest_page_holds_100(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(create_app(seed_invoices=130))

    _, first = await call(client, "GET", f"{BASE}?limit=100")
    _, second = await call(client, "GET", f"{BASE}?limit=100&page=2")

    assert len(first["data"]) == 100 and len(second["data"]) == 30
    assert first["meta"] == {"current_page": 1, "per_page": 100, "total": 130}


async def test_walking_every_page_returns_every_invoice_once(client: TestClient[Any, Any]) -> None:
    seen: list[int] = []
    for page in range(1, 10):
        seen += await ids(client, f"limit=7&page={page}&sort=bill_date&order=asc")

    assert sorted(seen) == list(range(1, 57))


async def test_an_empty_store_lists_nothing(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(create_app(seed_invoices=0))

    _, body = await call(client, "GET", BASE)

    assert body == {
        "success": True,
        "data": [],
        "meta": {"current_page": 1, "per_page": 20, "total": 0},
    }


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("limit=0", "limit", "between 1 and 100"),
        ("limit=101", "limit", "between 1 and 100"),
        ("limit=ten", "limit", "must be an integer"),
        ("page=0", "page", "at least 1"),
        ("page=-2", "page", "at least 1"),
        ("page=1.5", "page", "must be an integer"),
        ("status=9", "status", "selected status is invalid"),
        ("status=2,x", "status", "selected status is invalid"),
        ("client_id=acme", "client_id", "must be an integer"),
        ("project_id=x", "project_id", "must be an integer"),
        ("category_id=x", "category_id", "must be an integer"),
        ("sort=id", "sort", "selected sort is invalid"),
        ("sort=bill_date&order=up", "order", "selected order is invalid"),
    ],
)
async def test_bad_list_parameters_are_422(
    client: TestClient[Any, Any], query: str, field: str, message: str
) -> None:
    status, body = await call(client, "GET", f"{BASE}?{query}")

    assert status == 422
    assert body["success"] is False
    assert any(message in text for text in body["errors"][field]), body["errors"]


@pytest.mark.parametrize("status_filter", ["5", "2,3", "1,4,20"])
async def test_status_filter(client: TestClient[Any, Any], status_filter: str) -> None:
    wanted = {int(part) for part in status_filter.split(",")}
    expected = [i["id"] for i in await everything(client) if i["status"]["id"] in wanted]

    found = await ids(client, f"status={status_filter}&limit=100")

    assert found == expected and found


@pytest.mark.parametrize(
    ("parameter", "value", "pick"),
    [
        ("client_id", 2, lambda invoice: invoice["client"]["id"]),
        ("project_id", 1, lambda invoice: invoice["project_id"]),
        ("category_id", 3, lambda invoice: invoice["category"]["id"]),
    ],
)
async def test_reference_filters(
    client: TestClient[Any, Any], parameter: str, value: int, pick: Any
) -> None:
    expected = [i["id"] for i in await everything(client) if pick(i) == value]

    found = await ids(client, f"{parameter}={value}&limit=100")

    assert found == expected and found


async def test_filters_combine_and_an_unknown_reference_matches_nothing(
    client: TestClient[Any, Any],
) -> None:
    expected = [
        i["id"]
        for i in await everything(client)
        if i["client"]["id"] == 1 and i["status"]["id"] in (2, 5)
    ]

    assert await ids(client, "client_id=1&status=2,5&limit=100") == expected
    assert await ids(client, "client_id=999") == []


@pytest.mark.parametrize(
    ("search", "matches"),
    [
        ("GLOBEX", lambda invoice: invoice["client"]["name"] == "Globex Ltd"),
        (
            "seo audit",
            lambda invoice: any(
                line["description"] == "SEO audit" for line in invoice["line_items"]
            ),
        ),
        ("priority", lambda invoice: "priority" in invoice["tags"]),
    ],
)
async def test_search_matches_client_line_descriptions_and_tags(
    client: TestClient[Any, Any], search: str, matches: Any
) -> None:
    expected = [i["id"] for i in await everything(client) if matches(i)]

    found = await ids(client, f"search={search}&limit=100")

    assert found == expected and found


async def test_search_matches_the_invoice_id(client: TestClient[Any, Any]) -> None:
    found = await ids(client, "search=42&limit=100")

    assert 42 in found


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("bill_date", lambda invoice: invoice["dates"]["date"]),
        ("bill_due_date", lambda invoice: invoice["dates"]["due_date"]),
        ("bill_final_amount", lambda invoice: invoice["totals"]["final_amount"]),
        ("bill_created", lambda invoice: invoice["dates"]["created"]),
    ],
)
@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_sorting(client: TestClient[Any, Any], sort: str, key: Any, order: str) -> None:
    _, body = await call(client, "GET", f"{BASE}?sort={sort}&order={order}&limit=100")
    invoices = body["data"]

    keyed = [(key(invoice), invoice["id"]) for invoice in invoices]
    assert keyed == sorted(keyed, reverse=order == "desc")
    assert len({value for value, _ in keyed}) > 10


async def test_order_alone_reverses_the_id_order(client: TestClient[Any, Any]) -> None:
    assert await ids(client, "order=asc&limit=5") == [1, 2, 3, 4, 5]


async def test_the_same_seed_gives_the_same_data(aiohttp_client: AiohttpClient) -> None:
    first = await aiohttp_client(create_app(seed=7))
    second = await aiohttp_client(create_app(seed=7))

    texts = []
    for emulator in (first, second):
        response = await emulator.get(f"{BASE}?limit=100", headers=KEY)
        texts.append(await response.text())

    assert texts[0] == texts[1]
    assert json.loads(texts[0])["meta"]["total"] == 56


async def test_a_different_seed_gives_different_data(aiohttp_client: AiohttpClient) -> None:
    texts = []
    for seed in (0, 1):
        client = await aiohttp_client(create_app(seed=seed))
        response = await client.get(f"{BASE}?limit=100", headers=KEY)
        texts.append(await response.text())

    assert texts[0] != texts[1]
    assert [json.loads(text)["meta"]["total"] for text in texts] == [56, 56]


async def test_seed_invoices_sets_how_many_are_seeded(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(create_app(seed_invoices=3))

    assert await ids(client, "limit=100") == [3, 2, 1]


async def test_reset_restores_the_seeded_state(client: TestClient[Any, Any]) -> None:
    response = await client.get(f"{BASE}?limit=100", headers=KEY)
    before = await response.text()
    await call(client, "DELETE", f"{BASE}/3")
    await set_status(client, 5, 20)
    await call(client, "POST", BASE, CREATE)

    reset = await client.post("/_emulator/reset")
    after = await (await client.get(f"{BASE}?limit=100", headers=KEY)).text()
    _, created = await call(client, "POST", BASE, CREATE)

    assert reset.status == 200
    assert after == before
    assert created["data"]["id"] == 57


async def test_control_logs_requests_with_the_api_key_redacted(
    client: TestClient[Any, Any],
) -> None:
    await client.get(f"{BASE}/4", headers={"X-API-Key": "wrong-key"})

    response = await client.get("/_emulator/requests")
    logged = (await response.json())["requests"]

    assert response.status == 200
    assert [(entry["method"], entry["path"]) for entry in logged] == [("GET", f"{BASE}/4")]
    assert logged[0]["headers"]["X-API-Key"] != "wrong-key"


async def test_injected_errors_use_the_crm_envelope(client: TestClient[Any, Any]) -> None:
    await client.post("/_emulator/faults", json={"error_rate": 1, "error_status": 503})

    status, body = await call(client, "GET", f"{BASE}/1")

    assert status == 503
    assert body["success"] is False and body["errors"] == {}
    assert isinstance(body["message"], str) and body["message"]
