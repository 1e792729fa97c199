"""order_linked's list: ``page``/``per_page`` pagination, the three filters, the fixed order,
the edges; and the seed: same seed, same data; another seed, other data."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from emulators.order_linked import create_app
from tests.emulators._order_linked_support import AUTH, Client
from tests.emulators._order_linked_support import client as client  # pytest fixture, used by name


async def page(client: Client, **params: str) -> dict[str, Any]:
    response = await client.get("/invoices", params=params, headers=AUTH)
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    assert set(body) == {"invoices", "pagination"}
    return body


async def everything(client: Client, **params: str) -> list[dict[str, Any]]:
    invoices: list[dict[str, Any]] = (await page(client, per_page="100", **params))["invoices"]
    return invoices


async def test_default_page_is_the_first_twenty(client: Client) -> None:
    body = await page(client)
    assert body["pagination"] == {"page": 1, "per_page": 20, "total": 56}
    assert [i["id"] for i in body["invoices"]] == [f"INV-{n:05d}" for n in range(1, 21)]


async def test_pages_cover_every_invoice_once_in_creation_order(client: Client) -> None:
    seen: list[str] = []
    for number in (1, 2, 3):
        body = await page(client, page=str(number), per_page="25")
        assert body["pagination"] == {"page": number, "per_page": 25, "total": 56}
        seen += [i["id"] for i in body["invoices"]]
    assert seen == [f"INV-{n:05d}" for n in range(1, 57)]


async def test_last_page_is_partial_and_past_it_is_empty(client: Client) -> None:
    last = await page(client, page="3", per_page="20")
    assert [i["id"] for i in last["invoices"]] == [f"INV-{n:05d}" for n in range(41, 57)]
    beyond = await page(client, page="4", per_page="20")
    assert beyond == {"invoices": [], "pagination": {"page": 4, "per_page": 20, "total": 56}}
    far = await page(client, page="1000000")
    assert far["invoices"] == [] and far["pagination"]["total"] == 56


async def test_page_size_limits(client: Client) -> None:
    assert len((await page(client, per_page="100"))["invoices"]) == 56
    assert len((await page(client, per_page="1"))["invoices"]) == 1
    assert [i["id"] for i in (await page(client, page="56", per_page="1"))["invoices"]] == [
        "INV-00056"
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"per_page": "101"}, "per_page: must be at most 100; got 101"),
        ({"per_page": "0"}, "per_page: must be a whole number from 1; got '0'"),
        ({"page": "0"}, "page: must be a whole number from 1; got '0'"),
        ({"page": "-1"}, "page: must be a whole number from 1; got '-1'"),
        ({"page": "two"}, "page: must be a whole number from 1; got 'two'"),
        ({"page": "1.5"}, "page: must be a whole number from 1; got '1.5'"),
        ({"status": "active"}, "status: must be one of ACTIVE, INACTIVE; got 'active'"),
        (
            {"payment_status": "OVERDUE"},
            "payment_status: must be one of UNPAID, PARTIALLY_PAID, PAID; got 'OVERDUE'",
        ),
    ],
)
async def test_bad_parameters_are_400(client: Client, params: dict[str, str], message: str) -> None:
    response = await client.get("/invoices", params=params, headers=AUTH)
    assert response.status == 400
    assert await response.json() == {"error": {"code": "INVALID_PARAMETER", "message": message}}


async def test_the_seed_has_a_realistic_mix(client: Client) -> None:
    invoices = await everything(client)
    states = Counter((i["status"], i["payment_status"]) for i in invoices)
    for state in [("ACTIVE", "UNPAID"), ("ACTIVE", "PARTIALLY_PAID"), ("ACTIVE", "PAID")]:
        assert states[state] >= 5, state
    assert sum(n for (status, _), n in states.items() if status == "INACTIVE") >= 3
    assert len({i["currency"]["name"] for i in invoices}) >= 4
    assert Counter(i["type"] for i in invoices).keys() == {
        "LINKED_WITH_ORDER",
        "NOT_LINKED_WITH_ORDER",
    }
    assert Counter(i["price_tax_inclusive"] for i in invoices).keys() == {"true", "false"}
    assert any(i["discount_amount"] != "0.00" for i in invoices)
    assert any(i["shipping_cost"] not in ("0.00", "0") for i in invoices)
    assert any(i["kpis"]["last_reactivated_on"] for i in invoices)
    assert len({ln["tax"]["code"] for i in invoices for ln in i["lines"]}) == 3
    # Some invoices were paid in more than one payment.
    assert any(i["last_payment"] and i["last_payment"]["amount"] != i["paid"] for i in invoices)


@pytest.mark.parametrize(
    "filters",
    [
        {"status": "ACTIVE"},
        {"status": "INACTIVE"},
        {"payment_status": "UNPAID"},
        {"payment_status": "PARTIALLY_PAID"},
        {"payment_status": "PAID"},
        {"account_id": "ACC-1001"},
        {"status": "ACTIVE", "payment_status": "PAID", "account_id": "ACC-1003"},
    ],
)
async def test_filters_match_exactly_what_they_name(
    client: Client, filters: dict[str, str]
) -> None:
    every = await everything(client)
    expected = [i["id"] for i in every if all(i[k] == v for k, v in filters.items())]
    assert expected, f"the seed has invoices for {filters}"
    body = await page(client, per_page="100", **filters)
    assert [i["id"] for i in body["invoices"]] == expected
    assert body["pagination"]["total"] == len(expected)
    small = await page(client, per_page="2", page="2", **filters)
    assert [i["id"] for i in small["invoices"]] == expected[2:4]
    assert small["pagination"]["total"] == len(expected)


async def test_a_filter_nothing_matches_gives_an_empty_list(client: Client) -> None:
    body = await page(client, account_id="ACC-0000")
    assert body == {"invoices": [], "pagination": {"page": 1, "per_page": 20, "total": 0}}


async def test_new_and_changed_invoices_show_in_the_list(client: Client) -> None:
    created = await client.post("/orders/SO-1005/invoices", headers=AUTH)
    new_id = (await created.json())["invoice"]["id"]
    last = await page(client, page="3", per_page="20")
    assert last["pagination"]["total"] == 57
    assert last["invoices"][-1]["id"] == new_id == "INV-00057"
    await client.post(f"/invoices/{new_id}/cancel", headers=AUTH)
    inactive = await everything(client, status="INACTIVE")
    assert new_id in [i["id"] for i in inactive]


async def test_list_items_are_the_full_invoice(client: Client) -> None:
    listed = (await page(client, per_page="1"))["invoices"][0]
    response = await client.get(f"/invoices/{listed['id']}", headers=AUTH)
    assert (await response.json())["invoice"] == listed


# -- the seed -----------------------------------------------------------------------------------


async def test_same_seed_same_data(aiohttp_client: AiohttpClient) -> None:
    first = await aiohttp_client(create_app(seed=7))
    second = await aiohttp_client(create_app(seed=7))
    assert await everything(first) == await everything(second)


async def test_other_seed_other_data(aiohttp_client: AiohttpClient) -> None:
    first = await everything(await aiohttp_client(create_app(seed=0)))
    second = await everything(await aiohttp_client(create_app(seed=1)))
    assert len(first) == len(second) == 56
    assert [i["total"] for i in first] != [i["total"] for i in second]
    assert [i["uuid"] for i in first] != [i["uuid"] for i in second]


@pytest.mark.parametrize("count", [0, 1, 130])
async def test_seed_invoices_sets_how_many(aiohttp_client: AiohttpClient, count: int) -> None:
    client = await aiohttp_client(create_app(seed_invoices=count))
    body = await page(client)
    assert body["pagination"]["total"] == count
    assert len(body["invoices"]) == min(count, 20)
