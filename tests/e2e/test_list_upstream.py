"""Lists over the sandbox: every filter, sort and search a provider has is sent to it (the
emulator's request log shows the query), and gives the right invoices in the right order;
what a connection's provider lacks is a 400 pointing at the parameter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from adapters.mapping import load_mapping
from emulators.registry import PROVIDERS
from gateway.sandbox.serve import Sandbox
from tests.e2e.conftest_sandbox import call
from tests.e2e.sandbox import sandbox_in_thread

# The provider's list parameter each canonical filter is sent as.
SENT_AS: dict[str, dict[str, str]] = {
    "crm_v1": {
        "status": "inv_status",
        "customer_id": "cstid",
        "issued_from": "inv_datetime_from",
        "issued_to": "inv_datetime_to",
        "number": "search",
    },
    "draft_publish": {
        "status": "status",
        "customer_id": "customer_id",
        "issued_from": "from_date",
        "issued_to": "to_date",
        "number": "search",
    },
    "bill_crm": {"status": "status", "customer_id": "client_id"},
    "item_envelope": {
        "status": "draft",
        "customer_id": "client_id",
        "issued_from": "date_from",
        "issued_to": "date_to",
    },
    "order_linked": {"status": "status", "customer_id": "account_id"},
}
# The provider's sort parameters: (field, direction).
SORT_PARAMS = {
    "crm_v1": ("sortBy", "sortOrder"),
    "bill_crm": ("sort", "order"),
    "item_envelope": ("sort", "direction"),
}
LIST_PATHS = {
    "crm_v1": "/v1/invoices",
    "draft_publish": "/api/v1/invoices",
    "bill_crm": "/api/v1/invoices",
    "item_envelope": "/api2/api2/invoices.json",
    "order_linked": "/invoices",
}

Invoice = dict[str, Any]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=30) as running:
        yield running


async def walk_pages(
    sandbox: Sandbox, connection: str, limit: int, **params: str
) -> list[list[Invoice]]:
    """Every page of a cursor walk of the connection's list, in order."""
    pages: list[list[Invoice]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        answer = await call(
            sandbox, "GET", f"/v1/connections/{connection}/invoices?{urlencode(query)}"
        )
        assert answer.status == 200, answer.body
        pages.append(answer.body["data"])
        cursor = answer.body["next_cursor"]
        assert answer.body["has_more"] is (cursor is not None)
        if cursor is None:
            return pages


async def walk(sandbox: Sandbox, connection: str, limit: int = 100, **params: str) -> list[Invoice]:
    return [
        invoice
        for page in await walk_pages(sandbox, connection, limit, **params)
        for invoice in page
    ]


async def requests_log(sandbox: Sandbox, connection: str) -> list[dict[str, Any]]:
    url = sandbox.emulator_urls[connection] + "/_emulator/requests"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        entries: list[dict[str, Any]] = (await response.json())["requests"]
    return entries


async def list_queries_during(
    sandbox: Sandbox, connection: str, action: Callable[[], Any]
) -> tuple[Any, list[dict[str, Any]]]:
    """What ``action`` returns, and the queries of the list calls it made upstream."""
    before = len(await requests_log(sandbox, connection))
    result = await action()
    sent = (await requests_log(sandbox, connection))[before:]
    path = LIST_PATHS[connection]
    return result, [r["query"] for r in sent if r["method"] == "GET" and r["path"] == path]


def ids(invoices: list[Invoice]) -> list[str]:
    return [invoice["id"] for invoice in invoices]


def customer(invoice: Invoice) -> str | None:
    return (invoice.get("customer") or {}).get("id")


def filter_values(everything: list[Invoice]) -> dict[str, tuple[str, Callable[[Invoice], bool]]]:
    """For each canonical filter: a value that selects some but not all, and what it means."""
    dates = sorted(i["issue_date"] for i in everything if i.get("issue_date"))
    middle = dates[len(dates) // 2]
    who = customer(everything[1])
    assert who is not None
    cases: dict[str, tuple[str, Callable[[Invoice], bool]]] = {
        "customer_id": (who, lambda i: customer(i) == who),
        "issued_from": (middle, lambda i: bool(i.get("issue_date")) and i["issue_date"] >= middle),
        "issued_to": (middle, lambda i: bool(i.get("issue_date")) and i["issue_date"] <= middle),
    }
    numbered = [i["number"] for i in everything if i.get("number")]
    if numbered:  # bill_crm invoices have no number
        part = numbered[1][-2:]
        cases["number"] = (part, lambda i: part.casefold() in (i.get("number") or "").casefold())
    return cases


@pytest.mark.parametrize("connection", PROVIDERS)
async def test_each_filter_the_provider_has_is_sent_upstream_and_gives_the_right_invoices(
    sandbox: Sandbox, connection: str
) -> None:
    # Every filter the provider documents is declared as the provider's (SENT_AS), none other.
    assert load_mapping(connection).capabilities.filters == set(SENT_AS[connection])
    everything = await walk(sandbox, connection)
    assert len(everything) >= 20
    cases = filter_values(everything)
    for status in sorted({i["status"] for i in everything}):
        cases[f"status={status}"] = (status, lambda i, s=status: i["status"] == s)
    for case, (value, wanted) in cases.items():
        name = case.split("=")[0]
        listed, queries = await list_queries_during(
            sandbox, connection, lambda n=name, v=value: walk(sandbox, connection, **{n: v})
        )
        expected = [i["id"] for i in everything if wanted(i)]
        assert 0 < len(expected) < len(everything), case  # some, not all: the filter shows
        assert sorted(ids(listed)) == sorted(expected), case
        assert queries, case
        if name in SENT_AS[connection]:
            assert all(SENT_AS[connection][name] in q for q in queries), (case, queries)
        else:  # the gateway's own filter: the provider is asked without it
            assert all(set(q) <= {"page", "limit", "per_page", "order"} for q in queries), case


async def test_draft_publish_lists_open_as_sent_then_overdue_across_pages(
    sandbox: Sandbox,
) -> None:
    everything = await walk(sandbox, "draft_publish")
    expected = sorted(i["id"] for i in everything if i["status"] == "open")
    assert len(expected) > 3
    listed, queries = await list_queries_during(
        sandbox, "draft_publish", lambda: walk(sandbox, "draft_publish", limit=3, status="open")
    )
    assert sorted(ids(listed)) == expected  # every open invoice once, none twice
    assert {q.get("status") for q in queries} == {"sent", "overdue"}
    assert all("status" in q for q in queries)


def sort_key(name: str) -> Callable[[Invoice], Any]:
    def key(invoice: Invoice) -> Any:
        if name in ("issue_date", "due_date"):
            return invoice.get(name) or ""  # the providers put an empty date first
        if name == "number":
            return invoice.get("number") or ""
        if name == "customer_id":
            return int(customer(invoice) or 0)
        if name in ("total", "amount_due"):
            return Decimal(invoice["totals"]["total" if name == "total" else "due"])
        if invoice.get("created_at"):
            return invoice["created_at"]
        return int(invoice["id"])

    return key


SORT_CASES = [
    (connection, name)
    for connection in PROVIDERS
    for name in sorted(load_mapping(connection).capabilities.sorts)
]


@pytest.mark.parametrize(("connection", "name"), SORT_CASES)
async def test_each_sort_is_the_providers_and_holds_across_two_pages(
    sandbox: Sandbox, connection: str, name: str
) -> None:
    field, direction = SORT_PARAMS[connection]
    param = load_mapping(connection).sort_params[name]
    for sort, descending in ((name, False), (f"-{name}", True)):
        path = f"/v1/connections/{connection}/invoices?limit=7&sort={sort}"

        async def two_pages(first: str = path) -> list[Invoice]:
            one = await call(sandbox, "GET", first)
            assert one.status == 200, one.body
            assert one.body["has_more"] is True
            two = await call(sandbox, "GET", f"{first}&cursor={one.body['next_cursor']}")
            assert two.status == 200, two.body
            return [*one.body["data"], *two.body["data"]]

        listed, queries = await list_queries_during(sandbox, connection, two_pages)
        assert len(listed) == 14 and len(set(ids(listed))) == 14
        keys = [sort_key(name)(invoice) for invoice in listed]
        assert keys == sorted(keys, reverse=descending), (sort, keys)
        assert queries and all(q[field] == param for q in queries), queries
        assert all(q[direction] == ("desc" if descending else "asc") for q in queries)
        everything = await walk(sandbox, connection, sort=sort)
        assert ids(everything)[:14] == ids(listed)


async def test_a_cursor_is_bound_to_its_sort(sandbox: Sandbox) -> None:
    base = "/v1/connections/crm_v1/invoices?limit=5"
    first = await call(sandbox, "GET", f"{base}&sort=total")
    cursor = first.body["next_cursor"]
    answer = await call(sandbox, "GET", f"{base}&sort=-total&cursor={cursor}")
    assert answer.status == 400, answer.body
    assert answer.body["errors"][0]["pointer"] == "#/query/cursor"


@pytest.mark.parametrize(
    ("connection", "sort", "says"),
    [
        ("draft_publish", "issue_date", "draft_publish has no sort"),
        ("order_linked", "-created", "order_linked has no sort"),
        ("bill_crm", "number", "bill_crm sorts by issue_date, -issue_date, due_date"),
        ("item_envelope", "-amount_due", "item_envelope sorts by issue_date, -issue_date"),
        ("crm_v1", "colour", "must be one of issue_date, due_date"),
    ],
)
async def test_a_sort_the_provider_lacks_is_a_400_naming_what_it_offers(
    sandbox: Sandbox, connection: str, sort: str, says: str
) -> None:
    answer = await call(sandbox, "GET", f"/v1/connections/{connection}/invoices?sort={sort}")
    assert answer.status == 400, answer.body
    [error] = answer.body["errors"]
    assert error["pointer"] == "#/query/sort"
    assert says in error["detail"]


async def test_crm_v1_search_is_its_number_search(sandbox: Sandbox) -> None:
    everything = await walk(sandbox, "crm_v1")
    part = everything[3]["number"][-2:]
    listed, queries = await list_queries_during(
        sandbox, "crm_v1", lambda: walk(sandbox, "crm_v1", search=part)
    )
    assert sorted(ids(listed)) == sorted(i["id"] for i in everything if part in i["number"])
    assert queries and all(q["search"] == part for q in queries)


async def test_draft_publish_search_finds_customer_names_as_the_provider_does(
    sandbox: Sandbox,
) -> None:
    everything = await walk(sandbox, "draft_publish", expand="remote_data")
    name = everything[0]["customer"]["name"] or everything[0]["remote_data"]["customer"]["name"]
    word = name.split()[0]
    listed, queries = await list_queries_during(
        sandbox, "draft_publish", lambda: walk(sandbox, "draft_publish", search=word)
    )
    expected = [
        i["id"]
        for i in everything
        if word.casefold() in (i["remote_data"]["customer"]["name"] or "").casefold()
        or word.casefold() in i["number"].casefold()
    ]
    assert everything[0]["id"] in ids(listed)
    assert sorted(ids(listed)) == sorted(expected)
    assert all(word.casefold() not in i["number"].casefold() for i in listed)  # names, not numbers
    assert queries and all(q["search"] == word for q in queries)
    # search and number together: the search is sent, the number narrows what it found.
    number = everything[0]["number"]
    both = await walk(sandbox, "draft_publish", search=word, number=number)
    assert ids(both) == [everything[0]["id"]]


async def test_bill_crm_search_project_and_category_are_sent_upstream(sandbox: Sandbox) -> None:
    everything = await walk(sandbox, "bill_crm")
    first = everything[0]
    name = first["customer"]["name"]
    listed, queries = await list_queries_during(
        sandbox, "bill_crm", lambda: walk(sandbox, "bill_crm", search=name)
    )
    assert first["id"] in ids(listed)
    assert {i["id"] for i in everything if i["customer"]["name"] == name} <= set(ids(listed))
    assert queries and all(q["search"] == name for q in queries)
    for canonical, field in (("project_id", "bill_projectid"), ("category_id", "bill_categoryid")):
        value = next(
            str(i["provider_fields"][field])
            for i in everything
            if i["provider_fields"].get(field) is not None
        )
        listed, queries = await list_queries_during(
            sandbox, "bill_crm", lambda c=canonical, v=value: walk(sandbox, "bill_crm", **{c: v})
        )
        expected = [i["id"] for i in everything if str(i["provider_fields"].get(field)) == value]
        assert 0 < len(expected) < len(everything)
        assert sorted(ids(listed)) == sorted(expected)
        assert queries and all(q[canonical] == value for q in queries)


@pytest.mark.parametrize("connection", ["item_envelope", "order_linked"])
async def test_search_where_the_provider_has_none_is_a_400(
    sandbox: Sandbox, connection: str
) -> None:
    answer, queries = await list_queries_during(
        sandbox,
        connection,
        lambda: call(sandbox, "GET", f"/v1/connections/{connection}/invoices?search=abc"),
    )
    assert answer.status == 400, answer.body
    [error] = answer.body["errors"]
    assert error["pointer"] == "#/query/search"
    assert f"{connection} has no search" in error["detail"]
    assert queries == []  # refused before asking the provider


@pytest.mark.parametrize("connection", ["crm_v1", "draft_publish", "item_envelope", "order_linked"])
async def test_a_provider_only_filter_elsewhere_is_a_400(sandbox: Sandbox, connection: str) -> None:
    answer = await call(sandbox, "GET", f"/v1/connections/{connection}/invoices?project_id=1")
    assert answer.status == 400, answer.body
    [error] = answer.body["errors"]
    assert error["pointer"] == "#/query/project_id"
    assert f"not a filter {connection} has" in error["detail"]


async def test_the_connection_says_what_it_sorts_and_searches(sandbox: Sandbox) -> None:
    answer = await call(sandbox, "GET", "/v1/connections/bill_crm")
    caps = answer.body["capabilities"]
    assert caps["sorts"] == ["issue_date", "due_date", "total", "created"]
    assert caps["provider_filters"] == ["project_id", "category_id"]
    assert "client's name" in caps["search"]
    answer = await call(sandbox, "GET", "/v1/connections/order_linked")
    assert answer.body["capabilities"]["sorts"] == []
    assert answer.body["capabilities"]["search"] is None
