"""crm_v1 emulator list endpoint: pageIndex/pageSize pagination at its edges, every documented
filter and sort, and a seed that decides the data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from emulators.crm_v1 import create_app
from tests.emulators._crm_v1_support import AUTH, fetch, read, snapshot
from tests.emulators._crm_v1_support import client as client  # pytest fixture, used by name
from tests.emulators._exact_json import loads


async def page(client: TestClient[Any, Any], query: str = "") -> dict[str, Any]:
    response = await client.get(f"/v1/invoices?{query}", headers=AUTH)
    assert response.status == 200, await response.text()
    body = await read(response)
    assert body["success"] is True
    result: dict[str, Any] = body["data"]
    return result


async def everything(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    """All invoices in full, by id, read one by one (not through the list under test)."""
    return [await fetch(client, inv_id) for inv_id in range(1, 57)]


def ids(result: dict[str, Any]) -> list[int]:
    return [row["inv_id"] for row in result["data"]]


# -- pagination ------------------------------------------------------------------------------------


async def test_default_page_is_ten_newest_first(client: TestClient[Any, Any]) -> None:
    invoices = await everything(client)
    newest_first = sorted(
        invoices, key=lambda i: (i["transaction_date"], i["inv_id"]), reverse=True
    )

    result = await page(client)

    assert ids(result) == [i["inv_id"] for i in newest_first[:10]]
    assert (result["current_page"], result["total_records"], result["total_pages"]) == (1, 56, 6)


async def test_last_page_is_partial_and_the_next_one_is_empty(client: TestClient[Any, Any]) -> None:
    last = await page(client, "pageIndex=5")
    beyond = await page(client, "pageIndex=6")
    far = await page(client, "pageIndex=1000&pageSize=100")

    assert len(last["data"]) == 6
    assert (last["current_page"], last["total_records"], last["total_pages"]) == (6, 56, 6)
    assert beyond == {"data": [], "current_page": 7, "total_records": 56, "total_pages": 6}
    assert far == {"data": [], "current_page": 1001, "total_records": 56, "total_pages": 1}


async def test_walking_every_page_returns_each_invoice_once(client: TestClient[Any, Any]) -> None:
    seen: list[int] = []
    for index in range(8):
        result = await page(client, f"pageSize=8&pageIndex={index}")
        assert result["total_pages"] == 7
        seen += ids(result)

    assert sorted(seen) == list(range(1, 57))
    assert len(seen) == 56


@pytest.mark.parametrize(
    ("size", "pages", "first_page"), [(1, 56, 1), (55, 2, 55), (56, 1, 56), (100, 1, 56)]
)
async def test_page_size_bounds(
    client: TestClient[Any, Any], size: int, pages: int, first_page: int
) -> None:
    result = await page(client, f"pageSize={size}")

    assert len(result["data"]) == first_page
    assert (result["total_records"], result["total_pages"]) == (56, pages)


async def test_empty_parameters_count_as_absent(client: TestClient[Any, Any]) -> None:
    plain = await page(client)
    blank = await page(client, "pageSize=&pageIndex=&search=&inv_status=&sortBy=&sortOrder=")

    assert blank == plain


async def test_no_match_is_an_empty_first_page(client: TestClient[Any, Any]) -> None:
    result = await page(client, "cstid=999")

    assert result == {"data": [], "current_page": 1, "total_records": 0, "total_pages": 0}


# -- filters -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [0, 1, 2])
async def test_filter_by_status(client: TestClient[Any, Any], status: int) -> None:
    expected = sorted(i["inv_id"] for i in await everything(client) if i["inv_status"] == status)

    result = await page(client, f"inv_status={status}&pageSize=100&sortBy=inv_id&sortOrder=asc")

    assert expected, f"the seed has no invoice in status {status}"
    assert ids(result) == expected
    assert result["total_records"] == len(expected)


async def test_filter_by_contact(client: TestClient[Any, Any]) -> None:
    expected = sorted(i["inv_id"] for i in await everything(client) if i["customer_id"] == 10)

    result = await page(client, "cstid=10&pageSize=100&sortBy=inv_id&sortOrder=asc")

    assert 8 in expected and len(expected) > 1
    assert ids(result) == expected
    assert {row["customer_id"] for row in result["data"]} == {10}


async def test_date_range_is_inclusive_on_the_invoice_date(client: TestClient[Any, Any]) -> None:
    invoices = await everything(client)
    dates = sorted({i["transaction_date"] for i in invoices})
    low, high = dates[10], dates[20]
    expected = sorted(i["inv_id"] for i in invoices if low <= i["transaction_date"] <= high)
    on_the_bounds = {i["inv_id"] for i in invoices if i["transaction_date"] in (low, high)}

    result = await page(
        client,
        f"inv_datetime_from={low}&inv_datetime_to={high}&pageSize=100&sortBy=inv_id&sortOrder=asc",
    )
    one_day = await page(client, "inv_datetime_from=2026-07-01&inv_datetime_to=2026-07-01")
    from_only = await page(client, "inv_datetime_from=2026-07-01")
    to_only = await page(client, "inv_datetime_to=2026-06-30&pageSize=100")
    crossed = await page(client, f"inv_datetime_from={high}&inv_datetime_to={low}")

    assert ids(result) == expected
    assert on_the_bounds <= set(expected) and len(expected) > len(on_the_bounds)
    assert ids(one_day) == [8] and ids(from_only) == [8]
    assert sorted(ids(to_only)) == [i for i in range(1, 57) if i != 8]
    assert crossed["total_records"] == 0


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("INV-0008", [8]),
        ("0008", [8]),
        ("inv-000", list(range(1, 10))),
        ("-005", list(range(50, 57))),
        ("INV-9999", []),
    ],
)
async def test_search_by_invoice_number(
    client: TestClient[Any, Any], search: str, expected: list[int]
) -> None:
    result = await page(client, f"search={search}&pageSize=100&sortBy=inv_id&sortOrder=asc")

    assert ids(result) == expected


async def test_filters_combine(client: TestClient[Any, Any]) -> None:
    expected = sorted(
        i["inv_id"]
        for i in await everything(client)
        if i["customer_id"] == 10 and i["inv_status"] == 0 and i["transaction_date"] >= "2026-04-01"
    )

    result = await page(
        client,
        "cstid=10&inv_status=0&inv_datetime_from=2026-04-01&pageSize=100&sortBy=inv_id&sortOrder=asc",
    )

    assert expected and ids(result) == expected


# -- sorting -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    [
        "inv_id",
        "inv_number",
        "customer_id",
        "inv_status",
        "total",
        "amount_due",
        "transaction_date",
        "due_date",
    ],
)
@pytest.mark.parametrize("order", ["asc", "desc", "DESC"])
async def test_sort_by_each_field_with_id_as_tie_break(
    client: TestClient[Any, Any], field: str, order: str
) -> None:
    descending = order.lower() == "desc"
    rows = (await page(client, "pageSize=100"))["data"]
    expected = sorted(rows, key=lambda r: (r[field], r["inv_id"]), reverse=descending)

    result = await page(client, f"pageSize=100&sortBy={field}&sortOrder={order}")

    assert ids(result) == [r["inv_id"] for r in expected]


async def test_sort_order_defaults_to_descending(client: TestClient[Any, Any]) -> None:
    result = await page(client, "sortBy=total&pageSize=100")

    totals = [row["total"] for row in result["data"]]
    assert totals == sorted(totals, reverse=True)
    assert totals[0] > totals[-1]


async def test_sorted_pages_follow_on(client: TestClient[Any, Any]) -> None:
    whole = ids(await page(client, "pageSize=100&sortBy=amount_due&sortOrder=asc"))
    pieces: list[int] = []
    for index in range(6):
        pieces += ids(await page(client, f"pageIndex={index}&sortBy=amount_due&sortOrder=asc"))

    assert pieces == whole


# -- the seed ----------------------------------------------------------------------------------------


async def dump(client: TestClient[Any, Any]) -> str:
    listing = await snapshot(client)
    details = [
        await snapshot(client, f"/v1/invoices/{row['inv_id']}")
        for row in loads(listing)["data"]["data"]
    ]
    return listing + "\n".join(details)


async def test_same_seed_same_data(aiohttp_client: AiohttpClient) -> None:
    one = await aiohttp_client(create_app(seed=7))
    two = await aiohttp_client(create_app(seed=7))

    assert await dump(one) == await dump(two)


async def test_different_seed_different_data(aiohttp_client: AiohttpClient) -> None:
    zero = await aiohttp_client(create_app(seed=0))
    one = await aiohttp_client(create_app(seed=1))

    zero_rows = (await page(zero, "pageSize=100&sortBy=inv_id&sortOrder=asc"))["data"]
    one_rows = (await page(one, "pageSize=100&sortBy=inv_id&sortOrder=asc"))["data"]

    assert len(zero_rows) == len(one_rows) == 56
    assert zero_rows != one_rows
    # The doc's own invoice is there whatever the seed.
    assert zero_rows[7] == one_rows[7]
    assert zero_rows[7]["total"] == Decimal("5250.00")


@pytest.mark.parametrize(("count", "pages"), [(0, 0), (3, 1), (10, 1), (11, 2), (250, 25)])
async def test_seed_invoices_sets_how_many_there_are(
    aiohttp_client: AiohttpClient, count: int, pages: int
) -> None:
    client = await aiohttp_client(create_app(seed_invoices=count))

    result = await page(client)

    assert (result["total_records"], result["total_pages"]) == (count, pages)
    assert len(result["data"]) == min(count, 10)
    created = await client.post(
        "/v1/invoices",
        json={
            "customer_id": 10,
            "template_id": 1,
            "items": [{"item_id": 12, "item_name": "x", "quantity": 1, "price": 1, "type": "item"}],
        },
        headers=AUTH,
    )
    assert (await read(created))["data"]["inv_id"] == count + 1
