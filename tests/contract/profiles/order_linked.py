"""order_linked in the contract suite: seeded accounts, items and orders, its three tax codes.

A line's tax is the one its item's tax code sets, so every sample line carries exactly that tax
(GST 10, GST_FREE 0 or WET 29; docs/providers/order_linked.md, "Seeded data").
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from adapters.base import Adapter, ListQuery, NoteFile
from gateway.canonical.model import Invoice
from gateway.canonical.order_invoice import OrderInvoice
from gateway.canonical.totals import calculate
from tests.contract.profile import Profile

ACCOUNTS = tuple(f"ACC-{n}" for n in range(1001, 1009))
CURRENCIES = ("AUD", "NZD", "USD", "GBP", "EUR", "JPY")
# item → the rate of its tax code; prices are always sent, so any item sells in any currency.
ITEM_RATES: dict[str, str] = {
    "ITM-1001": "10",
    "ITM-1002": "10",
    "ITM-1003": "10",
    "ITM-1004": "10",
    "ITM-1005": "10",
    "ITM-1006": "0",
    "ITM-1007": "29",
    "ITM-1008": "10",
    "ITM-1009": "0",
    "ITM-1010": "10",
}
TAX_IDS = {"10": "GST", "0": "GST_FREE", "29": "WET"}
# Seeded invoices (seed 0, 23 of them) in the state each golden action needs.
ACTIVE_SEEDED = "INV-00004"
INACTIVE_SEEDED = "INV-00009"


def line(item: str, quantity: str, price: str, *, by_id: bool = False, **extra: Any) -> dict:
    rate = ITEM_RATES[item]
    tax: dict[str, Any] = {"rate": rate}
    if by_id:
        tax["id"] = TAX_IDS[rate]
    return {
        "item_id": item,
        "quantity": quantity,
        "unit_price": price,
        "taxes": [tax],
        **extra,
    }


def sample(n: int) -> Invoice:
    issue = date(2026, 7, 1) + timedelta(days=n)
    base: dict[str, Any] = {
        "issue_date": issue.isoformat(),
        "due_date": (issue + timedelta(days=30)).isoformat(),
        "reference": f"PO-{7000 + n}",
        "notes": f"Sample {n}: thank you for your business.",
    }
    variant = n % 3
    if variant == 0:
        return Invoice.model_validate(
            {
                **base,
                "customer": {"id": "ACC-1001"},
                "currency": "AUD",
                "provider_fields": {
                    "custom_attributes": [{"name": "Project", "value": f"Fit-out {n}"}]
                },
                "lines": [
                    line(
                        "ITM-1001", str(2 + n), "749.00", provider_fields={"package_name": "Carton"}
                    ),
                    line("ITM-1005", "1.5", "95.00", by_id=True),
                    line("ITM-1006", "3", "45.00"),
                ],
            }
        )
    if variant == 1:
        return Invoice.model_validate(
            {
                **base,
                "customer": {"id": "ACC-1002"},
                "currency": "NZD",
                "tax_mode": "inclusive",
                "lines": [
                    line("ITM-1002", str(n), "467.50"),
                    line("ITM-1010", "4", "49.39", by_id=True),
                    line("ITM-1007", "12", "41.1075"),
                ],
            }
        )
    return Invoice.model_validate(
        {
            **base,
            "customer": {"id": "ACC-1006"},
            "currency": "JPY",
            "lines": [
                line("ITM-1001", "1", "74800"),
                line("ITM-1008", f"{n}.25", "14290.5"),
            ],
        }
    )


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@st.composite
def _decimal(draw: st.DrawFn, most: int, places: int) -> Decimal:
    """A positive decimal with up to ``places`` decimals and at most ``most`` units."""
    exponent = draw(st.integers(0, places))
    units = draw(st.integers(1, most * 10**exponent))
    return Decimal(units).scaleb(-exponent)


@st.composite
def _line(draw: st.DrawFn) -> dict[str, Any]:
    item = draw(st.sampled_from(sorted(ITEM_RATES)))
    data = line(
        item,
        str(draw(_decimal(1000, 6))),
        str(draw(_decimal(100_000, 4))),
        by_id=draw(st.booleans()),
    )
    package = draw(st.none() | _TEXT)
    if package is not None:
        data["provider_fields"] = {"package_name": package}
    return data


@st.composite
def _invoice(draw: st.DrawFn) -> Invoice:
    issue = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 364)))
    attributes = draw(
        st.none()
        | st.lists(
            st.fixed_dictionaries({"name": _TEXT.filter(str.strip), "value": st.none() | _TEXT}),
            max_size=3,
        )
    )
    data: dict[str, Any] = {
        "customer": {"id": draw(st.sampled_from(ACCOUNTS))},
        "currency": draw(st.sampled_from(CURRENCIES)),
        "tax_mode": draw(st.sampled_from(("exclusive", "inclusive"))),
        "issue_date": issue.isoformat(),
        "due_date": (issue + timedelta(days=draw(st.integers(0, 90)))).isoformat(),
        "reference": draw(st.none() | _TEXT),
        "notes": draw(st.none() | _TEXT),
        "lines": draw(st.lists(_line(), min_size=1, max_size=4)),
    }
    if attributes is not None:
        data["provider_fields"] = {"custom_attributes": attributes}
    return Invoice.model_validate(data)


def invoices() -> st.SearchStrategy[Invoice]:
    # Nothing owed on a zero total is "PAID" to the provider and "unpaid" to the canonical
    # rule (a reported difference, tested on its own), so round trips need something to pay.
    return _invoice().filter(lambda invoice: calculate(invoice).totals.total > 0)


def _rejected() -> tuple[Invoice, str]:
    data = sample(0).model_dump()
    data["customer"] = {"id": "ACC-9999"}
    return Invoice.model_validate(data), "/customer/id"


async def _create(adapter: Adapter) -> Any:
    return await adapter.create(sample(0))


async def _get(adapter: Adapter) -> Any:
    return await adapter.get("INV-00001")


async def _list(adapter: Adapter) -> Any:
    return await adapter.list_page(ListQuery(), None, 10)


async def _list_filtered(adapter: Adapter) -> Any:
    return await adapter.list_page(ListQuery(status="open", customer_id="ACC-1004"), "2", 1)


async def _void(adapter: Adapter) -> Any:
    return await adapter.act(ACTIVE_SEEDED, "void")


async def _reactivate(adapter: Adapter) -> Any:
    return await adapter.act(INACTIVE_SEEDED, "reactivate")


async def _create_from_order(adapter: Adapter) -> Any:
    # What the order leaves to the invoice, and nothing of the order's: one call, no order read.
    request = OrderInvoice.model_validate(
        {
            "issue_date": "2026-07-01",
            "due_date": "2026-07-31",
            "reference": "PO-7781-B",
            "notes": "Delivered in two drops.",
        }
    )
    return await adapter.create_from_order("SO-1001", request)


async def _add_note(adapter: Adapter) -> Any:
    receipt = NoteFile("receipt.pdf", "application/pdf", b"%PDF-1.4 delivery receipt")
    return await adapter.add_note(ACTIVE_SEEDED, "<p>Proof of delivery attached</p>", [receipt])


PROFILE = Profile(
    provider="order_linked",
    sample=sample,
    invoices=invoices,
    rejected=_rejected(),
    action_paths=[
        [("void", "void")],
        # Cancel is not final here: the invoice goes round again.
        [("void", "void"), ("reactivate", "open"), ("void", "void"), ("reactivate", "open")],
    ],
    golden={
        "create": _create,
        "get": _get,
        "list": _list,
        "list_filtered": _list_filtered,
        "void": _void,
        "reactivate": _reactivate,
        "create_from_order": _create_from_order,
        "add_note": _add_note,
    },
    seed_invoices=23,
)
