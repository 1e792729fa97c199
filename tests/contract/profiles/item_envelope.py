"""item_envelope in the contract suite: samples, random invoices, the golden operations.

Reference ids are the emulator's fixed seed (docs/providers/item_envelope.md, "Seed"): clients
1–20, stores 1–3, products 1–12, taxes 1–7 as configured in gateway/sandbox/item_envelope.yaml.
With 23 seeded invoices (ids 101–123), 106 is a draft, 111, 117 and 119 are issued and unpaid.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import strategies as st

from adapters.base import Adapter, ListQuery
from gateway.canonical.model import Invoice
from gateway.canonical.money import exponent, quantum
from gateway.canonical.totals import calculate
from tests.contract.profile import Profile

# The currencies the account accepts (the emulator's list; the provider doc says "3-digit code").
CURRENCIES = (
    "USD",
    "EUR",
    "GBP",
    "CAD",
    "AUD",
    "CHF",
    "INR",
    "SEK",
    "JPY",
    "KRW",
    "BHD",
    "KWD",
    "OMR",
)
TAXES: dict[str, tuple[str, str]] = {
    "1": ("GST 5%", "5"),
    "2": ("QST 9.975%", "9.975"),
    "3": ("VAT 20%", "20"),
    "4": ("VAT 10%", "10"),
    "5": ("Sales Tax 8.25%", "8.25"),
    "6": ("Zero Rated 0%", "0"),
    "7": ("MwSt 19%", "19"),
}
SEEDED_DRAFT = "106"
SEEDED_UNPAID = ("111", "117", "119")


def tax(tax_id: str) -> dict[str, str]:
    name, rate = TAXES[tax_id]
    return {"id": tax_id, "name": name, "rate": rate}


def _usd(n: int) -> dict[str, Any]:
    # The provider's own example (client 15, store 1, products 1 and 3 at 100 and 50, a 10 %
    # line discount), with a tax on the first line and a custom column.
    return {
        "currency": "USD",
        "issue_date": "2026-07-01",
        "notes": "Invoice for March services",
        "lines": [
            {
                "item_id": "1",
                "quantity": str(2 + n),
                "unit_price": "100",
                "taxes": [tax("5")],
                "provider_fields": {"col_3": "Batch 7"},
            },
            {
                "item_id": "3",
                "quantity": "1",
                "unit_price": "50",
                "discount": {"type": "percent", "value": "10"},
            },
        ],
    }


def _eur(n: int) -> dict[str, Any]:
    return {
        "currency": "EUR",
        "issue_date": "2026-07-02",
        "reference": f"PO-2026-{100 + n}",
        "discount": {"type": "percent", "value": "2.5"},
        "provider_fields": {"store_id": 2, "is_offline": True},
        "lines": [
            {
                "item_id": "7",
                "quantity": "1.5",
                "unit_price": "367.9540",
                "discount": {"type": "amount", "value": "20.00"},
                "taxes": [tax("1"), tax("2")],
                "provider_fields": {"col_4": "Serial on request", "col_5": "EU"},
            },
            {"item_id": "2", "quantity": str(12 + n), "unit_price": "27.59", "taxes": [tax("7")]},
            {"item_id": "11", "quantity": "1", "unit_price": "13.80"},
        ],
    }


def _jpy(n: int) -> dict[str, Any]:
    return {
        "currency": "JPY",
        "issue_date": "2026-07-03",
        "discount": {"type": "amount", "value": "5000"},
        "provider_fields": {"store_id": 3, "is_offline": False},
        "lines": [
            {"item_id": "12", "quantity": "3", "unit_price": "180000", "taxes": [tax("4")]},
            {
                "item_id": "5",
                "quantity": str(10 + n),
                "unit_price": "1874",
                "discount": {"type": "percent", "value": "12.5"},
                "taxes": [tax("4"), tax("6")],
            },
        ],
    }


def sample(n: int) -> Invoice:
    data = (_usd, _eur, _jpy)[n % 3](n // 3)
    data["customer"] = {"id": str(15 if n == 0 else 1 + n % 20)}
    return Invoice.model_validate(data)


# --- random invoices ---------------------------------------------------------------------------

_QUANTITIES = st.decimals(Decimal("0.000001"), Decimal("1000"), places=6)
_PRICES = st.decimals(Decimal("0"), Decimal("100000"), places=4)
_PERCENTS = st.decimals(Decimal("0.0001"), Decimal("100"), places=4)
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)


def _round(value: Decimal, places: int) -> Decimal:
    return value.quantize(quantum(places), rounding=ROUND_HALF_UP)


@st.composite
def _line(draw: st.DrawFn, places: int) -> dict[str, Any]:
    quantity = draw(_QUANTITIES)
    unit_price = draw(_PRICES)
    line: dict[str, Any] = {
        "item_id": str(draw(st.integers(1, 12))),
        "quantity": quantity,
        "unit_price": unit_price,
        "taxes": [
            tax(t) for t in draw(st.lists(st.sampled_from(list(TAXES)), max_size=2, unique=True))
        ],
    }
    kind = draw(st.sampled_from(("none", "percent", "amount")))
    gross_units = int(_round(quantity * unit_price, places) / quantum(places))
    if kind == "percent":
        line["discount"] = {"type": "percent", "value": draw(_PERCENTS)}
    elif kind == "amount" and gross_units > 0:
        units = draw(st.integers(1, gross_units))
        line["discount"] = {"type": "amount", "value": units * quantum(places)}
    columns = {name: draw(_TEXT) for name in ("col_3", "col_4", "col_5") if draw(st.booleans())}
    if columns:
        line["provider_fields"] = columns
    return line


@st.composite
def _invoice(draw: st.DrawFn) -> Invoice:
    currency = draw(st.sampled_from(CURRENCIES))
    places = exponent(currency)
    data: dict[str, Any] = {
        "currency": currency,
        "customer": {"id": str(draw(st.integers(1, 20)))},
        "lines": draw(st.lists(_line(places), min_size=1, max_size=4)),
    }
    issued = draw(st.none() | st.dates(date(2020, 1, 1), date(2030, 12, 31)))
    if issued is not None:
        data["issue_date"] = issued.isoformat()
    for name in ("notes", "reference"):
        if draw(st.booleans()):
            data[name] = draw(_TEXT)
    provider_fields: dict[str, Any] = {}
    if draw(st.booleans()):
        provider_fields["store_id"] = draw(st.integers(1, 3))
    if draw(st.booleans()):
        provider_fields["is_offline"] = draw(st.booleans())
    data["provider_fields"] = provider_fields
    kind = draw(st.sampled_from(("none", "percent", "amount")))
    if kind == "percent":
        data["discount"] = {"type": "percent", "value": draw(_PERCENTS)}
    elif kind == "amount":
        nets = calculate(Invoice.model_validate(data)).totals.subtotal
        units = int(nets / quantum(places))
        if units > 0:
            value = draw(st.integers(1, units)) * quantum(places)
            data["discount"] = {"type": "amount", "value": value}
    return Invoice.model_validate(data)


def invoices() -> st.SearchStrategy[Invoice]:
    return _invoice()


# --- golden operations (a fresh emulator with 23 seeded invoices) ------------------------------


async def _create(adapter: Adapter) -> Any:
    return await adapter.create(sample(0))


async def _update(adapter: Adapter) -> Any:
    return await adapter.update(SEEDED_UNPAID[0], sample(1))


async def _delete(adapter: Adapter) -> Any:
    return await adapter.delete(SEEDED_UNPAID[2])


async def _get(adapter: Adapter) -> Any:
    return await adapter.get(SEEDED_UNPAID[1])


async def _list(adapter: Adapter) -> Any:
    return await adapter.list_page(ListQuery(), None, 20)


async def _list_filtered(adapter: Adapter) -> Any:
    query = ListQuery(customer_id="18", issued_from=date(2025, 1, 8), issued_to=date(2025, 2, 6))
    return await adapter.list_page(query, "2", 1)


async def _issue(adapter: Adapter) -> Any:
    return await adapter.act(SEEDED_DRAFT, "issue")


def _rejected() -> tuple[Invoice, str]:
    # Client 99 does not exist: the provider answers 422 naming client_id.
    invoice = Invoice.model_validate({**sample(0).model_dump(), "customer": {"id": "99"}})
    return invoice, "/customer/id"


PROFILE = Profile(
    provider="item_envelope",
    sample=sample,
    invoices=invoices,
    rejected=_rejected(),
    action_paths=[[("issue", "open")]],
    golden={
        "create": _create,
        "update": _update,
        "delete": _delete,
        "get": _get,
        "list": _list,
        "list_filtered": _list_filtered,
        "issue": _issue,
    },
)
