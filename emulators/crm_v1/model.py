"""crm_v1 data: reference tables, the invoice records and the server-side totals.

Totals follow the provider's rules: per line, half-up, to the currency's minor units; a line
discount comes off the line amount, the overall discount is shared out over the lines before
tax, and each line's tax is rounded on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from emulators.common import round_money

OPEN, PAID, CANCELLED = 0, 1, 2
STATUS_NAMES: dict[int, str] = {OPEN: "open", PAID: "paid", CANCELLED: "cancelled"}
FIXED, PERCENTAGE = 1, 2
ITEM, HEADER = "item", "header"


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    address: str


@dataclass(frozen=True)
class CatalogItem:
    id: int
    name: str
    price: Decimal


@dataclass(frozen=True)
class TaxRate:
    id: str
    name: str
    rate: Decimal


@dataclass(frozen=True)
class Currency:
    id: int
    code: str
    exponent: int
    conversion_rate: Decimal


CUSTOMERS: dict[int, Customer] = {
    c.id: c
    for c in (
        Customer(1, "Acme Corporation", "1 Market Street, San Francisco, CA 94105"),
        Customer(2, "Globex Ltd", "22 King Street, London EC2V 8AU"),
        Customer(3, "Initech GmbH", "Friedrichstrasse 68, 10117 Berlin"),
        Customer(4, "Umbrella Trading", "4-2-8 Shibakoen, Minato, Tokyo"),
        Customer(5, "Stark Supplies", "890 Fifth Avenue, New York, NY 10021"),
        Customer(6, "Wayne Logistics", "1007 Mountain Drive, Gotham, NJ 07001"),
        Customer(7, "Hooli Europe", "Rue de Rivoli 99, 75001 Paris"),
        Customer(8, "Vandelay Industries", "129 West 81st Street, New York, NY 10024"),
        Customer(9, "Soylent Foods", "55 Harbour Road, Dublin D02"),
        Customer(10, "Northwind Traders", "300 Pine Street, Seattle, WA 98101"),
        Customer(11, "Tyrell Systems", "2019 Spinner Way, Los Angeles, CA 90012"),
        Customer(12, "Cyberdyne Retail", "18144 El Camino Real, Sunnyvale, CA 94087"),
    )
}

TEMPLATES: dict[int, str] = {1: "Standard", 2: "Modern", 3: "Service Report"}

ITEMS: dict[int, CatalogItem] = {
    i.id: i
    for i in (
        CatalogItem(1, "Web Design", Decimal("1200.00")),
        CatalogItem(2, "Hosting (monthly)", Decimal("49.99")),
        CatalogItem(3, "Domain Registration", Decimal("15.00")),
        CatalogItem(4, "SEO Audit", Decimal("750.00")),
        CatalogItem(5, "Logo Design", Decimal("350.00")),
        CatalogItem(6, "Support Hours", Decimal("85.00")),
        CatalogItem(7, "Training Session", Decimal("400.00")),
        CatalogItem(8, "License Seat", Decimal("29.99")),
        CatalogItem(9, "Hardware Kit", Decimal("249.50")),
        CatalogItem(10, "Data Migration", Decimal("1500.00")),
        CatalogItem(11, "Maintenance Plan", Decimal("199.00")),
        CatalogItem(12, "Consulting Services", Decimal("500.00")),
        CatalogItem(13, "Copywriting", Decimal("65.00")),
        CatalogItem(14, "Photography", Decimal("320.00")),
        CatalogItem(15, "Translation (per word)", Decimal("0.0850")),
    )
}

TAX_RATES: dict[str, TaxRate] = {
    t.id: t
    for t in (
        TaxRate("0", "Exempt", Decimal("0")),
        TaxRate("5", "VAT 5%", Decimal("5")),
        TaxRate("8", "Sales Tax 8.25%", Decimal("8.25")),
        TaxRate("10", "GST 10%", Decimal("10")),
        TaxRate("20", "VAT 20%", Decimal("20")),
    )
}

BASE_CURRENCY_ID = 1
CURRENCIES: dict[int, Currency] = {
    c.id: c
    for c in (
        Currency(1, "USD", 2, Decimal("1")),
        Currency(2, "EUR", 2, Decimal("1.08")),
        Currency(3, "GBP", 2, Decimal("1.27")),
        Currency(4, "JPY", 0, Decimal("0.0067")),
    )
}

DEALS: dict[int, str] = {
    1: "Website relaunch",
    2: "Annual support renewal",
    3: "Data platform migration",
    4: "Brand refresh",
    5: "Retail expansion",
}
USERS: dict[int, str] = {1: "Alex Morgan", 2: "Priya Shah", 3: "Tomás Ruiz", 4: "Mei Chen"}
TAGS: dict[int, str] = {
    1: "priority",
    2: "recurring",
    3: "wholesale",
    4: "retail",
    5: "q2",
    6: "vip",
}


class Rejected(Exception):
    """A request the provider refuses with 422: ``errors`` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        messages = [m for ms in errors.values() for m in ms]
        # Laravel-style summary: the first problem, and how many more there are.
        extra = len(messages) - 1
        plural = "s" if extra > 1 else ""
        self.message = messages[0] + (f" (and {extra} more error{plural})" if extra else "")
        super().__init__(self.message)


@dataclass
class Line:
    type: str
    item_name: str
    item_id: int | None = None
    description: str | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    discount: Decimal | None = None
    discount_type: int | None = None
    tax_id: str | None = None
    tax_rate: Decimal | None = None
    line_total: Decimal = Decimal(0)


@dataclass
class Payment:
    payment_id: int
    amount: Decimal
    payment_date: str
    payment_method: str
    reference: str | None


@dataclass
class Invoice:
    inv_id: int
    customer_id: int
    template_id: int
    transaction_date: str
    due_date: str | None
    items: list[Line]
    org_currency_id: int = BASE_CURRENCY_ID
    conversion_rate: Decimal = Decimal("1")
    inv_status: int = OPEN
    reference: str | None = None
    billing_address: str | None = None
    shipping_address: str | None = None
    notes: str | None = None
    terms_conditions: str | None = None
    deal_id: int | None = None
    assigned_to: int | None = None
    overall_discount: Decimal | None = None
    overall_discount_type: int | None = None
    tag_ids: list[int] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    sub_total: Decimal = Decimal(0)
    discount_total: Decimal = Decimal(0)
    tax_total: Decimal = Decimal(0)
    total: Decimal = Decimal(0)

    @property
    def inv_number(self) -> str:
        return f"INV-{self.inv_id:04d}"

    @property
    def exponent(self) -> int:
        return CURRENCIES[self.org_currency_id].exponent

    @property
    def amount_paid(self) -> Decimal:
        return round_money(sum((p.amount for p in self.payments), Decimal(0)), self.exponent)

    @property
    def amount_due(self) -> Decimal:
        return self.total - self.amount_paid


def compute_totals(invoice: Invoice) -> None:
    """Set every line's ``line_total`` and the invoice totals; raise ``Rejected`` for a
    discount larger than the amount it applies to."""
    places = invoice.exponent
    errors: dict[str, list[str]] = {}
    # Wide precision so a large quantity times a large price never loses digits before rounding.
    with localcontext() as ctx:
        ctx.prec = 60
        nets: list[Decimal] = []
        for index, line in enumerate(invoice.items):
            if line.type != ITEM or line.quantity is None or line.price is None:
                line.line_total = round_money(Decimal(0), places)
                nets.append(line.line_total)
                continue
            subtotal = round_money(line.quantity * line.price, places)
            discount = _discount_amount(subtotal, line.discount, line.discount_type, places)
            if discount > subtotal:
                errors[f"items.{index}.discount"] = [
                    f"The items.{index}.discount field must not be greater than the line amount "
                    f"{subtotal}."
                ]
            line.line_total = subtotal - discount
            nets.append(line.line_total)
        if errors:
            raise Rejected(errors)

        sub_total = round_money(sum(nets, Decimal(0)), places)
        shares = _overall_shares(invoice, nets, sub_total, places)
        tax_total = Decimal(0)
        for line, net, share in zip(invoice.items, nets, shares, strict=True):
            if line.type == ITEM and line.tax_rate:
                tax_total += round_money((net - share) * line.tax_rate / 100, places)
        invoice.sub_total = sub_total
        invoice.discount_total = round_money(sum(shares, Decimal(0)), places)
        invoice.tax_total = round_money(tax_total, places)
        invoice.total = invoice.sub_total - invoice.discount_total + invoice.tax_total


def _discount_amount(
    base: Decimal, value: Decimal | None, kind: int | None, places: int
) -> Decimal:
    if not value:
        return round_money(Decimal(0), places)
    if kind == PERCENTAGE:
        return round_money(base * value / 100, places)
    return round_money(value, places)


def _overall_shares(
    invoice: Invoice, nets: list[Decimal], sub_total: Decimal, places: int
) -> list[Decimal]:
    """Share the overall discount out over the lines so tax is charged on discounted amounts."""
    value, kind = invoice.overall_discount, invoice.overall_discount_type
    zero = round_money(Decimal(0), places)
    if not value:
        return [zero for _ in nets]
    if kind == PERCENTAGE:
        return [round_money(net * value / 100, places) for net in nets]
    amount = round_money(value, places)
    if amount > sub_total:
        raise Rejected(
            {
                "overall_discount": [
                    "The overall_discount field must not be greater than the sub total "
                    f"{sub_total}."
                ]
            }
        )
    # Largest remainder in minor units: the shares add up to the discount exactly, and a tie
    # goes to the earlier line.
    if not amount:
        return [zero for _ in nets]
    unit = Decimal(1).scaleb(-places)
    minor_total = int(amount / unit)
    minor_nets = [int(net / unit) for net in nets]
    base = sum(minor_nets)
    floors = [minor_total * n // base for n in minor_nets]
    remainders = [minor_total * n % base for n in minor_nets]
    leftover = minor_total - sum(floors)
    order = sorted(range(len(nets)), key=lambda i: (-remainders[i], i))
    for i in order[:leftover]:
        floors[i] += 1
    return [round_money(Decimal(f) * unit, places) for f in floors]
