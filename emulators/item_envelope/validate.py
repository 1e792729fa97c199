"""Checking an item_envelope write body (``{"Invoice": {..., "InvoiceItem": [...]}}``).

Errors are collected, not raised one at a time, so one answer names every bad field. Keys are the
field names inside ``Invoice``; item fields are ``InvoiceItem.<index>.<field>``. Fields the
provider computes (``id``, ``no``, ``summary_*``, ``payment_status``, item ``item`` and
``subtotal``) and fields it does not know are ignored, so a record read back can be sent again.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from emulators.item_envelope.reference import CLIENTS, CURRENCY_EXPONENTS, PRODUCTS, STORES, TAXES
from emulators.item_envelope.totals import ABSOLUTE, PERCENTAGE

Errors = dict[str, list[str]]

# Column sizes the provider does not document; chosen as a typical VARCHAR(255) / TEXT.
PO_NUMBER_MAX = 255
NOTES_MAX = 65_535
CUSTOM_COLUMN_MAX = 255
QUANTITY_PLACES = 6
PRICE_PLACES = 4
_LIMIT = Decimal("1e12")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ValidationFailed(Exception):
    def __init__(self, errors: Errors) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class ItemData:
    id: int | None
    product_id: int
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal
    discount_type: int
    tax1: int | None
    tax2: int | None
    col_3: str | None
    col_4: str | None
    col_5: str | None


@dataclass(frozen=True, slots=True)
class InvoiceData:
    """The header fields that were sent (nothing for an absent key) and the items if sent."""

    fields: dict[str, Any]
    items: list[ItemData] | None


def parse_invoice(body: dict[str, Any], *, creating: bool) -> InvoiceData:
    errors: Errors = {}
    invoice = body.get("Invoice")
    if not isinstance(invoice, dict):
        raise ValidationFailed({"Invoice": ["Invoice is required and must be an object"]})
    if "InvoiceItem" in body:
        errors["InvoiceItem"] = ["InvoiceItem belongs inside Invoice"]
    reader = _Reader(invoice, errors)
    fields: dict[str, Any] = {}

    for name, table, label in (("client_id", CLIENTS, "client"), ("store_id", STORES, "store")):
        if name in invoice or creating:
            fields[name] = reader.reference(name, table, label, required=True)
    # A null optional field reads as absent (the default on create, unchanged on update), except
    # the free-text fields, where null clears the value.
    readers: dict[str, Callable[[str], Any]] = {
        "currency_code": reader.currency,
        "date": reader.date,
        "draft": lambda name: reader.flag(name, allow_bool=False),
        "is_offline": lambda name: reader.flag(name, allow_bool=True),
        "discount": lambda name: reader.number(name, places=PRICE_PLACES, maximum=Decimal(100)),
        "discount_amount": lambda name: reader.number(name, places=PRICE_PLACES),
    }
    for name, read in readers.items():
        if invoice.get(name) is not None:
            fields[name] = read(name)
    if "notes" in invoice:
        fields["notes"] = reader.text("notes", NOTES_MAX)
    if "po_number" in invoice:
        fields["po_number"] = reader.text("po_number", PO_NUMBER_MAX)
    if fields.get("discount") and fields.get("discount_amount"):
        errors.setdefault("discount_amount", []).append(
            "Use either discount (percentage) or discount_amount (fixed), not both"
        )

    items: list[ItemData] | None = None
    if "InvoiceItem" in invoice or creating:
        items = _items(invoice.get("InvoiceItem"), errors)
    if errors:
        raise ValidationFailed(errors)
    return InvoiceData(fields=fields, items=items)


def _items(raw: Any, errors: Errors) -> list[ItemData]:
    if not isinstance(raw, list) or not raw:
        errors["InvoiceItem"] = ["At least one invoice item is required"]
        return []
    items: list[ItemData] = []
    for index, entry in enumerate(raw):
        prefix = f"InvoiceItem.{index}"
        if not isinstance(entry, dict):
            errors[prefix] = ["Each invoice item must be an object"]
            continue
        reader = _Reader(entry, errors, prefix=f"{prefix}.")
        item_id = reader.integer("id", required=False) if "id" in entry else None
        product_id = reader.reference("product_id", PRODUCTS, "product", required=True)
        quantity = reader.number("quantity", places=QUANTITY_PLACES, positive=True, required=True)
        unit_price = reader.number("unit_price", places=PRICE_PLACES, required=True)
        discount_type: int | None = PERCENTAGE
        if entry.get("discount_type") is not None:
            discount_type = reader.choice("discount_type", (PERCENTAGE, ABSOLUTE))
        ceiling = Decimal(100) if discount_type == PERCENTAGE else None
        discount: Decimal | None = Decimal(0)
        if entry.get("discount") is not None:
            discount = reader.number("discount", places=PRICE_PLACES, maximum=ceiling)
        tax1 = reader.reference("tax1", TAXES, "tax", required=False)
        tax2 = reader.reference("tax2", TAXES, "tax", required=False)
        if tax1 is not None and tax1 == tax2:
            errors.setdefault(f"{prefix}.tax2", []).append("tax2 must differ from tax1")
        columns = [reader.text(name, CUSTOM_COLUMN_MAX) for name in ("col_3", "col_4", "col_5")]
        items.append(
            ItemData(
                id=item_id,
                product_id=product_id or 0,
                quantity=quantity or Decimal(0),
                unit_price=unit_price or Decimal(0),
                discount=discount or Decimal(0),
                discount_type=discount_type or PERCENTAGE,
                tax1=tax1,
                tax2=tax2,
                col_3=columns[0],
                col_4=columns[1],
                col_5=columns[2],
            )
        )
    return items


class _Reader:
    """Reads one object's fields, recording a message under the field's name for each problem."""

    def __init__(self, source: dict[str, Any], errors: Errors, *, prefix: str = "") -> None:
        self._source = source
        self._errors = errors
        self._prefix = prefix

    def _fail(self, name: str, message: str) -> None:
        self._errors.setdefault(self._prefix + name, []).append(message)

    def _present(self, name: str, required: bool) -> bool:
        if self._source.get(name) is not None:
            return True
        if required:
            self._fail(name, f"{name} is required")
        return False

    def integer(self, name: str, *, required: bool) -> int | None:
        if not self._present(name, required):
            return None
        value = self._source[name]
        if isinstance(value, bool) or not isinstance(value, int):
            self._fail(name, f"{name} must be an integer")
            return None
        return value

    def reference(
        self, name: str, table: Mapping[int, object], label: str, *, required: bool
    ) -> int | None:
        value = self.integer(name, required=required)
        if value is not None and value not in table:
            self._fail(name, f"{label} {value} does not exist")
            return None
        return value

    def choice(self, name: str, allowed: tuple[int, ...]) -> int | None:
        value = self.integer(name, required=True)
        if value is not None and value not in allowed:
            self._fail(name, f"{name} must be one of {', '.join(map(str, allowed))}")
            return None
        return value

    def flag(self, name: str, *, allow_bool: bool) -> int | None:
        value = self._source.get(name)
        if isinstance(value, bool) and allow_bool:
            return int(value)
        if not isinstance(value, bool) and isinstance(value, int) and value in (0, 1):
            return value
        self._fail(name, f"{name} must be 0 or 1")
        return None

    def number(
        self,
        name: str,
        *,
        places: int,
        positive: bool = False,
        maximum: Decimal | None = None,
        required: bool = False,
    ) -> Decimal | None:
        if not self._present(name, required):
            return None if required else Decimal(0)
        raw = self._source[name]
        if isinstance(raw, bool) or not isinstance(raw, int | Decimal):
            # NaN and Infinity reach here as floats: they are not numbers the provider stores.
            self._fail(name, f"{name} must be a number")
            return None
        value = Decimal(raw)
        if not value.is_finite() or abs(value) >= _LIMIT:
            self._fail(name, f"{name} is out of range")
            return None
        if max(0, -int(value.normalize().as_tuple().exponent)) > places:
            self._fail(name, f"{name} must have at most {places} decimal places")
            return None
        if value < 0 or (positive and value == 0):
            self._fail(name, f"{name} must be {'greater than 0' if positive else 'at least 0'}")
            return None
        if maximum is not None and value > maximum:
            self._fail(name, f"{name} must be at most {maximum}")
            return None
        return value

    def text(self, name: str, max_length: int) -> str | None:
        value = self._source.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            self._fail(name, f"{name} must be a string")
            return None
        if len(value) > max_length:
            self._fail(name, f"{name} must be at most {max_length} characters")
            return None
        return value

    def currency(self, name: str) -> str | None:
        value = self._source.get(name)
        if not isinstance(value, str) or value not in CURRENCY_EXPONENTS:
            self._fail(name, f"{name} must be one of {', '.join(sorted(CURRENCY_EXPONENTS))}")
            return None
        return value

    def date(self, name: str) -> str | None:
        value = self._source.get(name)
        if isinstance(value, str) and _DATE.fullmatch(value):
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                pass
            else:
                return value
        self._fail(name, f"{name} must be a date in the form YYYY-MM-DD")
        return None
