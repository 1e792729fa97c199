"""crm_v1 summaries (``?view=summary``): a list page read as its rows, in one call, each row
agreeing with the full invoice on every field it carries and naming those it lacks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from adapters.base import ListQuery, UpstreamError
from gateway.canonical.model import Invoice
from gateway.canonical.summary import InvoiceSummary
from tests.adapters.crm_v1_env import INVOICES, SEED_INVOICES, Env, start


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


def summaries(rows: Any) -> list[InvoiceSummary]:
    assert all(isinstance(row, InvoiceSummary) for row in rows)
    return list(rows)


async def test_a_summary_page_is_one_call_and_no_reads(env: Env) -> None:
    start = len(await env.log())
    page = await env.adapter.summary_page(ListQuery(), None, 20)
    assert await env.sent_since(start) == [("GET", INVOICES)]
    assert [row.id for row in summaries(page.rows)] == [str(n) for n in range(1, 21)]
    assert (page.next_page, page.total) == ("1", SEED_INVOICES)


async def test_every_summary_agrees_with_its_invoice_on_what_it_carries(env: Env) -> None:
    page = await env.adapter.summary_page(ListQuery(), None, 100)
    full: dict[str | None, Invoice] = {i.id: i for i in await env.everything()}
    assert len(page.rows) == len(full) == SEED_INVOICES
    states = set()
    for summary in summaries(page.rows):
        invoice = full[summary.id]
        assert invoice.totals is not None and summary.totals is not None
        assert summary.object == "invoice_summary" and summary.lines is None
        assert summary.absent == ["currency", "lines"] and summary.currency is None
        carried = {
            "connection": summary.connection,
            "provider": summary.provider,
            "status": summary.status,
            "payment_status": summary.payment_status,
            "overdue": summary.overdue,
            "provider_status": summary.provider_status,
            "document_type": summary.document_type,
            "number": summary.number,
            "customer": summary.customer and summary.customer.id,
            "issue_date": summary.issue_date,
            "due_date": summary.due_date,
        }
        assert carried == {
            "connection": invoice.connection,
            "provider": invoice.provider,
            "status": invoice.status,
            "payment_status": invoice.payment_status,
            "overdue": invoice.overdue,
            "provider_status": invoice.provider_status,
            "document_type": invoice.document_type,
            "number": invoice.number,
            "customer": invoice.customer and invoice.customer.id,
            "issue_date": invoice.issue_date,
            "due_date": invoice.due_date,
        }, summary.id
        assert (summary.totals.total, summary.totals.due) == (
            invoice.totals.total,
            invoice.totals.due,
        )
        assert isinstance(summary.totals.total, Decimal)
        assert summary.remote_data is not None and set(summary.remote_data) == {
            "inv_id",
            "inv_number",
            "customer_id",
            "inv_status",
            "total",
            "amount_due",
            "transaction_date",
            "due_date",
        }
        states.add((summary.status, summary.payment_status, summary.overdue))
    # The seed has open (overdue and not, partly paid and not), paid and void invoices.
    assert {s for s, _, _ in states} >= {"open", "paid", "void"}
    assert {p for _, p, _ in states} >= {"unpaid", "paid"}
    assert {o for _, _, o in states} == {True, False}


async def test_summaries_are_narrowed_by_the_filters_crm_v1_cannot_apply(env: Env) -> None:
    env.store.invoices[30].inv_status = 7  # a status the mapping does not know
    page = await env.adapter.summary_page(ListQuery(status="unknown"), None, 100)
    assert [row.id for row in page.rows] == ["30"]
    assert summaries(page.rows)[0].provider_status == {"inv_status": 7}
    # search and number both given: search is sent, the number narrows the rows.
    page = await env.adapter.summary_page(ListQuery(search="INV-00", number="0012"), None, 100)
    assert [row.id for row in page.rows] == ["12"]


async def test_filters_nothing_can_match_are_answered_without_asking(env: Env) -> None:
    start = len(await env.log())
    page = await env.adapter.summary_page(ListQuery(status="draft"), None, 10)
    assert (list(page.rows), page.next_page) == ([], None)
    assert await env.sent_since(start) == []


async def test_a_row_the_gateway_cannot_read_fails_naming_the_invoice(env: Env) -> None:
    env.store.invoices[4].transaction_date = "04/01/2026"
    with pytest.raises(UpstreamError) as failed:
        await env.adapter.summary_page(ListQuery(), None, 10)
    assert "invoice 4" in failed.value.message and "issue_date" in failed.value.message


async def test_overdue_is_derived_from_the_day(env: Env) -> None:
    rows = summaries((await env.adapter.summary_page(ListQuery(status="open"), None, 100)).rows)
    overdue = [row.id for row in rows if row.overdue]
    assert overdue  # the environment's day is after the seeded due dates
    before = env.adapter_with(today=date(2000, 1, 1))
    early = summaries((await before.summary_page(ListQuery(status="open"), None, 100)).rows)
    assert [row.id for row in early] == [row.id for row in rows]
    assert not any(row.overdue for row in early)
