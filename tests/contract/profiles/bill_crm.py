"""bill_crm in the contract suite: samples, random invoices, a rejection, actions, golden operations.

Reference ids are the emulator's fixed reference data (clients, projects, categories, tax rates:
the same for every seed); taxes are the sandbox connection's (``gateway/sandbox/bill_crm.yaml``).
The seeded invoices named below are those of seed 0 with 23 invoices.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import strategies as st

from adapters.base import Adapter, DuplicateInputs, ListQuery
from emulators.bill_crm.store import CATEGORIES, CLIENTS, PROJECTS
from gateway.canonical.model import Invoice
from tests.contract.profile import Profile

SEED_INVOICES = 23
# The sandbox's taxes: (id, name, rate).
TAXES = (
    ("1", "VAT 20%", "20"),
    ("2", "VAT 10%", "10"),
    ("3", "Zero rate", "0"),
    ("4", "MwSt 19%", "19"),
    ("5", "GST 5%", "5"),
    ("6", "PST 7%", "7"),
    ("7", "Sales Tax 8.25%", "8.25"),
)
UNKNOWN_CLIENT = "99"
# Seed 0, 23 invoices: a draft of client 6 (project 7), a Due one, a Cancelled one, a paid one.
DRAFT_OF_CLIENT_6 = "11"
DUE = "14"
ANOTHER_DUE = "19"
CANCELLED = "4"
PAID_TWO_TAXES = "12"
EMPTY_DRAFT = "17"


def _projects(client: int) -> list[int]:
    return [p.id for p in PROJECTS.values() if p.client_id == client]


def _tax(index: int, *, by_rate: bool = False) -> dict[str, Any]:
    tax_id, name, rate = TAXES[index]
    return {"rate": rate} if by_rate else {"id": tax_id, "name": name, "rate": rate}


def sample(n: int, client: int | None = None) -> Invoice:
    """Every field bill_crm carries, in turn as ``n`` changes.

    n % 3 == 0: summary tax (one rate on every line), a percent discount, a negative adjustment;
    n % 3 == 1: inline tax (a different tax per line, a percent and an amount line discount),
    a fixed discount, an adjustment with no description;
    n % 3 == 2: summary tax with two rates (given by rate alone), no discount, no due date.
    Samples 0 and 1 share a client, so one can replace the other (an update keeps the client).
    """
    client = client if client is not None else (n // 2) % len(CLIENTS) + 1
    projects = _projects(client)
    issue = date(2026, 7, 1) + timedelta(days=n)
    kind = n % 3
    lines: list[dict[str, Any]]
    if kind == 0:
        lines = [
            {
                "name": "Consulting",
                "description": f"Discovery workshop #{n}",
                "quantity": str(10 + n),
                "unit": "hour",
                "unit_price": "95.00",
                "taxes": [_tax(0)],
            },
            {
                "name": "Hosting (monthly)",
                "quantity": "3",
                "unit_price": "29.99",
                "taxes": [_tax(0)],
            },
            {
                "name": "Copywriting",
                "quantity": "1250",
                "unit": "word",
                "unit_price": "0.1250",
                "taxes": [_tax(0)],
            },
        ]
    elif kind == 1:
        lines = [
            {
                "name": "Website design",
                "quantity": "1",
                "unit": "project",
                "unit_price": "1200.00",
                "discount": {"type": "percent", "value": "12.5"},
                "taxes": [_tax(3)],
            },
            {
                "name": "Training session",
                "description": "On site, two trainers",
                "quantity": "2.25",
                "unit": "day",
                "unit_price": "640.00",
                "discount": {"type": "amount", "value": "20.00"},
                "taxes": [_tax(6)],
            },
            {"name": "Domain renewal", "quantity": "1", "unit_price": "14.99", "taxes": []},
        ]
    else:
        lines = [
            {
                "name": "SEO audit",
                "quantity": "1",
                "unit_price": "275.50",
                "taxes": [_tax(4, by_rate=True), _tax(5, by_rate=True)],
            },
            {
                "name": "Maintenance",
                "quantity": str(Decimal("7.5") + n),
                "unit": "hour",
                "unit_price": "65.00",
                "taxes": [_tax(4, by_rate=True), _tax(5, by_rate=True)],
            },
        ]
    data: dict[str, Any] = {
        "customer": {"id": str(client)},
        "issue_date": issue.isoformat(),
        "currency": "USD",
        "notes": f"Sample invoice {n}. Thank you for your business.",
        "tags": ["sample", f"batch-{n % 4}"],
        "lines": lines,
        "provider_fields": {"bill_categoryid": n % len(CATEGORIES) + 1},
    }
    if kind != 2:
        data["due_date"] = (issue + timedelta(days=14 + n)).isoformat()
    if n % 2 == 0:
        data["terms"] = "Net 30. Late payments incur 1.5% monthly interest."
        data["provider_fields"]["bill_projectid"] = projects[0]
    if kind == 0:
        data["discount"] = {"type": "percent", "value": "10"}
        data["adjustment"] = {"amount": "-0.76", "description": "Rounding"}
    elif kind == 1:
        data["discount"] = {"type": "amount", "value": "25.00"}
        data["adjustment"] = {"amount": "12.00"}
    return Invoice.model_validate(data)


def _rejected() -> tuple[Invoice, str]:
    """An unknown client: only the CRM knows its clients (no endpoint lists them)."""
    invoice = sample(0)
    assert invoice.customer is not None
    invoice.customer.id = UNKNOWN_CLIENT
    return invoice, "/customer/id"


# -- random invoices ----------------------------------------------------------------------------

_TEXT = st.from_regex(
    r"[A-Za-z0-9À-ÿ]([A-Za-z0-9À-ÿ .,:#()'-]{0,28}[A-Za-z0-9À-ÿ.)])?", fullmatch=True
)
_CENT = Decimal("0.01")


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _decimal(low: int, high: int, places: int) -> st.SearchStrategy[Decimal]:
    """Decimals in [low, high] with up to ``places`` decimals (scaled integers: never a float)."""
    scale = 10**places
    return st.integers(low * scale, high * scale).map(lambda units: Decimal(units).scaleb(-places))


@st.composite
def _line(draw: st.DrawFn, taxes: list[dict[str, Any]] | None) -> dict[str, Any]:
    """One line; ``taxes`` is the summary tax set, or None for an inline line (own tax/discount)."""
    quantity = draw(st.one_of(_decimal(1, 50, 0), _decimal(0, 20, 2), _decimal(0, 3, 6)))
    quantity = max(quantity, Decimal("0.000001"))
    price = draw(st.one_of(_decimal(0, 2000, 2), _decimal(0, 50, 4)))
    line: dict[str, Any] = {"name": draw(_TEXT), "quantity": quantity, "unit_price": price}
    if draw(st.booleans()):
        line["description"] = draw(_TEXT)
    if draw(st.booleans()):
        line["unit"] = draw(st.sampled_from(["hour", "day", "item", "month", "word"]))
    if taxes is not None:
        line["taxes"] = taxes
        return line
    line["taxes"] = draw(
        st.lists(st.sampled_from(range(len(TAXES))), max_size=1).map(
            lambda ix: [_tax(i) for i in ix]
        )
    )
    subtotal = _money(quantity * price)
    kind = draw(st.sampled_from(["none", "percent", "amount"]))
    if kind == "percent":
        line["discount"] = {"type": "percent", "value": draw(_decimal(0, 100, 2))}
    elif kind == "amount":
        cents = draw(st.integers(0, int(subtotal / _CENT)))
        line["discount"] = {"type": "amount", "value": Decimal(cents) * _CENT}
    return line


def _net(line: dict[str, Any]) -> Decimal:
    subtotal = _money(line["quantity"] * line["unit_price"])
    discount = line.get("discount")
    if discount is None:
        return subtotal
    if discount["type"] == "percent":
        return subtotal - _money(subtotal * discount["value"] / 100)
    return subtotal - Decimal(discount["value"])


@st.composite
def _invoice(draw: st.DrawFn) -> Invoice:
    client = draw(st.sampled_from(sorted(CLIENTS)))
    issue = draw(st.dates(date(2025, 1, 1), date(2027, 12, 31)))
    summary = draw(st.booleans())
    count = draw(st.integers(1, 4))
    if summary:
        chosen = draw(st.lists(st.sampled_from(range(len(TAXES))), max_size=3, unique=True))
        by_rate = draw(st.booleans())
        tax_set = [_tax(i, by_rate=by_rate) for i in chosen]
        lines = [draw(_line(tax_set)) for _ in range(count)]
    else:
        lines = [draw(_line(None)) for _ in range(count)]
    fields: dict[str, Any] = {"bill_categoryid": draw(st.sampled_from(sorted(CATEGORIES)))}
    project = draw(st.sampled_from([None, *_projects(client)]))
    if project is not None:
        fields["bill_projectid"] = project
    if draw(st.booleans()):
        # Stating the tax type the lines already fit, or leaving the choice to the adapter.
        fields["bill_tax_type"] = "summary" if summary else "inline"
    data: dict[str, Any] = {
        "customer": {"id": str(client)},
        "issue_date": issue.isoformat(),
        "currency": "USD",
        "lines": lines,
        "provider_fields": fields,
        "tags": draw(st.lists(_TEXT, max_size=3, unique=True)),
    }
    if draw(st.booleans()):
        data["due_date"] = (issue + timedelta(days=draw(st.integers(0, 90)))).isoformat()
    for name in ("notes", "terms"):
        if draw(st.booleans()):
            data[name] = draw(_TEXT)
    nets = sum((_net(line) for line in lines), Decimal(0))
    kind = draw(st.sampled_from(["none", "percent", "amount"]))
    if kind == "percent":
        data["discount"] = {"type": "percent", "value": draw(_decimal(0, 100, 4))}
    elif kind == "amount":
        data["discount"] = {
            "type": "amount",
            "value": Decimal(draw(st.integers(0, int(nets / _CENT)))) * _CENT,
        }
    if draw(st.booleans()):
        adjustment: dict[str, Any] = {"amount": Decimal(draw(st.integers(-5000, 5000))) * _CENT}
        if draw(st.booleans()):
            adjustment["description"] = draw(_TEXT)
        # A zero adjustment without a description is no adjustment to the CRM (both read 0.00).
        if adjustment["amount"] or "description" in adjustment:
            data["adjustment"] = adjustment
    return Invoice.model_validate(data)


def invoices() -> st.SearchStrategy[Invoice]:
    return _invoice()


# -- golden operations ------------------------------------------------------------------------


async def _create(adapter: Adapter) -> Any:
    return await adapter.create(sample(0))


async def _create_inline(adapter: Adapter) -> Any:
    return await adapter.create(sample(1))


async def _update(adapter: Adapter) -> Any:
    return await adapter.update(DRAFT_OF_CLIENT_6, sample(1, client=6))


async def _delete(adapter: Adapter) -> Any:
    return await adapter.delete(EMPTY_DRAFT)


async def _get(adapter: Adapter) -> Any:
    return await adapter.get(PAID_TWO_TAXES)


async def _list(adapter: Adapter) -> Any:
    return await adapter.list_page(ListQuery(), None, 5)


async def _list_filtered(adapter: Adapter) -> Any:
    return await adapter.list_page(ListQuery(status="open", customer_id="5"), None, 10)


def _action(invoice_id: str, action: str) -> Any:
    async def run(adapter: Adapter) -> Any:
        return await adapter.act(invoice_id, action)

    return run


async def _duplicate_with_inputs(adapter: Adapter) -> Any:
    # To client 6 and its project 7, on new dates.
    inputs = DuplicateInputs(
        customer_id="6",
        issue_date=date(2026, 8, 3),
        due_date=date(2026, 9, 2),
        provider_fields={"bill_projectid": 7},
    )
    return await adapter.duplicate(PAID_TWO_TAXES, inputs)


PROFILE = Profile(
    provider="bill_crm",
    sample=sample,
    invoices=invoices,
    rejected=_rejected(),
    action_paths=[
        [("issue", "open"), ("send", "open"), ("mark_paid", "paid")],
        [("issue", "open"), ("void", "void"), ("reactivate", "open")],
        # Every status the CRM lets a user set, and the changes its doc allows (paid → cancelled).
        [
            ("issue", "open"),
            ("mark_overdue", "open"),
            ("mark_partially_paid", "open"),
            ("mark_paid", "paid"),
            ("void", "void"),
            ("reactivate", "open"),
            ("mark_paid", "paid"),
            ("mark_unpaid", "open"),
            ("unpublish", "draft"),
        ],
        [("void", "void")],
        [("duplicate", "draft")],
    ],
    golden={
        "create": _create,
        "create_inline": _create_inline,
        "update": _update,
        "delete": _delete,
        "get": _get,
        "list": _list,
        "list_filtered": _list_filtered,
        "issue": _action(DRAFT_OF_CLIENT_6, "issue"),
        "send": _action(DUE, "send"),
        "void": _action(DUE, "void"),
        "reactivate": _action(CANCELLED, "reactivate"),
        "mark_paid": _action(ANOTHER_DUE, "mark_paid"),
        "duplicate": _action(PAID_TWO_TAXES, "duplicate"),
        "duplicate_with_inputs": _duplicate_with_inputs,
        "unpublish": _action(DUE, "unpublish"),
        "mark_overdue": _action(DUE, "mark_overdue"),
        "mark_partially_paid": _action(DUE, "mark_partially_paid"),
        "mark_unpaid": _action(PAID_TWO_TAXES, "mark_unpaid"),
    },
    seed_invoices=SEED_INVOICES,
)
