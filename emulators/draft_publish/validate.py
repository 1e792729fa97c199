"""Body validation of the draft_publish emulator: invoices, payments and batches.

Every problem in a body is collected before answering, so one 422 names every bad field
(``items[1].quantity``) rather than the first one only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from emulators.draft_publish.errors import BadRequest, Detail, invalid
from emulators.draft_publish.reference import (
    CURRENCY_EXPONENTS,
    CUSTOMERS,
    DEFAULT_TEMPLATE,
    PRODUCTS,
    TAXES,
    TEMPLATES,
)
from emulators.draft_publish.store import (
    InvoiceFields,
    ItemFields,
    PaymentFields,
)
from emulators.draft_publish.totals import FIXED, PERCENTAGE, line_amount

INVOICE_FIELDS = frozenset(
    {
        "customer_id",
        "issue_date",
        "due_date",
        "currency",
        "notes",
        "payment_terms",
        "discount_type",
        "discount_value",
        "template_id",
        "items",
    }
)
ITEM_FIELDS = frozenset({"product_id", "description", "quantity", "unit_price", "unit", "tax_id"})
PAYMENT_FIELDS = frozenset({"amount", "method", "reference", "date"})
BATCH_FIELDS = frozenset({"action", "ids"})
DISCOUNT_TYPES = (PERCENTAGE, FIXED)
PAYMENT_METHODS = ("bank_transfer", "cash", "check", "credit_card", "paypal", "other")
BATCH_ACTIONS = ("delete", "void", "mark-sent")
TRASH_ACTIONS = ("restore", "purge")

MAX_ITEMS = 100
MAX_BATCH_IDS = 100
MAX_NOTES = 2000
MAX_PAYMENT_TERMS = 100
MAX_DESCRIPTION = 500
MAX_UNIT = 20
MAX_REFERENCE = 255
QUANTITY_PLACES = 6
UNIT_PRICE_PLACES = 4
PERCENTAGE_PLACES = 4
# Bounds on the size of numbers, so every amount fits the totals' 60-digit arithmetic.
MAX_QUANTITY = Decimal("1e9")
MAX_AMOUNT = Decimal("1e12")

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _Errors:
    def __init__(self) -> None:
        self.details: list[Detail] = []

    def add(self, field: str, message: str) -> None:
        self.details.append(Detail(field, message))

    def raise_any(self) -> None:
        if self.details:
            raise invalid(self.details)


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(
            "Request body must be a JSON object",
            [Detail("body", f"got {type(body).__name__}")],
            code="invalid_body",
        )
    return body


# -- invoices -----------------------------------------------------------------------------------


def parse_invoice(body: Any) -> InvoiceFields:
    body = require_object(body)
    errors = _Errors()
    _unknown(body, INVOICE_FIELDS, "", errors)
    customer_id = _reference(body, "customer_id", CUSTOMERS, "customer", errors, required=True)
    issue_date = _date(body, "issue_date", errors, required=True)
    due_date = _date(body, "due_date", errors, required=True)
    if issue_date and due_date and due_date < issue_date:
        errors.add("due_date", "must be on or after issue_date")
    currency = _currency(body, errors)
    notes = _text(body, "notes", MAX_NOTES, errors)
    payment_terms = _text(body, "payment_terms", MAX_PAYMENT_TERMS, errors)
    template_id = _reference(body, "template_id", TEMPLATES, "template", errors)
    items = _items(body, errors)
    discount_type, discount_value = _discount(body, currency, items, errors)
    errors.raise_any()
    assert customer_id and issue_date and due_date and currency and items is not None
    return InvoiceFields(
        customer_id=customer_id,
        issue_date=issue_date,
        due_date=due_date,
        currency=currency,
        notes=notes,
        payment_terms=payment_terms,
        discount_type=discount_type,
        discount_value=discount_value,
        template_id=template_id or DEFAULT_TEMPLATE,
        items=items,
    )


def _items(body: dict[str, Any], errors: _Errors) -> tuple[ItemFields, ...]:
    """The items, or none at all when any of them is bad (so no subtotal is taken of a part)."""
    raw = body.get("items")
    if raw is None:
        errors.add("items", "is required")
        return ()
    if not isinstance(raw, list):
        errors.add("items", "must be an array")
        return ()
    if not 1 <= len(raw) <= MAX_ITEMS:
        errors.add("items", f"must contain between 1 and {MAX_ITEMS} items")
        return ()
    items: list[ItemFields] = []
    before = len(errors.details)
    for index, entry in enumerate(raw):
        prefix = f"items[{index}]"
        if not isinstance(entry, dict):
            errors.add(prefix, "must be an object")
            continue
        _unknown(entry, ITEM_FIELDS, prefix + ".", errors)
        product_id = _reference(
            entry, "product_id", PRODUCTS, "product", errors, prefix=prefix + "."
        )
        description = _text(
            entry, "description", MAX_DESCRIPTION, errors, required=True, prefix=prefix + "."
        )
        quantity = _number(
            entry,
            "quantity",
            errors,
            places=QUANTITY_PLACES,
            positive=True,
            maximum=MAX_QUANTITY,
            prefix=prefix + ".",
        )
        unit_price = _number(
            entry,
            "unit_price",
            errors,
            places=UNIT_PRICE_PLACES,
            maximum=MAX_AMOUNT,
            prefix=prefix + ".",
        )
        unit = _text(entry, "unit", MAX_UNIT, errors, prefix=prefix + ".")
        tax_id = _reference(entry, "tax_id", TAXES, "tax rate", errors, prefix=prefix + ".")
        if description is not None and quantity is not None and unit_price is not None:
            items.append(ItemFields(product_id, description, quantity, unit_price, unit, tax_id))
    return tuple(items) if len(errors.details) == before else ()


def _discount(
    body: dict[str, Any],
    currency: str | None,
    items: tuple[ItemFields, ...],
    errors: _Errors,
) -> tuple[str | None, Decimal | None]:
    kind = body.get("discount_type")
    if kind is not None and kind not in DISCOUNT_TYPES:
        errors.add("discount_type", f"must be one of: {', '.join(DISCOUNT_TYPES)}")
        return None, None
    if kind is None:
        value = body.get("discount_value")
        if value is not None and not _is_number(value):
            errors.add("discount_value", "must be a number")
        elif value is not None and Decimal(value) != 0:
            errors.add("discount_type", "is required when discount_value is set")
        return None, None
    places = CURRENCY_EXPONENTS.get(currency or "", 2) if kind == FIXED else PERCENTAGE_PLACES
    maximum = Decimal(100) if kind == PERCENTAGE else MAX_AMOUNT
    value = _number(body, "discount_value", errors, required=True, places=places, maximum=maximum)
    if value is None or kind != FIXED or currency is None or currency not in CURRENCY_EXPONENTS:
        return kind, value
    subtotal = sum(
        (line_amount(i.quantity, i.unit_price, CURRENCY_EXPONENTS[currency]) for i in items),
        Decimal(0),
    )
    if items and value > subtotal:
        errors.add("discount_value", f"must not exceed the subtotal ({subtotal})")
    return kind, value


# -- payments and batches -----------------------------------------------------------------------


def parse_payment(body: Any, places: int) -> PaymentFields:
    body = require_object(body)
    errors = _Errors()
    _unknown(body, PAYMENT_FIELDS, "", errors)
    amount = _number(
        body,
        "amount",
        errors,
        required=True,
        places=places,
        positive=True,
        maximum=MAX_AMOUNT,
    )
    method = _choice(body, "method", PAYMENT_METHODS, errors, required=True)
    reference = _text(body, "reference", MAX_REFERENCE, errors)
    on = _date(body, "date", errors)
    errors.raise_any()
    assert amount is not None and method is not None
    return PaymentFields(amount=amount, method=method, reference=reference, date=on)


def parse_batch(body: Any, actions: tuple[str, ...]) -> tuple[str, list[str]]:
    body = require_object(body)
    errors = _Errors()
    _unknown(body, BATCH_FIELDS, "", errors)
    action = _choice(body, "action", actions, errors, required=True)
    raw = body.get("ids")
    ids: list[str] = []
    if raw is None:
        errors.add("ids", "is required")
    elif not isinstance(raw, list):
        errors.add("ids", "must be an array of invoice ids")
    elif not 1 <= len(raw) <= MAX_BATCH_IDS:
        errors.add("ids", f"must contain between 1 and {MAX_BATCH_IDS} ids")
    else:
        for index, value in enumerate(raw):
            if not isinstance(value, str) or not value:
                errors.add(f"ids[{index}]", "must be a non-empty string")
            elif value not in ids:
                ids.append(value)
    errors.raise_any()
    assert action is not None
    return action, ids


# -- field readers ------------------------------------------------------------------------------


def _unknown(body: dict[str, Any], known: frozenset[str], prefix: str, errors: _Errors) -> None:
    for name in body:
        if name not in known:
            errors.add(prefix + name, "is not a recognised field")


def _is_number(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, Decimal) and value.is_finite()
    )


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _number(
    body: dict[str, Any],
    name: str,
    errors: _Errors,
    *,
    places: int,
    maximum: Decimal,
    required: bool = True,
    positive: bool = False,
    prefix: str = "",
) -> Decimal | None:
    field = prefix + name
    raw = body.get(name)
    if raw is None:
        if required:
            errors.add(field, "is required")
        return None
    if not _is_number(raw):
        errors.add(field, "must be a number")
        return None
    value = Decimal(raw)
    if positive and value <= 0:
        errors.add(field, "must be greater than 0")
    elif value < 0:
        errors.add(field, "must not be negative")
    elif value > maximum:
        errors.add(field, f"must not exceed {maximum:f}")
    elif _places(value) > places:
        errors.add(field, f"must have at most {places} decimal places")
    else:
        return value
    return None


def _text(
    body: dict[str, Any],
    name: str,
    max_length: int,
    errors: _Errors,
    *,
    required: bool = False,
    prefix: str = "",
) -> str | None:
    field = prefix + name
    raw = body.get(name)
    if raw is None:
        if required:
            errors.add(field, "is required")
        return None
    if not isinstance(raw, str):
        errors.add(field, "must be a string")
        return None
    if required and not raw.strip():
        errors.add(field, "must not be blank")
        return None
    if len(raw) > max_length:
        errors.add(field, f"must be at most {max_length} characters")
        return None
    return raw


def _choice(
    body: dict[str, Any],
    name: str,
    allowed: tuple[str, ...],
    errors: _Errors,
    *,
    required: bool = False,
) -> str | None:
    raw = body.get(name)
    if raw is None:
        if required:
            errors.add(name, "is required")
        return None
    if raw not in allowed:
        errors.add(name, f"must be one of: {', '.join(allowed)}")
        return None
    return str(raw)


def _date(
    body: dict[str, Any], name: str, errors: _Errors, *, required: bool = False
) -> date | None:
    raw = body.get(name)
    if raw is None:
        if required:
            errors.add(name, "is required")
        return None
    if isinstance(raw, str) and DATE.match(raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    errors.add(name, "must be a date in YYYY-MM-DD format")
    return None


def _currency(body: dict[str, Any], errors: _Errors) -> str | None:
    raw = body.get("currency")
    if raw is None:
        errors.add("currency", "is required")
        return None
    if not isinstance(raw, str) or raw not in CURRENCY_EXPONENTS:
        errors.add("currency", "must be a supported ISO 4217 currency code")
        return None
    return raw


def _reference(
    body: dict[str, Any],
    name: str,
    table: Mapping[str, object],
    what: str,
    errors: _Errors,
    *,
    required: bool = False,
    prefix: str = "",
) -> str | None:
    field = prefix + name
    raw = body.get(name)
    if raw is None:
        if required:
            errors.add(field, "is required")
        return None
    if not isinstance(raw, str):
        errors.add(field, "must be a string id")
        return None
    if raw not in table:
        errors.add(field, f"{what} {raw} does not exist")
        return None
    return raw
