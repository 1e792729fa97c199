"""Reference data of the item_envelope emulator: clients, stores, products, taxes, currencies.

The ids are fixed (not drawn from the seed) so that a sandbox configuration written once keeps
working, and so that the ids the provider's own example uses (client 15, store 1, products 1 and
3) always exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True, slots=True)
class Product:
    id: int
    name: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class Tax:
    id: int
    name: str
    rate: Decimal


CLIENTS: Final = MappingProxyType(
    {
        index + 1: name
        for index, name in enumerate(
            (
                "Acme Corporation",
                "Globex Ltd",
                "Initech LLC",
                "Umbrella Supplies",
                "Stark Industries",
                "Wayne Enterprises",
                "Wonka Confectionery",
                "Tyrell Systems",
                "Cyberdyne Robotics",
                "Soylent Foods",
                "Hooli Inc",
                "Vandelay Industries",
                "Pied Piper",
                "Dunder Mifflin",
                "Oceanic Airlines",
                "Massive Dynamic",
                "Monarch Solutions",
                "Gringotts Holdings",
                "Nakatomi Trading",
                "Aperture Science",
            )
        )
    }
)

STORES: Final = MappingProxyType({1: "Main Store", 2: "Online Shop", 3: "Outlet"})

# Product 1 costs 100 and product 3 costs 50, the unit prices the provider's example sends.
PRODUCTS: Final = MappingProxyType(
    {
        product.id: product
        for product in (
            Product(1, "Consulting Hour", Decimal("100.00")),
            Product(2, "Website Hosting (monthly)", Decimal("29.99")),
            Product(3, "Support Plan", Decimal("50.00")),
            Product(4, "Design Package", Decimal("750.00")),
            Product(5, "USB-C Cable", Decimal("12.49")),
            Product(6, "Office Chair", Decimal("189.00")),
            Product(7, "Software Licence", Decimal("399.95")),
            Product(8, "Training Session", Decimal("250.00")),
            Product(9, "Printer Paper (box)", Decimal("24.75")),
            Product(10, "Maintenance Visit", Decimal("85.00")),
            Product(11, "Domain Renewal", Decimal("15.00")),
            Product(12, "Data Migration", Decimal("1200.00")),
        )
    }
)

# GST + QST is the pair that exercises two taxes on one line; 0% keeps zero-rated lines honest.
TAXES: Final = MappingProxyType(
    {
        tax.id: tax
        for tax in (
            Tax(1, "GST 5%", Decimal("5")),
            Tax(2, "QST 9.975%", Decimal("9.975")),
            Tax(3, "VAT 20%", Decimal("20")),
            Tax(4, "VAT 10%", Decimal("10")),
            Tax(5, "Sales Tax 8.25%", Decimal("8.25")),
            Tax(6, "Zero Rated 0%", Decimal("0")),
            Tax(7, "MwSt 19%", Decimal("19")),
        )
    }
)

# ISO 4217 minor units of the currencies the account accepts.
CURRENCY_EXPONENTS: Final = MappingProxyType(
    {
        "USD": 2,
        "EUR": 2,
        "GBP": 2,
        "CAD": 2,
        "AUD": 2,
        "CHF": 2,
        "INR": 2,
        "SEK": 2,
        "JPY": 0,
        "KRW": 0,
        "BHD": 3,
        "KWD": 3,
        "OMR": 3,
    }
)

DEFAULT_CURRENCY: Final = "USD"
