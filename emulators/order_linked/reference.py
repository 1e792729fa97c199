"""order_linked's reference data: currencies, tax codes, items with price rules, accounts, forms
and the open orders a client can invoice.

It is the same for every seed, so the ids in the provider page of the docs and in a sandbox
configuration always exist; only the seeded invoices (and the orders behind them) vary by seed.
UUIDs are name-based for the same reason.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from emulators.common import round_money

_NAMESPACE = uuid.UUID("6f1d3c52-8a4e-4b7f-9d21-0c5e7a9b3f10")


def stable_uuid(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, name))


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    name: str
    exponent: int

    @property
    def uuid(self) -> str:
        return stable_uuid(f"currency:{self.code}")

    @property
    def link(self) -> str:
        return f"/currencies/{self.uuid}"


@dataclass(frozen=True, slots=True)
class TaxCode:
    code: str
    name: str
    rate: Decimal

    @property
    def uuid(self) -> str:
        return stable_uuid(f"tax:{self.code}")

    @property
    def link(self) -> str:
        return f"/tax-codes/{self.uuid}"


@dataclass(frozen=True, slots=True)
class PriceRule:
    """A tax-exclusive unit price in one currency, from ``min_quantity`` units up."""

    currency: str
    min_quantity: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    name: str
    uom: str
    tax_code: str
    sales_revenue: str
    warehouse: str | None
    price_rules: tuple[PriceRule, ...]

    @property
    def uuid(self) -> str:
        return stable_uuid(f"item:{self.id}")

    def price_for(self, currency: str, quantity: Decimal) -> Decimal | None:
        """The price of the rule with the largest minimum quantity that ``quantity`` reaches."""
        rules = [
            r for r in self.price_rules if r.currency == currency and r.min_quantity <= quantity
        ]
        if not rules:
            return None
        return max(rules, key=lambda r: r.min_quantity).price


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    currency: str
    payment_terms_days: int


@dataclass(frozen=True, slots=True)
class CustomForm:
    name: str

    @property
    def uuid(self) -> str:
        return stable_uuid(f"form:{self.name}")


@dataclass(frozen=True, slots=True)
class OrderLine:
    item_id: str
    quantity: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True)
class Order:
    """A sales order; its lines, shipping and discount become the invoice made from it."""

    id: str
    account_id: str
    currency: str
    price_tax_inclusive: bool
    order_date: date
    lines: tuple[OrderLine, ...]
    shipping_cost: Decimal = Decimal("0")
    discount_amount: Decimal = Decimal("0")
    customer_purchase_order_id: str | None = None
    custom_attributes: tuple[tuple[str, str], ...] = ()

    @property
    def uuid(self) -> str:
        return stable_uuid(f"order:{self.id}")


STANDARD_FORM = CustomForm("Standard Invoice")
ORDER_FORM = CustomForm("Sales Order Invoice")

CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        Currency("AUD", "Australian Dollar", 2),
        Currency("NZD", "New Zealand Dollar", 2),
        Currency("USD", "US Dollar", 2),
        Currency("GBP", "Pound Sterling", 2),
        Currency("EUR", "Euro", 2),
        Currency("JPY", "Japanese Yen", 0),
    )
}

TAX_CODES: dict[str, TaxCode] = {
    t.code: t
    for t in (
        TaxCode("GST", "GST on Income", Decimal("10.00")),
        TaxCode("GST_FREE", "GST Free Income", Decimal("0.00")),
        TaxCode("WET", "Wine Equalisation Tax", Decimal("29.00")),
    )
}


def _prices(*entries: tuple[str, str] | tuple[str, str, str]) -> tuple[PriceRule, ...]:
    """``(currency, price)`` or ``(currency, min_quantity, price)`` rows."""
    rules = []
    for entry in entries:
        currency, minimum, price = entry if len(entry) == 3 else (entry[0], "1", entry[1])
        rules.append(PriceRule(currency, Decimal(minimum), Decimal(price)))
    return tuple(rules)


_ALL = ("AUD", "NZD", "USD", "GBP", "EUR", "JPY")


def _everywhere(*amounts: str) -> tuple[tuple[str, str], ...]:
    return tuple(zip(_ALL, amounts, strict=True))


ITEMS: dict[str, Item] = {
    i.id: i
    for i in (
        Item("ITM-1001", "Standing Desk", "EA", "GST", "4000", "Sydney Warehouse",
             _prices(*_everywhere("749.00", "819.00", "489.00", "389.00", "449.00", "74800"),
                     ("AUD", "5", "699.00"))),
        Item("ITM-1002", "Ergonomic Chair", "EA", "GST", "4000", "Sydney Warehouse",
             _prices(*_everywhere("389.95", "425.00", "254.50", "199.99", "234.90", "38500"))),
        Item("ITM-1003", "Monitor Arm", "EA", "GST", "4000", "Melbourne Warehouse",
             _prices(*_everywhere("129.99", "139.00", "84.99", "66.50", "77.95", "12980"),
                     ("AUD", "10", "119.99"))),
        Item("ITM-1004", "Cable Tray", "EA", "GST", "4000", "Melbourne Warehouse",
             _prices(*_everywhere("24.95", "27.50", "16.25", "12.75", "14.95", "2480"),
                     ("AUD", "20", "21.45"))),
        Item("ITM-1005", "Installation Service", "HR", "GST", "4100", None,
             _prices(*_everywhere("95.00", "105.00", "62.00", "49.00", "58.00", "9500"))),
        Item("ITM-1006", "Fresh Fruit Box", "BOX", "GST_FREE", "4200", "Sydney Warehouse",
             _prices(("AUD", "45.00"), ("NZD", "49.50"))),
        Item("ITM-1007", "Barossa Shiraz 750ml", "BTL", "WET", "4300", "Adelaide Cellar",
             _prices(("AUD", "32.50"), ("AUD", "12", "29.90"), ("GBP", "17.95"),
                     ("USD", "21.40"))),
        Item("ITM-1008", "Design Consulting", "HR", "GST", "4100", None,
             _prices(*_everywhere("142.8750", "156.2500", "93.1250", "74.3750", "87.1250",
                                  "14290"))),
        Item("ITM-1009", "Gift Card", "EA", "GST_FREE", "4500", None,
             _prices(*_everywhere("50.00", "50.00", "50.00", "50.00", "50.00", "5000"))),
        Item("ITM-1010", "Office Plant", "EA", "GST", "4000", "Sydney Warehouse",
             _prices(("AUD", "39.90"), ("NZD", "44.90"))),
    )
}  # fmt: skip

ACCOUNTS: dict[str, Account] = {
    a.id: a
    for a in (
        Account("ACC-1001", "Harbour Office Supplies Pty Ltd", "AUD", 30),
        Account("ACC-1002", "Kiwi Workspace Ltd", "NZD", 20),
        Account("ACC-1003", "Pacific Retail Group Inc", "USD", 30),
        Account("ACC-1004", "Thames Interiors Ltd", "GBP", 14),
        Account("ACC-1005", "Rheinmöbel GmbH", "EUR", 30),
        Account("ACC-1006", "Sakura Trading KK", "JPY", 45),
        Account("ACC-1007", "Outback Cafe Co", "AUD", 7),
        Account("ACC-1008", "Southern Cellars Pty Ltd", "AUD", 14),
    )
}


def _line(item_id: str, quantity: str, price: str) -> OrderLine:
    return OrderLine(item_id, Decimal(quantity), Decimal(price))


def open_orders() -> tuple[Order, ...]:
    """Orders no seeded invoice uses, so a client can always invoice them after a reset."""
    online = (("Sales Channel", "Online"),)
    return (
        Order("SO-1001", "ACC-1001", "AUD", False, date(2026, 6, 2),
              (_line("ITM-1001", "2", "749.00"), _line("ITM-1005", "3", "95.00")),
              shipping_cost=Decimal("49.95"), customer_purchase_order_id="PO-7781",
              custom_attributes=(*online, ("Sales Rep", "Jade Nguyen"))),
        Order("SO-1002", "ACC-1001", "AUD", True, date(2026, 6, 3),
              (_line("ITM-1006", "4", "45.00"), _line("ITM-1010", "3", "43.89")),
              shipping_cost=Decimal("12.00"), discount_amount=Decimal("10.00"),
              custom_attributes=online),
        Order("SO-1003", "ACC-1002", "NZD", False, date(2026, 6, 5),
              (_line("ITM-1002", "6", "425.00"), _line("ITM-1004", "25", "27.50")),
              shipping_cost=Decimal("80.00"), discount_amount=Decimal("150.00"),
              customer_purchase_order_id="KW-2291",
              custom_attributes=(("Sales Channel", "Phone"),)),
        Order("SO-1004", "ACC-1003", "USD", False, date(2026, 6, 8),
              (_line("ITM-1003", "12", "84.99"), _line("ITM-1008", "7.5", "93.1250")),
              custom_attributes=(("Sales Channel", "Trade Show"),)),
        Order("SO-1005", "ACC-1004", "GBP", True, date(2026, 6, 9),
              (_line("ITM-1007", "24", "17.95"),),
              shipping_cost=Decimal("15.00"), discount_amount=Decimal("20.00"),
              custom_attributes=online),
        Order("SO-1006", "ACC-1006", "JPY", False, date(2026, 6, 10),
              (_line("ITM-1001", "3", "74800"), _line("ITM-1005", "2", "9500")),
              shipping_cost=Decimal("3000"), customer_purchase_order_id="SK-0042"),
        Order("SO-1007", "ACC-1008", "AUD", False, date(2026, 6, 12),
              (_line("ITM-1007", "36", "29.90"), _line("ITM-1009", "2", "50.00")),
              discount_amount=Decimal("25.00"),
              custom_attributes=(("Sales Channel", "Cellar Door"),)),
        Order("SO-1008", "ACC-1005", "EUR", False, date(2026, 6, 15),
              (_line("ITM-1002", "2", "234.90"), _line("ITM-1004", "10", "14.95")),
              custom_attributes=online),
    )  # fmt: skip


def default_price(
    item: Item, currency: Currency, quantity: Decimal, inclusive: bool
) -> Decimal | None:
    """The unit price a line gets when the request sends none: the item's price rule, grossed
    up by the item's tax rate (to the currency's minor units) on a tax-inclusive invoice."""
    price = item.price_for(currency.code, quantity)
    if price is None or not inclusive:
        return price
    rate = TAX_CODES[item.tax_code].rate
    return round_money(price * (100 + rate) / 100, currency.exponent)
