"""crm_v1 request validation: invoice bodies and list queries, in the provider's own words.

Errors name fields in dotted form (``items.0.price``) with Laravel-style messages, and every
problem in a request is reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from emulators.common import MalformedBody
from emulators.crm_v1.model import (
    CURRENCIES,
    CUSTOMERS,
    DEALS,
    FIXED,
    HEADER,
    ITEM,
    ITEMS,
    PERCENTAGE,
    TAGS,
    TAX_RATES,
    TEMPLATES,
    USERS,
    Line,
    Rejected,
)

REQUIRED_FIELDS = ("customer_id", "template_id")
# Documented as optional with a server default: sending null means "use the default".
DEFAULTED_FIELDS = frozenset({"transaction_date", "org_currency_id", "conversion_rate"})
# What GET returns but a write cannot set: ignored so a read-modify-write round trip works.
READ_ONLY_FIELDS = frozenset(
    {
        "inv_id",
        "inv_number",
        "inv_status",
        "sub_total",
        "discount_total",
        "tax_total",
        "total",
        "amount_paid",
        "amount_due",
        "payments",
    }
)
ITEM_FIELDS = frozenset(
    {
        "item_id",
        "item_name",
        "quantity",
        "price",
        "type",
        "description",
        "discount",
        "discount_type",
        "tax_id",
        "tax_rate",
    }
)
ITEM_READ_ONLY_FIELDS = frozenset({"line_total"})
DISCOUNT_TYPES = (FIXED, PERCENTAGE)
SORTABLE_FIELDS = (
    "inv_id",
    "inv_number",
    "customer_id",
    "inv_status",
    "total",
    "amount_due",
    "transaction_date",
    "due_date",
)
MAX_PAGE_SIZE = 100
# Amount columns are decimal(18, 6) on the provider's side (assumed): bounded, so totals never
# overflow, and exact to six places.
NUMBER_LIMIT = Decimal(10) ** 12
MAX_DECIMAL_PLACES = 6
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INTEGER = re.compile(r"^-?\d+$")


@dataclass
class InvoiceInput:
    """A valid body: the header fields it carries (``None`` clears one) and its lines."""

    fields: dict[str, Any]
    items: list[Line]


@dataclass(frozen=True)
class ListQuery:
    page_size: int = 10
    page_index: int = 0
    search: str | None = None
    inv_status: int | None = None
    cstid: int | None = None
    date_from: str | None = None
    date_to: str | None = None
    sort_by: str = "transaction_date"
    descending: bool = True


@dataclass
class _Checker:
    errors: dict[str, list[str]] = field(default_factory=dict)

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def integer(self, name: str, value: Any, among: Container[int] | None = None) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(name, f"The {name} field must be an integer.")
            return None
        if among is not None and value not in among:
            self.fail(name, f"The selected {name} is invalid.")
            return None
        return value

    def number(
        self,
        name: str,
        value: Any,
        *,
        positive: bool = False,
        maximum: Decimal | None = None,
    ) -> Decimal | None:
        # Non-finite values arrive as floats (json's NaN/Infinity constants): not numbers here.
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            self.fail(name, f"The {name} field must be a number.")
            return None
        number = Decimal(value)
        if not number.is_finite():
            self.fail(name, f"The {name} field must be a number.")
            return None
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -MAX_DECIMAL_PLACES:
            self.fail(name, f"The {name} field must not have more than 6 decimal places.")
        elif abs(number) >= NUMBER_LIMIT:
            self.fail(name, f"The {name} field must be less than {NUMBER_LIMIT}.")
        elif positive and number <= 0:
            self.fail(name, f"The {name} field must be greater than 0.")
        elif number < 0:
            self.fail(name, f"The {name} field must be at least 0.")
        elif maximum is not None and number > maximum:
            self.fail(name, f"The {name} field must not be greater than {maximum}.")
        else:
            return number
        return None

    def string(
        self, name: str, value: Any, *, max_length: int | None = None, filled: bool = False
    ) -> str | None:
        if not isinstance(value, str):
            self.fail(name, f"The {name} field must be a string.")
            return None
        if filled and not value.strip():
            self.fail(name, f"The {name} field is required.")
            return None
        if max_length is not None and len(value) > max_length:
            self.fail(name, f"The {name} field must not be greater than {max_length} characters.")
            return None
        return value

    def date(self, name: str, value: Any) -> str | None:
        if isinstance(value, str) and _DATE.match(value):
            try:
                date.fromisoformat(value)
            except ValueError:
                pass
            else:
                return value
        self.fail(name, f"The {name} field must match the format Y-m-d.")
        return None

    def raise_if_any(self) -> None:
        if self.errors:
            raise Rejected(self.errors)


def parse_invoice(body: Any) -> InvoiceInput:
    """Validate a create/update body (the doc gives both the same structure)."""
    if not isinstance(body, dict):
        raise MalformedBody("the request body must be a JSON object")
    check = _Checker()
    fields: dict[str, Any] = {}
    # Field order, not body order, so the first error is always the same for the same body.
    for name, parse in _HEADER_CHECKS.items():
        value = body.get(name)
        if value is None and name in REQUIRED_FIELDS:
            check.fail(name, f"The {name} field is required.")
        elif value is None:
            if name in body and name not in DEFAULTED_FIELDS:
                fields[name] = [] if name == "tag_ids" else None
        else:
            fields[name] = parse(check, name, value)
    items = _parse_items(check, body.get("items"))
    for name in body:
        if name not in _HEADER_CHECKS and name not in READ_ONLY_FIELDS and name != "items":
            check.fail(name, f"The {name} field is not allowed.")
    _check_discount_pair(check, fields, "overall_discount", "overall_discount_type")
    check.raise_if_any()
    return InvoiceInput(fields=fields, items=items)


def _tag_ids(check: _Checker, name: str, value: Any) -> list[int] | None:
    if not isinstance(value, list):
        check.fail(name, f"The {name} field must be an array.")
        return None
    tags = [check.integer(f"{name}.{i}", tag, among=TAGS) for i, tag in enumerate(value)]
    return [t for t in tags if t is not None]


_HEADER_CHECKS: dict[str, Callable[[_Checker, str, Any], Any]] = {
    "customer_id": lambda c, n, v: c.integer(n, v, among=CUSTOMERS),
    "template_id": lambda c, n, v: c.integer(n, v, among=TEMPLATES),
    "transaction_date": lambda c, n, v: c.date(n, v),
    "due_date": lambda c, n, v: c.date(n, v),
    "reference": lambda c, n, v: c.string(n, v, max_length=255),
    "billing_address": lambda c, n, v: c.string(n, v),
    "shipping_address": lambda c, n, v: c.string(n, v),
    "notes": lambda c, n, v: c.string(n, v),
    "terms_conditions": lambda c, n, v: c.string(n, v),
    "deal_id": lambda c, n, v: c.integer(n, v, among=DEALS),
    "assigned_to": lambda c, n, v: c.integer(n, v, among=USERS),
    "org_currency_id": lambda c, n, v: c.integer(n, v, among=CURRENCIES),
    "conversion_rate": lambda c, n, v: c.number(n, v, positive=True),
    "overall_discount": lambda c, n, v: c.number(n, v),
    "overall_discount_type": lambda c, n, v: c.integer(n, v, among=DISCOUNT_TYPES),
    "tag_ids": _tag_ids,
}


def _check_discount_pair(check: _Checker, values: Mapping[str, Any], value: str, kind: str) -> None:
    """A discount needs its type (a bare 10 could be money or percent); a percentage caps at 100."""
    amount = values.get(value)
    if amount is None or value in check.errors:
        return
    if values.get(kind) is None and kind not in check.errors:
        check.fail(kind, f"The {kind} field is required when {value} is present.")
    elif values.get(kind) == PERCENTAGE and amount > 100:
        check.fail(value, f"The {value} field must not be greater than 100.")


def _parse_items(check: _Checker, raw: Any) -> list[Line]:
    if raw is None:
        check.fail("items", "The items field is required.")
        return []
    if not isinstance(raw, list):
        check.fail("items", "The items field must be an array.")
        return []
    if not raw:
        check.fail("items", "The items field must have at least 1 items.")
    lines = []
    for index, entry in enumerate(raw):
        line = _parse_item(check, f"items.{index}", entry)
        if line is not None:
            lines.append(line)
    return lines


def _parse_item(check: _Checker, prefix: str, entry: Any) -> Line | None:
    if not isinstance(entry, dict):
        check.fail(prefix, f"The {prefix} field must be an object.")
        return None
    for name in entry:
        if name not in ITEM_FIELDS and name not in ITEM_READ_ONLY_FIELDS:
            check.fail(f"{prefix}.{name}", f"The {prefix}.{name} field is not allowed.")
    kind = entry.get("type")
    if kind is None:
        check.fail(f"{prefix}.type", f"The {prefix}.type field is required.")
    elif kind not in (ITEM, HEADER):
        check.fail(f"{prefix}.type", f"The selected {prefix}.type is invalid.")
    # A header is a heading with no amounts, so only its name is required (see the docs page).
    required = ("item_name",) if kind == HEADER else ("item_id", "item_name", "quantity", "price")
    for name in required:
        if entry.get(name) is None:
            check.fail(f"{prefix}.{name}", f"The {prefix}.{name} field is required.")

    def value(name: str, parse: Any) -> Any:
        raw = entry.get(name)
        return None if raw is None else parse(f"{prefix}.{name}", raw)

    values: dict[str, Any] = {
        "item_id": value("item_id", lambda n, v: check.integer(n, v, among=ITEMS)),
        "item_name": value("item_name", lambda n, v: check.string(n, v, filled=True)),
        "description": value("description", check.string),
        "quantity": value("quantity", lambda n, v: check.number(n, v, positive=True)),
        "price": value("price", check.number),
        "discount": value("discount", check.number),
        "discount_type": value(
            "discount_type", lambda n, v: check.integer(n, v, among=DISCOUNT_TYPES)
        ),
        "tax_id": value("tax_id", check.string),
        "tax_rate": value("tax_rate", lambda n, v: check.number(n, v, maximum=Decimal(100))),
    }
    tax_id = values["tax_id"]
    if tax_id is not None and tax_id not in TAX_RATES:
        check.fail(f"{prefix}.tax_id", f"The selected {prefix}.tax_id is invalid.")
    elif tax_id is not None:
        rate = TAX_RATES[tax_id].rate
        if values["tax_rate"] is None and f"{prefix}.tax_rate" not in check.errors:
            values["tax_rate"] = rate
        elif values["tax_rate"] is not None and values["tax_rate"] != rate:
            check.fail(
                f"{prefix}.tax_rate",
                f"The {prefix}.tax_rate field must match the rate of tax {tax_id} ({rate}).",
            )
    scoped = {f"{prefix}.{k}": v for k, v in values.items()}
    _check_discount_pair(check, scoped, f"{prefix}.discount", f"{prefix}.discount_type")
    if any(key.startswith(f"{prefix}.") or key == prefix for key in check.errors):
        return None
    return Line(type=str(kind), **values)


def parse_list_query(query: Mapping[str, str]) -> ListQuery:
    check = _Checker()
    # An empty parameter counts as absent, as a browser form would send it.
    params = {k: v for k, v in query.items() if v != ""}

    def integer(name: str, minimum: int | None = None, maximum: int | None = None) -> int | None:
        raw = params.get(name)
        if raw is None:
            return None
        if not _INTEGER.match(raw):
            check.fail(name, f"The {name} field must be an integer.")
            return None
        number = int(raw)
        if minimum is not None and number < minimum:
            check.fail(name, f"The {name} field must be at least {minimum}.")
        elif maximum is not None and number > maximum:
            check.fail(name, f"The {name} field must not be greater than {maximum}.")
        else:
            return number
        return None

    page_size = integer("pageSize", 1, MAX_PAGE_SIZE)
    page_index = integer("pageIndex", 0)
    status = integer("inv_status")
    if status is not None and status not in (0, 1, 2):
        check.fail("inv_status", "The selected inv_status is invalid.")
    cstid = integer("cstid")
    dates = {
        name: check.date(name, params[name])
        for name in ("inv_datetime_from", "inv_datetime_to")
        if name in params
    }
    sort_by = params.get("sortBy", "transaction_date")
    if sort_by not in SORTABLE_FIELDS:
        choices = ", ".join(SORTABLE_FIELDS)
        check.fail("sortBy", f"The selected sortBy is invalid; use one of {choices}.")
    sort_order = params.get("sortOrder", "desc").lower()
    if sort_order not in ("asc", "desc"):
        check.fail("sortOrder", "The selected sortOrder is invalid; use asc or desc.")
    check.raise_if_any()
    return ListQuery(
        page_size=10 if page_size is None else page_size,
        page_index=page_index or 0,
        search=params.get("search"),
        inv_status=status,
        cstid=cstid,
        date_from=dates.get("inv_datetime_from"),
        date_to=dates.get("inv_datetime_to"),
        sort_by=sort_by,
        descending=sort_order == "desc",
    )
