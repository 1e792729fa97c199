"""Reading order_linked's requests: JSON bodies, list parameters and multipart note forms.

Each parser checks fields in the order the provider's doc lists them and raises at the first
problem, naming the field by its path in the body. References to accounts, items and
currencies are checked here; orders belong to the store, which checks them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from emulators.order_linked.errors import bad_parameter, invalid
from emulators.order_linked.records import (
    ACTIVE,
    INACTIVE,
    LINKED,
    NOT_LINKED,
    InvoiceDraft,
    LineDraft,
    NoteFile,
    OrderInvoiceOptions,
)
from emulators.order_linked.reference import ACCOUNTS, CURRENCIES, ITEMS, Currency, default_price

INVOICE_TYPES = (LINKED, NOT_LINKED)
STATUSES = (ACTIVE, INACTIVE)
PAYMENT_STATUSES = ("UNPAID", "PARTIALLY_PAID", "PAID")
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_QUANTITY_PLACES = 6
MAX_PRICE_PLACES = 4
# "Accepts common document and image formats": anything else is refused rather than stored.
ATTACHMENT_SUFFIXES = frozenset(
    {".pdf", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic",
     ".txt", ".csv", ".rtf", ".doc", ".docx", ".xls", ".xlsx", ".odt", ".ods"}
)  # fmt: skip

_DECIMAL_TEXT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PAGE_TEXT = re.compile(r"^\d{1,9}$")


@dataclass(frozen=True, slots=True)
class ListQuery:
    page: int
    per_page: int
    status: str | None
    payment_status: str | None
    account_id: str | None


def parse_invoice(body: Any) -> InvoiceDraft:
    """A ``POST /invoices`` body: ``{"invoice": {...}}``."""
    invoice = _invoice_object(body, required=True)
    type_ = _enum(invoice, "type", INVOICE_TYPES)
    currency = _currency(invoice)
    purchase_order = _optional_string(invoice, "customer_purchase_order_id")
    issue_date = _date(invoice, "issue_date", required=True)
    due_date = _date(invoice, "due_date", required=True)
    assert issue_date is not None and due_date is not None
    if due_date < issue_date:
        raise invalid("invoice.due_date", f"must not be before issue_date {issue_date}")
    inclusive = _boolean(invoice, "price_tax_inclusive")
    note = _optional_string(invoice, "invoice_note")
    account_id = _required_string(invoice, "account_id")
    account = ACCOUNTS.get(account_id)
    if account is None:
        raise invalid("invoice.account_id", f"account {account_id!r} does not exist")
    lines = _lines(invoice, currency, inclusive)
    return InvoiceDraft(
        type=type_,
        currency=currency,
        account=account,
        issue_date=issue_date,
        due_date=due_date,
        price_tax_inclusive=inclusive,
        lines=lines,
        invoice_note=note,
        customer_purchase_order_id=purchase_order,
        order_id=_optional_string(invoice, "order_id"),
        custom_attributes=_custom_attributes(invoice),
    )


def parse_order_invoice(body: Any) -> OrderInvoiceOptions:
    """A ``POST /orders/{order_id}/invoices`` body; it and every field in it may be left out."""
    invoice = _invoice_object(body, required=False)
    issue_date = _date(invoice, "issue_date", required=False)
    due_date = _date(invoice, "due_date", required=False)
    if issue_date and due_date and due_date < issue_date:
        raise invalid("invoice.due_date", f"must not be before issue_date {issue_date}")
    return OrderInvoiceOptions(
        invoice_note=_optional_string(invoice, "invoice_note"),
        customer_purchase_order_id=_optional_string(invoice, "customer_purchase_order_id"),
        issue_date=issue_date,
        due_date=due_date,
    )


def parse_list_query(query: Mapping[str, str]) -> ListQuery:
    page = _positive_int(query, "page", default=1, maximum=None)
    per_page = _positive_int(query, "per_page", default=DEFAULT_PER_PAGE, maximum=MAX_PER_PAGE)
    return ListQuery(
        page=page,
        per_page=per_page,
        status=_query_enum(query, "status", STATUSES),
        payment_status=_query_enum(query, "payment_status", PAYMENT_STATUSES),
        account_id=query.get("account_id") or None,
    )


def parse_note_form(form: MultiMapping[Any]) -> tuple[str, list[NoteFile]]:
    """``POST /invoices/{id}/notes``: ``note`` (required, HTML allowed) and an optional ``file``
    (one: the doc's create takes "a file"; its ``/notes/{note_uuid}`` takes several)."""
    note = form.get("note")
    if not isinstance(note, str) or not note.strip():
        raise invalid("note", "is required and must be non-empty text")
    files = _files(form)
    if len(files) > 1:
        # The doc takes "a file" here; several are added through /notes/{note_uuid}.
        raise invalid(
            "file",
            f"one file per new note, not {len(files)}: "
            "add more with POST /invoices/{invoice_id}/notes/{note_uuid}",
        )
    return note, files


def parse_note_update_form(form: MultiMapping[Any]) -> tuple[str | None, list[NoteFile]]:
    """``POST /invoices/{id}/notes/{uuid}``: new ``text``, more ``file``s, or both."""
    text = form.get("text")
    if text is not None and not isinstance(text, str):
        raise invalid("text", "must be text, not a file")
    files = _files(form)
    if (text is None or not text.strip()) and not files:
        raise invalid("text", "text or at least one file is required")
    return (text if text is not None and text.strip() else None), files


# -- body pieces --------------------------------------------------------------------------------


def _invoice_object(body: Any, *, required: bool) -> dict[str, Any]:
    if body is None and not required:
        return {}
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    invoice = body.get("invoice")
    if invoice is None and not required:
        return {}
    if not isinstance(invoice, dict):
        raise invalid("invoice", "is required and must be an object")
    return invoice


def _required_string(obj: Mapping[str, Any], name: str, prefix: str = "invoice.") -> str:
    value = obj.get(name)
    if value is None:
        raise invalid(prefix + name, "is required")
    if not isinstance(value, str) or not value.strip():
        raise invalid(prefix + name, "must be a non-empty string")
    return value


def _optional_string(obj: Mapping[str, Any], name: str, prefix: str = "invoice.") -> str | None:
    value = obj.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid(prefix + name, "must be a string")
    return value


def _enum(obj: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = _required_string(obj, name)
    if value not in allowed:
        raise invalid(f"invoice.{name}", f"must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _currency(invoice: Mapping[str, Any]) -> Currency:
    code = _required_string(invoice, "currency")
    currency = CURRENCIES.get(code)
    if currency is None:
        known = ", ".join(CURRENCIES)
        raise invalid("invoice.currency", f"unknown currency code {code!r}; known: {known}")
    return currency


def _date(obj: Mapping[str, Any], name: str, *, required: bool) -> date | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise invalid(f"invoice.{name}", "is required")
        return None
    if isinstance(value, str) and _DATE_TEXT.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise invalid(f"invoice.{name}", f"must be a date as YYYY-MM-DD; got {value!r}")


def _boolean(obj: Mapping[str, Any], name: str) -> bool:
    value = obj.get(name)
    if value is None:
        raise invalid(f"invoice.{name}", "is required")
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise invalid(
        f"invoice.{name}", f"must be true or false (a boolean or a string); got {value!r}"
    )


_LIMIT = Decimal(10) ** 15


def _decimal(value: Any, field: str, *, places: int) -> Decimal:
    numeric = isinstance(value, int | Decimal) and not isinstance(value, bool)
    if not numeric and not (isinstance(value, str) and _DECIMAL_TEXT.match(value)):
        raise invalid(field, f"must be a decimal number or a string holding one; got {value!r}")
    number = Decimal(value)
    if not number.is_finite():
        raise invalid(field, "must be a finite number")
    if -int(number.as_tuple().exponent) > places:
        raise invalid(field, f"must have at most {places} decimal places; got {value}")
    if abs(number) >= _LIMIT:
        # The provider's doc sets no bound; the emulator sets one (assumed, as any store's
        # column has one), so that a figure is refused before anything is stored.
        raise invalid(field, f"must be less than 10^15; got {value}")
    return number


def _lines(
    invoice: Mapping[str, Any], currency: Currency, inclusive: bool
) -> tuple[LineDraft, ...]:
    lines = invoice.get("lines")
    if lines is None:
        raise invalid("invoice.lines", "is required")
    if not isinstance(lines, list):
        raise invalid("invoice.lines", "must be an array of line objects")
    if not lines:
        raise invalid("invoice.lines", "must have at least 1 line")
    return tuple(
        _line(line, f"invoice.lines[{i}]", currency, inclusive) for i, line in enumerate(lines)
    )


def _line(line: Any, path: str, currency: Currency, inclusive: bool) -> LineDraft:
    if not isinstance(line, dict):
        raise invalid(path, "must be an object")
    item_id = _required_string(line, "item_id", prefix=f"{path}.")
    item = ITEMS.get(item_id)
    if item is None:
        raise invalid(f"{path}.item_id", f"item {item_id!r} does not exist")
    raw_quantity = line.get("item_quantity")
    if raw_quantity is None:
        raise invalid(f"{path}.item_quantity", "is required")
    quantity = _decimal(raw_quantity, f"{path}.item_quantity", places=MAX_QUANTITY_PLACES)
    if quantity <= 0:
        raise invalid(f"{path}.item_quantity", "must be greater than 0")
    package_name = _optional_string(line, "package_name", prefix=f"{path}.")
    price = _price(line, path)
    if price is None:
        price = default_price(item, currency, quantity, inclusive)
        if price is None:
            raise invalid(
                f"{path}.item_price_snapshot.pricing_rule.price",
                f"is required: item {item_id!r} has no price rule in {currency.code}",
            )
    return LineDraft(item=item, quantity=quantity, price=price, package_name=package_name)


def _price(line: Mapping[str, Any], path: str) -> Decimal | None:
    snapshot = line.get("item_price_snapshot")
    if snapshot is None:
        return None
    if not isinstance(snapshot, dict):
        raise invalid(f"{path}.item_price_snapshot", "must be an object")
    rule = snapshot.get("pricing_rule")
    if rule is None:
        return None
    if not isinstance(rule, dict):
        raise invalid(f"{path}.item_price_snapshot.pricing_rule", "must be an object")
    field = f"{path}.item_price_snapshot.pricing_rule.price"
    raw = rule.get("price")
    if raw is None:
        return None
    price = _decimal(raw, field, places=MAX_PRICE_PLACES)
    if price < 0:
        raise invalid(field, "must not be negative")
    return price


def _custom_attributes(invoice: Mapping[str, Any]) -> tuple[tuple[str, str | None], ...]:
    value = invoice.get("custom_attributes")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid("invoice.custom_attributes", "must be an array of {name, value} objects")
    attributes = []
    for i, entry in enumerate(value):
        path = f"invoice.custom_attributes[{i}]"
        if not isinstance(entry, dict):
            raise invalid(path, "must be an object with name and value")
        name = _required_string(entry, "name", prefix=f"{path}.")
        attributes.append((name, _optional_string(entry, "value", prefix=f"{path}.")))
    return tuple(attributes)


# -- query and form pieces ----------------------------------------------------------------------


def _positive_int(query: Mapping[str, str], name: str, *, default: int, maximum: int | None) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not _PAGE_TEXT.match(raw) or int(raw) < 1:
        raise bad_parameter(name, f"must be a whole number from 1; got {raw!r}")
    if maximum is not None and int(raw) > maximum:
        raise bad_parameter(name, f"must be at most {maximum}; got {raw}")
    return int(raw)


def _query_enum(query: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise bad_parameter(name, f"must be one of {', '.join(allowed)}; got {raw!r}")
    return raw


def _files(form: MultiMapping[Any]) -> list[NoteFile]:
    files = []
    for part in form.getall("file", []):
        if not isinstance(part, web.FileField):
            raise invalid("file", "must be a file upload (a multipart part with a filename)")
        name = PurePosixPath(part.filename.replace("\\", "/")).name
        suffix = PurePosixPath(name).suffix.lower()
        if not name or suffix not in ATTACHMENT_SUFFIXES:
            allowed = ", ".join(sorted(ATTACHMENT_SUFFIXES))
            raise invalid("file", f"unsupported file type {name!r}; accepted: {allowed}")
        files.append(NoteFile(name=name, content_type=part.content_type, content=part.file.read()))
    return files
