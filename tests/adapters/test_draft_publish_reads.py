"""draft_publish reads: status both ways, overdue, every field's reading, lists and pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from adapters.base import InvalidRequest, ListQuery, walk
from emulators.draft_publish.reference import CUSTOMERS, TAX_REDUCED, TAX_STANDARD
from tests.adapters.draft_publish_env import BASE, Env, start
from tests.contract.profiles.draft_publish import sample


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


# -- status, read and write ---------------------------------------------------------------------

READINGS = {
    # provider status → (status, overdue)
    "draft": ("draft", False),
    "sent": ("open", False),
    "overdue": ("open", True),
    "paid": ("paid", False),
    "voided": ("void", False),
}


async def test_every_seeded_status_reads_as_the_mapping_says(env: Env) -> None:
    seen = set()
    async for page in walk(env.adapter, ListQuery(), 100):
        for invoice in page.invoices:
            assert invoice.provider_status is not None
            raw = invoice.provider_status["status"]
            assert raw == invoice.remote_data["status"]
            seen.add(raw)
            assert (invoice.status, invoice.overdue) == READINGS[raw], invoice.number
            if raw == "paid":
                assert invoice.payment_status == "paid"
                assert invoice.totals is not None and invoice.totals.due == 0
    # The seed with the fixed clock has every status, overdue included.
    assert seen == set(READINGS)


async def test_overdue_reads_as_open_and_overdue(env: Env) -> None:
    # sample(0) is due 2026-04-01, before the fixed today.
    invoice_id = await env.draft(sample(0))
    issued = await env.adapter.act(invoice_id, "issue")
    assert issued.provider_status == {"status": "overdue"}
    assert (issued.status, issued.overdue) == ("open", True)
    read = await env.adapter.get(invoice_id)
    assert (read.status, read.overdue, read.payment_status) == ("open", True, "unpaid")


async def test_the_provider_saying_overdue_is_enough(env: Env) -> None:
    # The gateway's own today is before the due date (a clock behind the provider's, say):
    # deriving overdue from dates alone would miss it; the provider's word carries it.
    invoice_id = await env.draft(sample(0))
    await env.adapter.act(invoice_id, "issue")
    invoice = await env.adapter_with(today=date(2026, 3, 15)).get(invoice_id)
    assert invoice.provider_status == {"status": "overdue"}
    assert (invoice.status, invoice.overdue) == ("open", True)


async def test_paid_is_the_providers_word_for_payment_and_a_disagreement_is_listed(
    env: Env,
) -> None:
    invoice_id = await env.draft()
    await env.adapter.act(invoice_id, "issue")
    await env.adapter.act(invoice_id, "mark_paid")
    # The provider says paid while its payments no longer add up to the total.
    env.store.documents[invoice_id].payments.clear()
    invoice = await env.adapter.get(invoice_id)
    assert (invoice.status, invoice.payment_status) == ("paid", "paid")
    assert invoice.totals_check is not None
    assert [d.model_dump() for d in invoice.totals_check.differences] == [
        {"field": "payment_status", "provider": "paid", "computed": "unpaid"}
    ]


async def test_sent_before_its_due_date_is_open_and_not_overdue(env: Env) -> None:
    invoice_id = await env.draft()
    issued = await env.adapter.act(invoice_id, "issue")
    assert issued.provider_status == {"status": "sent"}
    assert (issued.status, issued.overdue) == ("open", False)


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        (["issue"], "open"),
        (["mark_sent"], "open"),
        (["send"], "open"),
        (["issue", "unpublish"], "draft"),
        (["issue", "void"], "void"),
        (["issue", "mark_paid"], "paid"),
    ],
)
async def test_each_action_sets_the_provider_status_the_write_table_names(
    env: Env, path: list[str], canonical: str
) -> None:
    invoice_id = await env.draft()
    for action in path:
        invoice = await env.adapter.act(invoice_id, action)
    status, raw = await env.raw("GET", f"{BASE}/{invoice_id}")
    assert status == 200
    assert raw["data"]["status"] == env.adapter.mapping.write_status(canonical)
    assert invoice.status == canonical


async def test_an_unknown_provider_status_reads_as_unknown_and_keeps_the_raw_value(
    env: Env,
) -> None:
    invoice_id = await env.draft()
    # A status this provider does not document yet (an app update, say).
    env.store.documents[invoice_id].status = "archived"
    invoice = await env.adapter.get(invoice_id)
    assert invoice.status == "unknown"
    assert invoice.provider_status == {"status": "archived"}
    assert invoice.overdue is False
    assert invoice.totals_check is not None and invoice.totals_check.consistent


# -- the reading of each field ------------------------------------------------------------------


async def test_a_seeded_invoice_reads_field_by_field(env: Env) -> None:
    _, listed = await env.raw("GET", f"{BASE}?status=paid&limit=100")
    raw = next(row for row in listed["data"] if row["discount_type"] and row["payments"])
    invoice = await env.adapter.get(raw["id"])

    assert (invoice.id, invoice.number) == (raw["id"], raw["number"])
    assert invoice.customer is not None
    assert invoice.customer.id == raw["customer_id"]
    assert invoice.customer.name == CUSTOMERS[raw["customer_id"]].name
    assert (str(invoice.issue_date), str(invoice.due_date)) == (raw["issue_date"], raw["due_date"])
    assert (invoice.currency, invoice.tax_mode) == (raw["currency"], "exclusive")
    assert (invoice.notes, invoice.terms) == (raw["notes"], raw["payment_terms"])
    assert invoice.discount is not None
    assert (
        invoice.discount.type == {"percentage": "percent", "fixed": "amount"}[raw["discount_type"]]
    )
    assert invoice.discount.value == raw["discount_value"]
    assert invoice.provider_fields == {"template_id": raw["template_id"]}
    assert invoice.public_url == f"{env.base_url}/share/{raw['share_token']}"
    assert invoice.remote_data == raw
    assert invoice.created_at is not None and invoice.updated_at is not None
    assert invoice.version is None

    assert invoice.totals is not None
    assert (
        invoice.totals.subtotal,
        invoice.totals.discount,
        invoice.totals.tax,
        invoice.totals.total,
        invoice.totals.paid,
        invoice.totals.due,
    ) == (
        raw["subtotal"],
        raw["discount_amount"],
        raw["tax_amount"],
        raw["total"],
        raw["amount_paid"],
        raw["balance_due"],
    )
    # The provider has neither: zero in the currency's minor units, as every other amount.
    zero = "0.00" if raw["currency"] != "JPY" else "0"
    shown = invoice.model_dump(mode="json")["totals"]
    assert (shown["shipping"], shown["adjustment"]) == (zero, zero)

    for line, item in zip(invoice.lines, raw["items"], strict=True):
        assert (line.id, line.item_id, line.description, line.unit) == (
            item["id"],
            item["product_id"],
            item["description"],
            item["unit"],
        )
        assert (line.quantity, line.unit_price, line.subtotal) == (
            Decimal(item["quantity"]),
            Decimal(item["unit_price"]),
            item["amount"],
        )
        assert line.discount is None
        expected = [(item["tax_id"], Decimal(item["tax_rate"]))] if item["tax_id"] else []
        assert [(t.id, t.rate) for t in line.taxes] == expected
        assert all(t.name for t in line.taxes), "named from the connection's tax table"

    assert [(p.id, p.amount, str(p.date), p.method, p.reference) for p in invoice.payments] == [
        (p["id"], p["amount"], p["date"], p["method"], p["reference"]) for p in raw["payments"]
    ]


async def test_a_line_keeps_the_rate_it_was_computed_with(env: Env) -> None:
    invoice_id = await env.draft()
    # The account changed the 20 % tax to 21 % after this invoice was written.
    item = env.store.documents[invoice_id].items[0]
    assert item.tax_id == TAX_STANDARD
    item.tax_rate = Decimal("21")
    invoice = await env.adapter.get(invoice_id)
    tax = invoice.lines[0].taxes[0]
    # The configured name says 20 %; it is not put on a 21 % tax.
    assert (tax.id, tax.rate, tax.name) == (TAX_STANDARD, Decimal("21"), None)


async def test_public_url_exists_only_while_published(env: Env) -> None:
    invoice_id = await env.draft()
    assert (await env.adapter.get(invoice_id)).public_url is None
    published = await env.adapter.act(invoice_id, "issue")
    token = env.store.documents[invoice_id].share_token
    assert token is not None
    assert published.public_url == f"{env.base_url}/share/{token}"
    unpublished = await env.adapter.act(invoice_id, "unpublish")
    assert unpublished.public_url is None
    marked = await env.adapter.act(invoice_id, "mark_sent")
    assert (marked.status, marked.public_url) == ("open", None)


async def test_a_credit_note_is_a_new_draft_read_as_a_credit_note(env: Env) -> None:
    invoice_id = await env.draft()
    await env.adapter.act(invoice_id, "issue")
    note = await env.adapter.act(invoice_id, "credit_note")
    assert note.id != invoice_id
    assert (note.status, note.number) == ("draft", "CN-0001")
    assert (note.document_type, note.credited_invoice_id) == ("credit_note", invoice_id)
    assert note.remote_data["type"] == "credit_note"
    assert note.remote_data["original_invoice_id"] == invoice_id
    copy = await env.adapter.act(invoice_id, "duplicate")
    assert copy.id not in (invoice_id, note.id)
    assert (copy.status, copy.document_type, copy.credited_invoice_id) == (
        "draft",
        "invoice",
        None,
    )
    # A credit note's copy is a credit note of the same invoice, as the provider makes it.
    assert note.id is not None
    again = await env.adapter.act(note.id, "duplicate")
    assert (again.document_type, again.credited_invoice_id) == ("credit_note", invoice_id)


async def test_an_unknown_document_type_reads_as_unknown_and_keeps_the_raw_value(
    env: Env,
) -> None:
    invoice_id = await env.draft()
    env.store.documents[invoice_id].type = "proforma"  # not a type the gateway maps
    env.store.documents[invoice_id].original_invoice_id = "elsewhere"
    invoice = await env.adapter.get(invoice_id)
    assert (invoice.document_type, invoice.credited_invoice_id) == ("unknown", "elsewhere")
    assert invoice.remote_data["type"] == "proforma"
    # A link on a document the provider calls an invoice is not read as a credit.
    env.store.documents[invoice_id].type = "invoice"
    invoice = await env.adapter.get(invoice_id)
    assert (invoice.document_type, invoice.credited_invoice_id) == ("invoice", None)
    assert invoice.remote_data["original_invoice_id"] == "elsewhere"


async def test_the_mapping_names_every_field_the_provider_returns(env: Env) -> None:
    invoice_id = await env.draft()
    await env.adapter.act(invoice_id, "issue")
    status, _ = await env.raw(
        "POST",
        f"{BASE}/{invoice_id}/payments",
        {"amount": Decimal("1.00"), "method": "cash", "date": "2026-06-15"},
    )
    assert status == 201
    _, raw = await env.raw("GET", f"{BASE}/{invoice_id}")
    data = raw["data"]
    mapping = env.adapter.mapping
    documented = set(mapping.invoice_fields)
    assert set(data) - documented == set()
    assert {f"customer.{k}" for k in data["customer"]} - documented == set()
    assert {f"payments[].{k}" for k in data["payments"][0]} - documented == set()
    assert set(data["items"][0]) - set(mapping.line_fields) == set()


async def test_the_bodies_sent_use_only_mapped_names(env: Env) -> None:
    await env.draft()
    body = (await env.log())[-2]["body"]  # the create, before its read-back
    mapping = env.adapter.mapping
    assert set(body) <= set(mapping.invoice_fields)
    assert all(set(item) <= set(mapping.line_fields) for item in body["items"])
    assert body["items"][0]["tax_id"] in (TAX_STANDARD, TAX_REDUCED)


# -- lists and pages ----------------------------------------------------------------------------


async def test_pages_follow_the_provider_numbering(env: Env) -> None:
    first = await env.adapter.list_page(ListQuery(), None, 10)
    assert (len(first.invoices), first.next_page) == (10, "2")
    last = await env.adapter.list_page(ListQuery(), "3", 10)
    assert (len(last.invoices), last.next_page) == (3, None)
    numbers = [i.number or "" for i in first.invoices]
    assert numbers == sorted(numbers, reverse=True), "newest first"
    queries = [r["query"] for r in await env.log()]
    assert queries[-2:] == [{"page": "1", "limit": "10"}, {"page": "3", "limit": "10"}]


async def test_a_page_size_over_the_maximum_is_asked_at_the_maximum(env: Env) -> None:
    page = await env.adapter.list_page(ListQuery(), None, 500)
    assert (len(page.invoices), page.next_page) == (23, None)
    assert (await env.log())[-1]["query"] == {"page": "1", "limit": "100"}


async def test_a_page_token_that_is_not_a_number_is_refused_before_sending(env: Env) -> None:
    before = len(await env.log())
    with pytest.raises(InvalidRequest):
        await env.adapter.list_page(ListQuery(), "abc", 10)
    with pytest.raises(InvalidRequest):
        await env.adapter.list_page(ListQuery(), "0", 10)
    assert len(await env.log()) == before


async def test_filters_go_to_the_provider_under_its_names(env: Env) -> None:
    customer = next(iter(CUSTOMERS))
    query = ListQuery(
        customer_id=customer, issued_from=date(2026, 3, 1), issued_to=date(2026, 9, 30)
    )
    page = await env.adapter.list_page(query, None, 100)
    assert (await env.log())[-1]["query"] == {
        "page": "1",
        "limit": "100",
        "customer_id": customer,
        "from_date": "2026-03-01",
        "to_date": "2026-09-30",
    }
    assert page.invoices
    for invoice in page.invoices:
        assert invoice.customer is not None and invoice.customer.id == customer
        assert invoice.issue_date is not None
        assert date(2026, 3, 1) <= invoice.issue_date <= date(2026, 9, 30)


async def test_the_number_filter_does_not_match_customer_names(env: Env) -> None:
    # The provider's search also matches customer names: "acme" finds Acme's invoices there.
    _, by_name = await env.raw("GET", f"{BASE}?search=acme&limit=100")
    assert by_name["data"], "the seed has invoices for Acme Corporation"
    page = await env.adapter.list_page(ListQuery(number="acme"), None, 100)
    assert page.invoices == []
    assert (await env.log())[-1]["query"]["search"] == "acme"
    page = await env.adapter.list_page(ListQuery(number="inv-001"), None, 100)
    assert sorted(i.number or "" for i in page.invoices) == [f"INV-{n:04d}" for n in range(10, 20)]


async def test_open_is_asked_as_sent_then_overdue_in_one_walk(env: Env) -> None:
    # The provider's status filter takes one value; canonical open is two of them.
    assert "status" in env.adapter.capabilities.filters
    everything = (await env.adapter.list_page(ListQuery(), None, 100)).invoices
    opened = sorted(i.id or "" for i in everything if i.status == "open")
    before = len(await env.log())
    pages = [page async for page in walk(env.adapter, ListQuery(status="open"), 2)]
    listed = [invoice.id or "" for page in pages for invoice in page.invoices]
    assert sorted(listed) == opened and len(set(listed)) == len(listed)
    assert {page.next_page for page in pages[:-1]} >= {"overdue:1"}
    statuses = [r["query"].get("status") for r in (await env.log())[before:]]
    assert statuses[0] == "sent" and statuses[-1] == "overdue"
    assert statuses == sorted(statuses, key=("sent", "overdue").index)


async def test_a_one_value_status_is_sent_as_it_is(env: Env) -> None:
    page = await env.adapter.list_page(ListQuery(status="void"), None, 100)
    assert (await env.log())[-1]["query"] == {"page": "1", "limit": "100", "status": "voided"}
    assert page.invoices and all(invoice.status == "void" for invoice in page.invoices)
    with pytest.raises(InvalidRequest):
        await env.adapter.list_page(ListQuery(status="open"), "voided:2", 10)
