"""crm_v1 in the contract suite: samples, random invoices, a rejection and golden operations.

Reference ids are the emulator's fixed reference data (customers, items, templates, deals,
users, tags: the same for every seed); taxes and currencies are the sandbox connection's
(``gateway/sandbox/crm_v1.yaml``). crm_v1 has no actions, so there are no action paths.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from adapters.base import Adapter, ListQuery
from emulators.crm_v1.model import CUSTOMERS, DEALS, ITEMS, TAGS, TEMPLATES, USERS
from gateway.canonical.model import Invoice
from gateway.canonical.money import exponent
from gateway.canonical.totals import calculate
from tests.contract.profile import Profile

SEED_INVOICES = 56  # the doc's list example: total_records 56, total_pages 6
CURRENCIES = ("USD", "EUR", "GBP", "JPY")  # the sandbox's org currencies
# The sandbox's taxes: (id, rate). A line carries one at most.
TAXES = (("0", "0"), ("5", "5"), ("8", "8.25"), ("10", "10"), ("20", "20"))
UNKNOWN_CUSTOMER = "99"
DOC_EXAMPLE = "8"  # the doc's invoice: open, no payments (update and delete examples use it)
PAID_WITH_PAYMENTS = "7"  # seed 0: paid in two payments


def _item(item_id: int, quantity: str, scale: Decimal, **extra: Any) -> dict[str, Any]:
    item = ITEMS[item_id]
    return {
        "item_id": str(item_id),
        "name": item.name,
        "quantity": quantity,
        "unit_price": str(item.price * scale),
        **extra,
    }


def sample(n: int) -> Invoice:
    """Every field crm_v1 carries: a percent and an amount line discount, a section line every
    other sample, one tax per line (by id or by rate alone), a document discount of either
    kind, and a different currency (JPY among them) as ``n`` changes."""
    currency = CURRENCIES[n % len(CURRENCIES)]
    scale = Decimal(150) if exponent(currency) == 0 else Decimal(1)  # yen prices are whole
    issue = date(2026, 7, 1) + timedelta(days=n)
    lines: list[dict[str, Any]] = []
    if n % 2 == 0:
        lines.append({"kind": "section", "name": "Phase 1: Discovery", "description": f"#{n}"})
    lines += [
        _item(
            12,
            str(10 + n),
            scale,
            discount={"type": "percent", "value": "10"},
            taxes=[{"id": "5", "rate": "5"}],
        ),
        _item(
            6,
            "2.5",
            scale,
            description="On-site support, as agreed",
            discount={"type": "amount", "value": str(Decimal("12.50") * scale)},
            taxes=[{"rate": "8.25"}] if n % 2 else [{"id": "20", "name": "VAT 20%", "rate": "20"}],
        ),
        _item(15, "1200", Decimal(1), taxes=[]),
    ]
    discount = (
        {"type": "percent", "value": "5"}
        if n % 2 == 0
        else {"type": "amount", "value": str(Decimal("25.00") * scale)}
    )
    return Invoice.model_validate(
        {
            "customer": {"id": str(10 - n % 3)},
            "issue_date": issue.isoformat(),
            "due_date": (issue + timedelta(days=30)).isoformat(),
            "currency": currency,
            "exchange_rate": {"EUR": "1.08", "GBP": "1.27", "JPY": "0.0067"}.get(currency),
            "reference": f"PO-2026-{n:03d}",
            "notes": "Thank you for your business.",
            "terms": "Payment due within 30 days." if n % 2 == 0 else None,
            "billing_address": "300 Pine Street, Seattle, WA 98101",
            "shipping_address": "1 Dock Road, Tacoma, WA 98402" if n % 2 else None,
            "discount": discount,
            "lines": lines,
            "provider_fields": {
                "template_id": 1 + n % 3,
                "deal_id": 1 + n % 5,
                "assigned_to": 1 + n % 4,
                "tag_ids": [1, 3 + n % 4],
            },
        }
    )


def rejected() -> tuple[Invoice, str]:
    """A contact crm_v1 does not have: its 422 names customer_id."""
    data = sample(0).model_dump()
    data["customer"] = {"id": UNKNOWN_CUSTOMER}
    return Invoice.model_validate(data), "/customer/id"


# -- random invoices ----------------------------------------------------------------------------

_CHARACTERS = st.characters(codec="utf-8", exclude_categories=["Cs"])


def _text(max_size: int) -> st.SearchStrategy[str]:
    # crm_v1 refuses a blank item_name; a letter first keeps every text non-blank.
    return st.builds(
        lambda head, tail: head + tail,
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"),
        st.text(_CHARACTERS, max_size=max_size - 1),
    )


def _decimal(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(Decimal(low), Decimal(high), places=places, allow_nan=False)


def _up_to(limit: Decimal, places: int) -> st.SearchStrategy[Decimal]:
    """An amount in minor units from 0 to ``limit``."""
    unit = Decimal(1).scaleb(-places)
    return st.integers(0, int(limit / unit)).map(lambda units: units * unit)


@st.composite
def _line(draw: st.DrawFn, places: int) -> dict[str, Any]:
    if draw(st.integers(0, 9)) == 0:
        return {
            "kind": "section",
            "name": draw(_text(60)),
            "description": draw(st.none() | _text(200)),
            "item_id": draw(st.none() | st.sampled_from(sorted(ITEMS)).map(str)),
        }
    item_id = draw(st.sampled_from(sorted(ITEMS)))
    quantity = draw(_decimal("0.000001", "5000", draw(st.integers(0, 6))).filter(lambda q: q > 0))
    price = draw(_decimal("0", "100000", draw(st.integers(0, 4))))
    line: dict[str, Any] = {
        "item_id": str(item_id),
        "name": draw(st.just(ITEMS[item_id].name) | _text(60)),
        "description": draw(st.none() | _text(200)),
        "quantity": quantity,
        "unit_price": price,
    }
    tax = draw(st.none() | st.sampled_from(TAXES))
    if tax is not None:
        tax_id, rate = tax
        # By id, or by rate alone: both must reach the provider as its tax id.
        line["taxes"] = [{"id": tax_id, "rate": rate} if draw(st.booleans()) else {"rate": rate}]
    kind = draw(st.sampled_from(["none", "percent", "amount"]))
    if kind == "percent":
        line["discount"] = {
            "type": "percent",
            "value": draw(_decimal("0", "100", draw(st.integers(0, 4)))),
        }
    elif kind == "amount":
        subtotal = calculate(
            Invoice.model_validate({"currency": "USD" if places else "JPY", "lines": [line]})
        ).lines[0]
        assert subtotal is not None
        line["discount"] = {"type": "amount", "value": draw(_up_to(subtotal.subtotal, places))}
    return line


@st.composite
def _invoices(draw: st.DrawFn) -> Invoice:
    currency = draw(st.sampled_from(CURRENCIES))
    places = exponent(currency)
    issue = draw(st.dates(date(2020, 1, 1), date(2030, 12, 31)))
    due = draw(st.none() | st.integers(0, 120).map(lambda days: issue + timedelta(days=days)))
    invoice: dict[str, Any] = {
        "customer": {"id": str(draw(st.sampled_from(sorted(CUSTOMERS))))},
        "issue_date": issue,
        "due_date": due,
        "currency": currency,
        "exchange_rate": draw(st.none() | _decimal("0.000001", "1000", 6).filter(lambda r: r > 0)),
        "reference": draw(st.none() | _text(255)),
        "notes": draw(st.none() | _text(500)),
        "terms": draw(st.none() | _text(200)),
        "billing_address": draw(st.none() | _text(200)),
        "shipping_address": draw(st.none() | _text(200)),
        "lines": draw(st.lists(_line(places), min_size=1, max_size=5)),
        "provider_fields": draw(_provider_fields()),
    }
    kind = draw(st.sampled_from(["none", "percent", "amount"]))
    if kind == "percent":
        invoice["discount"] = {"type": "percent", "value": draw(_decimal("0", "100", 2))}
    elif kind == "amount":
        net = calculate(Invoice.model_validate(invoice)).totals.subtotal
        invoice["discount"] = {"type": "amount", "value": draw(_up_to(net, places))}
    return Invoice.model_validate(invoice)


@st.composite
def _provider_fields(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if draw(st.booleans()):
        fields["template_id"] = draw(st.sampled_from(sorted(TEMPLATES)))
    if draw(st.booleans()):
        fields["deal_id"] = draw(st.sampled_from(sorted(DEALS)))
    if draw(st.booleans()):
        fields["assigned_to"] = draw(st.sampled_from(sorted(USERS)))
    if draw(st.booleans()):
        fields["tag_ids"] = draw(st.lists(st.sampled_from(sorted(TAGS)), unique=True, max_size=3))
    return fields


def invoices() -> st.SearchStrategy[Invoice]:
    return _invoices()


# -- golden operations on a fresh seeded emulator -----------------------------------------------


async def _create(adapter: Adapter) -> Any:
    return await adapter.create(sample(0))


async def _update(adapter: Adapter) -> Any:
    return await adapter.update(DOC_EXAMPLE, sample(1))


async def _delete(adapter: Adapter) -> Any:
    return await adapter.delete(DOC_EXAMPLE)


async def _get(adapter: Adapter) -> Any:
    return await adapter.get(DOC_EXAMPLE)


# One row per golden page: the rows of a page are read concurrently, so with more than one the
# order they reach the emulator's log is not fixed.
async def _list_page(adapter: Adapter) -> Any:
    return await adapter.list_page(ListQuery(), None, 1)


async def _list_filtered(adapter: Adapter) -> Any:
    query = ListQuery(
        status="paid",
        customer_id="7",
        issued_from=date(2026, 1, 1),
        issued_to=date(2026, 6, 30),
        number="INV-00",
    )
    return await adapter.list_page(query, None, 1)


async def _list_payments(adapter: Adapter) -> Any:
    return await adapter.list_payments(PAID_WITH_PAYMENTS)


PROFILE = Profile(
    provider="crm_v1",
    sample=sample,
    invoices=invoices,
    rejected=rejected(),
    action_paths=[],
    golden={
        "create": _create,
        "update": _update,
        "delete": _delete,
        "get": _get,
        "list_page": _list_page,
        "list_filtered": _list_filtered,
        "list_payments": _list_payments,
    },
    seed_invoices=SEED_INVOICES,
)
