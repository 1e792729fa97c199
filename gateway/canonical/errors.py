"""Errors of the canonical layer: a bad invoice, with a JSON pointer to each bad field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gateway.canonical.money import UnknownCurrency, exponent


@dataclass(frozen=True)
class FieldError:
    pointer: str  # RFC 6901 JSON pointer into the request body, e.g. "/lines/0/quantity"
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "detail": self.detail}


class InvalidInvoice(ValueError):
    """The invoice cannot be accepted; ``errors`` names every field at fault."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{pointer_to_path(e.pointer)} {e.detail}" for e in errors))

    @classmethod
    def from_pydantic(cls, exc: ValidationError, *, currency: Any = None) -> InvalidInvoice:
        """``exc``'s errors by field; ``currency``, the body's own where it has one, words an
        amount's too many places by what that currency allows (2 for USD), as the totals'
        check of 3 or 4 places does, rather than by the grammar's 4."""
        return cls([field for error in exc.errors() for field in _field_errors(error, currency)])


def _field_errors(error: Any, currency: Any = None) -> list[FieldError]:
    """One error per field it is about: a model's own rule names its fields in its context's
    ``at`` (an item line without a ``unit_price`` points at ``/lines/0/unit_price``)."""
    location, detail = tuple(error["loc"]), _detail(error, currency)
    named = error.get("ctx", {}).get("at")
    if not named:
        return [FieldError(pointer(location), detail)]
    return [FieldError(pointer((*location, name)), detail) for name in named]


def pointer(location: tuple[Any, ...] | list[Any]) -> str:
    parts = (str(part).replace("~", "~0").replace("/", "~1") for part in location)
    return "/" + "/".join(parts) if location else ""


def dotted_path(parts: Any) -> str:
    """``["connections", 2, "provider"]`` → ``connections[2].provider``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text = f"{text}.{part}" if text else str(part)
    return text or "(top level)"


_MAX_NAME_SHOWN = 64


def pointer_to_path(json_pointer: str) -> str:
    """``/lines/0/quantity`` → ``lines[0].quantity`` (for one-line messages)."""
    if not json_pointer:
        return "body"
    path = ""
    for part in json_pointer[1:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if len(part) > _MAX_NAME_SHOWN:  # a caller's field name, cut here (whole in the pointer)
            part = part[:_MAX_NAME_SHOWN] + "…"
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    return path


def _detail(error: Any, currency: Any = None) -> str:
    kind = error["type"]
    if kind == "decimal_places" and isinstance(currency, str):
        allowed = _currency_places(currency, error.get("ctx", {}))
        if allowed is not None:
            return f"must have at most {allowed} decimal places for {currency}"
    if kind == "extra_forbidden":
        return "is not a field of this object"
    if kind == "missing":
        return "is required"
    context = error.get("ctx", {})
    if kind == "literal_error":
        return f"must be one of {context.get('expected', '')}"
    if kind == "string_too_short":
        return "must not be empty" if context.get("min_length") == 1 else error["msg"]
    if kind == "string_too_long":
        return f"must be at most {context.get('max_length')} characters long"
    if kind == "too_long" and "max_length" in context:
        # pydantic's own: "List should have at most 1000 items after validation, not 1001".
        return (
            f"must hold at most {context['max_length']} items, not {context.get('actual_length')}"
        )
    if kind == "string_type":
        return "must be a string"
    if kind == "bool_type" or kind == "bool_parsing":
        return "must be true or false"
    if kind in ("list_type", "dict_type", "model_type", "model_attributes_type"):
        return "must be " + {"list_type": "a list", "dict_type": "an object"}.get(kind, "an object")
    message: str = error["msg"]
    # pydantic prefixes messages from plain ValueErrors; the field name already says where.
    return message.removeprefix("Value error, ")


def _currency_places(currency: str, context: dict[str, Any]) -> int | None:
    """The places ``currency`` allows an amount (``context``'s ``amount``), at most the
    grammar's; None for a price or a rate, or a currency the table does not know."""
    if not context.get("amount"):
        return None
    try:
        allowed = exponent(currency)
    except UnknownCurrency:
        return None
    return allowed if allowed <= context.get("places", allowed) else None
