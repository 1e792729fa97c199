"""draft_publish: every non-idempotent write whose answer was lost is found again, or said to be
unknown (docs/providers/draft_publish.md, "Lost answers").

A create carries the marker in ``notes`` when the caller left it empty; the state changes are
read back by status; payments are counted; a duplicate and a credit note are found among the
customer's documents.

The emulator runs on the real clock here: telling a new document from an older one compares its
``created_at`` with the gateway's clock, as it would against the real provider.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from adapters.base import OutcomeUncertain
from adapters.resolution import new_marker
from gateway.canonical.model import Invoice, Payment
from tests.adapters.draft_publish_env import BASE, Env, due_later, start
from tests.adapters.lost_answers import KINDS, comparable, impatient, lose
from tests.contract.profiles.draft_publish import sample

CREATE = r"^/api/v1/invoices$"
DUE = date(2099, 12, 31)
USER_NOTES = "Thank you for your business: bank details on page 2."


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server, clock=lambda: datetime.now(UTC)):
        yield value


def invoice(**changes: Any) -> Invoice:
    """Every field draft_publish carries, dated 2026-06-01, ``notes`` left empty; due after any
    day the tests run on, so that it never reads overdue."""
    return due_later(sample(0), DUE).model_copy(update={"notes": None, **changes})


def live(env: Env) -> set[str]:
    return {doc.id for doc in env.store.live()}


async def lost_create(
    env: Env, sent: Invoice, kind: str, *, after_commit: bool
) -> tuple[dict[str, Any], set[str]]:
    """``sent`` created through the hooks, its answer lost: the recovery and the ids before."""
    adapter = impatient(env)
    recovery = await adapter.prepare_create(sent, new_marker())
    before = live(env)
    await lose(env, kind, after_commit=after_commit, path_regex=CREATE)
    with pytest.raises(OutcomeUncertain):
        await adapter.create(adapter.marked(sent, recovery))
    return recovery, before


# -- create -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_create_that_happened_is_found_by_its_marker(env: Env, kind: str) -> None:
    sent = invoice()
    recovery, before = await lost_create(env, sent, kind, after_commit=True)
    assert recovery["marker_field"] == "notes"

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "done", found.detail
    (created,) = live(env) - before  # the provider holds exactly one new invoice
    assert found.result.invoice.id == created
    assert env.store.documents[created].fields.notes == recovery["marker"]
    assert found.result.invoice.notes is None  # the marker the gateway added reads as nothing
    await env.faults()
    clean = await env.adapter.create(env.adapter.marked(sent, recovery))
    assert comparable(found.result.invoice) == comparable(clean.invoice)
    assert found.result.invoice.status == "draft"
    assert found.result.invoice.issue_date == date(2026, 6, 1)


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_create_that_never_reached_the_provider_is_not_done(env: Env, kind: str) -> None:
    sent = invoice()
    recovery, before = await lost_create(env, sent, kind, after_commit=False)

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "not_done", found.detail
    assert live(env) == before


async def test_the_lookup_lists_the_customers_window(env: Env) -> None:
    sent = invoice()
    recovery, _ = await lost_create(env, sent, "error", after_commit=True)
    start_at = len(await env.log())

    await env.adapter.find_created(sent, recovery)

    lists = [r["query"] for r in (await env.log())[start_at:] if r["path"] == BASE]
    assert sent.customer is not None
    assert lists == [
        {
            "page": "1",
            "limit": "100",
            "customer_id": sent.customer.id,
            "from_date": "2026-05-31",
            "to_date": "2026-06-02",
        }
    ]
    assert await env.writes_since(start_at) == []


async def test_the_callers_notes_are_kept_and_the_create_is_found_by_what_was_sent(
    env: Env,
) -> None:
    sent = invoice(notes=USER_NOTES)
    older = (await env.adapter.create(sent)).invoice
    recovery, before = await lost_create(env, sent, "reset", after_commit=True)
    assert "marker" not in recovery
    assert recovery["existing"] == [older.id]

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "done", found.detail
    (created,) = live(env) - before
    assert found.result.invoice.id == created != older.id
    assert env.store.documents[created].fields.notes == USER_NOTES
    assert comparable(found.result.invoice) == comparable(older)


async def test_an_older_look_alike_is_not_taken_for_a_create_that_never_happened(
    env: Env,
) -> None:
    sent = invoice(notes=USER_NOTES)
    older = (await env.adapter.create(sent)).invoice
    recovery, before = await lost_create(env, sent, "error", after_commit=False)

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "not_done", found.detail
    assert live(env) == before
    assert recovery["existing"] == [older.id]


# -- state changes ------------------------------------------------------------------------------


async def issued(env: Env) -> str:
    invoice_id = await env.draft(invoice())
    await env.adapter.act(invoice_id, "issue")
    return invoice_id


async def lost_action(
    env: Env, invoice_id: str, action: str, kind: str, *, after_commit: bool
) -> dict[str, Any]:
    adapter = impatient(env)
    recovery = await adapter.prepare_action(invoice_id, action)
    await lose(env, kind, after_commit=after_commit, path_regex=r"/[a-z-]+$")
    with pytest.raises(OutcomeUncertain):
        await adapter.act(invoice_id, action)
    await env.faults()
    return recovery


# (action, made on an issued invoice or a draft, the provider's status once it ran)
ACTIONS = [
    ("issue", "draft", "sent"),
    ("mark_sent", "draft", "sent"),
    ("send", "draft", "sent"),
    ("void", "issued", "voided"),
    ("unpublish", "issued", "draft"),
    ("mark_paid", "issued", "paid"),
]


@pytest.mark.parametrize(("action", "on", "after"), ACTIONS)
async def test_a_state_change_that_happened_is_recognised(
    env: Env, action: str, on: str, after: str
) -> None:
    invoice_id = await (issued(env) if on == "issued" else env.draft(invoice()))
    recovery = await lost_action(env, invoice_id, action, "error", after_commit=True)
    assert env.store.documents[invoice_id].status == after

    found = await env.adapter.find_action(invoice_id, action, recovery)

    assert found.state == "done", found.detail
    assert found.result.id == invoice_id
    assert found.result.provider_status == {"status": after}


@pytest.mark.parametrize(("action", "on", "after"), ACTIONS)
async def test_a_state_change_that_never_ran_is_not_done(
    env: Env, action: str, on: str, after: str
) -> None:
    invoice_id = await (issued(env) if on == "issued" else env.draft(invoice()))
    status = env.store.documents[invoice_id].status
    recovery = await lost_action(env, invoice_id, action, "reset", after_commit=False)

    found = await env.adapter.find_action(invoice_id, action, recovery)

    assert found.state == "not_done", found.detail
    assert env.store.documents[invoice_id].status == status != after


async def test_a_void_lost_in_a_timeout_is_recognised(env: Env) -> None:
    invoice_id = await issued(env)
    recovery = await lost_action(env, invoice_id, "void", "timeout", after_commit=True)

    found = await env.adapter.find_action(invoice_id, "void", recovery)

    assert found.state == "done", found.detail
    assert found.result.status == "void"


async def test_sending_an_issued_invoice_again_cannot_be_told(env: Env) -> None:
    # The email is the only effect, and nothing the provider shows records it.
    invoice_id = await issued(env)
    recovery = await lost_action(env, invoice_id, "send", "error", after_commit=True)

    found = await env.adapter.find_action(invoice_id, "send", recovery)

    assert found.state == "unknown"


# -- payments -----------------------------------------------------------------------------------


def payment(amount: str = "100.00") -> Payment:
    return Payment(
        amount=Decimal(amount), date=date(2026, 6, 10), method="bank_transfer", reference="T-77"
    )


async def lost_payment(
    env: Env, invoice_id: str, kind: str, *, after_commit: bool
) -> dict[str, Any]:
    adapter = impatient(env)
    recovery = await adapter.prepare_payment(invoice_id, payment())
    await lose(env, kind, after_commit=after_commit, path_regex=r"/payments$")
    with pytest.raises(OutcomeUncertain):
        await adapter.record_payment(invoice_id, payment())
    await env.faults()
    return recovery


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_payment_that_was_recorded_is_recognised(env: Env, kind: str) -> None:
    invoice_id = await issued(env)
    earlier = await env.adapter.record_payment(invoice_id, payment())  # one just like it
    recovery = await lost_payment(env, invoice_id, kind, after_commit=True)
    assert recovery == {"ids": [earlier.payment_id]}
    kept = json.loads(json.dumps(recovery))  # as the gateway keeps it with the key

    found = await env.adapter.find_payment(invoice_id, payment(), kept)

    assert found.state == "done", found.detail
    stored = env.store.documents[invoice_id].payments
    assert [(p.amount, p.reference) for p in stored] == [(Decimal("100.00"), "T-77")] * 2
    assert found.result.invoice.id == invoice_id
    assert len(found.result.invoice.payments) == 2
    [made] = [p.id for p in stored if p.id != earlier.payment_id]
    assert found.result.payment_id == made  # the new one, named: kept as this write's
    assert found.among == (f"payment/{invoice_id}/{made}",)


async def test_a_key_kept_with_a_count_of_payments_is_still_judged_by_the_count(env: Env) -> None:
    """A key an earlier version kept holds how many payments alike there were, no ids: its
    lookup counts them, one more being the payment, the same number none."""
    invoice_id = await issued(env)
    await env.adapter.record_payment(invoice_id, payment())
    counted = {"matching": 1}

    assert (await env.adapter.find_payment(invoice_id, payment(), counted)).state == "not_done"
    await env.adapter.record_payment(invoice_id, payment())
    found = await env.adapter.find_payment(invoice_id, payment(), counted)
    assert found.state == "done", found.detail
    assert found.result.payment_id is None and len(found.result.invoice.payments) == 2


async def test_a_new_payment_another_write_made_is_taken_out_by_name(env: Env) -> None:
    """Two payments alike new since the write was sent: one is another key's (the store says
    so, ``without``), and the other is then this write's; taken out, neither is."""
    invoice_id = await issued(env)
    recovery = await lost_payment(env, invoice_id, "error", after_commit=True)
    another = await env.adapter.record_payment(invoice_id, payment())

    found = await env.adapter.find_payment(invoice_id, payment(), recovery)

    assert found.state == "unknown", found.detail  # two new, and nothing says whose
    assert found.without is not None
    theirs = f"payment/{invoice_id}/{another.payment_id}"
    judged = await found.without(frozenset({theirs}))
    assert judged.state == "done", judged.detail
    assert judged.result.payment_id not in (None, another.payment_id)
    assert (await found.without(frozenset(found.among))).state == "not_done"


async def test_a_payment_that_never_arrived_is_not_done(env: Env) -> None:
    invoice_id = await issued(env)
    recovery = await lost_payment(env, invoice_id, "error", after_commit=False)

    found = await env.adapter.find_payment(invoice_id, payment(), recovery)

    assert found.state == "not_done", found.detail
    assert env.store.documents[invoice_id].payments == []


# -- duplicate and credit note --------------------------------------------------------------------


def copies(env: Env, source: str, action: str) -> set[str]:
    """The live documents ``action`` may have made of ``source``."""
    if action == "credit_note":
        return {d.id for d in env.store.live() if d.original_invoice_id == source}
    original = env.store.documents[source]
    return {
        d.id
        for d in env.store.live()
        if d.id != source and d.fields == original.fields and d.type == original.type
    }


@pytest.mark.parametrize("action", ["duplicate", "credit_note"])
@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_new_document_that_was_made_is_found(env: Env, action: str, kind: str) -> None:
    invoice_id = await issued(env)
    earlier = await env.adapter.act(invoice_id, action)  # one made before: never taken for it
    recovery = await lost_action(env, invoice_id, action, kind, after_commit=True)
    assert recovery["existing"] == [earlier.id]
    kept = json.loads(json.dumps(recovery))  # as the gateway keeps it with the key

    found = await env.adapter.find_action(invoice_id, action, kept)

    assert found.state == "done", found.detail
    made = copies(env, invoice_id, action) - {earlier.id}
    assert {found.result.id} == made  # exactly one new document, and it is the one found
    assert found.result.status == "draft"
    assert comparable(found.result) == comparable(earlier)
    if action == "credit_note":
        assert found.result.remote_data["type"] == "credit_note"
        assert found.result.remote_data["original_invoice_id"] == invoice_id


@pytest.mark.parametrize("action", ["duplicate", "credit_note"])
async def test_a_new_document_that_was_never_made_is_not_done(env: Env, action: str) -> None:
    invoice_id = await issued(env)
    earlier = await env.adapter.act(invoice_id, action)
    recovery = await lost_action(env, invoice_id, action, "error", after_commit=False)

    found = await env.adapter.find_action(invoice_id, action, recovery)

    assert found.state == "not_done", found.detail
    assert copies(env, invoice_id, action) == {earlier.id}


async def test_two_new_credit_notes_cannot_be_told_apart(env: Env) -> None:
    invoice_id = await issued(env)
    recovery = await lost_action(env, invoice_id, "credit_note", "error", after_commit=True)
    await env.adapter.act(invoice_id, "credit_note")  # another client credited it meanwhile

    found = await env.adapter.find_action(invoice_id, "credit_note", recovery)

    assert found.state == "unknown"
    assert len(copies(env, invoice_id, "credit_note")) == 2


async def test_a_duplicate_of_another_invoice_is_not_taken_for_the_copy(env: Env) -> None:
    invoice_id = await issued(env)
    other = await env.draft(invoice(lines=invoice().lines[:1]))  # same customer, other lines
    recovery = await lost_action(env, invoice_id, "duplicate", "error", after_commit=False)
    await env.adapter.act(other, "duplicate")

    found = await env.adapter.find_action(invoice_id, "duplicate", recovery)

    assert found.state == "not_done", found.detail
