"""draft_publish lists: pagination edges, filters, order, export, the seed and the control layer."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from emulators.draft_publish import create_app
from emulators.draft_publish.reference import CUSTOMERS
from tests.emulators._draft_publish_support import AUTH, BASE, NOW, Client, MakeClient, read
from tests.emulators._draft_publish_support import client as client  # pytest fixture, used by name

SEEDED = 56
PLACES = {"USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "JPY": 0}


async def page(client: Client, path: str = BASE, **params: str) -> dict[str, Any]:
    response = await client.get(path, params=params, headers=AUTH)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await read(response)
    return body


async def everything(client: Client, **params: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (await page(client, limit="100", **params))["data"]
    return rows


# -- pagination ---------------------------------------------------------------------------------


async def test_default_page_is_20_newest_first(client: Client) -> None:
    body = await page(client)

    assert body["meta"] == {"page": 1, "limit": 20, "total": SEEDED, "total_pages": 3}
    assert [row["number"] for row in body["data"]] == [f"INV-{n:04d}" for n in range(56, 36, -1)]


async def test_last_page_holds_the_remainder(client: Client) -> None:
    body = await page(client, page="3")

    assert body["meta"] == {"page": 3, "limit": 20, "total": SEEDED, "total_pages": 3}
    assert [row["number"] for row in body["data"]] == [f"INV-{n:04d}" for n in range(16, 0, -1)]


async def test_a_page_past_the_end_is_empty_not_an_error(client: Client) -> None:
    body = await page(client, page="4")

    assert body == {"data": [], "meta": {"page": 4, "limit": 20, "total": SEEDED, "total_pages": 3}}


async def test_absurdly_large_page_numbers_are_just_past_the_end(client: Client) -> None:
    # Longer than int() reads by default (4300 digits).
    body = await page(client, page="9" * 4400, limit="9" * 30)

    assert body["data"] == []
    assert (body["meta"]["limit"], body["meta"]["total"]) == (100, SEEDED)


async def test_limit_above_the_maximum_is_served_at_100(aiohttp_client: MakeClient) -> None:
    client = await aiohttp_client(create_app(clock=lambda: NOW, seed_invoices=150))

    body = await page(client, limit="1000")

    assert len(body["data"]) == 100
    assert body["meta"] == {"page": 1, "limit": 100, "total": 150, "total_pages": 2}


async def test_limit_one_pages_through_every_invoice(client: Client) -> None:
    first = await page(client, limit="1")
    last = await page(client, limit="1", page=str(SEEDED))

    assert first["meta"]["total_pages"] == SEEDED
    assert (first["data"][0]["number"], last["data"][0]["number"]) == ("INV-0056", "INV-0001")


async def test_walking_the_pages_returns_each_invoice_once(client: Client) -> None:
    seen: list[str] = []
    for number in range(1, 8):
        seen += [row["id"] for row in (await page(client, limit="9", page=str(number)))["data"]]

    assert len(seen) == len(set(seen)) == SEEDED


async def test_new_invoices_come_first(client: Client) -> None:
    created = await client.post(
        BASE,
        json={
            "customer_id": next(iter(CUSTOMERS)),
            "issue_date": "2026-01-01",
            "due_date": "2026-01-01",
            "currency": "USD",
            "items": [{"description": "x", "quantity": 1, "unit_price": 1}],
        },
        headers=AUTH,
    )
    created_id = (await created.json())["data"]["id"]

    body = await page(client, limit="1")

    assert body["data"][0]["id"] == created_id
    assert body["meta"]["total"] == SEEDED + 1


async def test_an_empty_result_has_zero_pages(client: Client) -> None:
    body = await page(client, search="no such invoice anywhere")

    assert body == {"data": [], "meta": {"page": 1, "limit": 20, "total": 0, "total_pages": 0}}


# -- filters ------------------------------------------------------------------------------------


async def test_each_status_filter_partitions_the_invoices(client: Client) -> None:
    counts = {s: len(await everything(client, status=s)) for s in ("draft", "sent", "paid")}
    counts |= {s: len(await everything(client, status=s)) for s in ("overdue", "voided")}

    assert sum(counts.values()) == SEEDED
    assert all(counts.values()), f"the seed covers every status: {counts}"
    for status in counts:
        assert {row["status"] for row in await everything(client, status=status)} == {status}


async def test_overdue_means_sent_past_due_with_a_balance(client: Client) -> None:
    for row in await everything(client, status="overdue"):
        assert date.fromisoformat(row["due_date"]) < NOW.date()
        assert row["balance_due"] > 0
    for row in await everything(client, status="sent"):
        assert date.fromisoformat(row["due_date"]) >= NOW.date()


async def test_customer_filter(client: Client) -> None:
    customer_id = list(CUSTOMERS)[2]

    rows = await everything(client, customer_id=customer_id)

    assert rows and {row["customer_id"] for row in rows} == {customer_id}
    all_rows = await everything(client)
    assert len(rows) == sum(1 for row in all_rows if row["customer_id"] == customer_id)
    assert await everything(client, customer_id="unknown") == []


async def test_date_range_is_inclusive_on_the_issue_date(client: Client) -> None:
    all_rows = await everything(client)
    dates = sorted({row["issue_date"] for row in all_rows})
    low, high = dates[3], dates[10]

    rows = await everything(client, from_date=low, to_date=high)

    assert {row["issue_date"] for row in rows} == set(dates[3:11])
    assert len(rows) == sum(1 for row in all_rows if low <= row["issue_date"] <= high)


async def test_date_filters_accept_full_iso_8601_timestamps(client: Client) -> None:
    by_date = await everything(client, from_date="2026-03-01")

    by_timestamp = await everything(client, from_date="2026-03-01T00:00:00Z")

    assert by_timestamp == by_date
    assert 0 < len(by_date) < SEEDED


async def test_a_reversed_date_range_is_empty(client: Client) -> None:
    assert await everything(client, from_date="2026-06-01", to_date="2026-01-01") == []


async def test_search_matches_the_invoice_number(client: Client) -> None:
    rows = await everything(client, search="inv-0012")

    assert [row["number"] for row in rows] == ["INV-0012"]


async def test_search_matches_the_customer_name_ignoring_case(client: Client) -> None:
    rows = await everything(client, search="GLOBEX")

    assert rows and {row["customer"]["name"] for row in rows} == {"Globex GmbH"}


async def test_filters_combine(client: Client) -> None:
    customer_id = next(iter(CUSTOMERS))

    rows = await everything(client, status="paid", customer_id=customer_id, from_date="2026-02-01")

    expected = [
        row
        for row in await everything(client)
        if row["status"] == "paid"
        and row["customer_id"] == customer_id
        and row["issue_date"] >= "2026-02-01"
    ]
    assert rows == expected and rows


async def test_filters_apply_before_paging(client: Client) -> None:
    body = await page(client, status="paid", limit="2", page="2")

    paid = await everything(client, status="paid")
    assert body["data"] == paid[2:4]
    assert body["meta"]["total"] == len(paid)


# -- export and trash listing -------------------------------------------------------------------


async def test_export_csv_follows_the_list_filters(client: Client) -> None:
    response = await client.get(f"{BASE}/export/csv?status=paid", headers=AUTH)

    rows = list(csv.DictReader(io.StringIO(await response.text())))
    paid = await everything(client, status="paid")
    assert [row["id"] for row in rows] == [row["id"] for row in paid]
    first, listed = rows[0], paid[0]
    assert (first["status"], first["customer_name"]) == ("paid", listed["customer"]["name"])
    assert Decimal(first["total"]) == listed["total"]
    assert first["balance_due"] == f"{Decimal(0):.{PLACES[listed['currency']]}f}"


async def test_trash_list_pages_newest_deletion_first(client: Client) -> None:
    drafts = await everything(client, status="draft")
    for row in drafts[:3]:
        await client.delete(f"{BASE}/{row['id']}", headers=AUTH)

    body = await page(client, f"{BASE}/trash/list", limit="2")

    assert body["meta"] == {"page": 1, "limit": 2, "total": 5, "total_pages": 3}
    assert [row["id"] for row in body["data"]] == [drafts[2]["id"], drafts[1]["id"]]
    last = await page(client, f"{BASE}/trash/list", limit="2", page="3")
    assert len(last["data"]) == 1


# -- the seed -----------------------------------------------------------------------------------


async def test_the_same_seed_gives_the_same_data(aiohttp_client: MakeClient) -> None:
    one = await aiohttp_client(create_app(seed=7, clock=lambda: NOW))
    two = await aiohttp_client(create_app(seed=7, clock=lambda: NOW))

    texts = [await (await c.get(f"{BASE}?limit=100", headers=AUTH)).text() for c in (one, two)]

    assert texts[0] == texts[1]
    assert json.loads(texts[0])["meta"]["total"] == SEEDED


async def test_a_different_seed_gives_different_data(aiohttp_client: MakeClient) -> None:
    one = await aiohttp_client(create_app(seed=7, clock=lambda: NOW))
    two = await aiohttp_client(create_app(seed=8, clock=lambda: NOW))

    first, second = [(await page(c, limit="100"))["data"] for c in (one, two)]

    assert [r["id"] for r in first] != [r["id"] for r in second]
    assert [r["total"] for r in first] != [r["total"] for r in second]


async def test_seed_invoices_sets_how_many_there_are(aiohttp_client: MakeClient) -> None:
    none = await aiohttp_client(create_app(seed_invoices=0, clock=lambda: NOW))
    few = await aiohttp_client(create_app(seed_invoices=5, clock=lambda: NOW))

    assert (await page(none))["meta"]["total"] == 0
    assert (await page(none, f"{BASE}/next-number"))["data"]["number"] == "INV-0001"
    assert (await page(few))["meta"]["total"] == 5


def rounded(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


async def test_seeded_totals_follow_the_rounding_rules(client: Client) -> None:
    """Recomputed here, independently: per line, half up, discount before tax."""
    rows = await everything(client)
    rows += (await page(client, f"{BASE}/trash/list"))["data"]
    for row in rows:
        places = PLACES[row["currency"]]
        amounts = [
            rounded(Decimal(i["quantity"]) * Decimal(i["unit_price"]), places) for i in row["items"]
        ]
        assert [i["amount"] for i in row["items"]] == amounts
        subtotal = sum(amounts, Decimal(0))
        if row["discount_type"] == "percentage":
            shares = [rounded(a * row["discount_value"] / 100, places) for a in amounts]
        elif row["discount_type"] == "fixed":
            shares = largest_remainder(amounts, row["discount_value"], places)
        else:
            shares = [Decimal(0)] * len(amounts)
        tax = sum(
            (
                rounded((a - s) * (i["tax_rate"] or 0) / 100, places)
                for a, s, i in zip(amounts, shares, row["items"], strict=True)
            ),
            Decimal(0),
        )
        assert row["subtotal"] == subtotal, row["number"]
        assert row["discount_amount"] == sum(shares, Decimal(0)), row["number"]
        assert row["tax_amount"] == tax, row["number"]
        assert row["total"] == subtotal - sum(shares, Decimal(0)) + tax, row["number"]
        assert row["amount_paid"] == sum((p["amount"] for p in row["payments"]), Decimal(0))
        assert row["balance_due"] == row["total"] - row["amount_paid"]
        assert_amount_literals(row, places)


def largest_remainder(amounts: list[Decimal], value: Decimal, places: int) -> list[Decimal]:
    """Shares in minor units, remainders compared exactly (as fractions), a tie to the earlier."""
    scale = 10**places
    base = sum((Fraction(a) for a in amounts), Fraction(0))
    units = int(Fraction(value) * scale)
    exact = [units * Fraction(a) / base for a in amounts]
    floors = [math.floor(e) for e in exact]
    order = sorted(range(len(exact)), key=lambda i: (floors[i] - exact[i], i))
    for index in order[: units - sum(floors)]:
        floors[index] += 1
    return [Decimal(f) / scale for f in floors]


def assert_amount_literals(row: dict[str, Any], places: int) -> None:
    """Amounts carry exactly the currency's decimals (JPY none, USD two)."""
    for name in ("subtotal", "discount_amount", "tax_amount", "total", "balance_due"):
        value = row[name]
        exponent = value.as_tuple().exponent if isinstance(value, Decimal) else 0
        assert exponent == -places, (row["number"], name, value)


async def test_the_seed_is_a_realistic_mix(client: Client) -> None:
    rows = await everything(client)

    statuses = Counter(row["status"] for row in rows)
    assert set(statuses) == {"draft", "sent", "overdue", "paid", "voided"}
    assert len({row["currency"] for row in rows}) >= 4
    assert {row["discount_type"] for row in rows} == {None, "percentage", "fixed"}
    partially_paid = [r for r in rows if r["status"] != "paid" and r["amount_paid"] > 0]
    assert partially_paid and all(0 < r["balance_due"] < r["total"] for r in partially_paid)
    paid = [r for r in rows if r["status"] == "paid"]
    assert all(r["balance_due"] == 0 and r["payments"] for r in paid)
    published = [r for r in rows if r["status"] != "draft"]
    assert any(r["share_token"] for r in published) and any(not r["share_token"] for r in published)
    assert all(
        r["share_token"] is None and not r["payments"] for r in rows if r["status"] == "draft"
    )
    assert {len(r["items"]) for r in rows} >= {1, 2, 3}
    assert any(i["tax_id"] is None for r in rows for i in r["items"])


async def test_the_seed_does_not_depend_on_the_clock(aiohttp_client: MakeClient) -> None:
    later = datetime(2030, 1, 1, tzinfo=UTC)
    one = await aiohttp_client(create_app(clock=lambda: NOW))
    two = await aiohttp_client(create_app(clock=lambda: later))

    first, second = [(await page(c, limit="100"))["data"] for c in (one, two)]

    assert [{**r, "status": None} for r in first] == [{**r, "status": None} for r in second]
    assert {r["status"] for r in second} == {"draft", "overdue", "paid", "voided"}


# -- control layer ------------------------------------------------------------------------------


async def test_injected_errors_use_the_provider_envelope(client: Client) -> None:
    await client.post("/_emulator/faults", json={"error_rate": 1, "error_status": 503})

    response = await client.get(BASE, headers=AUTH)

    assert response.status == 503
    error = (await response.json())["error"]
    assert (error["code"], error["details"]) == ("service_unavailable", [])
    assert error["message"].startswith("injected fault")


async def test_rate_limits_use_the_provider_envelope(client: Client) -> None:
    await client.post("/_emulator/faults", json={"rate_limit_rate": 1, "retry_after": 3})

    response = await client.get(BASE, headers=AUTH)

    assert response.status == 429
    assert response.headers["Retry-After"] == "3"
    assert (await response.json())["error"]["code"] == "rate_limited"


async def test_control_paths_need_no_provider_token_and_log_requests(client: Client) -> None:
    await client.get(f"{BASE}?limit=1", headers=AUTH)

    response = await client.get("/_emulator/requests")

    assert response.status == 200
    [logged] = (await response.json())["requests"]
    assert (logged["method"], logged["path"], logged["query"]) == ("GET", BASE, {"limit": "1"})
    assert logged["headers"]["Authorization"] == "Bearer [redacted]"
