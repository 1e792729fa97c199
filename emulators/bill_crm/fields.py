"""Reading the CRM's request fields, and the 422 that collects every field's messages.

Scalars follow the CRM's form rules: an ``integer`` or ``numeric`` field takes a JSON number
or a string holding one; a date is ``YYYY-MM-DD``; ``null`` counts as absent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

MONEY_PLACES = 2
LARGEST = Decimal("999999999999")

_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMERIC = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ValidationFailed(Exception):
    """422: ``errors`` maps each field to its messages; ``message`` summarises them."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        messages = [message for field_messages in errors.values() for message in field_messages]
        more = len(messages) - 1
        self.message = messages[0]
        if more:
            self.message += f" (and {more} more error{'s' if more > 1 else ''})"
        super().__init__(self.message)
        self.errors = errors


class Errors:
    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, []).append(message)

    def count(self) -> int:
        return sum(len(messages) for messages in self.fields.values())

    def __contains__(self, name: str) -> bool:
        return name in self.fields

    def check(self) -> None:
        if self.fields:
            raise ValidationFailed(self.fields)


def present(body: Mapping[str, Any], name: str) -> bool:
    return body.get(name) is not None


def to_integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        return int(value.strip())
    return None


def to_numeric(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str) and _NUMERIC.match(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def to_date(value: Any) -> date | None:
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def read_integer(
    errors: Errors, body: Mapping[str, Any], name: str, required: bool, label: str | None = None
) -> int | None:
    """Read an integer; ``label`` is the field's name in messages (for nested keys)."""
    label = label or name
    if not present(body, name):
        if required:
            errors.add(label, f"The {label} field is required.")
        return None
    value = to_integer(body[name])
    if value is None:
        errors.add(label, f"The {label} must be an integer.")
    return value


def read_reference(
    errors: Errors,
    body: Mapping[str, Any],
    name: str,
    table: Mapping[int, Any],
    required: bool,
    label: str | None = None,
) -> int | None:
    label = label or name
    value = read_integer(errors, body, name, required, label)
    if value is not None and value not in table:
        errors.add(label, f"The selected {label} is invalid.")
        return None
    return value


def read_date(errors: Errors, body: Mapping[str, Any], name: str, required: bool) -> date | None:
    if not present(body, name):
        if required:
            errors.add(name, f"The {name} field is required.")
        return None
    value = to_date(body[name])
    if value is None:
        errors.add(name, f"The {name} is not a valid date (YYYY-MM-DD).")
    return value


def read_numeric(
    errors: Errors,
    body: Mapping[str, Any],
    name: str,
    *,
    label: str | None = None,
    minimum: Decimal | None = None,
    maximum: Decimal | None = None,
    places: int | None = None,
) -> Decimal | None:
    label = label or name
    if not present(body, name):
        return None
    value = to_numeric(body[name])
    if value is None:
        errors.add(label, f"The {label} must be a number.")
    elif abs(value) > LARGEST:
        # Keeps the exact arithmetic bounded; no real invoice comes near it.
        errors.add(label, f"The {label} may not be greater than {LARGEST}.")
    elif minimum is not None and value < minimum:
        errors.add(label, f"The {label} must be at least {minimum}.")
    elif maximum is not None and value > maximum:
        errors.add(label, f"The {label} may not be greater than {maximum}.")
    elif places is not None and decimal_places(value) > places:
        errors.add(label, f"The {label} may not have more than {places} decimal places.")
    else:
        return value
    return None


def read_string(
    errors: Errors, body: Mapping[str, Any], name: str, *, label: str | None = None
) -> str | None:
    """An optional string: ``null`` or blank reads as no value."""
    label = label or name
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add(label, f"The {label} must be a string.")
        return None
    return value if value.strip() else None


def read_choice(
    errors: Errors, body: Mapping[str, Any], name: str, choices: tuple[str, ...]
) -> str | None:
    if not present(body, name):
        return None
    value = body[name]
    if value not in choices:
        errors.add(name, f"The selected {name} is invalid. Expected one of: {', '.join(choices)}.")
        return None
    return str(value)
