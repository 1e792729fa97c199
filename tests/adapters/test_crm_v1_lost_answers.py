"""crm_v1: a create whose answer was lost is found again (docs/providers/crm_v1.md, "Lost answers").

The marker goes in ``notes`` when the caller left it empty; the lookup lists the customer's
invoices dated within a day of the invoice's date, newest first. crm_v1 has no other
non-idempotent write (no action, payments read only).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.base import OutcomeUncertain, ReadBackFailed
from adapters.crm_v1.adapter import CrmV1Adapter
from adapters.resolution import DedupePlan, new_marker
from gateway.canonical.model import Invoice
from tests.adapters.crm_v1_env import INVOICES, SEED_INVOICES, Env, start
from tests.adapters.env import build
from tests.adapters.lost_answers import KINDS, comparable, impatient, lose
from tests.contract.profiles.crm_v1 import sample

CREATE = r"^/v1/invoices$"
USER_NOTES = "Please quote PO 4471 with your payment."


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


def invoice(**changes: Any) -> Invoice:
    """Every field crm_v1 carries (customer 10, dated 2026-07-01 like the seeded invoice 8, which
    is in the lookup's window), ``notes`` left empty."""
    return sample(0).model_copy(update={"notes": None, **changes})


def new_ids(env: Env, before: set[int]) -> list[int]:
    return sorted(set(env.store.invoices) - before)


async def lost_create(
    env: Env, sent: Invoice, kind: str, *, after_commit: bool
) -> tuple[dict[str, Any], set[int]]:
    """``sent`` created through the hooks, its answer lost: the recovery and the ids before."""
    adapter = impatient(env)
    recovery = await adapter.prepare_create(sent, new_marker())
    before = set(env.store.invoices)
    await lose(env, kind, after_commit=after_commit, path_regex=CREATE)
    with pytest.raises(OutcomeUncertain):
        await adapter.create(adapter.marked(sent, recovery))
    return recovery, before


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_create_that_happened_is_found_by_its_marker(env: Env, kind: str) -> None:
    sent = invoice()
    recovery, before = await lost_create(env, sent, kind, after_commit=True)
    assert recovery["marker_field"] == "notes"

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "done", found.detail
    (created,) = new_ids(env, before)  # the provider holds exactly one new invoice
    assert found.result.invoice.id == str(created)
    assert env.store.invoices[created].notes == recovery["marker"]
    assert found.result.invoice.notes is None  # the marker the gateway added reads as nothing
    assert found.result.warnings == []
    # The invoice found is what the create would have answered: the same as a clean create.
    await env.faults()
    clean = await env.adapter.create(env.adapter.marked(sent, recovery))
    assert comparable(found.result.invoice) == comparable(clean.invoice)
    assert found.result.invoice.lines[1].name == "Consulting Services"
    assert found.result.invoice.customer is not None
    assert found.result.invoice.customer.id == "10"


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_create_that_never_reached_the_provider_is_not_done(env: Env, kind: str) -> None:
    sent = invoice()
    recovery, before = await lost_create(env, sent, kind, after_commit=False)

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "not_done", found.detail
    assert new_ids(env, before) == []
    assert len(env.store.invoices) == SEED_INVOICES


async def test_the_lookup_lists_the_customers_window_newest_first(env: Env) -> None:
    sent = invoice()
    recovery, _ = await lost_create(env, sent, "error", after_commit=True)
    start_at = len(await env.log())

    await env.adapter.find_created(sent, recovery)

    lists = [r["query"] for r in (await env.log())[start_at:] if r["path"] == INVOICES]
    assert lists == [
        {
            "pageSize": "100",
            "pageIndex": "0",
            "cstid": "10",
            "inv_datetime_from": "2026-06-30",
            "inv_datetime_to": "2026-07-02",
            "sortBy": "inv_id",
            "sortOrder": "desc",
        }
    ]
    # Nothing but reads: a lookup never writes.
    assert await env.writes_since(start_at) == []


async def test_a_read_back_that_failed_after_the_create_is_found_too(env: Env) -> None:
    adapter = impatient(env)
    sent = invoice()
    recovery = await adapter.prepare_create(sent, new_marker())
    before = set(env.store.invoices)
    await env.faults(error_rate=1, error_status=503, methods=["GET"])
    with pytest.raises(ReadBackFailed):
        await adapter.create(adapter.marked(sent, recovery))
    await env.faults()

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "done", found.detail
    assert [found.result.invoice.id] == [str(i) for i in new_ids(env, before)]


async def test_a_lookup_that_fails_is_unknown_and_asking_again_later_finds_it(env: Env) -> None:
    sent = invoice()
    recovery, before = await lost_create(env, sent, "reset", after_commit=True)
    await env.faults(error_rate=1, error_status=503, methods=["GET"])

    first = await impatient(env).find_created(sent, recovery)
    await env.faults()
    second = await env.adapter.find_created(sent, recovery)

    assert first.state == "unknown"
    assert second.state == "done", second.detail
    assert [second.result.invoice.id] == [str(i) for i in new_ids(env, before)]


# -- the caller's notes: never overwritten, the invoice matched on what was sent ----------------


async def test_the_callers_notes_are_kept_and_the_create_is_found_by_what_was_sent(
    env: Env,
) -> None:
    sent = invoice(notes=USER_NOTES)
    older = (await env.adapter.create(sent)).invoice  # the same invoice, made earlier
    recovery, before = await lost_create(env, sent, "error", after_commit=True)
    assert "marker" not in recovery
    assert recovery["existing"] == [older.id]
    assert recovery["complete"] is True
    posted = [r["body"] for r in await env.log() if r["method"] == "POST"]
    assert posted[-1]["notes"] == USER_NOTES

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "done", found.detail
    (created,) = new_ids(env, before)
    assert found.result.invoice.id == str(created) != older.id
    assert env.store.invoices[created].notes == USER_NOTES
    assert comparable(found.result.invoice) == comparable(older)


async def test_an_older_look_alike_is_not_taken_for_a_create_that_never_happened(
    env: Env,
) -> None:
    sent = invoice(notes=USER_NOTES)
    older = (await env.adapter.create(sent)).invoice
    recovery, before = await lost_create(env, sent, "reset", after_commit=False)

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "not_done", found.detail
    assert new_ids(env, before) == []
    assert older.id in recovery["existing"]


async def test_two_new_look_alikes_cannot_be_told_apart(env: Env) -> None:
    sent = invoice(notes=USER_NOTES)
    recovery, before = await lost_create(env, sent, "error", after_commit=True)
    await env.faults()
    await env.adapter.create(sent)  # another client made the same invoice meanwhile

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "unknown"
    assert len(new_ids(env, before)) == 2


# -- the lookup's bound ---------------------------------------------------------------------------


def bounded(env: Env, max_pages: int, page_size: int) -> CrmV1Adapter:
    """The adapter with a lookup of ``max_pages`` pages of ``page_size``."""
    mapping = env.adapter.mapping
    small = dataclasses.replace(
        mapping,
        dedupe=DedupePlan(mapping.dedupe.marker, mapping.dedupe.lookup, max_pages),
        capabilities=dataclasses.replace(mapping.capabilities, max_page_size=page_size),
    )
    return build(CrmV1Adapter, env.adapter.connection, env.session, small, env.today)


async def test_newest_first_a_marked_create_is_found_beyond_the_lookups_bound(env: Env) -> None:
    sent = invoice()
    for _ in range(3):  # older invoices in the window: more than one page of 2
        await env.adapter.create(sent)
    recovery, before = await lost_create(env, sent, "error", after_commit=True)

    found = await bounded(env, max_pages=1, page_size=2).find_created(sent, recovery)

    assert found.state == "done", found.detail
    assert [found.result.invoice.id] == [str(i) for i in new_ids(env, before)]


async def test_one_look_alike_after_an_unfinished_listing_is_untellable(env: Env) -> None:
    """The look-alikes there before the create could not all be listed, and the lookup later
    finds one: no retry can tell whether it is the write's (the listing before stays short),
    so the caller is told to check it, not to retry; the store can still rule it out."""
    sent = invoice(notes=USER_NOTES)
    small = bounded(env, max_pages=1, page_size=1)
    earlier = [await env.adapter.create(sent) for _ in range(2)]
    recovery = await small.prepare_create(sent, new_marker())
    assert recovery["complete"] is False
    for made in earlier:
        assert made.invoice.id is not None
        await env.adapter.delete(made.invoice.id)
    created = await small.create(sent)

    found = await env.adapter.find_created(sent, recovery)  # every page read now

    assert (found.state, found.tellable) == ("unknown", False)
    assert found.among == (str(created.invoice.id),)
    assert found.without is not None
    ruled_out = await found.without(frozenset(found.among))
    assert ruled_out.state == "not_done"


async def test_a_look_alike_search_that_cannot_reach_the_end_is_unknown(env: Env) -> None:
    sent = invoice(notes=USER_NOTES)
    small = bounded(env, max_pages=1, page_size=1)
    for _ in range(2):
        await env.adapter.create(sent)
    recovery = await small.prepare_create(sent, new_marker())
    assert recovery["complete"] is False
    await small.create(sent)

    found = await small.find_created(sent, recovery)

    assert found.state == "unknown"
    assert "limit" in found.detail
