"""draft_publish in the contract suite: samples, random invoices, actions and golden operations.

Reference ids come from the emulator's fixed reference data (the same for every seed); taxes
are the sandbox connection's (``gateway/sandbox/draft_publish.yaml``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from functools import cache
from typing import Any

from hypothesis import strategies as st

from adapters.base import Adapter, ListQuery
from emulators.draft_publish.reference import reference_data
from emulators.draft_publish.seed import seed_store
from emulators.draft_publish.store import Store
from gateway.canonical.model import Invoice, Payment
from gateway.canonical.money import exponent
from gateway.canonical.totals import calculate
from tests.contract.profile import Profile

SEED_INVOICES = 23
# Currencies the account invoices in, with every minor-unit count it has (2, 0 and 3).
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "JPY", "KRW", "BHD", "KWD")
# The sandbox connection's tax rates (one tax per line at most).
RATES = (Decimal("20"), Decimal("5"), Decimal("8.875"), Decimal("0"))
UNKNOWN_CUSTOMER = "00000000-0000-4000-8000-000000000000"


@cache
def _reference() -> dict[str, Any]:
    return reference_data()


def customers() -> list[str]:
    return [c["id"] for c in _reference()["customers"]]


def products() -> list[dict[str, Any]]:
    return list(_reference()["products"])


def templates() -> list[str]:
    return [t["id"] for t in _reference()["templates"]]


# -- samples ----------------------------------------------------------------------------------


def sample(n: int) -> Invoice:
    """Three or two lines, every carried field, a discount two times in three, three currencies."""
    currency = ("USD", "EUR", "JPY")[n % 3]
    scale = Decimal(100) if exponent(currency) == 0 else Decimal(1)
    goods = products()
    issue = date(2026, 3, 2) + timedelta(days=n)
    lines = [
        {
            "item_id": goods[(n + i) % len(goods)]["id"],
            "description": f"{goods[(n + i) % len(goods)]['name']} ({n}.{i})",
            "quantity": str(Decimal(i + 1) * Decimal("1.5")),
            "unit": goods[(n + i) % len(goods)]["unit"],
            "unit_price": str(Decimal(goods[(n + i) % len(goods)]["unit_price"]) * scale),
            "taxes": [{"rate": str(RATES[(n + i) % len(RATES)])}] if (n + i) % 5 != 4 else [],
        }
        for i in range(3 - n % 2)
    ]
    discount = (
        {"type": "percent", "value": "12.5"},
        {"type": "amount", "value": str(Decimal(5) * scale)},
        None,
    )[n % 3]
    return Invoice.model_validate(
        {
            "customer": {"id": customers()[n % len(customers())]},
            "issue_date": issue.isoformat(),
            "due_date": (issue + timedelta(days=30)).isoformat(),
            "currency": currency,
            "notes": f"Sample {n}: thank you for your business",
            "terms": "Net 30" if n % 2 == 0 else None,
            "discount": discount,
            "lines": lines,
            "provider_fields": {"template_id": templates()[n % len(templates())]},
        }
    )


def rejected() -> tuple[Invoice, str]:
    """A customer the provider does not have: its 422 names customer_id."""
    data = sample(0).model_dump()
    data["customer"] = {"id": UNKNOWN_CUSTOMER}
    return Invoice.model_validate(data), "/customer/id"


# -- random invoices ----------------------------------------------------------------------------

_TEXT = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))


def _text(max_size: int) -> st.SearchStrategy[str]:
    # The provider refuses blank text where text is required; a letter first keeps it non-blank.
    return st.builds(
        lambda head, tail: head + tail,
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"),
        st.text(_TEXT, max_size=max_size - 1),
    )


def _decimal(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(Decimal(low), Decimal(high), places=places, allow_nan=False)


@st.composite
def _invoices(draw: st.DrawFn) -> Invoice:
    currency = draw(st.sampled_from(CURRENCIES))
    places = exponent(currency)
    issue = draw(st.dates(date(2025, 1, 1), date(2027, 12, 31)))
    goods = products()
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        product = draw(st.sampled_from([None, *goods]))
        lines.append(
            {
                "item_id": product["id"] if product else None,
                "description": draw(_text(500)),
                "quantity": draw(_decimal("0.000001", "5000", 6).filter(lambda q: q > 0)),
                "unit": draw(st.none() | _text(20)),
                "unit_price": draw(_decimal("0", "100000", 4)),
                "taxes": draw(st.sampled_from([[], *[[{"rate": rate}] for rate in RATES]])),
            }
        )
    invoice: dict[str, Any] = {
        "customer": {"id": draw(st.sampled_from(customers()))},
        "issue_date": issue,
        "due_date": issue + timedelta(days=draw(st.integers(0, 90))),
        "currency": currency,
        "notes": draw(st.none() | _text(2000)),
        "terms": draw(st.none() | _text(100)),
        "lines": lines,
        "provider_fields": draw(
            st.just({}) | st.sampled_from(templates()).map(lambda t: {"template_id": t})
        ),
    }
    kind = draw(st.sampled_from(["none", "percent", "amount"]))
    if kind == "percent":
        invoice["discount"] = {"type": "percent", "value": draw(_decimal("0", "100", 4))}
    elif kind == "amount":
        subtotal = calculate(Invoice.model_validate(invoice)).totals.subtotal
        fraction = draw(st.fractions(0, 1, max_denominator=1000))
        value = (subtotal * fraction.numerator / fraction.denominator).quantize(
            Decimal(1).scaleb(-places), rounding=ROUND_DOWN
        )
        invoice["discount"] = {"type": "amount", "value": value}
    return Invoice.model_validate(invoice)


def invoices() -> st.SearchStrategy[Invoice]:
    return _invoices()


# -- golden operations on seeded invoices -------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    draft: str
    sent: str  # sent (or overdue), no payments
    part_paid: str  # sent (or overdue), one payment
    part_payment: str  # that payment


@cache
def seeded() -> Seeded:
    """Ids of seeded invoices in each state, from the emulator's own deterministic seed."""
    store = Store(clock=lambda: datetime(2026, 1, 1, tzinfo=UTC), seed=0)
    seed_store(store, SEED_INVOICES)
    docs = sorted(store.live(), key=lambda d: d.created_seq)
    draft = next(d for d in docs if d.status == "draft")
    sent = next(d for d in docs if d.status == "sent" and not d.payments)
    part_paid = next(d for d in docs if d.status == "sent" and d.payments)
    return Seeded(draft.id, sent.id, part_paid.id, part_paid.payments[0].id)


def _act(action: str, which: str) -> Callable[[Adapter], Awaitable[Any]]:
    async def run(adapter: Adapter) -> Any:
        return await adapter.act(getattr(seeded(), which), action)

    return run


async def _create(adapter: Adapter) -> Any:
    return await adapter.create(sample(0))


async def _update(adapter: Adapter) -> Any:
    return await adapter.update(seeded().draft, sample(1))


async def _delete(adapter: Adapter) -> Any:
    return await adapter.delete(seeded().draft)


async def _get(adapter: Adapter) -> Any:
    return await adapter.get(seeded().sent)


async def _list(adapter: Adapter) -> Any:
    return await adapter.list_page(ListQuery(), None, 25)


async def _list_filtered(adapter: Adapter) -> Any:
    query = ListQuery(
        customer_id=customers()[0],
        issued_from=date(2026, 1, 1),
        issued_to=date(2026, 6, 30),
        number="INV-000",
    )
    return await adapter.list_page(query, "2", 2)


async def _record_payment(adapter: Adapter) -> Any:
    payment = Payment(
        amount=Decimal("500.00"),
        date=date(2026, 7, 1),
        method="bank_transfer",
        reference="TXN-12345",
    )
    return await adapter.record_payment(seeded().sent, payment)


async def _list_payments(adapter: Adapter) -> Any:
    return await adapter.list_payments(seeded().part_paid)


async def _delete_payment(adapter: Adapter) -> Any:
    return await adapter.delete_payment(seeded().part_paid, seeded().part_payment)


PROFILE = Profile(
    provider="draft_publish",
    sample=sample,
    invoices=invoices,
    rejected=rejected(),
    action_paths=[
        [("issue", "open"), ("unpublish", "draft"), ("mark_sent", "open"), ("void", "void")],
        [("send", "open"), ("mark_paid", "paid"), ("credit_note", "draft")],
        [("duplicate", "draft")],
    ],
    golden={
        "create": _create,
        "update": _update,
        "delete": _delete,
        "get": _get,
        "list": _list,
        "list_filtered": _list_filtered,
        "issue": _act("issue", "draft"),
        "unpublish": _act("unpublish", "sent"),
        "mark_sent": _act("mark_sent", "draft"),
        "send": _act("send", "draft"),
        "void": _act("void", "sent"),
        "mark_paid": _act("mark_paid", "sent"),
        "duplicate": _act("duplicate", "sent"),
        "credit_note": _act("credit_note", "sent"),
        "payment_record": _record_payment,
        "payment_list": _list_payments,
        "payment_delete": _delete_payment,
    },
    seed_invoices=SEED_INVOICES,
)
