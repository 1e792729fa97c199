"""bill_crm: writes whose answer was lost are found again (docs/providers/bill_crm.md, "Lost
answers").

A create is a header (``POST``) and then lines, a second header and tags (``PUT``s): the marker
rides in ``bill_notes`` with the header, so a header whose answer was lost is found and the
create's remaining calls finish it. The lookup lists the client's invoices newest first and
ends at the first one made before the write. Status actions are read back; a duplicate (clone)
is found among the client's new invoices. bill_crm has no payments, notes or orders.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest

from adapters.base import DuplicateInputs, OutcomeUncertain, ReadBackFailed
from adapters.bill_crm.adapter import BillCrmAdapter
from adapters.resolution import DedupePlan, new_marker
from gateway.canonical.model import Invoice
from tests.adapters.bill_crm_env import BY_STATUS, INVOICES, SEED_INVOICES, Env, start
from tests.adapters.env import build
from tests.adapters.lost_answers import KINDS, comparable, impatient, lose
from tests.contract.profiles.bill_crm import sample

CREATE = r"^/api/v1/invoices$"
LINE_ITEMS = r"^/api/v1/invoices/\d+/line-items$"
ONE_INVOICE = r"^/api/v1/invoices/\d+$"
CLONE = r"^/api/v1/invoices/\d+/clone$"
ACTIONS = r"^/api/v1/invoices/\d+/(status|publish|email)$"
USER_NOTES = "Please quote PO 4471 with your payment."
# Seed 0, 23 invoices: one of each status.
DRAFT, DUE, CANCELLED = BY_STATUS[1], BY_STATUS[2], BY_STATUS[20]
STATUS_IDS = {"draft": 1, "open": 2, "paid": 5, "void": 20}


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


def invoice(**changes: Any) -> Invoice:
    """Client 1's invoice with every field bill_crm carries (lines, a percent discount, an
    adjustment, tags: four calls), ``notes`` left empty for the marker."""
    return sample(0).model_copy(update={"notes": None, **changes})


def new_ids(env: Env, before: set[int]) -> list[int]:
    return sorted(set(env.store.invoices) - before)


async def lost_create(
    env: Env, sent: Invoice, kind: str, *, after_commit: bool
) -> tuple[dict[str, Any], set[int]]:
    """``sent`` created through the hooks, the header's answer lost: the recovery and the ids
    the CRM held before."""
    adapter = impatient(env)
    recovery = await adapter.prepare_create(sent, new_marker())
    before = set(env.store.invoices)
    await lose(env, kind, after_commit=after_commit, path_regex=CREATE)
    with pytest.raises(OutcomeUncertain):
        await adapter.create(adapter.marked(sent, recovery))
    return recovery, before


# -- a create: the marker in bill_notes ------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_header_that_was_made_is_found_by_its_marker_and_finished(
    env: Env, kind: str
) -> None:
    sent = invoice()
    recovery, before = await lost_create(env, sent, kind, after_commit=True)
    assert recovery["marker_field"] == "notes"
    (made,) = new_ids(env, before)
    half = env.store.invoices[made]
    assert (half.notes, half.line_items, half.tags) == (recovery["marker"], [], [])

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "done", found.detail
    assert new_ids(env, before) == [made]  # the one the header made, nothing more
    result = found.result.invoice
    assert result.id == str(made)
    assert env.store.invoices[made].notes == recovery["marker"]  # held by bill_crm
    assert result.notes is None  # as it was sent: the marker the gateway added reads as nothing
    assert [line.name for line in result.lines] == [
        "Consulting",
        "Hosting (monthly)",
        "Copywriting",
    ]
    assert result.tags == ["sample", "batch-0"] == env.store.invoices[made].tags
    assert result.discount == sent.discount
    assert result.adjustment == sent.adjustment
    # What a create that lost nothing answers for the same invoice.
    await env.faults()
    clean = await env.adapter.create(env.adapter.marked(sent, recovery))
    assert comparable(result) == comparable(clean.invoice)


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_header_that_never_reached_the_crm_is_not_done(env: Env, kind: str) -> None:
    sent = invoice()
    recovery, before = await lost_create(env, sent, kind, after_commit=False)

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "not_done", found.detail
    assert new_ids(env, before) == []
    assert await env.count() == SEED_INVOICES


async def test_a_header_only_invoice_is_found_as_it_is(env: Env) -> None:
    sent = invoice(lines=[], discount=None, adjustment=None, tags=[])
    recovery, before = await lost_create(env, sent, "error", after_commit=True)
    start_at = len(await env.log())

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "done", found.detail
    assert [found.result.invoice.id] == [str(made) for made in new_ids(env, before)]
    assert found.result.invoice.lines == []
    assert await env.writes_since(start_at) == []  # nothing was missing, nothing was sent


async def test_the_lookup_lists_the_clients_invoices_newest_first_and_only_reads(
    env: Env,
) -> None:
    sent = invoice(lines=[], discount=None, adjustment=None, tags=[])
    recovery, _ = await lost_create(env, sent, "reset", after_commit=True)
    start_at = len(await env.log())

    await env.adapter.find_created(sent, recovery)

    lists = [r["query"] for r in (await env.log())[start_at:] if r["path"] == INVOICES]
    assert lists == [
        {"page": "1", "limit": "100", "sort": "bill_created", "order": "desc", "client_id": "1"}
    ]
    assert await env.writes_since(start_at) == []


async def test_a_half_made_invoice_that_cannot_be_finished_is_deleted(env: Env) -> None:
    sent = invoice()
    recovery, before = await lost_create(env, sent, "error", after_commit=True)
    (made,) = new_ids(env, before)
    await env.faults(error_rate=1, error_status=503, methods=["PUT"], path_regex=LINE_ITEMS)
    start_at = len(await env.log())

    found = await impatient(env).find_created(sent, recovery)

    assert found.state == "not_done", found.detail
    assert f"invoice {made}" in found.detail and "deleted" in found.detail
    assert new_ids(env, before) == []
    assert await env.writes_since(start_at) == [
        ("PUT", f"{INVOICES}/{made}/line-items"),
        ("DELETE", f"{INVOICES}/{made}"),
    ]


async def test_a_create_whose_read_back_failed_is_found_whole(env: Env) -> None:
    adapter = impatient(env)
    sent = invoice()
    recovery = await adapter.prepare_create(sent, new_marker())
    before = set(env.store.invoices)
    await env.faults(error_rate=1, error_status=503, methods=["GET"], path_regex=ONE_INVOICE)
    with pytest.raises(ReadBackFailed):
        await adapter.create(adapter.marked(sent, recovery))
    await env.faults()
    start_at = len(await env.log())

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "done", found.detail
    assert [found.result.invoice.id] == [str(made) for made in new_ids(env, before)]
    assert await env.writes_since(start_at) == []


async def test_a_lookup_that_fails_is_unknown_and_asking_again_later_finds_it(env: Env) -> None:
    sent = invoice()
    recovery, before = await lost_create(env, sent, "reset", after_commit=True)
    await env.faults(error_rate=1, error_status=503, methods=["GET"])

    first = await impatient(env).find_created(sent, recovery)
    await env.faults()
    second = await env.adapter.find_created(sent, recovery)

    assert first.state == "unknown", first.detail
    assert second.state == "done", second.detail
    assert [second.result.invoice.id] == [str(made) for made in new_ids(env, before)]


# -- the lookup's bound: newest first, back to the write's start -------------------------------


def bounded(env: Env, max_pages: int, page_size: int) -> BillCrmAdapter:
    """The adapter with a lookup of ``max_pages`` pages of ``page_size``."""
    mapping = env.adapter.mapping
    small = dataclasses.replace(
        mapping,
        dedupe=DedupePlan(mapping.dedupe.marker, mapping.dedupe.lookup, max_pages),
        capabilities=dataclasses.replace(mapping.capabilities, max_page_size=page_size),
    )
    return build(BillCrmAdapter, env.adapter.connection, env.session, small, env.today)


async def test_not_there_is_known_at_the_first_invoice_older_than_the_create(env: Env) -> None:
    older = [i for i, record in env.store.invoices.items() if record.client_id == 1]
    assert len(older) >= 2  # seeded months ago: more than the one page read
    sent = invoice()
    recovery, before = await lost_create(env, sent, "reset", after_commit=False)

    found = await bounded(env, max_pages=1, page_size=1).find_created(sent, recovery)

    assert found.state == "not_done", found.detail
    assert "1 page(s) read" in found.detail
    assert new_ids(env, before) == []


async def test_a_marked_create_is_found_behind_newer_invoices_of_the_client(env: Env) -> None:
    sent = invoice(lines=[], discount=None, adjustment=None, tags=[])
    recovery, before = await lost_create(env, sent, "error", after_commit=True)
    (made,) = new_ids(env, before)
    await env.faults()
    for _ in range(2):  # made after it: listed before it
        await env.adapter.create(invoice(notes="Later invoice."))

    found = await bounded(env, max_pages=3, page_size=1).find_created(sent, recovery)
    too_few = await bounded(env, max_pages=2, page_size=1).find_created(sent, recovery)

    assert found.state == "done", found.detail
    assert found.result.invoice.id == str(made)
    assert too_few.state == "unknown"
    assert "limit" in too_few.detail


# -- the caller's notes: never overwritten, the invoice matched on what was sent ----------------


async def test_the_callers_notes_are_kept_and_a_whole_create_is_found_by_what_was_sent(
    env: Env,
) -> None:
    sent = invoice(notes=USER_NOTES)
    older = (await env.adapter.create(sent)).invoice  # the same invoice, made just before
    adapter = impatient(env)
    recovery = await adapter.prepare_create(sent, new_marker())
    assert "marker" not in recovery
    assert recovery["existing"] == [older.id]
    assert recovery["complete"] is True
    before = set(env.store.invoices)
    await env.faults(error_rate=1, error_status=503, methods=["GET"], path_regex=ONE_INVOICE)
    with pytest.raises(ReadBackFailed):
        await adapter.create(adapter.marked(sent, recovery))
    await env.faults()
    posted = [r["body"] for r in await env.log() if (r["method"], r["path"]) == ("POST", INVOICES)]
    assert posted[-1]["bill_notes"] == USER_NOTES

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "done", found.detail
    (made,) = new_ids(env, before)
    assert found.result.invoice.id == str(made) != older.id
    assert env.store.invoices[made].notes == USER_NOTES
    assert found.result.invoice.notes == USER_NOTES
    assert comparable(found.result.invoice) == comparable(older)


async def test_an_older_look_alike_is_not_taken_for_a_create_that_never_happened(
    env: Env,
) -> None:
    sent = invoice(notes=USER_NOTES)
    older = (await env.adapter.create(sent)).invoice
    recovery, before = await lost_create(env, sent, "timeout", after_commit=False)

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "not_done", found.detail
    assert recovery["existing"] == [older.id]
    assert new_ids(env, before) == []


async def test_a_half_made_look_alike_is_finished_with_the_callers_notes(env: Env) -> None:
    sent = invoice(notes=USER_NOTES)
    older = (await env.adapter.create(sent)).invoice  # the same invoice, made just before
    recovery, before = await lost_create(env, sent, "reset", after_commit=True)
    assert recovery["existing"] == [older.id]
    (made,) = new_ids(env, before)
    assert env.store.invoices[made].line_items == []

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "done", found.detail
    assert new_ids(env, before) == [made]
    assert found.result.invoice.id == str(made) != older.id
    assert env.store.invoices[made].notes == USER_NOTES == found.result.invoice.notes
    assert comparable(found.result.invoice) == comparable(older)


async def test_a_look_alike_is_matched_on_what_lenient_handling_sent(env: Env) -> None:
    sent = invoice(notes=USER_NOTES, number="A-1")  # bill_crm numbers its own: dropped
    adapter = impatient(env)
    recovery = await adapter.prepare_create(sent, new_marker())
    before = set(env.store.invoices)
    await lose(env, "error", after_commit=True, path_regex=CREATE)
    with pytest.raises(OutcomeUncertain):
        await adapter.create(adapter.marked(sent, recovery), handling="lenient")
    await env.faults()

    found = await env.adapter.find_created(sent, recovery, handling="lenient")

    assert found.state == "done", found.detail
    (made,) = new_ids(env, before)
    assert found.result.invoice.id == str(made)
    assert len(env.store.invoices[made].line_items) == 3  # finished
    assert [w.field for w in found.result.warnings] == ["/number"]


async def test_an_older_half_made_look_alike_is_not_taken_for_a_create_that_never_happened(
    env: Env,
) -> None:
    sent = invoice(notes=USER_NOTES)
    header = sent.model_copy(update={"lines": [], "discount": None, "adjustment": None, "tags": []})
    older = (await env.adapter.create(header)).invoice  # the same header, nothing more yet
    recovery, before = await lost_create(env, sent, "error", after_commit=False)
    assert recovery["existing"] == [older.id]
    start_at = len(await env.log())

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "not_done", found.detail
    assert new_ids(env, before) == []
    assert await env.writes_since(start_at) == []  # the older one is left as it is
    assert older.id is not None and env.store.invoices[int(older.id)].line_items == []


async def test_two_new_look_alikes_cannot_be_told_apart(env: Env) -> None:
    sent = invoice(notes=USER_NOTES)
    adapter = impatient(env)
    recovery = await adapter.prepare_create(sent, new_marker())
    before = set(env.store.invoices)
    await env.faults(error_rate=1, error_status=503, methods=["GET"], path_regex=ONE_INVOICE)
    with pytest.raises(ReadBackFailed):
        await adapter.create(sent)
    await env.faults()
    await env.adapter.create(sent)  # another client made the same invoice meanwhile

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "unknown"
    assert not found.tellable, "asking again finds the same two: no retry can tell them apart"
    assert sorted(map(str, new_ids(env, before))) == sorted(
        found.detail.split(": ", 1)[1].split(";", 1)[0].split(", ")
    )


async def test_two_new_look_alikes_are_judged_again_without_the_one_another_write_made(
    env: Env,
) -> None:
    """The store knows which of the two another write made (``Resolution.without``): the
    other is this create's, and one half-made is finished. bill_crm's own lookup gave no such
    second judgement, so a lost create beside another key's alike stayed untellable, naming
    both (the generic lookup has it)."""
    sent = invoice(notes=USER_NOTES)
    recovery, before = await lost_create(env, sent, "reset", after_commit=True)
    await env.faults()
    theirs = (await env.adapter.create(sent)).invoice  # another key made the same meanwhile
    (mine,) = [made for made in new_ids(env, before) if str(made) != theirs.id]
    assert env.store.invoices[mine].line_items == []  # half-made: its answer was lost

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "unknown" and not found.tellable, found.detail
    assert sorted(found.among) == sorted([str(mine), str(theirs.id)])
    assert found.without is not None
    judged = await found.without(frozenset({str(theirs.id)}))
    assert judged.state == "done", judged.detail
    assert judged.result.invoice.id == str(mine)
    assert len(env.store.invoices[mine].line_items) == 3  # finished
    assert (await found.without(frozenset(found.among))).state == "not_done"


# -- duplicate: the clone, among the client's new invoices --------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_clone_that_was_made_is_found(env: Env, kind: str) -> None:
    source = (await env.adapter.create(invoice())).invoice
    assert source.id is not None
    adapter = impatient(env)
    recovery = await adapter.prepare_action(source.id, "duplicate")
    before = set(env.store.invoices)
    await lose(env, kind, after_commit=True, path_regex=CLONE)
    with pytest.raises(OutcomeUncertain):
        await adapter.act(source.id, "duplicate")
    await env.faults()

    found = await env.adapter.find_action(source.id, "duplicate", recovery)

    assert found.state == "done", found.detail
    (made,) = new_ids(env, before)
    assert found.result.id == str(made) != source.id
    assert found.result.status == "draft"
    assert found.result.customer == source.customer
    assert (found.result.issue_date, found.result.due_date) == (source.issue_date, source.due_date)
    assert comparable(found.result) == comparable(source.model_copy(update={"status": "draft"}))


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_clone_that_was_never_made_is_not_done(env: Env, kind: str) -> None:
    source = (await env.adapter.create(invoice())).invoice
    assert source.id is not None
    earlier = await env.adapter.act(source.id, "duplicate")  # a clone made before: not this one
    adapter = impatient(env)
    recovery = await adapter.prepare_action(source.id, "duplicate")
    assert recovery["existing"] == [earlier.id]
    before = set(env.store.invoices)
    await lose(env, kind, after_commit=False, path_regex=CLONE)
    with pytest.raises(OutcomeUncertain):
        await adapter.act(source.id, "duplicate")
    await env.faults()

    found = await env.adapter.find_action(source.id, "duplicate", recovery)

    assert found.state == "not_done", found.detail
    assert new_ids(env, before) == []


# -- status actions: the status read back ------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "invoice_id", "after"),
    [
        ("void", DUE, "void"),
        ("issue", DRAFT, "open"),
        ("mark_paid", DUE, "paid"),
        ("reactivate", CANCELLED, "open"),
    ],
)
@pytest.mark.parametrize("after_commit", [True, False])
async def test_a_status_change_is_read_back(
    env: Env, action: str, invoice_id: str, after: str, after_commit: bool
) -> None:
    adapter = impatient(env)
    recovery = await adapter.prepare_action(invoice_id, action)
    before = env.store.invoices[int(invoice_id)].status_id
    await lose(env, "reset", after_commit=after_commit, path_regex=ACTIONS)
    with pytest.raises(OutcomeUncertain):
        await adapter.act(invoice_id, action)
    await env.faults()

    found = await env.adapter.find_action(invoice_id, action, recovery)

    status_id = env.store.invoices[int(invoice_id)].status_id
    if after_commit:
        assert found.state == "done", found.detail
        assert found.result.id == invoice_id
        assert found.result.status == after
        assert status_id == STATUS_IDS[after]
    else:
        assert found.state == "not_done", found.detail
        assert status_id == before
    assert await env.count() == SEED_INVOICES


async def test_an_email_leaves_no_trace_so_a_lost_one_is_unknown(env: Env) -> None:
    adapter = impatient(env)
    recovery = await adapter.prepare_action(DUE, "send")
    await lose(env, "error", after_commit=True, path_regex=ACTIONS)
    with pytest.raises(OutcomeUncertain):
        await adapter.act(DUE, "send")
    await env.faults()

    found = await env.adapter.find_action(DUE, "send", recovery)

    assert found.state == "unknown"
    assert recovery == {"before": "open"}


@pytest.mark.parametrize(
    ("action", "invoice_id", "target"),
    [
        ("mark_overdue", DUE, 3),
        ("mark_partially_paid", DUE, 4),
        ("mark_unpaid", BY_STATUS[5], 2),
        ("unpublish", DUE, 1),
    ],
)
@pytest.mark.parametrize("after_commit", [True, False])
async def test_a_change_within_open_is_told_by_the_status_id(
    env: Env, action: str, invoice_id: str, target: int, after_commit: bool
) -> None:
    # Due → Overdue or Part Paid is open → open canonically: only the CRM's id tells.
    adapter = impatient(env)
    recovery = await adapter.prepare_action(invoice_id, action)
    before = env.store.invoices[int(invoice_id)].status_id
    assert recovery == {"before_id": str(before)}
    await lose(env, "reset", after_commit=after_commit, path_regex=ACTIONS)
    with pytest.raises(OutcomeUncertain):
        await adapter.act(invoice_id, action)
    await env.faults()

    found = await env.adapter.find_action(invoice_id, action, recovery)

    status_id = env.store.invoices[int(invoice_id)].status_id
    if after_commit:
        assert found.state == "done", found.detail
        assert (found.result.id, status_id) == (invoice_id, target)
        assert found.result.provider_status is not None
        assert found.result.provider_status["status"]["id"] == target
    else:
        assert found.state == "not_done", found.detail
        assert status_id == before


@pytest.mark.parametrize("after_commit", [True, False])
async def test_a_clone_to_another_client_is_found_under_that_client(
    env: Env, after_commit: bool
) -> None:
    source = (await env.adapter.create(invoice())).invoice
    assert source.id is not None
    inputs = DuplicateInputs(
        customer_id="6", issue_date=date(2026, 9, 1), provider_fields={"bill_projectid": 7}
    )
    adapter = impatient(env)
    recovery = await adapter.prepare_duplicate(source.id, inputs)
    before = set(env.store.invoices)
    await lose(env, "reset", after_commit=after_commit, path_regex=CLONE)
    with pytest.raises(OutcomeUncertain):
        await adapter.duplicate(source.id, inputs)
    await env.faults()

    found = await env.adapter.find_duplicate(source.id, inputs, recovery)

    if not after_commit:
        assert found.state == "not_done", found.detail
        assert new_ids(env, before) == []
        return
    assert found.state == "done", found.detail
    (made,) = new_ids(env, before)
    assert found.result.id == str(made)
    assert found.result.customer is not None and found.result.customer.id == "6"
    assert source.issue_date is not None and source.due_date is not None
    term = source.due_date - source.issue_date
    assert (found.result.issue_date, found.result.due_date) == (
        date(2026, 9, 1),
        date(2026, 9, 1) + term,
    )
    assert found.result.provider_fields["bill_projectid"] == 7
