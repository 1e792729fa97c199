"""What ``migrate`` settles before it sends anything, and what it does not read again.

- An invoice the target's create would refuse for its lines (``capabilities.min_lines``: an
  empty bill_crm draft copied to item_envelope) is a skip that names the rule, in a dry run and
  in a run, and nothing about it reaches the target.
- An issued source invoice is created issued where the target's create can
  (``capabilities.create_issued``: item_envelope's ``draft: 0``): one write, no ``issue``.
  A create key first used for a draft replays as that draft, which is then issued.
- Where the create makes drafts only, the ``issue`` after it takes the record a lost answer
  needs (the status it starts from) from the create's fresh read-back instead of reading the
  copy first; when its answer is lost, that record still tells that it took effect, and nothing
  is sent twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.base import Capabilities
from adapters.item_envelope.adapter import ItemEnvelopeAdapter
from gateway.canonical.model import invoice_from_input
from gateway.errors import InvalidRequest
from gateway.migration.plan import Plan
from gateway.migration.references import ReferenceMap, parse_map
from gateway.runtime import gateway_runtime
from gateway.sandbox.serve import Sandbox
from gateway.service.write_request import WriteRequest
from tests.e2e import migrating as m
from tests.e2e.sandbox import sandbox_in_thread
from tests.stores import sqlite_url

ONE_LINE = "the target needs at least one line: item_envelope refuses an invoice with no lines"
COPY = "/api2/api2/invoices/{}.json"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    # A sandbox of its own: a test here makes item_envelope drop the answers to its PUTs.
    with sandbox_in_thread(seed_invoices=5) as running:
        yield running


def _drafts_only(adapter: ItemEnvelopeAdapter) -> Capabilities:
    """item_envelope as a target whose create makes drafts only: a copy is issued after it."""
    return dataclasses.replace(adapter.mapping.capabilities, create_issued=False)


@pytest.fixture
def drafts_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ItemEnvelopeAdapter, "capabilities", property(_drafts_only))


async def empty_draft(sandbox: Sandbox) -> str:
    """A bill_crm draft without lines (bill_crm's create is the header alone)."""
    body = m.portable_invoice("bill_crm")
    body["lines"] = []
    created = await m.create(sandbox, "bill_crm", body)
    assert created["lines"] == [] and created["status"] == "draft"
    return str(created["id"])


def plan(
    run: str, ids: list[str], *, source: str = "bill_crm", target: str = "item_envelope"
) -> Plan:
    return Plan(run=run, source=source, target=target, ids=tuple(ids), handling="lenient")


def about(log: list[dict[str, Any]], source: str, source_id: str) -> list[dict[str, Any]]:
    """The target's requests sent for one source invoice's writes (by their keys)."""
    prefix = f"{source}:{source_id}:"
    return [e for e in log if e["headers"].get("Idempotency-Key", "").startswith(prefix)]


async def test_an_invoice_without_lines_is_skipped_before_anything_is_sent(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    empty = await empty_draft(sandbox)
    [full] = [str((await m.create(sandbox, "bill_crm", m.portable_invoice("bill_crm")))["id"])]
    settings = m.migration_settings(sandbox, sqlite_url())
    refs = m.map_to("item_envelope")
    logged = len(await m.requests_log(sandbox, "item_envelope"))

    dry = await m.migrate_here(settings, plan("lines", [empty, full]), refs, tmp_path, dry_run=True)
    ran = await m.migrate_here(settings, plan("lines", [empty, full]), refs, tmp_path)

    assert dry.outcomes() == {empty: "skipped", full: "would_copy"}
    assert ran.outcomes() == {empty: "skipped", full: "copied"}
    for report in (dry, ran):
        [skipped] = [e for e in report.report if e["outcome"] == "skipped"]
        assert (skipped["reason"], skipped["target_id"]) == (ONE_LINE, None)
    assert f"skipped: {empty}: {ONE_LINE}" in ran.stderr
    log = (await m.requests_log(sandbox, "item_envelope"))[logged:]
    assert about(log, "bill_crm", empty) == []  # no create, and no lookup before one
    assert [e["method"] for e in about(log, "bill_crm", full)][:1] == ["POST"]
    states = {e.source_id: (e.state, e.target_id) for e in await m.crosswalk(
        settings.store.url, "lines"
    )}  # fmt: skip
    assert states[empty] == ("skipped", None)
    assert states[full][0] == "verified"


async def test_an_open_invoice_is_created_issued_in_one_write_where_the_target_can(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # crm_v1 keeps no drafts: the source is open.
    source_id = str((await m.create(sandbox, "crm_v1", m.portable_invoice("crm_v1")))["id"])
    settings = m.migration_settings(sandbox, sqlite_url())
    logged = len(await m.requests_log(sandbox, "item_envelope"))

    ran = await m.migrate_here(
        settings, plan("at-once", [source_id], source="crm_v1"), m.map_to("item_envelope"),
        tmp_path,
    )  # fmt: skip

    assert ran.code == 0, ran.stderr
    entry = ran.only()
    assert entry["outcome"] == "copied"
    assert [w for w in entry["warnings"] if w["field"] == "/status"] == []
    log = (await m.requests_log(sandbox, "item_envelope"))[logged:]
    assert (await m.read(sandbox, "item_envelope", entry["target_id"]))["status"] == "open"
    [create] = [e for e in log if e["method"] == "POST"]
    assert create["body"]["Invoice"]["draft"] == 0
    assert m.migrated_keys(log) == [f"crm_v1:{source_id}:create"]  # no issue sent
    copy = COPY.format(entry["target_id"])
    # created and read back once: that read is the verification's
    assert [e["method"] for e in log if e["path"] == copy] == ["GET"]


async def test_a_create_first_made_as_a_draft_replays_and_the_copy_is_issued_after_it(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped after its create, by a gateway that made drafts only, resumed by one that
    creates issued invoices: the same key replays the draft (whether to issue at once is not
    part of the key's request), and the status is carried by an ``issue``."""
    source_id = str((await m.create(sandbox, "crm_v1", m.portable_invoice("crm_v1")))["id"])
    settings = m.migration_settings(sandbox, sqlite_url())
    refs = m.map_to("item_envelope")
    logged = len(await m.requests_log(sandbox, "item_envelope"))
    with monkeypatch.context() as patch:
        patch.setattr(ItemEnvelopeAdapter, "capabilities", property(_drafts_only))
        patch.setattr(ItemEnvelopeAdapter, "act", _dies)  # the process stops before its issue
        stopped = await m.migrate_here(
            settings, plan("replay", [source_id], source="crm_v1"), refs, tmp_path
        )
    assert stopped.only()["outcome"] == "failed"

    resumed = await m.migrate_here(
        settings, plan("replay", [source_id], source="crm_v1"), refs, tmp_path
    )

    assert resumed.code == 0, resumed.stderr
    entry = resumed.only()
    assert entry["outcome"] == "copied"
    assert (await m.read(sandbox, "item_envelope", entry["target_id"]))["status"] == "open"
    log = (await m.requests_log(sandbox, "item_envelope"))[logged:]
    # one create (a draft), replayed on resume; then the issue
    assert m.migrated_keys(log) == [f"crm_v1:{source_id}:create", f"crm_v1:{source_id}:issue"]
    [create] = [e for e in log if e["method"] == "POST"]
    assert create["body"]["Invoice"]["draft"] == 1


@pytest.mark.parametrize(
    ("provider", "can"),
    [
        ("item_envelope", True),  # its doc: "draft | integer | Whether this is a draft (0/1) | 0"
        ("crm_v1", False),
        ("draft_publish", False),
        ("bill_crm", False),
        ("order_linked", False),
    ],
)
async def test_only_a_provider_whose_create_can_issue_is_asked_to(
    sandbox: Sandbox, provider: str, can: bool
) -> None:
    settings = m.migration_settings(sandbox, sqlite_url())
    invoice = invoice_from_input(m.portable_invoice(provider))
    request = WriteRequest("migrate", provider, "migrate create", "test/1", f"issued-{provider}")
    logged = len(await m.requests_log(sandbox, provider))
    async with gateway_runtime(settings) as runtime:
        assert runtime.adapters[provider].capabilities.create_issued is can
        if can:
            made = await runtime.service.create(request, invoice, "lenient", issued=True)
            assert made.invoice is not None and made.invoice.status == "open"
            return
        with pytest.raises(InvalidRequest, match=f"{provider} cannot create an issued invoice"):
            await runtime.service.create(request, invoice, "lenient", issued=True)
    assert len(await m.requests_log(sandbox, provider)) == logged  # nothing was sent


async def _dies(*_: Any, **__: Any) -> Any:
    raise RuntimeError("the process stopped here")


@pytest.mark.usefixtures("drafts_only")
async def test_an_issue_after_a_fresh_create_is_not_read_first_and_a_lost_answer_resolves(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # crm_v1 keeps no drafts: the source is open, so its copy (a draft) is issued after it.
    source_id = str((await m.create(sandbox, "crm_v1", m.portable_invoice("crm_v1")))["id"])
    settings = m.migration_settings(sandbox, sqlite_url())
    logged = len(await m.requests_log(sandbox, "item_envelope"))
    # Every PUT (the issue) is applied and its answer lost: the connection is reset.
    faults = {"reset_rate": 1, "after_commit": True, "methods": ["PUT"]}
    await m.emulator(sandbox, "item_envelope", "POST", "/_emulator/faults", faults)
    try:
        ran = await m.migrate_here(
            settings, plan("issue", [source_id], source="crm_v1"), m.map_to("item_envelope"),
            tmp_path,
        )  # fmt: skip
    finally:
        await m.emulator(sandbox, "item_envelope", "DELETE", "/_emulator/faults")

    assert ran.code == 0, ran.stderr
    entry = ran.only()
    assert entry["outcome"] == "copied"
    assert [w for w in entry["warnings"] if w["field"] == "/status"] == []  # issue: no warning
    log = (await m.requests_log(sandbox, "item_envelope"))[logged:]
    copy = await m.read(sandbox, "item_envelope", entry["target_id"])
    assert copy["status"] == "open"
    sent = [
        e["method"]
        for e in log
        if e["path"] == COPY.format(entry["target_id"])
        or e["headers"].get("Idempotency-Key") == f"crm_v1:{source_id}:create"
    ]
    # created and read back; the issue sent without a read before it, its answer lost (the
    # PUT is retried, as a PUT may be); one read tells it took effect (it was a draft and is
    # now open); the verification reads the copy again (a looked-up answer is not its read)
    puts = sent.count("PUT")
    assert puts >= 1
    assert sent == ["POST", "GET", *["PUT"] * puts, "GET", "GET"]
    assert len([e for e in log if e["method"] == "POST"]) == 1


async def test_a_skip_for_what_lenient_never_leaves_out_does_not_suggest_lenient(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """crm_v1 keeps no tax-inclusive prices, and --lenient never leaves the tax mode out (every
    amount would change meaning): the skip names /tax_mode, not the fields --lenient would drop,
    and does not send the caller to --lenient, which it was given."""
    body = m.portable_invoice("order_linked")
    body["tax_mode"] = "inclusive"
    inclusive = str((await m.create(sandbox, "order_linked", body))["id"])
    settings = m.migration_settings(sandbox, sqlite_url())
    run = plan("inclusive", [inclusive], source="order_linked", target="crm_v1")

    dry = await m.migrate_here(settings, run, m.map_to("crm_v1"), tmp_path, dry_run=True)

    [entry] = dry.report
    assert entry["outcome"] == "skipped", entry
    assert entry["reason"] == (
        "crm_v1 cannot carry /tax_mode (crm_v1 cannot carry tax_mode inclusive), which "
        "--lenient never leaves out (it changes every amount's meaning)"
    )


@pytest.mark.parametrize("dry_run", [True, False])
async def test_report_warnings_number_the_source_lines_when_a_section_was_left_out(
    sandbox: Sandbox, tmp_path: Path, dry_run: bool
) -> None:
    """crm_v1's heading before two items, copied to order_linked (no headings; each line taxed
    by its item): the heading's warning and the target's warnings about the items it taxed name
    the source's lines, 0 for the heading and 1 and 2 for the items, in one numbering."""
    body = m.portable_invoice("crm_v1")
    body["lines"] = [{"kind": "section", "name": "Hardware"}, *body["lines"][:2]]
    source = await m.create(sandbox, "crm_v1", body)
    plan = Plan(
        run=f"sections-{dry_run}",
        source="crm_v1",
        target="order_linked",
        ids=(source["id"],),
        handling="lenient",
    )
    # Every item is order_linked's ITM-1008, taxed GST 10% by its code: the 0% sent is not
    # what the provider applies, which it says of each line.
    customer = m.SEEDED["order_linked"].customer
    refs = ReferenceMap(customers={"*": customer}, items={"*": "ITM-1008"})
    settings = m.migration_settings(sandbox, sqlite_url())
    ran = await m.migrate_here(settings, plan, refs, tmp_path, dry_run=dry_run)
    entry = ran.only()
    assert entry["outcome"] == ("would_copy" if dry_run else "copied"), entry
    fields = [w["field"] for w in entry["warnings"] if w["field"].startswith("/lines/")]
    assert fields[0] == "/lines/0", entry  # the heading, left out
    taxed = [f.split("/")[2] for f in fields if "/taxes" in f]  # /lines/{i}/taxes[/{j}]
    assert taxed == ["1", "2"], entry  # the items, as the source numbers them


@pytest.mark.parametrize("by", ["id", "rate"])
async def test_a_tax_the_map_sends_to_an_id_the_target_lacks_is_skipped_naming_the_map(
    sandbox: Sandbox, tmp_path: Path, by: str
) -> None:
    """It went to the create, which said to add the tax to the connection's taxes: the fix
    was the map's. The reason names the map's entry, its key as written: a rate's entry was
    named by the source's tax id, which the map never wrote."""
    source_id = str((await m.create(sandbox, "crm_v1", m.portable_invoice("crm_v1")))["id"])
    zero = m.SEEDED["crm_v1"].zero_tax if by == "id" else "0%"
    refs = m.map_to("item_envelope")
    refs = dataclasses.replace(refs, taxes={**refs.taxes, zero: "99"})
    settings = m.migration_settings(sandbox, sqlite_url())
    logged = len(await m.requests_log(sandbox, "item_envelope"))

    ran = await m.migrate_here(
        settings, plan("taxes", [source_id], source="crm_v1"), refs, tmp_path
    )

    assert ran.code == 1, ran.stderr
    entry = ran.only()
    assert entry["outcome"] == "skipped"
    assert entry["reason"].startswith(
        f"lines[0]: the map's taxes send {zero} to 99, which item_envelope has no tax with "
        "(its taxes: "
    )
    assert entry["reason"].endswith("); fix the map")
    assert "connection's taxes" not in entry["reason"]
    log = (await m.requests_log(sandbox, "item_envelope"))[logged:]
    assert about(log, "crm_v1", source_id) == []


async def test_a_due_date_the_target_gives_by_its_own_default_is_a_warning(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """item_envelope keeps no due date; bill_crm gives an invoice sent without one its own
    default ("client/system due days"). The copy then read as overdue where the source never
    was, reported exact with no word of it. A due date the map sets (due_days) is the user's
    own, and no warning."""
    body = m.portable_invoice("item_envelope")
    assert "due_date" not in body
    source_id, other_id = [
        str((await m.create(sandbox, "item_envelope", body))["id"]) for _ in range(2)
    ]
    for issued in (source_id, other_id):
        path = f"/v1/connections/item_envelope/invoices/{issued}/issue"
        assert (await m.api(sandbox, "POST", path))["status"] == "open"
    settings = m.migration_settings(sandbox, sqlite_url())
    own = f"{m.map_text('bill_crm')}due_days: 10\n"

    ran = await m.migrate_here(
        settings, plan("due", [source_id], source="item_envelope", target="bill_crm"),
        m.map_to("bill_crm"), tmp_path,
    )  # fmt: skip
    chosen = await m.migrate_here(
        settings, plan("due-own", [other_id], source="item_envelope", target="bill_crm"),
        parse_map(own, "own.yaml"), tmp_path,
    )  # fmt: skip

    entry = ran.only()
    assert entry["outcome"] == "copied", entry
    copy = await m.read(sandbox, "bill_crm", entry["target_id"])
    assert copy["due_date"] is not None and copy["overdue"] is True
    [added] = [w for w in entry["warnings"] if w["field"] == "/due_date"]
    assert added["reason"] == (
        f"the source has none; bill_crm gave the copy {copy['due_date']} by its own default, "
        "so it reads as overdue (the map's due_days sets one of your choosing)"
    )
    mine = chosen.only()
    assert mine["outcome"] == "copied", mine
    assert (await m.read(sandbox, "bill_crm", mine["target_id"]))["due_date"] == "2026-05-11"
    assert [w for w in mine["warnings"] if w["field"] == "/due_date"] == []
