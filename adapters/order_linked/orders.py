"""An invoice made from an order: what the order fixes, and what a caller's body says against it.

The order sets the currency, tax mode, account, lines, shipping, discount and custom
attributes; the body may only add a note, the purchase order reference and the dates (the
doc's body is ``invoice_note`` alone). A value the caller sets (pydantic's ``model_fields_set``:
what the body gave, not a model default) is compared with the order's: the same value passes,
another is a problem naming the order's value (refused when strict, dropped with a warning when
lenient). The order is read (``GET /orders/{id}``, assumed: docs/providers/order_linked.md) only
when the body sets something of the order's; facts can also be taken from an invoice already
made from the order (a lost answer found again).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.base import Capabilities, Handling, UnsupportedFields, WriteWarning
from adapters.order_linked import checks
from adapters.order_linked.wire import WireError, currency_code
from adapters.reference import configured_taxes
from adapters.representable import NEVER_DROPPED, unrepresentable
from gateway.canonical.errors import FieldError, pointer_to_path
from gateway.canonical.model import Invoice, TaxMode
from gateway.config import Connection, TaxSetting

# What an invoice made from an order can still say; the order sets everything else.
LEFT_TO_INVOICE = frozenset({"issue_date", "due_date", "reference", "notes", "order_id"})
# Compared with the order one by one; any other field set is one the provider cannot carry here.
_COMPARED = frozenset(
    {"currency", "tax_mode", "customer", "lines", "shipping", "discount", "provider_fields"}
)
_LINE_COMPARED = frozenset({"id", "kind", "item_id", "quantity", "unit_price"})
# A line's tax is its item's tax code's, on an order's invoice as on any other: one given is
# checked against the connection's taxes before sending and compared with the one applied after
# (``tax_warnings``), as a plain create's is; a second tax, or a compound one, is refused.
_LINE_TAXED = "taxes"


class OrderUnreadable(ValueError):
    """The order's answer lacks what the comparison needs."""


@dataclass(frozen=True)
class OrderLine:
    item_id: str | None
    quantity: Decimal | None
    unit_price: Decimal | None

    def label(self) -> str:
        price = "?" if self.unit_price is None else str(self.unit_price)
        return f"{self.item_id} × {_plain(self.quantity)} @ {price}"


@dataclass(frozen=True)
class OrderFacts:
    """What an invoice made from the order takes from it."""

    id: str
    currency: str
    tax_mode: TaxMode
    account_id: str | None
    account_name: str | None
    lines: tuple[OrderLine, ...]
    shipping: Decimal
    discount: Decimal


def needs_order(invoice: Invoice) -> bool:
    """Whether the body sets anything the order sets (so the order must be read to compare)."""
    return bool(set(invoice.model_fields_set) - LEFT_TO_INVOICE)


def read_order(order_id: str, raw: Any, connection: Connection) -> OrderFacts:
    """``{"order": {...}}`` in the invoice's own key names and formats."""
    order = raw.get("order") if isinstance(raw, Mapping) else None
    if not isinstance(order, Mapping) or not isinstance(order.get("lines"), list):
        raise OrderUnreadable("without the order and its lines")
    try:
        currency = currency_code(order.get("currency"), connection)
    except WireError as exc:
        raise OrderUnreadable(str(exc)) from None
    inclusive = str(order.get("price_tax_inclusive")).lower() == "true"
    return OrderFacts(
        id=order_id,
        currency=currency,
        tax_mode="inclusive" if inclusive else "exclusive",
        account_id=_text(order.get("account_id")),
        account_name=_text(order.get("account_name")),
        lines=tuple(
            OrderLine(
                _text(line.get("item_id")),
                _decimal(line.get("item_order_quantity", line.get("item_quantity"))),
                _decimal(_dig(line, "item_price_snapshot", "pricing_rule", "price")),
            )
            for line in order["lines"]
            if isinstance(line, Mapping)
        ),
        shipping=_decimal(order.get("shipping_cost")) or Decimal(0),
        discount=_decimal(order.get("discount_amount")) or Decimal(0),
    )


def facts_of(order_id: str, invoice: Invoice) -> OrderFacts:
    """The order's facts as an invoice made from it shows them."""
    customer = invoice.customer
    return OrderFacts(
        id=order_id,
        currency=invoice.currency,
        tax_mode=invoice.tax_mode,
        account_id=customer.id if customer is not None else None,
        account_name=customer.name if customer is not None else None,
        lines=tuple(
            OrderLine(line.item_id, line.quantity, line.unit_price) for line in invoice.lines
        ),
        shipping=invoice.shipping,
        discount=invoice.discount.value if invoice.discount is not None else Decimal(0),
    )


def against_order(
    invoice: Invoice, order: OrderFacts, caps: Capabilities, provider: str
) -> list[FieldError]:
    """Every value the caller set that is not the order's, naming the order's value."""
    given = invoice.model_fields_set
    at = f"order {order.id}"
    found: list[FieldError] = []
    if "currency" in given and invoice.currency != order.currency:
        found.append(
            FieldError("/currency", f"is {invoice.currency}, but {at} is in {order.currency}")
        )
    if "tax_mode" in given and invoice.tax_mode != order.tax_mode:
        found.append(
            FieldError("/tax_mode", f"is {invoice.tax_mode}, but {at} has {order.tax_mode} prices")
        )
    if "customer" in given and invoice.customer is not None:
        found += _customer(invoice, order, at)
    if "lines" in given and invoice.lines:
        found += _lines(invoice, order, at, provider)
    if "shipping" in given and invoice.shipping != order.shipping:
        found.append(
            FieldError("/shipping", f"is {invoice.shipping}, but {at} ships for {order.shipping}")
        )
    if "discount" in given and _discount(invoice) != order.discount:
        found.append(
            FieldError("/discount", f"{at} has a discount of {order.discount} (an amount)")
        )
    found += [
        FieldError(f"/provider_fields/{name}", f"{provider} takes this from {at}")
        for name in invoice.provider_fields
    ]
    # Anything else (terms, tags, an exchange rate…) is what the provider cannot carry at all.
    others = dataclasses.replace(
        caps, fields=LEFT_TO_INVOICE, tax_modes=frozenset({"exclusive", "inclusive"})
    )
    found += [
        problem
        for problem in unrepresentable(invoice, others, provider)
        if problem.pointer.lstrip("/").split("/")[0] not in _COMPARED
    ]
    return found


def linked_problems(invoice: Invoice, order: OrderFacts) -> list[FieldError]:
    """An invoice of the caller's own lines linked to ``order`` (``POST /invoices`` with an
    ``order_id``): its currency and price mode give those lines their meaning, so one that is
    not the order's is refused, lenient or not (the provider would link it unchecked). The
    account is the provider's own check: an invoice for another account is left to it."""
    at = f"order {order.id}"
    found: list[FieldError] = []
    if invoice.customer is None or invoice.customer.id != order.account_id:
        return found
    if invoice.currency != order.currency:
        found.append(
            FieldError("/currency", f"is {invoice.currency}, but {at} is in {order.currency}")
        )
    if invoice.tax_mode != order.tax_mode:
        found.append(
            FieldError("/tax_mode", f"is {invoice.tax_mode}, but {at} has {order.tax_mode} prices")
        )
    return found


def refused_or_dropped(
    problems: list[FieldError], handling: Handling, provider: str
) -> list[WriteWarning]:
    """What the body says against the order: refused when strict, else each a warning
    (nothing of it is sent either way: only the fields left to the invoice are). What would
    change the meaning of every amount and that the order does not set (a credit note made an
    invoice) is refused under lenient handling too (``NEVER_DROPPED``)."""
    kept = [p for p in problems if p.pointer in NEVER_DROPPED and not _set_by_the_order(p)]
    if problems and (handling == "strict" or kept):
        first = (kept or problems)[0]
        set_by = ": the order sets it" if _set_by_the_order(first) else ""
        advice = (
            "(leave it out)"
            if kept
            else "(leave it out, or send Prefer: handling=lenient to have it dropped)"
        )
        raise UnsupportedFields(
            f"{pointer_to_path(first.pointer)} {first.detail}{set_by} {advice}",
            problems,
            provider=provider,
        )
    return [
        WriteWarning(
            p.pointer,
            f"dropped: {p.detail}"
            + ("; the order's value is used" if _set_by_the_order(p) else ""),
        )
        for p in problems
    ]


def _set_by_the_order(problem: FieldError) -> bool:
    """A field the order has a value of its own for (compared with it), not one the provider
    cannot carry at all (terms, tags)."""
    return problem.pointer.lstrip("/").split("/")[0] in _COMPARED


def _customer(invoice: Invoice, order: OrderFacts, at: str) -> list[FieldError]:
    customer = invoice.customer
    found: list[FieldError] = []
    if customer is None:
        return found
    if customer.id is not None and customer.id != order.account_id:
        found.append(
            FieldError(
                "/customer/id", f"is {customer.id}, but {at} is for account {order.account_id}"
            )
        )
    if customer.name is not None and customer.name != order.account_name:
        found.append(
            FieldError(
                "/customer/name", f"is {customer.name!r}, but {at} is for {order.account_name!r}"
            )
        )
    return found


def _lines(invoice: Invoice, order: OrderFacts, at: str, provider: str) -> list[FieldError]:
    theirs = ", ".join(line.label() for line in order.lines) or "none"
    differ = FieldError("/lines", f"differ from the lines of {at}: {theirs}")
    if len(invoice.lines) != len(order.lines):
        return [differ]
    found: list[FieldError] = []
    for i, (mine, its) in enumerate(zip(invoice.lines, order.lines, strict=True)):
        same = (
            mine.item_id in (None, its.item_id)
            and (mine.quantity is None or mine.quantity == its.quantity)
            and (mine.unit_price is None or mine.unit_price == its.unit_price)
        )
        if not same:
            return [differ]
        found += [
            FieldError(f"/lines/{i}/{name}", f"{provider} takes the lines from {at}")
            for name in sorted(mine.model_fields_set - _LINE_COMPARED - {_LINE_TAXED})
            if getattr(mine, name) not in (None, [], {})
        ]
        if len(mine.taxes) > 1 or any(tax.compound for tax in mine.taxes):
            found.append(
                FieldError(
                    f"/lines/{i}/taxes",
                    f"{provider} taxes each line of {at} once, by its item's tax code",
                )
            )
    return found


def given_taxes(invoice: Invoice, connection: Connection) -> list[list[TaxSetting]] | None:
    """The configured tax of each line's tax, where the body gives the order's lines with
    taxes (a rate the connection does not configure is a 422, as on a plain create); None when
    it gives no line taxes."""
    if "lines" not in invoice.model_fields_set:
        return None
    if not any(_LINE_TAXED in line.model_fields_set for line in invoice.lines):
        return None
    return configured_taxes(invoice, connection)


def tax_warnings(
    provider: str, invoice: Invoice, settings: list[list[TaxSetting]] | None, created: Invoice
) -> list[WriteWarning]:
    """The taxes the body gave against the ones the provider applied, for the lines that gave
    them (a line that says nothing of its taxes takes its item's, unremarked)."""
    if settings is None:
        return []
    taxed = {i for i, line in enumerate(invoice.lines) if _LINE_TAXED in line.model_fields_set}
    return checks.tax_warnings(provider, invoice, settings, created, lines=taxed)


def not_taken(provider: str, invoice: Invoice, created: Invoice) -> list[WriteWarning]:
    """The values a create from an order sent beyond the doc's body (``invoice_note`` alone:
    the issue and due dates and the reference, docs/providers/order_linked.md, reading 12) that
    the invoice made does not hold: a provider that reads no more than its doc keeps its own,
    and the caller is told so rather than answered as if they were taken."""
    sent = (
        ("/issue_date", invoice.issue_date, created.issue_date),
        ("/due_date", invoice.due_date, created.due_date),
        ("/reference", invoice.reference, created.reference),
    )
    return [
        WriteWarning(
            field,
            f"{provider} made the invoice with {made if made is not None else 'none'}, not "
            f"{given}: its create from an order takes the note alone, the order the rest",
        )
        for field, given, made in sent
        if given is not None and made != given
    ]


def _discount(invoice: Invoice) -> Decimal | None:
    discount = invoice.discount
    if discount is None:
        return Decimal(0)
    return discount.value if discount.type == "amount" else None


def _dig(raw: Mapping[str, Any], *keys: str) -> Any:
    value: Any = raw
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _plain(value: Decimal | None) -> str:
    return "?" if value is None else format(value.normalize(), "f")
