"""Reference data of the draft_publish emulator: customers, products, tax rates, templates.

The provider's examples only show placeholders (``customer-uuid``, ``tax-uuid``), so the ids
here are ours. They are fixed literals rather than drawn from the seed, so a sandbox
configuration written once (tax table, template) keeps working whatever seed the emulator runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str
    email: str
    currency: str


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    name: str
    unit_price: Decimal
    unit: str
    tax_id: str | None


@dataclass(frozen=True, slots=True)
class Tax:
    id: str
    name: str
    rate: Decimal


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    name: str


TAX_STANDARD = "05312e8a-b0a4-5b54-a407-bdaf13da6aa2"
TAX_REDUCED = "3799745b-0aa4-55b0-a0aa-ee78a0ac057a"
TAX_SALES_NY = "a38da8d7-c01c-50a4-9e0d-b77e12b5c9a1"
TAX_ZERO = "6b58c27d-d916-5470-8f01-16c42064c40e"

TAXES: Final = MappingProxyType(
    {
        tax.id: tax
        for tax in (
            Tax(TAX_STANDARD, "Standard VAT 20%", Decimal("20")),
            Tax(TAX_REDUCED, "Reduced VAT 5%", Decimal("5")),
            Tax(TAX_SALES_NY, "NY Sales Tax 8.875%", Decimal("8.875")),
            Tax(TAX_ZERO, "Zero rated", Decimal("0")),
        )
    }
)

CUSTOMERS: Final = MappingProxyType(
    {
        customer.id: customer
        for customer in (
            Customer(
                "775c7344-d127-54d6-accd-5c36ca844254", "Acme Corporation", "ap@acme.example", "USD"
            ),
            Customer(
                "28ce3728-9cd1-565f-a5c3-7c151248e3d7",
                "Globex GmbH",
                "rechnungen@globex.example",
                "EUR",
            ),
            Customer(
                "ac3a7ab8-a242-5520-9085-053129e019a2",
                "Initech Ltd",
                "accounts@initech.example",
                "GBP",
            ),
            Customer(
                "ae9b17df-3462-555a-8814-4e50a88f6d3d",
                "Umbrella Health",
                "billing@umbrella.example",
                "USD",
            ),
            Customer(
                "9b374ef7-5973-5c84-b995-f8d7b294d1c0",
                "Northwind Traders",
                "finance@northwind.example",
                "CAD",
            ),
            Customer(
                "b06f8bad-24b0-5689-aedd-4a5a49b36407",
                "Sakura Design KK",
                "keiri@sakura.example",
                "JPY",
            ),
            Customer(
                "1a9e4e8a-b070-5488-a8aa-1af4a446de4d",
                "Blue Harbor Cafe",
                "owner@blueharbor.example",
                "USD",
            ),
            Customer(
                "00d58897-fc8c-50a3-8f3f-0b2f3f5575f9",
                "Fjord Analytics AS",
                "post@fjord.example",
                "EUR",
            ),
        )
    }
)

PRODUCTS: Final = MappingProxyType(
    {
        product.id: product
        for product in (
            Product(
                "9847124a-4a34-5b3b-b047-b11014b044a8",
                "Web Development",
                Decimal("150"),
                "hour",
                TAX_STANDARD,
            ),
            Product(
                "dfb848c3-d40d-55cf-aa60-1be69c9fa9dd",
                "Consulting",
                Decimal("200"),
                "hour",
                TAX_STANDARD,
            ),
            Product(
                "1b18dc42-103f-5bb4-84c5-f546901e4907",
                "Logo Design",
                Decimal("750"),
                "unit",
                TAX_STANDARD,
            ),
            Product(
                "f5595688-0195-521d-8b3c-052f4e82ed97",
                "Managed Hosting",
                Decimal("29.99"),
                "month",
                TAX_SALES_NY,
            ),
            Product(
                "4b28223e-a0bb-5717-af6d-f8fac41af8ab",
                "Domain Registration",
                Decimal("14.99"),
                "year",
                TAX_ZERO,
            ),
            Product(
                "e4a82197-08a6-5d38-9d16-2421d8bcd990",
                "SEO Audit",
                Decimal("1200"),
                "unit",
                TAX_STANDARD,
            ),
            Product(
                "2814a0b9-cefe-5867-bac0-1ade3e0acba4",
                "Printed Brochures",
                Decimal("0.4575"),
                "piece",
                TAX_REDUCED,
            ),
            Product(
                "6bae8b3e-7d91-52f0-9ec8-142b354a3041",
                "Training Workshop",
                Decimal("1850.50"),
                "day",
                None,
            ),
        )
    }
)

DEFAULT_TEMPLATE = "fc22c8fd-3e9b-54ba-afe4-f34236670d03"

TEMPLATES: Final = MappingProxyType(
    {
        template.id: template
        for template in (
            Template(DEFAULT_TEMPLATE, "Classic"),
            Template("6e57989d-9034-5c62-8caa-204e19a95bca", "Modern"),
            Template("e49a1322-bd11-5bd1-b42c-59f455479c9d", "Minimal"),
        )
    }
)

# ISO 4217 minor units of the currencies the account may invoice in.
CURRENCY_EXPONENTS: Final = MappingProxyType(
    {
        "AUD": 2,
        "BHD": 3,
        "BRL": 2,
        "CAD": 2,
        "CHF": 2,
        "CNY": 2,
        "DKK": 2,
        "EUR": 2,
        "GBP": 2,
        "HKD": 2,
        "INR": 2,
        "JPY": 0,
        "KRW": 0,
        "KWD": 3,
        "MXN": 2,
        "NOK": 2,
        "NZD": 2,
        "PLN": 2,
        "SEK": 2,
        "SGD": 2,
        "USD": 2,
        "ZAR": 2,
    }
)


def reference_data() -> dict[str, Any]:
    """Every reference id a client of the emulator may need, as plain JSON-ready values."""
    return {
        "customers": [
            {"id": c.id, "name": c.name, "email": c.email, "currency": c.currency}
            for c in CUSTOMERS.values()
        ],
        "products": [
            {
                "id": p.id,
                "name": p.name,
                "unit_price": str(p.unit_price),
                "unit": p.unit,
                "tax_id": p.tax_id,
            }
            for p in PRODUCTS.values()
        ],
        "taxes": [{"id": t.id, "name": t.name, "rate": str(t.rate)} for t in TAXES.values()],
        "templates": [
            {"id": t.id, "name": t.name, "default": t.id == DEFAULT_TEMPLATE}
            for t in TEMPLATES.values()
        ],
        "currencies": sorted(CURRENCY_EXPONENTS),
    }
