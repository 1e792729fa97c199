"""GET /v1/invoices?connection=…: several connections' invoices merged by issue date behind one
cursor, over real emulators (tests/e2e/fanout_sandbox.py). The expected order is built from
each connection listed alone, sorted by issue date there."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from tests.e2e.fanout_sandbox import KEY, MERGED, NARROW_KEY, FanoutSandbox, fanout_sandbox

Invoice = dict[str, Any]
SEEDED = 23  # per emulator: pages of 7 and 10 end mid-way


@pytest.fixture(scope="module")
def sandbox() -> Iterator[FanoutSandbox]:
    with fanout_sandbox(SEEDED) as running:
        yield running


async def get(sandbox: FanoutSandbox, path: str, key: str = KEY) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(sandbox.gateway_url + path, headers=headers) as answer,
    ):
        return answer.status, json.loads(await answer.text())


def across(connections: tuple[str, ...] | list[str], **params: str) -> str:
    return "/v1/invoices?" + urlencode([*(("connection", c) for c in connections), *params.items()])


async def walk_across(
    sandbox: FanoutSandbox, connections: tuple[str, ...], **params: str
) -> tuple[list[Invoice], int]:
    """Every page of the list across ``connections``, and how many calls it took."""
    found: list[Invoice] = []
    cursor: str | None = None
    calls = 0
    while True:
        # Each connection's emulator holds SEEDED invoices: a walk past that many calls is stuck.
        assert calls <= len(connections) * SEEDED, "the walk does not end"
        status, body = await get(
            sandbox, across(connections, **params, **({"cursor": cursor} if cursor else {}))
        )
        calls += 1
        assert status == 200, body
        found += body["data"]
        cursor = body["next_cursor"]
        assert body["has_more"] == (cursor is not None)
        if cursor is None:
            return found, calls


async def alone(sandbox: FanoutSandbox, connection: str, **params: str) -> list[Invoice]:
    """The connection's own list, every page."""
    found: list[Invoice] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": "100", **({"cursor": cursor} if cursor else {})}
        path = f"/v1/connections/{connection}/invoices?{urlencode(query)}"
        status, body = await get(sandbox, path)
        assert status == 200, body
        found += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return found


async def merged(sandbox: FanoutSandbox, sort: str, **filters: str) -> list[tuple[str, str]]:
    """(connection, id) in the order a merge by issue date gives: the date (in the sort's
    direction), then the connection's name, then the connection's own order."""
    rows = []
    for name in MERGED:
        for index, invoice in enumerate(await alone(sandbox, name, sort=sort, **filters)):
            day = invoice["issue_date"]
            assert day, invoice
            rows.append((day, name, index, invoice["id"]))
    descending = sort.startswith("-")
    rows.sort(key=lambda row: (_flip(row[0]) if descending else row[0], row[1], row[2]))
    return [(name, invoice_id) for _, name, _, invoice_id in rows]


def _flip(day: str) -> str:
    """A text that sorts the other way round from the ISO date ``day``."""
    return "".join(chr(ord("9") - ord(c) + ord("0")) if c.isdigit() else c for c in day)


def keys(invoices: list[Invoice]) -> list[tuple[str, str]]:
    return [(invoice["connection"], invoice["id"]) for invoice in invoices]


@pytest.mark.parametrize(("sort", "limit"), [("issue_date", "7"), ("-issue_date", "10")])
async def test_a_walk_visits_every_invoice_of_five_connections_once_in_issue_date_order(
    sandbox: FanoutSandbox, sort: str, limit: str
) -> None:
    expected = await merged(sandbox, sort)
    assert len(expected) == SEEDED * len(MERGED)
    found, calls = await walk_across(sandbox, MERGED, sort=sort, limit=limit)
    assert keys(found) == expected
    assert len(set(keys(found))) == len(found)
    assert calls >= len(found) // int(limit)
    # The connections are interleaved, not listed one after another.
    runs = 1 + sum(a["connection"] != b["connection"] for a, b in itertools.pairwise(found))
    assert runs > 2 * len(MERGED)


async def test_the_default_is_oldest_first_and_the_order_of_the_parameters_does_not_matter(
    sandbox: FanoutSandbox,
) -> None:
    status, body = await get(sandbox, across(MERGED, limit="30"))
    assert status == 200, body
    assert keys(body["data"]) == (await merged(sandbox, "issue_date"))[:30]
    days = [invoice["issue_date"] for invoice in body["data"]]
    assert days == sorted(days)
    status, reversed_body = await get(sandbox, across(list(reversed(MERGED)), limit="30"))
    assert keys(reversed_body["data"]) == keys(body["data"])
    # A cursor of one order of the parameters goes on in the other.
    status, after = await get(
        sandbox, across(list(reversed(MERGED)), limit="5", cursor=body["next_cursor"])
    )
    assert status == 200, after
    assert keys(after["data"]) == (await merged(sandbox, "issue_date"))[30:35]


async def test_filters_apply_across_connections_as_each_connection_applies_them(
    sandbox: FanoutSandbox,
) -> None:
    everything = await merged(sandbox, "issue_date")
    assert everything
    _, sample = await get(sandbox, across(MERGED, limit="100"))
    days = sorted(invoice["issue_date"] for invoice in sample["data"])
    middle = days[len(days) // 2]
    # issued_from: bill_crm cannot filter by date upstream, so the gateway applies it there.
    filters = {"issued_from": middle, "status": "open"}
    expected = await merged(sandbox, "-issue_date", **filters)
    assert expected, "the filters select nothing: the test would prove nothing"
    assert len(expected) < len(everything)
    found, _ = await walk_across(sandbox, MERGED, sort="-issue_date", limit="4", **filters)
    assert keys(found) == expected
    assert all(i["status"] == "open" and i["issue_date"] >= middle for i in found)


async def test_each_invoice_says_its_connection_and_is_the_invoice_its_connection_lists(
    sandbox: FanoutSandbox,
) -> None:
    status, body = await get(sandbox, across(["crm-a", "envelope"], limit="60"))
    assert status == 200, body
    by_key = {
        (name, invoice["id"]): invoice
        for name in ("crm-a", "envelope")
        for invoice in await alone(sandbox, name, sort="issue_date")
    }
    assert {i["connection"] for i in body["data"]} == {"crm-a", "envelope"}
    for invoice in body["data"]:
        assert invoice == by_key[(invoice["connection"], invoice["id"])]


async def test_a_cursor_is_refused_when_altered_or_made_for_another_list(
    sandbox: FanoutSandbox,
) -> None:
    status, body = await get(sandbox, across(MERGED, limit="3"))
    assert status == 200, body
    cursor = body["next_cursor"]
    _, own = await get(sandbox, "/v1/connections/crm-a/invoices?limit=3")
    altered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    for path in (
        across(MERGED, limit="3", cursor=altered),
        across(MERGED, limit="3", cursor="not-a-cursor"),
        across(MERGED, limit="3", cursor=own["next_cursor"]),  # a connection's own cursor
        across(MERGED[:4], limit="3", cursor=cursor),  # another set of connections
        across(MERGED, limit="3", cursor=cursor, status="paid"),  # other filters
        across(MERGED, limit="3", cursor=cursor, sort="-issue_date"),  # the other order
    ):
        status, problem = await get(sandbox, path)
        assert status == 400, (path, problem)
        assert problem["code"] == "bad_request"
        assert problem["errors"][0]["pointer"] == "#/query/cursor"
    # and a connection's own list refuses the merged cursor
    status, problem = await get(sandbox, f"/v1/connections/crm-a/invoices?cursor={cursor}")
    assert status == 400, problem


async def test_an_unknown_connection_is_a_404_naming_it(sandbox: FanoutSandbox) -> None:
    status, problem = await get(sandbox, across(["crm-a", "nowhere"]))
    assert status == 404, problem
    assert problem["code"] == "not_found"
    assert problem["connection"] == "nowhere"
    assert "nowhere" in problem["detail"]


async def test_a_key_not_allowed_on_one_connection_is_a_403_naming_it(
    sandbox: FanoutSandbox,
) -> None:
    status, body = await get(sandbox, across(["crm-a", "bill-a"], limit="5"), key=NARROW_KEY)
    assert status == 200, body
    status, problem = await get(sandbox, across(["crm-a", "bill-b"]), key=NARROW_KEY)
    assert status == 403, problem
    assert problem["code"] == "forbidden"
    assert problem["connection"] == "bill-b"
    # Allowed or not is answered before whether it exists.
    status, problem = await get(sandbox, across(["crm-a", "nowhere"]), key=NARROW_KEY)
    assert (status, problem["connection"]) == (403, "nowhere")


@pytest.mark.parametrize(("sort", "limit"), [("issue_date", "6"), ("-issue_date", "9")])
async def test_a_connection_that_cannot_sort_by_issue_date_joins_from_its_whole_listing(
    sandbox: FanoutSandbox, sort: str, limit: str
) -> None:
    """draft_publish has no sort: the merge reads its whole listing and sorts it by issue date,
    then by id within a day."""
    found, calls = await walk_across(sandbox, ("draft", "crm-a"), sort=sort, limit=limit)
    rows = []
    for name, listed in (
        ("crm-a", await alone(sandbox, "crm-a", sort=sort)),
        ("draft", sorted(await alone(sandbox, "draft"), key=lambda i: i["id"])),  # by id
    ):
        for index, invoice in enumerate(listed):
            day = invoice["issue_date"]
            assert day, invoice
            rows.append(((_flip(day) if sort.startswith("-") else day), name, index, invoice["id"]))
    rows.sort(key=lambda row: row[:3])
    assert keys(found) == [(name, invoice_id) for _, name, _, invoice_id in rows]
    assert len(found) == 2 * SEEDED
    assert calls == -(-2 * SEEDED // int(limit))


async def test_a_whole_listing_past_the_call_s_budget_is_a_400_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """101 invoices at draft_publish, whose pages hold 100, with a budget of one page a call:
    refused whole, by the first page's total, never merged in part."""
    monkeypatch.setattr("gateway.fanout.MAX_PAGES_PER_CALL", 1)
    with fanout_sandbox(101) as larger:
        status, problem = await get(larger, across(["crm-a", "draft"]))
    assert status == 400, problem
    assert (problem["connection"], problem["provider"]) == ("draft", "draft_publish")
    assert problem["errors"][0]["pointer"] == "#/query/connection"
    assert "more than 100 invoices" in problem["detail"]
    assert "/v1/connections/draft/invoices" in problem["detail"]  # where to list it alone
    assert "data" not in problem


async def test_one_connection_failing_fails_the_call_naming_it(sandbox: FanoutSandbox) -> None:
    faults = sandbox.emulator_urls["crm-failing"] + "/_emulator/faults"
    async with aiohttp.ClientSession() as session:
        async with session.post(faults, json={"error_rate": 1.0, "error_status": 500}) as set_:
            assert set_.status == 200, await set_.text()
        try:
            status, problem = await get(sandbox, across(["crm-a", "crm-failing", "bill-a"]))
        finally:
            async with session.delete(faults) as cleared:
                assert cleared.status in (200, 204)
    assert status == 502, problem
    assert problem["code"] == "upstream_error"
    assert problem["connection"] == "crm-failing"
    assert problem["provider"] == "crm_v1"
    assert "crm-failing" in problem["detail"]
    assert "data" not in problem  # no partial answer


async def test_a_provider_answering_out_of_issue_date_order_is_not_merged(
    sandbox: FanoutSandbox,
) -> None:
    status, problem = await get(sandbox, across(["crm-a", "envelope-disordered"], limit="50"))
    assert status == 502, problem
    assert problem["connection"] == "envelope-disordered"
    assert "out of issue-date order" in problem["detail"]


async def test_the_connections_are_read_concurrently(sandbox: FanoutSandbox) -> None:
    """Three connections answering each page after 400 ms: one call that reads one page of
    each takes about 400 ms, not 1.2 s."""
    names = ("bill-a", "bill-b", "envelope")
    async with aiohttp.ClientSession() as session:
        for name in names:
            url = sandbox.emulator_urls[name] + "/_emulator/faults"
            async with session.post(url, json={"latency_ms": 400}) as answer:
                assert answer.status == 200
        try:
            began = time.perf_counter()
            status, body = await get(sandbox, across(names, limit="1"))
            elapsed = time.perf_counter() - began
        finally:
            for name in names:
                async with session.delete(sandbox.emulator_urls[name] + "/_emulator/faults"):
                    pass
    assert status == 200, body
    assert len(body["data"]) == 1
    assert 0.4 <= elapsed < 0.8, elapsed


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=5", "connection"),
        ("connection=", "connection"),
        ("connection=crm-a&connection=crm-a", "connection"),
        ("connection=crm-a&search=x", "search"),
        ("connection=crm-a&project_id=1", "project_id"),
        ("connection=crm-a&sort=due_date", "sort"),
        ("connection=crm-a&sort=", "sort"),
        ("connection=crm-a&limit=0", "limit"),
        ("connection=crm-a&limit=101", "limit"),
        ("connection=crm-a&status=late", "status"),
        ("connection=crm-a&issued_from=2026-13-01", "issued_from"),
        ("connection=crm-a&issued_from=2026-06-01&issued_to=2026-01-01", "issued_from"),
        ("connection=crm-a&document_type=receipt", "document_type"),
        ("connection=crm-a&expand=lines", "expand"),
        ("connection=crm-a&page=2", "page"),
        ("connection=crm-a&view=rows", "view"),
        ("connection=crm-a&connection=bill-a&status=open&status=paid", "status"),
        ("connection=crm-a&view=summary&view=full", "view"),
        ("connection=crm-a&view=", "view"),
    ],
)
async def test_a_bad_query_is_a_400_naming_the_parameter(
    sandbox: FanoutSandbox, query: str, parameter: str
) -> None:
    status, problem = await get(sandbox, f"/v1/invoices?{query}")
    assert status == 400, problem
    assert problem["errors"][0]["pointer"] == f"#/query/{parameter}"


async def test_only_the_crm_rows_handed_out_are_read_in_full(sandbox: FanoutSandbox) -> None:
    """crm_v1's rows are summaries: a merged page lists each connection once and reads in full
    only the crm_v1 rows the merge hands out, not every row of every crm_v1 page."""
    names = ("bill-a", "crm-a", "crm-b", "envelope")

    async def crm_requests() -> dict[str, list[dict[str, Any]]]:
        found = {}
        async with aiohttp.ClientSession() as session:
            for name in ("crm-a", "crm-b"):
                url = sandbox.emulator_urls[name] + "/_emulator/requests"
                async with session.get(url) as answer:
                    found[name] = (await answer.json())["requests"]
        return found

    before = await crm_requests()
    status, body = await get(sandbox, across(names, limit="6"))
    after = await crm_requests()
    assert status == 200, body
    assert len(body["data"]) == 6
    for name in ("crm-a", "crm-b"):
        new = after[name][len(before[name]) :]
        lists = [r for r in new if r["path"] == "/v1/invoices"]
        reads = sorted(r["path"].rsplit("/", 1)[1] for r in new if r["path"] != "/v1/invoices")
        handed_out = sorted(i["id"] for i in body["data"] if i["connection"] == name)
        assert len(lists) == 1, new
        assert reads == handed_out  # 6 rows asked of each page, only these read
        assert all(i["lines"] for i in body["data"] if i["connection"] == name)


async def emulator_paths(sandbox: FanoutSandbox, names: tuple[str, ...]) -> dict[str, list[str]]:
    """The path of every request each connection's emulator has had."""
    found = {}
    async with aiohttp.ClientSession() as session:
        for name in names:
            url = sandbox.emulator_urls[name] + "/_emulator/requests"
            async with session.get(url) as answer:
                found[name] = [r["path"] for r in (await answer.json())["requests"]]
    return found


@pytest.mark.parametrize(("sort", "limit"), [("issue_date", "9"), ("-issue_date", "25")])
async def test_the_summary_view_walks_the_same_merge_with_the_rows_as_listed(
    sandbox: FanoutSandbox, sort: str, limit: str
) -> None:
    """view=summary visits every invoice in the full view's order, crm_v1's rows as the
    summaries its list gives, every other row the invoice the full view gives; a page costs
    each connection its list calls and no read of a row in full."""
    full, _ = await walk_across(sandbox, MERGED, sort=sort, limit=limit)
    crm = ("crm-a", "crm-b")
    before = await emulator_paths(sandbox, crm)
    summaries, _ = await walk_across(sandbox, MERGED, sort=sort, limit=limit, view="summary")
    after = await emulator_paths(sandbox, crm)
    assert keys(summaries) == keys(full)
    assert len(summaries) == SEEDED * len(MERGED)
    for row, invoice in zip(summaries, full, strict=True):
        if row["connection"].startswith("crm-"):
            assert row["object"] == "invoice_summary", row
            assert row["lines"] is None
            assert "lines" in row["absent"]
            assert row["totals"]["total"] == invoice["totals"]["total"]
            assert row["issue_date"] == invoice["issue_date"]
        else:
            assert row == invoice
    for name in crm:
        new = after[name][len(before[name]) :]
        assert new, name
        assert set(new) == {"/v1/invoices"}, new  # its list pages, no invoice read


async def test_a_summary_cursor_goes_on_only_in_the_summary_view(sandbox: FanoutSandbox) -> None:
    status, first = await get(sandbox, across(MERGED, limit="4", view="summary"))
    assert status == 200, first
    status, following = await get(
        sandbox, across(MERGED, limit="4", view="summary", cursor=first["next_cursor"])
    )
    assert status == 200, following
    full, _ = await walk_across(sandbox, MERGED, limit="25")
    assert keys(first["data"] + following["data"]) == keys(full)[:8]
    status, full_page = await get(sandbox, across(MERGED, limit="4"))
    for path in (
        across(MERGED, limit="4", cursor=first["next_cursor"]),  # the full view
        across(MERGED, limit="4", view="full", cursor=first["next_cursor"]),
        across(MERGED, limit="4", view="summary", cursor=full_page["next_cursor"]),
    ):
        status, problem = await get(sandbox, path)
        assert status == 400, (path, problem)
        assert problem["errors"][0]["pointer"] == "#/query/cursor"


async def test_a_whole_listing_s_rows_in_the_summary_view_are_its_invoices(
    sandbox: FanoutSandbox,
) -> None:
    """draft_publish, read whole and sorted here, hands out in the summary view the invoices the
    full view hands out (its rows are whole invoices), merged with crm_v1's summaries."""
    full, _ = await walk_across(sandbox, ("draft", "crm-a"), limit="10")
    listed, _ = await walk_across(sandbox, ("draft", "crm-a"), limit="10", view="summary")
    assert keys(listed) == keys(full)
    drafts = [row for row in listed if row["connection"] == "draft"]
    assert len(drafts) == SEEDED
    assert drafts == [invoice for invoice in full if invoice["connection"] == "draft"]
    assert {row["object"] for row in listed if row["connection"] == "crm-a"} == {"invoice_summary"}
