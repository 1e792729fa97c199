"""The sandbox as a newcomer meets it: every connection lists, creates, reads, issues, voids."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.mapping import load_mapping
from emulators.registry import PROVIDERS
from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import profile
from tests.e2e.conftest_sandbox import call
from tests.e2e.sandbox import sandbox_in_thread

SEEDED = 23
AUTH = {"Authorization": "Bearer sk_sandbox"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=SEEDED) as running:
        yield running


@pytest.mark.parametrize("limit", [1, 7, 100])
@pytest.mark.parametrize("connection", PROVIDERS)
async def test_paging_returns_every_seeded_invoice_exactly_once(
    sandbox: Sandbox, connection: str, limit: int
) -> None:
    ids: list[str] = []
    path = f"/v1/connections/{connection}/invoices?limit={limit}"
    for _ in range(SEEDED + 2):
        answer = await call(sandbox, "GET", path)
        assert answer.status == 200, answer.body
        page = answer.body
        assert page["object"] == "list" and len(page["data"]) <= limit
        ids += [invoice["id"] for invoice in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        path = f"/v1/connections/{connection}/invoices?limit={limit}&cursor={page['next_cursor']}"
    assert len(ids) == SEEDED
    assert len(set(ids)) == SEEDED


async def test_connections_are_listed_with_capabilities(sandbox: Sandbox) -> None:
    answer = await call(sandbox, "GET", "/v1/connections")
    assert answer.status == 200
    assert [c["name"] for c in answer.body["data"]] == list(PROVIDERS)
    one = await call(sandbox, "GET", "/v1/connections/bill_crm")
    assert one.body["capabilities"] == load_mapping("bill_crm").capabilities.as_dict()
    assert one.body["base_url"] == sandbox.emulator_urls["bill_crm"]  # the sandbox key is admin


@pytest.mark.parametrize("connection", PROVIDERS)
async def test_create_read_issue_void(sandbox: Sandbox, connection: str) -> None:
    caps = load_mapping(connection).capabilities
    sample = profile(connection).sample(0).model_dump(mode="json", exclude_none=True)
    created = await call(sandbox, "POST", f"/v1/connections/{connection}/invoices", body=sample)
    assert created.status == 201, created.body
    invoice_id = created.body["id"]
    assert created.headers["Location"] == f"/v1/connections/{connection}/invoices/{invoice_id}"
    read = await call(sandbox, "GET", created.headers["Location"])
    assert read.status == 200
    assert read.body["totals"]["total"] == created.body["totals"]["total"]
    assert read.body["totals_check"]["consistent"] is True
    assert "remote_data" not in read.body
    expanded = await call(sandbox, "GET", created.headers["Location"] + "?expand=remote_data")
    assert expanded.body["remote_data"]
    if "issue" in caps.actions:
        issued = await call(sandbox, "POST", created.headers["Location"] + "/issue")
        assert (issued.status, issued.body["status"]) == (200, "open"), issued.body
    if "void" in caps.actions:
        voided = await call(sandbox, "POST", created.headers["Location"] + "/void")
        assert (voided.status, voided.body["status"]) == (200, "void"), voided.body


async def test_a_note_with_a_file_reaches_order_linked(sandbox: Sandbox) -> None:
    form = aiohttp.FormData()
    form.add_field("note", "Delivered to the loading dock")
    form.add_field("file", b"%PDF-1.4 proof", filename="proof.pdf", content_type="application/pdf")
    url = f"{sandbox.gateway_url}/v1/connections/order_linked/invoices/INV-00001/notes"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=form, headers=AUTH) as response:
            body = await response.json()
            assert response.status == 201, body
        assert body["invoice_id"] == "INV-00001"
        assert body["note"]["content"] == "Delivered to the loading dock"
        assert [f["name"] for f in body["note"]["files"]] == ["proof.pdf"]
        broken = {**AUTH, "Content-Type": "multipart/form-data"}
        async with session.post(url, data=b"no boundary", headers=broken) as response:
            problem = await response.json()
            assert (response.status, problem["code"]) == (400, "bad_request")
        async with session.post(
            url.replace("order_linked", "crm_v1").replace("INV-00001", "1"), data=form, headers=AUTH
        ) as response:
            assert (response.status, (await response.json())["code"]) == (501, "not_supported")


def readme_tour() -> str:
    """The shell block of the README's tour, as a newcomer copies it."""
    section = (ROOT / "README.md").read_text().split("## A five-minute tour", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def run_shell(script: str) -> list[Any]:
    """Run ``script`` with bash from the repository's directory; the JSON documents it printed."""
    done = subprocess.run(
        ["bash", "-c", "set -eo pipefail\n" + script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    decoder, text, found = json.JSONDecoder(), done.stdout.strip(), []
    while text:
        value, end = decoder.raw_decode(text)
        found.append(value)
        text = text[end:].lstrip()
    return found


def test_the_readme_tour_works_as_written_whatever_the_date(sandbox: Sandbox) -> None:
    if shutil.which("curl") is None:
        pytest.skip("the README's tour uses curl, which is not installed")
    tour = readme_tour()
    assert "GW=http://localhost:8080 " in tour and "--port" in tour  # says how to change it
    tour = tour.replace("GW=http://localhost:8080", f"GW={sandbox.gateway_url}")
    assert "<" not in tour.replace("< docs/", "")  # nothing to fill in by hand: it runs as copied
    connection, created, issued, read, across, summaries, calculated = run_shell(tour)
    assert connection["name"] == "bill_crm"
    assert created["status"] == "draft", created  # a 415 or a 422 would show here
    assert created["issue_date"] == date.today().isoformat()
    assert created["due_date"] > created["issue_date"]
    # Dated in the past, the issued invoice would read overdue at once.
    assert (issued["status"], issued["overdue"]) == ("open", False), issued
    assert (read["id"], read["status"], read["overdue"]) == (created["id"], "open", False)
    assert read["remote_data"]["status"] == "sent"
    days = [invoice["issue_date"] for invoice in across["data"]]
    assert len(days) == 5 and days == sorted(days, reverse=True), across
    five = {"crm_v1", "bill_crm", "item_envelope", "draft_publish", "order_linked"}
    assert {i["connection"] for i in across["data"]} <= five
    # The invoice the tour issued today is among the newest, unless five others are as new.
    ids = [invoice["id"] for invoice in across["data"]]
    as_new = [day for day, i in zip(days, ids, strict=True) if day >= issued["issue_date"]]
    assert created["id"] in ids or len(as_new) == 5, across
    listed = summaries["data"]
    assert len(listed) == 5 and {i["connection"] for i in listed} <= {"crm_v1", "bill_crm"}
    for row in listed:  # crm_v1's rows as its list gives them, bill_crm's whole invoices
        assert row["object"] == ("invoice_summary" if row["connection"] == "crm_v1" else "invoice")
    assert calculated["totals"]["total"] == "5950.00"


def test_the_tour_example_invoice_leaves_its_dates_to_the_tour() -> None:
    example = json.loads((ROOT / "docs/examples/draft_publish-invoice.json").read_text())
    assert "issue_date" not in example and "due_date" not in example
    assert "issue_date" in readme_tour() and "due_date" in readme_tour()
