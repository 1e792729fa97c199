"""order_linked: writes whose answer was lost are found again (docs/providers/order_linked.md,
"Lost answers").

The marker goes in ``invoice_note`` when the caller left it empty; the list has no sort, so the
lookup reads the account's pages from the last one back (newest first) and ends at the first
invoice made before the write. An invoice made from an order is the one new invoice naming the
order; cancel and reactivate are read back; a note cannot be listed, so a lost one is unknown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.base import OutcomeUncertain
from adapters.order_linked.adapter import OrderLinkedAdapter
from adapters.resolution import DedupePlan, new_marker
from gateway.canonical.model import Invoice
from tests.adapters.env import build
from tests.adapters.lost_answers import KINDS, comparable, impatient, lose
from tests.adapters.order_linked_env import SEEDED, Env, start
from tests.contract.profiles.order_linked import ACTIVE_SEEDED, INACTIVE_SEEDED, line, sample

CREATE = r"^/invoices$"
FROM_ORDER = r"^/orders/[^/]+/invoices$"
ACTIONS = r"^/invoices/[^/]+/(cancel|reactivate)$"
NOTES = r"^/invoices/[^/]+/notes$"
USER_NOTES = "Delivered to the loading dock, gate 3."


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


def invoice(**changes: Any) -> Invoice:
    """Account ACC-1001's invoice with every field order_linked carries (a purchase order, custom
    attributes, a package), ``notes`` left empty for the marker."""
    return sample(0).model_copy(update={"notes": None, **changes})


def new_ids(env: Env, before: set[str]) -> list[str]:
    return sorted(set(env.store.invoices) - before)


def account_ids(env: Env, account: str) -> list[str]:
    return [i for i, record in env.store.invoices.items() if record.account.id == account]


async def lost_create(
    env: Env, sent: Invoice, kind: str, *, after_commit: bool
) -> tuple[dict[str, Any], set[str]]:
    """``sent`` created through the hooks, its answer lost: the recovery and the ids before."""
    adapter = impatient(env)
    recovery = await adapter.prepare_create(sent, new_marker())
    before = set(env.store.invoices)
    await lose(env, kind, after_commit=after_commit, path_regex=CREATE)
    with pytest.raises(OutcomeUncertain):
        await adapter.create(adapter.marked(sent, recovery))
    return recovery, before


# -- a create: the marker in invoice_note -----------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_create_that_happened_is_found_by_its_marker(env: Env, kind: str) -> None:
    sent = invoice()
    recovery, before = await lost_create(env, sent, kind, after_commit=True)
    assert recovery["marker_field"] == "notes"

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "done", found.detail
    (made,) = new_ids(env, before)  # the provider holds exactly one new invoice
    result = found.result.invoice
    assert result.id == made
    assert env.store.invoices[made].invoice_note == recovery["marker"]
    assert result.notes is None  # as it was sent: the marker the gateway added reads as nothing
    assert result.reference == "PO-7000"  # the caller's purchase order, untouched
    assert [(line.item_id, str(line.quantity)) for line in result.lines] == [
        ("ITM-1001", "2"),
        ("ITM-1005", "1.5"),
        ("ITM-1006", "3"),
    ]
    # What a create that lost nothing answers for the same invoice.
    await env.faults()
    clean = await env.adapter.create(env.adapter.marked(sent, recovery))
    assert comparable(result) == comparable(clean.invoice)
    assert found.result.warnings == clean.warnings == []


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_create_that_never_reached_the_provider_is_not_done(env: Env, kind: str) -> None:
    sent = invoice()
    recovery, before = await lost_create(env, sent, kind, after_commit=False)

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "not_done", found.detail
    assert new_ids(env, before) == []
    assert len(env.store.invoices) == SEEDED


async def test_a_found_create_carries_the_tax_warnings_its_answer_would_have(env: Env) -> None:
    lines = [
        line("ITM-1001", "1", "749.00"),
        {**line("ITM-1006", "1", "45.00"), "taxes": [{"rate": "29", "id": "WET"}]},  # 0% item
    ]
    sent = Invoice.model_validate({**invoice().model_dump(), "lines": lines})
    recovery, before = await lost_create(env, sent, "error", after_commit=True)

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "done", found.detail
    assert [found.result.invoice.id] == new_ids(env, before)
    await env.faults()
    clean = await env.adapter.create(env.adapter.marked(sent, recovery))
    assert [w.as_dict() for w in found.result.warnings] == [w.as_dict() for w in clean.warnings]
    assert [w.field for w in clean.warnings] == ["/lines/1/taxes/0"]


async def test_the_lookup_reads_the_accounts_last_page_first_and_only_reads(env: Env) -> None:
    sent = invoice()
    recovery, _ = await lost_create(env, sent, "reset", after_commit=True)
    start_at = len(await env.log())

    await env.adapter.find_created(sent, recovery)

    lists = [r["query"] for r in (await env.log())[start_at:] if r["path"] == "/invoices"]
    # Every invoice of the account fits on one page of 100: the first page is the last.
    assert lists == [{"page": "1", "per_page": "100", "account_id": "ACC-1001"}]
    assert await env.writes_since(start_at) == []


# -- the lookup's bound: from the last page back, to the write's start ---------------------------


def bounded(env: Env, max_pages: int, page_size: int) -> OrderLinkedAdapter:
    """The adapter with a lookup of ``max_pages`` pages of ``page_size``."""
    mapping = env.adapter.mapping
    small = dataclasses.replace(
        mapping,
        dedupe=DedupePlan(mapping.dedupe.marker, mapping.dedupe.lookup, max_pages),
        capabilities=dataclasses.replace(mapping.capabilities, max_page_size=page_size),
    )
    return build(OrderLinkedAdapter, env.adapter.connection, env.session, small, env.today)


async def test_a_marked_create_on_the_last_page_is_found_in_one_lookup_page(env: Env) -> None:
    sent = invoice()
    recovery, before = await lost_create(env, sent, "error", after_commit=True)
    (made,) = new_ids(env, before)
    held = len(account_ids(env, "ACC-1001"))
    assert held > 2  # several pages of 2, oldest first: the new invoice is on the last
    start_at = len(await env.log())

    found = await bounded(env, max_pages=1, page_size=2).find_created(sent, recovery)

    assert found.state == "done", found.detail
    assert found.result.invoice.id == made
    pages = [r["query"]["page"] for r in (await env.log())[start_at:] if r["path"] == "/invoices"]
    assert pages == ["1", str(-(-held // 2))]  # the first (for the total), then the last


async def test_not_there_is_known_at_the_first_invoice_older_than_the_create(env: Env) -> None:
    assert len(account_ids(env, "ACC-1001")) >= 2  # seeded months ago
    sent = invoice()
    recovery, before = await lost_create(env, sent, "reset", after_commit=False)

    found = await bounded(env, max_pages=1, page_size=1).find_created(sent, recovery)

    assert found.state == "not_done", found.detail
    assert found.detail.startswith("order_linked does not list the invoice with marker "), (
        found.detail
    )
    assert "1 page(s) read" in found.detail
    assert new_ids(env, before) == []


async def test_newer_invoices_of_the_account_come_first_up_to_the_bound(env: Env) -> None:
    sent = invoice()
    recovery, before = await lost_create(env, sent, "error", after_commit=True)
    (made,) = new_ids(env, before)
    await env.faults()
    for _ in range(2):  # made after it: listed before it
        await env.adapter.create(invoice(notes="Later invoice."))

    found = await bounded(env, max_pages=3, page_size=1).find_created(sent, recovery)
    too_few = await bounded(env, max_pages=2, page_size=1).find_created(sent, recovery)

    assert found.state == "done", found.detail
    assert found.result.invoice.id == made
    assert too_few.state == "unknown"
    assert "limit" in too_few.detail


# -- the caller's notes: never overwritten, the invoice matched on what was sent ----------------


async def test_the_callers_notes_are_kept_and_the_create_is_found_by_what_was_sent(
    env: Env,
) -> None:
    sent = invoice(notes=USER_NOTES)
    older = (await env.adapter.create(sent)).invoice  # the same invoice, made just before
    recovery, before = await lost_create(env, sent, "timeout", after_commit=True)
    assert "marker" not in recovery
    assert recovery["existing"] == [older.id]
    assert recovery["complete"] is True
    posted = [
        r["body"] for r in await env.log() if (r["method"], r["path"]) == ("POST", "/invoices")
    ]
    assert posted[-1]["invoice"]["invoice_note"] == USER_NOTES

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "done", found.detail
    (made,) = new_ids(env, before)
    assert found.result.invoice.id == made != older.id
    assert env.store.invoices[made].invoice_note == USER_NOTES == found.result.invoice.notes
    assert comparable(found.result.invoice) == comparable(older)


async def test_a_look_alike_is_matched_on_what_lenient_handling_sent(env: Env) -> None:
    # Line names are the items' at order_linked: lenient handling drops the caller's.
    named = [{**line("ITM-1001", "2", "749.00"), "name": "Desk, standing"}]
    sent = Invoice.model_validate({**invoice(notes=USER_NOTES).model_dump(), "lines": named})
    adapter = impatient(env)
    recovery = await adapter.prepare_create(sent, new_marker())
    assert "marker" not in recovery
    before = set(env.store.invoices)
    await lose(env, "reset", after_commit=True, path_regex=CREATE)
    with pytest.raises(OutcomeUncertain):
        await adapter.create(adapter.marked(sent, recovery), handling="lenient")
    await env.faults()

    found = await env.adapter.find_created(sent, recovery, handling="lenient")

    assert found.state == "done", found.detail
    assert [found.result.invoice.id] == new_ids(env, before)
    assert found.result.invoice.lines[0].name == "Standing Desk"
    assert [w.field for w in found.result.warnings] == ["/lines/0/name"]


async def test_an_older_look_alike_is_not_taken_for_a_create_that_never_happened(
    env: Env,
) -> None:
    sent = invoice(notes=USER_NOTES)
    older = (await env.adapter.create(sent)).invoice
    recovery, before = await lost_create(env, sent, "error", after_commit=False)

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "not_done", found.detail
    assert recovery["existing"] == [older.id]
    assert new_ids(env, before) == []


async def test_two_new_look_alikes_cannot_be_told_apart(env: Env) -> None:
    sent = invoice(notes=USER_NOTES)
    recovery, before = await lost_create(env, sent, "error", after_commit=True)
    await env.faults()
    await env.adapter.create(sent)  # another client made the same invoice meanwhile

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "unknown"
    assert not found.tellable, "asking again finds the same two: no retry can tell them apart"
    assert sorted(map(str, new_ids(env, before))) == sorted(
        found.detail.split(": ", 1)[1].split(";", 1)[0].split(", ")
    )


async def test_look_alikes_judged_again_give_the_one_left_with_its_tax_warnings(
    env: Env,
) -> None:
    """Two alike, one another write's (``Resolution.without``): the other is this create's,
    with the warnings its answer would have had, as a single look-alike is."""
    lines = [
        line("ITM-1001", "1", "749.00"),
        {**line("ITM-1006", "1", "45.00"), "taxes": [{"rate": "29", "id": "WET"}]},  # 0% item
    ]
    sent = Invoice.model_validate({**invoice(notes=USER_NOTES).model_dump(), "lines": lines})
    recovery, before = await lost_create(env, sent, "error", after_commit=True)
    await env.faults()
    theirs = await env.adapter.create(sent)  # another key made the same invoice meanwhile
    (mine,) = [made for made in new_ids(env, before) if made != theirs.invoice.id]

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "unknown" and found.without is not None, found.detail
    judged = await found.without(frozenset({str(theirs.invoice.id)}))
    assert judged.state == "done", judged.detail
    assert judged.result.invoice.id == mine
    assert [w.as_dict() for w in judged.result.warnings] == [w.as_dict() for w in theirs.warnings]
    assert [w.field for w in judged.result.warnings] == ["/lines/1/taxes/0"]


# -- create from an order: the one new invoice naming the order ----------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_an_order_invoice_that_was_made_is_found(env: Env, kind: str) -> None:
    asked = Invoice.model_validate({"currency": "USD", "tax_mode": "exclusive", "notes": "Hi"})
    adapter = impatient(env)
    recovery = await adapter.prepare_order_invoice("SO-1001")
    assert recovery["existing"] == []
    before = set(env.store.invoices)
    await lose(env, kind, after_commit=True, path_regex=FROM_ORDER)
    with pytest.raises(OutcomeUncertain):
        await adapter.create_from_order("SO-1001", asked, handling="lenient")
    await env.faults()

    found = await env.adapter.find_order_invoice("SO-1001", asked, recovery, handling="lenient")

    assert found.state == "done", found.detail
    (made,) = new_ids(env, before)
    result = found.result.invoice
    assert result.id == made
    assert result.customer is not None
    assert (result.order_id, result.customer.id, result.notes) == ("SO-1001", "ACC-1001", "Hi")
    assert env.store.invoices[made].order_id == "SO-1001"
    # The warnings the answer would have carried: the order's currency wins.
    assert [w.field for w in found.result.warnings] == ["/currency"]


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_an_order_invoice_that_was_never_made_is_not_done(env: Env, kind: str) -> None:
    adapter = impatient(env)
    earlier = (await env.adapter.create_from_order("SO-1001")).invoice
    assert earlier.id is not None
    await env.adapter.act(earlier.id, "void")  # frees the order; still an invoice of it
    recovery = await adapter.prepare_order_invoice("SO-1001")
    assert recovery["existing"] == [earlier.id]
    before = set(env.store.invoices)
    await lose(env, kind, after_commit=False, path_regex=FROM_ORDER)
    with pytest.raises(OutcomeUncertain):
        await adapter.create_from_order("SO-1001")
    await env.faults()

    found = await env.adapter.find_order_invoice("SO-1001", None, recovery)

    assert found.state == "not_done", found.detail
    assert new_ids(env, before) == []


async def test_an_earlier_invoice_of_the_order_is_not_taken_for_the_new_one(env: Env) -> None:
    earlier = (await env.adapter.create_from_order("SO-1002")).invoice
    assert earlier.id is not None
    await env.adapter.act(earlier.id, "void")
    adapter = impatient(env)
    recovery = await adapter.prepare_order_invoice("SO-1002")
    before = set(env.store.invoices)
    await lose(env, "reset", after_commit=True, path_regex=FROM_ORDER)
    with pytest.raises(OutcomeUncertain):
        await adapter.create_from_order("SO-1002")
    await env.faults()

    found = await env.adapter.find_order_invoice("SO-1002", None, recovery)

    assert found.state == "done", found.detail
    (made,) = new_ids(env, before)
    assert found.result.invoice.id == made != earlier.id
    assert found.result.invoice.status == "open"


# -- cancel and reactivate: the status read back -------------------------------------------------


@pytest.mark.parametrize(
    ("action", "invoice_id", "status_before", "status_after"),
    [
        ("void", ACTIVE_SEEDED, "ACTIVE", "INACTIVE"),
        ("reactivate", INACTIVE_SEEDED, "INACTIVE", "ACTIVE"),
    ],
)
@pytest.mark.parametrize("after_commit", [True, False])
async def test_a_cancel_or_reactivate_is_read_back(
    env: Env,
    action: str,
    invoice_id: str,
    status_before: str,
    status_after: str,
    after_commit: bool,
) -> None:
    assert env.store.invoices[invoice_id].status == status_before
    adapter = impatient(env)
    recovery = await adapter.prepare_action(invoice_id, action)
    await lose(env, "error", after_commit=after_commit, path_regex=ACTIONS)
    with pytest.raises(OutcomeUncertain):
        await adapter.act(invoice_id, action)
    await env.faults()

    found = await env.adapter.find_action(invoice_id, action, recovery)

    if after_commit:
        assert found.state == "done", found.detail
        assert found.result.id == invoice_id
        assert env.store.invoices[invoice_id].status == status_after
    else:
        assert found.state == "not_done", found.detail
        assert env.store.invoices[invoice_id].status == status_before
    assert len(env.store.invoices) == SEEDED


# -- notes: not listed anywhere -----------------------------------------------------------------


async def test_a_lost_note_cannot_be_told_and_is_unknown(env: Env) -> None:
    adapter = impatient(env)
    recovery = await adapter.prepare_note(ACTIVE_SEEDED, "Proof of delivery")
    await lose(env, "error", after_commit=True, path_regex=NOTES)
    with pytest.raises(OutcomeUncertain):
        await adapter.add_note(ACTIVE_SEEDED, "Proof of delivery")
    await env.faults()

    found = await env.adapter.find_note(ACTIVE_SEEDED, "Proof of delivery", recovery)

    assert found.state == "unknown"
    assert len(env.store.invoices[ACTIVE_SEEDED].notes) == 1  # it was made: only a list could tell
