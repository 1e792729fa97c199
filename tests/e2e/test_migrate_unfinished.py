"""A copy whose status or payment step fails at the target is not finished: the run counts it
failed, names the step, and the next run of the migration finishes it, with no second invoice
and no payment twice (docs/migration.md, "A step that fails"). Before, such a step was a warning
and the copy counted copied for good: payments and statuses lost with exit status 0."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.registry import build_adapter
from emulators.registry import create_app
from gateway.canonical.model import Payment
from gateway.migration.commands import verify
from gateway.migration.plan import Plan
from gateway.migration.references import ReferenceMap
from gateway.sandbox import sandbox_connection
from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import profile
from tests.e2e import migrating as m
from tests.e2e.sandbox import sandbox_in_thread
from tests.stores import sqlite_url

DRAFT_PUBLISH_METHODS = {"bank_transfer", "cash", "check", "credit_card", "paypal", "other"}
DRAFT_PUBLISH_RATES = {Decimal(0), Decimal(5), Decimal(20), Decimal("8.875")}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=110) as running:
        yield running


def _takes(invoice: dict[str, Any], methods: set[str]) -> bool:
    """Whether draft_publish can take ``invoice`` whole, its payments' methods among ``methods``."""
    return (
        bool(invoice["payments"])
        and invoice["currency"] == "USD"
        and {p["method"] for p in invoice["payments"]} <= methods
        and all(
            not line.get("discount")
            and {Decimal(t["rate"]) for t in line["taxes"]} <= DRAFT_PUBLISH_RATES
            for line in invoice["lines"]
        )
    )


async def _payable(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Up to three of crm_v1's seeded invoices with payments that draft_publish takes whole."""
    listed = await m.listing(sandbox, "crm_v1")
    sources = [i for i in listed if _takes(i, DRAFT_PUBLISH_METHODS)][:3]
    assert sources, "the seed changed: no paid crm_v1 invoice draft_publish can take"
    return sources


async def _run(
    sandbox: Sandbox,
    folder: Path,
    store: str,
    run: str,
    invoices: list[dict[str, Any]],
    methods: dict[str, str] | None = None,
) -> m.Ran:
    plan = Plan(
        run=run,
        source="crm_v1",
        target="draft_publish",
        ids=tuple(i["id"] for i in invoices),
        handling="lenient",
    )
    refs = ReferenceMap(
        customers={"*": m.SEEDED["draft_publish"].customer},
        items={"*": m.SEEDED["draft_publish"].item or ""},
        payment_methods=methods or {},
    )
    return await m.migrate_here(m.migration_settings(sandbox, store), plan, refs, folder)


async def _run_in_outage(
    sandbox: Sandbox,
    folder: Path,
    store: str,
    run: str,
    invoices: list[dict[str, Any]],
    path_regex: str,
) -> m.Ran:
    """The run while every draft_publish POST to a path matching ``path_regex`` is a 503."""
    outage = {"error_rate": 1, "error_status": 503, "methods": ["POST"], "path_regex": path_regex}
    await m.emulator(sandbox, "draft_publish", "POST", "/_emulator/faults", outage)
    try:
        return await _run(sandbox, folder, store, run, invoices)
    finally:
        await m.emulator(sandbox, "draft_publish", "DELETE", "/_emulator/faults")


def _payments(invoice: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(p["amount"], p["date"], p["method"]) for p in invoice["payments"]]


async def _paid_by_two_methods(sandbox: Sandbox) -> tuple[dict[str, Any], str]:
    """A crm_v1 invoice draft_publish takes whole, paid first by a method other than ``other``,
    then by another: the invoice, and that later method."""
    for invoice in await m.listing(sandbox, "crm_v1"):
        if not _takes(invoice, DRAFT_PUBLISH_METHODS):
            continue
        first = invoice["payments"][0]["method"]
        later = {p["method"] for p in invoice["payments"][1:]} - {first}
        if first != "other" and later:
            return invoice, sorted(later)[0]
    raise AssertionError(
        "the seed changed: no crm_v1 invoice paid by two methods draft_publish takes"
    )


async def _finished_like_the_source(
    sandbox: Sandbox, ran: m.Ran, sources: list[dict[str, Any]], made: dict[str, str]
) -> None:
    """Each copy is the one made before (no second invoice), its payments the source's, once."""
    by_id = {entry["source_id"]: entry for entry in ran.report}
    for source in sources:
        entry = by_id[source["id"]]
        assert (entry["outcome"], entry["verification"]) == ("copied", "exact"), entry
        assert entry["target_id"] == made[source["id"]]
        copy = await m.read(sandbox, "draft_publish", entry["target_id"])
        assert len(copy["payments"]) == len(source["payments"])
        assert (copy["status"], copy["totals"]["paid"], copy["totals"]["due"]) == (
            source["status"],
            source["totals"]["paid"],
            source["totals"]["due"],
        )


async def test_a_payment_the_target_failed_to_take_leaves_the_copy_to_the_next_run(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sources = await _payable(sandbox)
    store = sqlite_url()
    first = await _run_in_outage(sandbox, tmp_path, store, "outage", sources, "/payments$")

    assert first.code == 1, first.stderr
    assert first.summary()["failed"] == len(sources)
    made = {}
    for entry in first.report:
        assert entry["outcome"] == "failed" and entry["target_id"], entry
        assert entry["reason"].startswith(f"copied as {entry['target_id']}, but payment 0 failed")
        assert entry["reason"].endswith("run the migration again to finish it"), entry
        made[entry["source_id"]] = entry["target_id"]
    states = {e.source_id: (e.state, e.target_id) for e in await m.crosswalk(store, "outage")}
    assert states == {i: ("failed", t) for i, t in made.items()}  # revert finds the copies

    second = await _run(sandbox, tmp_path, store, "outage", sources)
    assert second.code == 0, second.stderr
    await _finished_like_the_source(sandbox, second, sources, made)
    for source in sources:
        copy = await m.read(sandbox, "draft_publish", made[source["id"]])
        assert _payments(copy) == _payments(source)


async def test_a_payment_the_target_refused_is_sent_again_once_the_map_is_fixed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """crm_v1's ``card`` is no draft_publish method: refused, the copy is failed and says to
    fix the map; the run with the map fixed records the payment under a key of its own (the
    refused one would only replay the refusal)."""
    sources = [
        i
        for i in await m.listing(sandbox, "crm_v1")
        if _takes(i, DRAFT_PUBLISH_METHODS | {"card"})
        and "card" in {p["method"] for p in i["payments"]}
    ][:2]
    assert sources, "the seed changed: no crm_v1 invoice paid by card that draft_publish takes"
    store = sqlite_url()
    first = await _run(sandbox, tmp_path, store, "unmapped", sources)
    assert first.code == 1, first.stderr
    made = {}
    for entry in first.report:
        assert entry["outcome"] == "failed" and entry["target_id"], entry
        assert "failed: draft_publish could not record the payment" in entry["reason"]
        assert "fix what it names (the map" in entry["reason"]
        # The target names only the methods it takes: the source's, and the map's key, too.
        assert (
            "(the source's method is 'card': map it to one the target takes under "
            "payment_methods)" in entry["reason"]
        ), entry["reason"]
        made[entry["source_id"]] = entry["target_id"]

    fixed = await _run(sandbox, tmp_path, store, "mapped", sources, {"card": "credit_card"})
    assert fixed.code == 0, fixed.stderr
    await _finished_like_the_source(sandbox, fixed, sources, made)
    for source in sources:
        copy = await m.read(sandbox, "draft_publish", made[source["id"]])
        mapped = [(a, d, "credit_card" if k == "card" else k) for a, d, k in _payments(source)]
        assert _payments(copy) == mapped
    # The copies are the first run's, which made them, though the second finished them:
    # ``revert --run unmapped`` finds every one, ``revert --run mapped`` none.
    by_first = {e.source_id: e.target_id for e in await m.crosswalk(store, "unmapped")}
    assert by_first == made
    assert await m.crosswalk(store, "mapped") == []
    # The second run's report says so: its lines name the run whose copies they are.
    assert [e.get("made_by_run") for e in fixed.report] == ["unmapped"] * len(sources)


async def test_a_status_the_target_failed_to_set_leaves_the_copy_to_the_next_run(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The issue fails at the target: the copy stays a draft, is failed, not copied "exact";
    the next run issues it and carries its payments."""
    sources = await _payable(sandbox)
    store = sqlite_url()
    first = await _run_in_outage(sandbox, tmp_path, store, "no-issue", sources, "/publish$")
    assert first.code == 1, first.stderr
    made = {}
    for entry in first.report:
        assert entry["outcome"] == "failed", entry
        assert ", but issue failed: " in entry["reason"], entry
        made[entry["source_id"]] = entry["target_id"]
        draft = await m.read(sandbox, "draft_publish", entry["target_id"])
        assert (draft["status"], draft["payments"]) == ("draft", [])
    # `migrate verify` compares money, which a draft copy has right: it says the copy is unfinished.
    report = tmp_path / "verify.jsonl"
    settings = m.migration_settings(sandbox, store)
    assert await verify(settings, "no-issue", report, io.StringIO()) == 1
    checked = [json.loads(line) for line in report.read_text().splitlines()]
    assert {e["source_id"]: e["outcome"] for e in checked} == dict.fromkeys(made, "failed")
    assert all(e["reason"].startswith("the copy is not finished (copied as") for e in checked)

    second = await _run(sandbox, tmp_path, store, "no-issue", sources)
    assert second.code == 0, second.stderr
    await _finished_like_the_source(sandbox, second, sources, made)


async def test_a_run_killed_while_the_target_issues_a_copy_is_finished_by_its_resume(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The process dies while draft_publish takes 3 s to publish a copy. The resumed run takes
    the step's key over: the publish may still land (settle time 5 s, the lease 2 s), so it
    waits that out, then finds it done or sends it, and finishes every copy in one run."""
    sources = (await _payable(sandbox))[:2]
    store = sqlite_url()
    config = m.config_for(tmp_path, sandbox, store, settle_s=5)
    ids = m.ids_file(tmp_path, [s["id"] for s in sources], "killed.ids")
    args = ["--from", "crm_v1", "--to", "draft_publish", "--ids", str(ids)]
    args += ["--map", str(m.map_file(tmp_path, "draft_publish")), "--lenient", "--run", "k"]
    slow = {"latency_ms": 3000, "methods": ["POST"], "path_regex": "/publish$"}
    before = len(await _publishes(sandbox))
    await m.emulator(sandbox, "draft_publish", "POST", "/_emulator/faults", slow)
    try:
        first = m.start(config, "run", *args)

        async def publishing() -> bool:
            return len(await _publishes(sandbox)) > before

        await m.wait_until(publishing, "a publish sent by the run")
        first.kill()
    finally:
        await m.emulator(sandbox, "draft_publish", "DELETE", "/_emulator/faults")
    resumed = m.run(config, "run", *args)
    assert resumed.code == 0, resumed.stderr
    entries = {e.source_id: e for e in await m.crosswalk(store, "k")}
    assert {e.state for e in entries.values()} == {"verified"}, entries
    for source in sources:
        copy = await m.read(sandbox, "draft_publish", entries[source["id"]].target_id or "")
        assert copy["status"] == source["status"]
        assert _payments(copy) == _payments(source)  # each payment once
    per_copy = Counter(e["path"] for e in (await _publishes(sandbox))[before:])
    assert len(per_copy) == len(sources), per_copy
    assert max(per_copy.values()) <= 2, per_copy  # the one lost in flight sent again at most once


async def _publishes(sandbox: Sandbox) -> list[dict[str, Any]]:
    log = await m.requests_log(sandbox, "draft_publish")
    return [e for e in log if e["method"] == "POST" and e["path"].endswith("/publish")]


async def test_a_payment_recorded_before_the_map_changed_finishes_the_copy_not_blocks_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Payment 0 is recorded, a later one refused (the map sends a method the target does not
    take). The map is then fixed with a catch-all, ``"*": "other"``, which changes what payment
    0 would send: its key, once more, met a different request, "already used with a different
    request; send a new key", and the copy stayed half paid however often the migration ran
    again. Payment 0 is done (its key's request succeeded): the copy is finished, and the
    report says the change did not apply to it."""
    source, later = await _paid_by_two_methods(sandbox)
    sources = [source]
    store = sqlite_url()
    first = await _run(sandbox, tmp_path, store, "unmapped", sources, {later: "coins"})
    assert first.code == 1, first.stderr
    (entry,) = first.report
    made = {source["id"]: entry["target_id"]}
    assert ", but payment " in entry["reason"] and "'coins'" in entry["reason"], entry["reason"]

    catch_all = {later: later, "*": "other"}
    fixed = await _run(sandbox, tmp_path, store, "mapped", sources, catch_all)
    assert fixed.code == 0, (fixed.stderr, fixed.report)
    await _finished_like_the_source(sandbox, fixed, sources, made)
    copy = await m.read(sandbox, "draft_publish", made[source["id"]])
    assert _payments(copy)[0] == _payments(source)[0]  # under the first map: its own method
    assert [p[2] for p in _payments(copy)[1:]] == [
        later if p["method"] == later else "other" for p in source["payments"][1:]
    ]
    (done,) = fixed.report
    said = {w["field"]: w["reason"] for w in done["warnings"]}
    assert said["/payments/0"].startswith("recorded by an earlier run, before the map changed")


async def test_a_copy_made_before_the_map_changed_is_finished_not_blocked(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The copy is made, its payment fails (an outage); the map then changes what its create
    would send (no item on the lines). The create's key met a different request and the copy
    failed at every run, its target id unreported. The copy made is finished, and the report
    says the change did not apply to it."""
    sources = (await _payable(sandbox))[:1]
    store = sqlite_url()
    first = await _run_in_outage(sandbox, tmp_path, store, "outage", sources, "/payments$")
    assert first.code == 1, first.stderr
    (entry,) = first.report
    made = {sources[0]["id"]: entry["target_id"]}
    plan = Plan(
        run="outage",
        source="crm_v1",
        target="draft_publish",
        ids=(sources[0]["id"],),
        handling="lenient",
    )
    refs = ReferenceMap(customers={"*": m.SEEDED["draft_publish"].customer}, items={"*": ""})
    again = await m.migrate_here(m.migration_settings(sandbox, store), plan, refs, tmp_path)
    assert again.code == 0, (again.stderr, again.report)
    await _finished_like_the_source(sandbox, again, sources, made)
    (done,) = again.report
    said = {w["field"]: w["reason"] for w in done["warnings"]}
    assert said[""].startswith("copied by an earlier run whose later step failed"), said


async def test_a_payment_step_whose_place_holds_another_payment_now_is_not_taken_for_done(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A step's key names a payment's place (``payment 0``), not the payment: after the payments
    changed, the key's earlier success is another payment's. It was taken for this one, which
    was then never recorded, and the copy reported exact. The copy's payment at that place must
    be the source's (amount, date, reference), or the copy fails, saying so, recording nothing."""
    source, later = await _paid_by_two_methods(sandbox)
    sources = [source]
    store = sqlite_url()
    first = await _run(sandbox, tmp_path, store, "unmapped", sources, {later: "coins"})
    (entry,) = first.report
    copy_path = f"/v1/connections/draft_publish/invoices/{entry['target_id']}"
    copy = await m.read(sandbox, "draft_publish", entry["target_id"])
    # Someone replaces the copy's payment 0 with another (as a changed source would make it).
    await m.api(sandbox, "DELETE", f"{copy_path}/payments/{copy['payments'][0]['id']}")
    other = {"amount": "0.01", "date": source["payments"][0]["date"], "method": "cash"}
    await m.api(sandbox, "POST", f"{copy_path}/payments", other)

    catch_all = {later: later, "*": "other"}
    again = await _run(sandbox, tmp_path, store, "mapped", sources, catch_all)
    assert again.code == 1, again.stderr
    (failed,) = again.report
    assert failed["outcome"] == "failed"
    assert (
        "payment 0 of the copy, recorded by an earlier run, is not the source's payment 0"
        in (failed["reason"])
    )
    now = await m.read(sandbox, "draft_publish", entry["target_id"])
    assert _payments(now) == [("0.01", other["date"], "cash")]  # nothing recorded after it


@pytest.mark.parametrize("kept", [1, 0])
async def test_a_copy_holding_payments_its_source_no_longer_has_fails_not_finished(
    sandbox: Sandbox, tmp_path: Path, aiohttp_server: Any, kept: int
) -> None:
    """A run records payments 0 and 1 of three alike and fails at payment 2 (its method
    mapped to one the target refuses); the source then keeps only its first ``kept``. The
    next run replayed what was left from its keys and finished the copy as copied, exit 0,
    holding payments the source no longer has (more paid than the source, said only as a
    difference; with none left, no payment step ran at all). The copy fails, saying the
    source's payments changed, and nothing more is recorded."""
    source_url = str((await aiohttp_server(create_app("draft_publish"))).make_url("")).rstrip("/")
    source_connection = sandbox_connection("draft_publish", source_url).model_copy(
        update={"name": "dp_source"}
    )
    store = sqlite_url()
    settings = m.migration_settings(sandbox, store)
    settings = settings.model_copy(
        update={"connections": [*settings.connections, source_connection]}
    )
    async with aiohttp.ClientSession() as session:
        source = build_adapter(source_connection, session)
        made = await source.create(profile("draft_publish").sample(0))
        source_id = made.invoice.id
        assert source_id is not None
        await source.act(source_id, "issue")
        for method in ("bank_transfer", "bank_transfer", "cash"):
            alike = Payment(amount=Decimal("1.00"), date=date(2026, 2, 10), method=method)
            await source.record_payment(source_id, alike)
        plan = Plan(
            run="changed",
            source="dp_source",
            target="draft_publish",
            ids=(source_id,),
            handling="lenient",  # the source's number: draft_publish numbers its own
        )
        same = {line.item_id: line.item_id for line in made.invoice.lines if line.item_id}
        refs = ReferenceMap(  # the two accounts are seeded alike
            customers={"*": m.SEEDED["draft_publish"].customer},
            items=same,
            payment_methods={"cash": "coins"},
        )
        first = await m.migrate_here(settings, plan, refs, tmp_path)
        assert first.code == 1, first.stderr
        entry = first.only()
        assert ", but payment 2" in entry["reason"], entry
        copy = await m.read(sandbox, "draft_publish", entry["target_id"])
        assert len(copy["payments"]) == 2
        for payment in (await source.list_payments(source_id))[kept:]:
            assert payment.id is not None
            await source.delete_payment(source_id, payment.id)
        again = await m.migrate_here(settings, plan, refs, tmp_path)
    assert again.code == 1, (again.stderr, again.report)
    failed = again.only()
    assert failed["outcome"] == "failed", failed
    assert (
        f"the copy holds 2 payments, recorded by earlier runs, and the source {kept} now"
        in failed["reason"]
    ), failed
    now = await m.read(sandbox, "draft_publish", entry["target_id"])
    assert now["payments"] == copy["payments"]  # nothing more recorded


async def test_verify_counts_an_invoice_the_run_failed_to_copy_as_failed_not_skipped(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """An invoice whose create the target refused was counted failed by its run; verify, which
    accounts for every invoice of the run, said it was skipped, and a team reading verify's
    summary (0 failed, exit 0) took the migration for complete."""
    sources = (await _payable(sandbox))[:1]
    store = sqlite_url()
    first = await _run_in_outage(sandbox, tmp_path, store, "refused", sources, "/invoices$")
    assert first.code == 1, first.stderr
    [entry] = first.report
    assert (entry["outcome"], entry.get("target_id")) == ("failed", None), entry

    report = tmp_path / "verify.jsonl"
    settings = m.migration_settings(sandbox, store)
    assert await verify(settings, "refused", report, io.StringIO()) == 1
    [checked] = [json.loads(line) for line in report.read_text().splitlines()]
    assert (checked["source_id"], checked["outcome"]) == (sources[0]["id"], "failed")
    assert checked["reason"] == f"not copied: the run could not copy it ({entry['reason']})"
