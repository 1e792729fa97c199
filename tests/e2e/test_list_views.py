"""``?view=summary`` over the sandbox: crm_v1's rows as it lists them, one upstream call per page
(the emulator's request log counts them), walked by cursor without gaps or repeats, with
cursors bound to their view; elsewhere the same answer as the full list, whose pages are one
upstream call each too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from emulators.registry import PROVIDERS
from gateway.sandbox.serve import Sandbox
from tests.e2e.conftest_sandbox import call
from tests.e2e.sandbox import sandbox_in_thread
from tests.e2e.test_list_upstream import LIST_PATHS, requests_log, walk_pages

SEEDED = 30
Invoice = dict[str, Any]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=SEEDED) as running:
        yield running


async def walk(
    sandbox: Sandbox, connection: str, limit: int, **params: str
) -> tuple[list[list[Invoice]], list[dict[str, Any]]]:
    """Every page of a cursor walk, and the requests the provider received during it."""
    before = len(await requests_log(sandbox, connection))
    pages = await walk_pages(sandbox, connection, limit, **params)
    return pages, (await requests_log(sandbox, connection))[before:]


def bodies(pages: list[list[Invoice]]) -> list[Invoice]:
    return [invoice for page in pages for invoice in page]


def ids(pages: list[list[Invoice]]) -> list[str]:
    return [invoice["id"] for invoice in bodies(pages)]


async def test_crm_v1_summaries_are_one_upstream_call_per_page(sandbox: Sandbox) -> None:
    pages, sent = await walk(sandbox, "crm_v1", 7, view="summary")
    assert [len(page) for page in pages] == [7, 7, 7, 7, 2]
    assert [(r["method"], r["path"]) for r in sent] == [("GET", "/v1/invoices")] * len(pages)
    assert [r["query"]["pageIndex"] for r in sent] == ["0", "1", "2", "3", "4"]
    # The full list of the same pages: one call for the page and one for each of its rows.
    full, sent = await walk(sandbox, "crm_v1", 7)
    assert ids(full) == ids(pages)
    assert len(sent) == len(full) + SEEDED
    assert sum(r["path"] == "/v1/invoices" for r in sent) == len(full)


async def test_a_summary_walk_gives_every_invoice_once_and_agrees_with_the_full_list(
    sandbox: Sandbox,
) -> None:
    pages, _ = await walk(sandbox, "crm_v1", 4, view="summary")
    walked = ids(pages)
    assert len(walked) == SEEDED and len(set(walked)) == SEEDED  # no repeats, nothing left out
    everything, _ = await walk(sandbox, "crm_v1", 100)
    full = {invoice["id"]: invoice for invoice in bodies(everything)}
    assert set(walked) == set(full)
    for summary in (row for page in pages for row in page):
        invoice = full[summary["id"]]
        assert summary["object"] == "invoice_summary"
        assert summary["lines"] is None and summary["currency"] is None
        assert summary["absent"] == ["currency", "lines"]
        assert "remote_data" not in summary and "notes" not in summary
        for name in ("status", "payment_status", "overdue", "number", "customer", "issue_date"):
            assert summary[name] == invoice[name], (summary["id"], name)
        assert summary["due_date"] == invoice["due_date"]
        assert summary["totals"] == {
            "total": invoice["totals"]["total"],
            "due": invoice["totals"]["due"],
        }
        assert re.fullmatch(r"[0-9]+(\.[0-9]+)?", summary["totals"]["total"])  # exact strings


async def test_filters_apply_to_summaries_as_to_invoices(sandbox: Sandbox) -> None:
    everything = bodies((await walk(sandbox, "crm_v1", 100))[0])
    customer = everything[1]["customer"]["id"]
    cases = {
        "status": "open",
        "customer_id": customer,
        "issued_from": sorted(i["issue_date"] for i in everything)[SEEDED // 2],
        "number": everything[3]["number"][-2:],
        "document_type": "invoice",  # applied by the gateway: crm_v1 has no such filter
    }
    for name, value in cases.items():
        full = ids((await walk(sandbox, "crm_v1", 5, **{name: value}))[0])
        summary, sent = await walk(sandbox, "crm_v1", 5, view="summary", **{name: value})
        assert ids(summary) == full and full, name
        assert all(r["path"] == "/v1/invoices" for r in sent), name
    empty, sent = await walk(sandbox, "crm_v1", 5, view="summary", document_type="credit_note")
    assert ids(empty) == []


async def test_expand_remote_data_gives_the_row_as_listed(sandbox: Sandbox) -> None:
    answer = await call(
        sandbox, "GET", "/v1/connections/crm_v1/invoices?view=summary&limit=1&expand=remote_data"
    )
    assert answer.status == 200, answer.body
    [summary] = answer.body["data"]
    assert summary["remote_data"]["inv_id"] == int(summary["id"])
    assert "items" not in summary["remote_data"]


@pytest.mark.parametrize(("made_in", "used_in"), [("summary", "full"), ("full", "summary")])
async def test_a_cursor_is_bound_to_its_view(sandbox: Sandbox, made_in: str, used_in: str) -> None:
    base = "/v1/connections/crm_v1/invoices?limit=3"
    first = await call(sandbox, "GET", f"{base}&view={made_in}")
    cursor = first.body["next_cursor"]
    assert cursor
    answer = await call(sandbox, "GET", f"{base}&view={used_in}&cursor={cursor}")
    assert answer.status == 400, answer.body
    [error] = answer.body["errors"]
    assert error["pointer"] == "#/query/cursor"
    assert "view" in error["detail"]
    # view=full is the default: a cursor of the full list follows on without it.
    if made_in == "full":
        onward = await call(sandbox, "GET", f"{base}&cursor={cursor}")
        assert onward.status == 200, onward.body


@pytest.mark.parametrize("value", ["", "summaries", "FULL", "lines"])
async def test_a_view_that_is_not_one_is_a_400_naming_view(sandbox: Sandbox, value: str) -> None:
    before = len(await requests_log(sandbox, "crm_v1"))
    answer = await call(sandbox, "GET", f"/v1/connections/crm_v1/invoices?view={value}")
    assert answer.status == 400, answer.body
    [error] = answer.body["errors"]
    assert error["pointer"] == "#/query/view"
    assert "full, summary" in error["detail"]
    assert len(await requests_log(sandbox, "crm_v1")) == before  # refused before asking


OTHERS = [provider for provider in PROVIDERS if provider != "crm_v1"]


@pytest.mark.parametrize("connection", OTHERS)
async def test_elsewhere_a_summary_is_the_full_invoice_in_one_call_per_page(
    sandbox: Sandbox, connection: str
) -> None:
    full, sent_full = await walk(sandbox, connection, 8)
    summary, sent_summary = await walk(sandbox, connection, 8, view="summary")
    assert summary == full  # list rows are whole invoices: the same answer
    assert len(ids(full)) >= 20 and all(i["object"] == "invoice" for i in bodies(full))
    for sent in (sent_full, sent_summary):
        # One provider call per page read, none per invoice.
        assert all(r["path"] == LIST_PATHS[connection] for r in sent), sent
        assert len(sent) <= len(full) + 1


@pytest.mark.parametrize("view", ["summary", "full"])
async def test_the_answer_is_what_the_openapi_document_says(sandbox: Sandbox, view: str) -> None:
    document = (await call(sandbox, "GET", "/openapi.json")).body
    operation = document["paths"]["/v1/connections/{connection}/invoices"]["get"]
    assert {"$ref": "#/components/parameters/view"} in operation["parameters"]
    assert document["components"]["parameters"]["view"]["schema"]["enum"] == ["full", "summary"]
    answer = await call(sandbox, "GET", f"/v1/connections/crm_v1/invoices?limit=5&view={view}")
    schema = {**document, "$ref": "#/components/schemas/InvoiceOrSummaryList"}
    jsonschema.Draft202012Validator(schema).validate(answer.body)
    wanted = "invoice_summary" if view == "summary" else "invoice"
    assert {row["object"] for row in answer.body["data"]} == {wanted}
