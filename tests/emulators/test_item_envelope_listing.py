"""item_envelope emulator: pagination, filters and sorting at their edges; the seed's determinism."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from tests.emulators._item_envelope_support import (
    AUTH,
    FIRST_SEED_ID,
    SEED_COUNT,
    all_invoices,
    assert_failed,
    call,
    create,
    invoice_path,
    start,
    update,
)

LAST_SEED_ID = FIRST_SEED_ID + SEED_COUNT - 1


async def _page(client: Any, query: str) -> tuple[list[int], dict[str, Any]]:
    status, answer = await call(client, "GET", f"/api2/api2/invoices.json?{query}")
    assert status == 200, answer
    return [row["Invoice"]["id"] for row in answer["data"]], answer["pagination"]


async def test_default_page_is_the_first_20_by_id(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)

    ids, pagination = await _page(client, "")

    assert ids == list(range(FIRST_SEED_ID, FIRST_SEED_ID + 20))
    assert pagination == {"page": 1, "limit": 20, "total": 56, "page_count": 3}


@pytest.mark.parametrize(
    ("query", "expected_ids", "pagination"),
    [
        ("page=3", range(FIRST_SEED_ID + 40, LAST_SEED_ID + 1), (3, 20, 56, 3)),
        ("page=4", range(0), (4, 20, 56, 3)),
        ("page=999&limit=7", range(0), (999, 7, 56, 8)),
        ("page=7&limit=9", range(LAST_SEED_ID - 1, LAST_SEED_ID + 1), (7, 9, 56, 7)),
        ("page=8&limit=7", range(LAST_SEED_ID - 6, LAST_SEED_ID + 1), (8, 7, 56, 8)),
        ("limit=56", range(FIRST_SEED_ID, LAST_SEED_ID + 1), (1, 56, 56, 1)),
        ("limit=100", range(FIRST_SEED_ID, LAST_SEED_ID + 1), (1, 100, 56, 1)),
        ("limit=101", range(FIRST_SEED_ID, LAST_SEED_ID + 1), (1, 100, 56, 1)),
        ("limit=5000&page=1", range(FIRST_SEED_ID, LAST_SEED_ID + 1), (1, 100, 56, 1)),
        ("limit=1&page=56", range(LAST_SEED_ID, LAST_SEED_ID + 1), (56, 1, 56, 56)),
        ("limit=1&page=57", range(0), (57, 1, 56, 56)),
    ],
)
async def test_page_edges(
    aiohttp_client: AiohttpClient,
    query: str,
    expected_ids: range,
    pagination: tuple[int, int, int, int],
) -> None:
    client = await start(aiohttp_client)

    ids, answer = await _page(client, query)

    assert ids == list(expected_ids)
    assert (answer["page"], answer["limit"], answer["total"], answer["page_count"]) == pagination


async def test_walking_every_page_returns_every_invoice_once(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await start(aiohttp_client)
    seen: list[int] = []
    page = 1
    while True:
        ids, pagination = await _page(client, f"page={page}&limit=9")
        seen += ids
        if page >= pagination["page_count"]:
            break
        page += 1

    assert page == 7
    assert seen == list(range(FIRST_SEED_ID, LAST_SEED_ID + 1))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=two", "page"),
        ("page=1.5", "page"),
        ("limit=0", "limit"),
        ("limit=", "limit"),
        ("client_id=abc", "client_id"),
        ("draft=2", "draft"),
        ("draft=true", "draft"),
        ("date_from=2025-13-01", "date_from"),
        ("date_to=01/02/2025", "date_to"),
        ("sort=amount", "sort"),
        ("direction=down", "direction"),
    ],
)
async def test_a_bad_query_value_is_400_naming_it(
    aiohttp_client: AiohttpClient, query: str, field: str
) -> None:
    client = await start(aiohttp_client)

    status, answer = await call(client, "GET", f"/api2/api2/invoices.json?{query}")

    assert_failed(status, answer, 400)
    assert list(answer["errors"]) == [field]
    assert field in answer["message"]


async def test_filter_by_client(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)
    every = await all_invoices(client)
    client_id = every[0]["Invoice"]["client_id"]
    expected = [r["Invoice"]["id"] for r in every if r["Invoice"]["client_id"] == client_id]

    ids, pagination = await _page(client, f"client_id={client_id}&limit=100")

    assert 0 < len(expected) < SEED_COUNT
    assert ids == expected
    assert pagination["total"] == len(expected)


async def test_filter_by_client_follows_creates_updates_and_deletes(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await start(aiohttp_client)
    moved = (await create(client, client_id=15))["Invoice"]["id"]
    gone = (await create(client, client_id=15))["Invoice"]["id"]
    stays = (await create(client, client_id=15))["Invoice"]["id"]
    status, _ = await update(client, moved, {"client_id": 16})
    assert status == 202
    status, _ = await call(client, "DELETE", invoice_path(gone))
    assert status == 200

    of_15, _ = await _page(client, "client_id=15&limit=100")
    of_16, _ = await _page(client, "client_id=16&limit=100")
    every = [row["Invoice"] for row in await all_invoices(client)]

    assert stays in of_15 and moved not in of_15 and gone not in of_15
    assert moved in of_16
    assert of_15 == [i["id"] for i in every if i["client_id"] == 15]
    assert of_16 == [i["id"] for i in every if i["client_id"] == 16]


async def test_a_filter_matching_nothing_is_an_empty_list(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)

    ids, pagination = await _page(client, "client_id=999")

    assert ids == []
    assert pagination == {"page": 1, "limit": 20, "total": 0, "page_count": 0}


@pytest.mark.parametrize("draft", [0, 1])
async def test_filter_by_draft_flag(aiohttp_client: AiohttpClient, draft: int) -> None:
    client = await start(aiohttp_client)
    every = await all_invoices(client)
    expected = [r["Invoice"]["id"] for r in every if r["Invoice"]["draft"] == draft]

    ids, _ = await _page(client, f"draft={draft}&limit=100")

    assert 0 < len(expected) < SEED_COUNT
    assert ids == expected


async def test_date_range_bounds_are_inclusive(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)
    every = await all_invoices(client)
    dates = sorted({r["Invoice"]["date"] for r in every})
    low, high = dates[3], dates[-4]
    expected = [r["Invoice"]["id"] for r in every if low <= r["Invoice"]["date"] <= high]

    ids, _ = await _page(client, f"date_from={low}&date_to={high}&limit=100")
    only_low, _ = await _page(client, f"date_from={low}&date_to={low}")

    assert 0 < len(expected) < SEED_COUNT
    assert ids == expected
    assert only_low == [r["Invoice"]["id"] for r in every if r["Invoice"]["date"] == low]


async def test_filters_combine(aiohttp_client: AiohttpClient) -> None:
    client = await start(aiohttp_client)
    await create(client, client_id=15, draft=1, date="2030-01-02")
    await create(client, client_id=15, draft=0, date="2030-01-03")
    await create(client, client_id=14, draft=1, date="2030-01-04")

    ids, pagination = await _page(client, "client_id=15&draft=1&date_from=2030-01-01")

    assert ids == [124]
    assert pagination["total"] == 1


@pytest.mark.parametrize(
    ("field", "key"),
    [
        ("date", lambda inv: inv["date"]),
        ("summary_total", lambda inv: inv["summary_total"]),
        ("client_id", lambda inv: inv["client_id"]),
        ("no", lambda inv: inv["no"]),
        ("id", lambda inv: inv["id"]),
    ],
)
@pytest.mark.parametrize("direction", ["asc", "desc"])
async def test_sorting(aiohttp_client: AiohttpClient, field: str, key: Any, direction: str) -> None:
    client = await start(aiohttp_client)
    status, answer = await call(
        client, "GET", f"/api2/api2/invoices.json?sort={field}&direction={direction}&limit=100"
    )
    assert status == 200
    invoices = [row["Invoice"] for row in answer["data"]]
    # Ties keep id order in the same direction, so paging through a sort is stable.
    expected = sorted(invoices, key=lambda inv: (key(inv), inv["id"]), reverse=direction == "desc")

    assert [inv["id"] for inv in invoices] == [inv["id"] for inv in expected]
    assert len({key(inv) for inv in invoices}) > 1


async def test_the_same_seed_gives_the_same_data(aiohttp_client: AiohttpClient) -> None:
    texts = []
    for _ in range(2):
        client = await start(aiohttp_client, seed=7)
        response = await client.get("/api2/api2/invoices.json?limit=100", headers=AUTH)
        texts.append(await response.text())

    assert texts[0] == texts[1]


async def test_a_different_seed_gives_different_data(aiohttp_client: AiohttpClient) -> None:
    texts = []
    for seed in (0, 1):
        client = await start(aiohttp_client, seed=seed)
        response = await client.get("/api2/api2/invoices.json?limit=100", headers=AUTH)
        texts.append(await response.text())

    assert texts[0] != texts[1]


@pytest.mark.parametrize("count", [0, 1, 5, 150])
async def test_seed_invoices_sets_how_many_are_seeded(
    aiohttp_client: AiohttpClient, count: int
) -> None:
    client = await start(aiohttp_client, seed_invoices=count)

    _, pagination = await _page(client, "")
    created = await create(client)

    assert pagination["total"] == count
    # The first created invoice is 124, as documented, unless the seed already passed it.
    assert created["Invoice"]["id"] == max(124, count + 1)
