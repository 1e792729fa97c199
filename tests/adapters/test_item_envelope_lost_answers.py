"""item_envelope: a create or an issue whose answer was lost is found again
(docs/providers/item_envelope.md, "Lost answers").

A create carries the marker in ``notes`` when the caller left it empty (never in ``po_number``);
the lookup lists the client's invoices dated within a day of the invoice's date, newest first.
``issue`` is a ``PUT`` of ``draft: 0``, recognised by the invoice's state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from adapters.base import OutcomeUncertain, UpstreamError
from adapters.item_envelope.adapter import ItemEnvelopeAdapter
from adapters.resolution import DedupePlan, new_marker
from gateway.canonical.model import Invoice
from tests.adapters.env import build
from tests.adapters.item_envelope_env import INVOICES, SEED_INVOICES, Env, start
from tests.adapters.lost_answers import KINDS, comparable, impatient, lose
from tests.contract.profiles.item_envelope import sample

CREATE = r"^/api2/api2/invoices\.json$"
ONE = r"^/api2/api2/invoices/\d+\.json$"
USER_NOTES = "Invoice for March services"
SEEDED_DRAFT = "106"
SEEDED_UNPAID = "111"


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


def invoice(**changes: Any) -> Invoice:
    """The provider's example (client 15, dated 2026-07-01, two lines, a tax, a custom column),
    ``notes`` left empty and a PO number of the caller's."""
    return sample(0).model_copy(update={"notes": None, "reference": "PO-88213", **changes})


def new_ids(env: Env, before: set[int]) -> list[int]:
    return sorted(set(env.store.invoices) - before)


async def lost_create(
    env: Env, sent: Invoice, kind: str, *, after_commit: bool, adapter: Any = None
) -> tuple[dict[str, Any], set[int]]:
    """``sent`` created through the hooks, its answer lost: the recovery and the ids before."""
    adapter = adapter or impatient(env)
    recovery = await adapter.prepare_create(sent, new_marker())
    before = set(env.store.invoices)
    await lose(env, kind, after_commit=after_commit, path_regex=CREATE)
    with pytest.raises(OutcomeUncertain):
        await impatient(env).create(adapter.marked(sent, recovery))
    await env.faults()
    return recovery, before


# -- create -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_create_that_happened_is_found_by_its_marker(env: Env, kind: str) -> None:
    sent = invoice()
    recovery, before = await lost_create(env, sent, kind, after_commit=True)
    assert recovery["marker_field"] == "notes"

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "done", found.detail
    (created,) = new_ids(env, before)  # the provider holds exactly one new invoice
    stored = env.store.invoices[created]
    assert found.result.invoice.id == str(created)
    assert (stored.notes, stored.po_number) == (recovery["marker"], "PO-88213")
    assert found.result.invoice.notes is None  # the marker the gateway added reads as nothing
    assert found.result.invoice.reference == "PO-88213"
    clean = await env.adapter.create(env.adapter.marked(sent, recovery))
    assert comparable(found.result.invoice) == comparable(clean.invoice)
    assert found.result.invoice.status == "draft"
    assert [line.item_id for line in found.result.invoice.lines] == ["1", "3"]


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_create_that_never_reached_the_provider_is_not_done(env: Env, kind: str) -> None:
    sent = invoice()
    recovery, before = await lost_create(env, sent, kind, after_commit=False)

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "not_done", found.detail
    assert new_ids(env, before) == []
    assert len(env.store.invoices) == SEED_INVOICES


@pytest.mark.parametrize(
    ("dated", "window"),
    [
        # A date sent is kept as sent and filtered inclusively (dedupe.date_slack_days: 0).
        (True, ("2026-07-01", "2026-07-01")),
        # No date: the provider's "Current date", which may be a day off the gateway's.
        (False, None),
    ],
)
async def test_the_lookup_lists_the_clients_window_newest_first(
    env: Env, dated: bool, window: tuple[str, str] | None
) -> None:
    sent = invoice() if dated else invoice(issue_date=None)
    recovery, before = await lost_create(env, sent, "error", after_commit=True)
    start_at = len(await env.log())

    found = await env.adapter.find_created(sent, recovery)

    if window is None:
        today = env.adapter.today()
        window = (str(today - timedelta(days=1)), str(today + timedelta(days=1)))
    lists = [r["query"] for r in (await env.log())[start_at:] if r["path"] == INVOICES]
    assert lists == [
        {
            "page": "1",
            "limit": "100",
            "client_id": "15",
            "date_from": window[0],
            "date_to": window[1],
            "sort": "id",
            "direction": "desc",
        }
    ]
    assert await env.writes_since(start_at) == []
    if dated:  # found on that day alone: the one invoice the lost create made
        assert found.state == "done" and found.result is not None
        assert [int(found.result.invoice.id)] == new_ids(env, before)


async def test_a_lookup_that_fails_is_unknown_and_asking_again_later_finds_it(env: Env) -> None:
    sent = invoice()
    recovery, before = await lost_create(env, sent, "timeout", after_commit=True)
    await env.faults(error_rate=1, error_status=502, methods=["GET"])

    first = await impatient(env).find_created(sent, recovery)
    await env.faults()
    second = await env.adapter.find_created(sent, recovery)

    assert first.state == "unknown"
    assert second.state == "done", second.detail
    assert [second.result.invoice.id] == [str(i) for i in new_ids(env, before)]


async def test_the_callers_notes_are_kept_and_the_create_is_found_by_what_was_sent(
    env: Env,
) -> None:
    sent = invoice(notes=USER_NOTES)
    older = (await env.adapter.create(sent)).invoice
    recovery, before = await lost_create(env, sent, "reset", after_commit=True)
    assert "marker" not in recovery
    assert recovery["existing"] == [older.id]
    posted = [r["body"] for r in await env.log() if r["method"] == "POST"]
    assert posted[-1]["Invoice"]["notes"] == USER_NOTES

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
    recovery, before = await lost_create(env, sent, "timeout", after_commit=False)

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "not_done", found.detail
    assert new_ids(env, before) == []
    assert recovery["existing"] == [older.id]


async def test_another_look_alike_made_meanwhile_makes_it_unknown(env: Env) -> None:
    sent = invoice(notes=USER_NOTES)
    recovery, before = await lost_create(env, sent, "error", after_commit=True)
    await env.adapter.create(sent)

    found = await env.adapter.find_created(sent, recovery)

    assert found.state == "unknown"
    assert len(new_ids(env, before)) == 2


def bounded(env: Env, max_pages: int, page_size: int) -> ItemEnvelopeAdapter:
    """The adapter with a lookup of ``max_pages`` pages of ``page_size``."""
    mapping = env.adapter.mapping
    small = dataclasses.replace(
        mapping,
        dedupe=DedupePlan(mapping.dedupe.marker, mapping.dedupe.lookup, max_pages),
        capabilities=dataclasses.replace(mapping.capabilities, max_page_size=page_size),
    )
    return build(ItemEnvelopeAdapter, env.adapter.connection, env.session, small, env.today)


async def test_newest_first_a_marked_create_is_found_beyond_the_lookups_bound(env: Env) -> None:
    sent = invoice()
    for _ in range(3):  # older invoices in the window: more than one page of 2
        await env.adapter.create(sent)
    recovery, before = await lost_create(env, sent, "reset", after_commit=True)

    found = await bounded(env, max_pages=1, page_size=2).find_created(sent, recovery)

    assert found.state == "done", found.detail
    assert [found.result.invoice.id] == [str(i) for i in new_ids(env, before)]


async def test_a_look_alike_search_that_cannot_reach_the_end_is_unknown(env: Env) -> None:
    sent = invoice(notes=USER_NOTES)
    small = bounded(env, max_pages=1, page_size=1)
    for _ in range(2):
        await env.adapter.create(sent)
    recovery, _ = await lost_create(env, sent, "error", after_commit=True, adapter=small)
    assert recovery["complete"] is False

    found = await small.find_created(sent, recovery)

    assert found.state == "unknown"
    assert "limit" in found.detail


# -- issue ----------------------------------------------------------------------------------------


async def lost_issue(env: Env, invoice_id: str, kind: str, *, after_commit: bool) -> dict[str, Any]:
    adapter = impatient(env)
    recovery = await adapter.prepare_action(invoice_id, "issue")
    await lose(env, kind, after_commit=after_commit, methods=("PUT",), path_regex=ONE)
    with pytest.raises(UpstreamError):  # a PUT: retried where it can be, then an error
        await adapter.act(invoice_id, "issue")
    await env.faults()
    return recovery


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_an_issue_that_happened_is_recognised(env: Env, kind: str) -> None:
    recovery = await lost_issue(env, SEEDED_DRAFT, kind, after_commit=True)
    assert recovery == {"before": "draft"}
    assert env.store.invoices[int(SEEDED_DRAFT)].draft == 0

    found = await env.adapter.find_action(SEEDED_DRAFT, "issue", recovery)

    assert found.state == "done", found.detail
    assert (found.result.id, found.result.status) == (SEEDED_DRAFT, "open")


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_an_issue_that_never_ran_is_not_done(env: Env, kind: str) -> None:
    recovery = await lost_issue(env, SEEDED_DRAFT, kind, after_commit=False)

    found = await env.adapter.find_action(SEEDED_DRAFT, "issue", recovery)

    assert found.state == "not_done", found.detail
    assert env.store.invoices[int(SEEDED_DRAFT)].draft == 1


async def test_issuing_an_issued_invoice_again_is_safe(env: Env) -> None:
    # The PUT of draft 0 changed nothing, whether it ran or not: sending it again is safe.
    recovery = await lost_issue(env, SEEDED_UNPAID, "error", after_commit=True)

    found = await env.adapter.find_action(SEEDED_UNPAID, "issue", recovery)

    assert found.state == "not_done", found.detail
    assert (await env.adapter.act(SEEDED_UNPAID, "issue")).status == "open"
