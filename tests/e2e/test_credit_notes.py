"""Credit notes are credit notes (docs/canonical-invoice.md, "Credit notes"), over the sandbox.

draft_publish makes a credit note from a sent invoice (``credit_note`` action): it reads back as
``document_type: credit_note`` with the link to its invoice, on the action's answer, on GET and
in lists; lists filter by type; no create or replace can make a credit note of an invoice or an
invoice of a credit note; a migration never copies a credit note as an invoice.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.migration.plan import Plan
from gateway.sandbox.serve import Sandbox, config_yaml
from tests.e2e import migrating as m
from tests.e2e.conftest_sandbox import call
from tests.e2e.exporting import run_export
from tests.e2e.sandbox import sandbox_in_thread
from tests.stores import sqlite_url

DP = "/v1/connections/draft_publish/invoices"


@dataclass(frozen=True)
class Made:
    invoice: dict[str, Any]  # a sent invoice
    note: dict[str, Any]  # the credit note made from it, as the action answered it


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=3) as running:
        yield running


@pytest.fixture(scope="module")
def made(sandbox: Sandbox) -> Made:
    async def make() -> Made:
        created = await m.create(sandbox, "draft_publish", m.portable_invoice("draft_publish"))
        sent = await call(sandbox, "POST", f"{DP}/{created['id']}/issue")
        assert sent.status == 200, sent.body
        note = await call(sandbox, "POST", f"{DP}/{created['id']}/credit_note")
        assert note.status == 201, note.body
        return Made(sent.body, note.body)

    return asyncio.run(make())


async def listed(sandbox: Sandbox, query: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    path = f"{DP}?limit=100&{query}"
    while True:
        page = await call(sandbox, "GET", path)
        assert page.status == 200, page.body
        found += page.body["data"]
        if not page.body["has_more"]:
            return found
        path = f"{DP}?limit=100&{query}&cursor={page.body['next_cursor']}"


def test_the_credit_note_action_answers_a_credit_note_linked_to_its_invoice(made: Made) -> None:
    invoice, note = made.invoice, made.note
    assert invoice["document_type"] == "invoice"
    assert invoice["credited_invoice_id"] is None
    assert note["document_type"] == "credit_note"
    assert note["credited_invoice_id"] == invoice["id"]
    assert note["id"] != invoice["id"]
    assert note["number"].startswith("CN-")
    # Amounts as the provider shows them: positive, the invoice's own.
    assert (
        Decimal(note["totals"]["total"]) == Decimal(invoice["totals"]["total"]) == Decimal("57.50")
    )
    assert note["status"] == "draft"


async def test_a_credit_note_reads_back_as_one_on_get(sandbox: Sandbox, made: Made) -> None:
    answer = await call(sandbox, "GET", f"{DP}/{made.note['id']}")
    assert answer.status == 200
    assert (answer.body["document_type"], answer.body["credited_invoice_id"]) == (
        "credit_note",
        made.invoice["id"],
    )
    invoice = await call(sandbox, "GET", f"{DP}/{made.invoice['id']}")
    assert (invoice.body["document_type"], invoice.body["credited_invoice_id"]) == ("invoice", None)


async def test_lists_say_which_is_which_and_filter_by_type(sandbox: Sandbox, made: Made) -> None:
    everything = {i["id"]: i for i in await listed(sandbox, "")}
    assert everything[made.note["id"]]["document_type"] == "credit_note"
    assert everything[made.note["id"]]["credited_invoice_id"] == made.invoice["id"]
    assert everything[made.invoice["id"]]["document_type"] == "invoice"
    notes = await listed(sandbox, "document_type=credit_note")
    invoices = await listed(sandbox, "document_type=invoice")
    assert {i["id"] for i in notes} == {
        i for i, v in everything.items() if v["document_type"] == "credit_note"
    }
    assert made.note["id"] in {i["id"] for i in notes}
    assert all(i["document_type"] == "credit_note" and i["credited_invoice_id"] for i in notes)
    assert {i["id"] for i in invoices} == set(everything) - {i["id"] for i in notes}
    assert len(invoices) >= 4  # the three seeded and the one made here
    assert all(i["document_type"] == "invoice" for i in invoices)
    # With another filter, both applied: the customer's credit notes only.
    customer = made.invoice["customer"]["id"]
    theirs = await listed(sandbox, f"document_type=credit_note&customer_id={customer}")
    assert made.note["id"] in {i["id"] for i in theirs}
    assert {(i["customer"]["id"], i["document_type"]) for i in theirs} == {
        (customer, "credit_note")
    }
    assert {i["id"] for i in theirs} == {
        i for i, v in everything.items() if v["document_type"] == "credit_note"
    } & {i for i, v in everything.items() if v["customer"]["id"] == customer}


async def test_what_is_owed_counts_a_credit_note_negative(sandbox: Sandbox, made: Made) -> None:
    """The documented rule, applied by a client over the list: the credit note of a whole
    unpaid invoice leaves nothing owed, where summing every document would say twice the total."""
    issued = await call(sandbox, "POST", f"{DP}/{made.note['id']}/issue")
    assert issued.status == 200, issued.body
    customer = made.invoice["customer"]["id"]
    docs = [d for d in await listed(sandbox, f"customer_id={customer}") if d["status"] == "open"]
    ours = {made.invoice["id"], made.note["id"]}
    assert {d["id"] for d in docs} >= ours
    sign = {"invoice": 1, "credit_note": -1}
    mine = [d for d in docs if d["id"] in ours]
    owed = sum(sign[d["document_type"]] * Decimal(d["totals"]["due"]) for d in mine)
    naive = sum(Decimal(d["totals"]["due"]) for d in mine)
    assert (owed, naive) == (Decimal(0), Decimal("115.00"))


async def test_a_bad_document_type_filter_is_a_400_naming_it(sandbox: Sandbox) -> None:
    answer = await call(sandbox, "GET", f"{DP}?document_type=credit")
    assert answer.status == 400
    assert answer.body["code"] == "bad_request"
    assert answer.body["errors"] == [
        {
            "pointer": "#/query/document_type",
            "detail": "must be one of invoice, credit_note, unknown",
        }
    ]


@pytest.mark.parametrize("connection", ["draft_publish", "crm_v1"])
@pytest.mark.parametrize("handling", ["strict", "lenient"])
async def test_a_create_saying_credit_note_is_refused_never_made_an_invoice(
    sandbox: Sandbox, connection: str, handling: str
) -> None:
    body = {**m.portable_invoice(connection), "document_type": "credit_note"}
    before = len(await m.requests_log(sandbox, connection))
    answer = await call(
        sandbox,
        "POST",
        f"/v1/connections/{connection}/invoices",
        body=body,
        headers={"Prefer": f"handling={handling}"},
    )
    assert answer.status == 422, answer.body
    assert answer.body["code"] == "unsupported_field"
    assert "handling=lenient" not in answer.body["detail"]  # it would not help: not suggested
    [error] = answer.body["errors"]
    assert error["pointer"] == "/document_type"
    assert f"{connection} cannot carry a credit note" in error["detail"]
    if connection == "draft_publish":  # the way it can make one is named
        assert "credit_note action on the invoice it credits" in error["detail"]
    assert len(await m.requests_log(sandbox, connection)) == before  # nothing sent


async def test_a_link_without_a_credit_note_is_a_422(sandbox: Sandbox) -> None:
    body = {**m.portable_invoice("draft_publish"), "credited_invoice_id": "x"}
    answer = await call(sandbox, "POST", DP, body=body)
    assert answer.status == 422
    assert answer.body["errors"] == [
        {
            "pointer": "/credited_invoice_id",
            "detail": "only a credit note credits an invoice (document_type credit_note)",
        }
    ]


async def test_a_credit_note_written_back_as_read_stays_one(sandbox: Sandbox) -> None:
    created = await m.create(sandbox, "draft_publish", m.portable_invoice("draft_publish"))
    await call(sandbox, "POST", f"{DP}/{created['id']}/issue")
    note = (await call(sandbox, "POST", f"{DP}/{created['id']}/credit_note")).body
    read = (await call(sandbox, "GET", f"{DP}/{note['id']}")).body
    read["notes"] = "credited: wrong quantity"
    answer = await call(sandbox, "PUT", f"{DP}/{note['id']}", body=read)
    assert answer.status == 200, answer.body
    assert answer.body["notes"] == "credited: wrong quantity"
    assert (answer.body["document_type"], answer.body["credited_invoice_id"]) == (
        "credit_note",
        created["id"],
    )


async def test_a_replace_cannot_change_a_document_type(sandbox: Sandbox) -> None:
    created = await m.create(sandbox, "draft_publish", m.portable_invoice("draft_publish"))
    await call(sandbox, "POST", f"{DP}/{created['id']}/issue")
    note = (await call(sandbox, "POST", f"{DP}/{created['id']}/credit_note")).body
    draft = await m.create(sandbox, "draft_publish", m.portable_invoice("draft_publish"))
    cases = [
        (note["id"], {**m.portable_invoice("draft_publish"), "document_type": "invoice"}),
        (draft["id"], {**m.portable_invoice("draft_publish"), "document_type": "credit_note"}),
    ]
    for target, body in cases:
        current = (await call(sandbox, "GET", f"{DP}/{target}")).body["document_type"]
        answer = await call(sandbox, "PUT", f"{DP}/{target}", body=body)
        assert answer.status == 422, answer.body
        [error] = answer.body["errors"]
        assert error["pointer"] == "/document_type"
        assert error["detail"].startswith(f"is {current} at draft_publish")
        after = (await call(sandbox, "GET", f"{DP}/{target}")).body
        assert after["document_type"] == current
    # Saying nothing about the type is fine: the credit note stays one.
    body = m.portable_invoice("draft_publish")
    answer = await call(sandbox, "PUT", f"{DP}/{note['id']}", body=body)
    assert answer.status == 200, answer.body
    assert answer.body["document_type"] == "credit_note"


@pytest.mark.parametrize("handling", ["strict", "lenient"])
async def test_a_migration_skips_a_credit_note_with_the_reason(
    sandbox: Sandbox, made: Made, tmp_path: Path, handling: str
) -> None:
    target = "crm_v1"
    settings = m.migration_settings(sandbox, sqlite_url())
    plan = Plan(
        run=f"credit-note-{handling}",
        source="draft_publish",
        target=target,
        ids=(made.note["id"],),
        handling=handling,  # type: ignore[arg-type]
    )
    before = len(await m.listing(sandbox, target))
    ran = await m.migrate_here(settings, plan, m.map_to(target), tmp_path)
    entry = ran.only()
    assert (entry["source_id"], entry["outcome"], entry["target_id"]) == (
        made.note["id"],
        "skipped",
        None,
    )
    assert entry["reason"].startswith(
        f"a credit note of invoice {made.invoice['id']}: crm_v1 cannot create one from a body"
    )
    assert "crm_v1 has no credit notes" in entry["reason"]
    assert len(await m.listing(sandbox, target)) == before
    written = m.migrated_keys(await m.requests_log(sandbox, target))
    assert not [k for k in written if k.startswith(f"draft_publish:{made.note['id']}:")]


def test_the_export_says_which_is_a_credit_note_and_filters_by_type(
    sandbox: Sandbox, made: Made, tmp_path: Path
) -> None:
    config = tmp_path / "sandbox.yaml"
    config.write_text(config_yaml(sandbox), encoding="utf-8")
    args = ("--connection", "draft_publish", "--customer", made.invoice["customer"]["id"])
    notes = run_export(config, *args, "--document-type", "credit_note")
    assert notes.returncode == 0, notes.stderr
    records = [json.loads(line) for line in notes.stdout.splitlines()]
    assert made.note["id"] in {r["id"] for r in records}
    assert {(r["document_type"], r["credited_invoice_id"] is not None) for r in records} == {
        ("credit_note", True)
    }
    table = run_export(config, *args, "--format", "csv")
    assert table.returncode == 0, table.stderr
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    by_id = {row["id"]: row for row in rows}
    assert (
        by_id[made.note["id"]]["document_type"],
        by_id[made.note["id"]]["credited_invoice_id"],
    ) == (
        "credit_note",
        made.invoice["id"],
    )
    assert (
        by_id[made.invoice["id"]]["document_type"],
        by_id[made.invoice["id"]]["credited_invoice_id"],
    ) == (
        "invoice",
        "",
    )
