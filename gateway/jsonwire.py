"""JSON with exact numbers: fractions read as ``Decimal``, and ``Decimal`` written as a number.

The standard library can only write a ``Decimal`` through ``float``; providers that take amounts
as JSON numbers get them here as the exact literal (``500.00``), never a float's approximation.
A number read here is written back as the text it was read as (``JsonNumber``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic_core import to_jsonable_python

_encode_string = json.encoder.encode_basestring_ascii
# Python refuses to turn longer digit strings into an int (sys.int_info.default_max_str_digits).
_INT_DIGITS = 4000
# The one depth limit for JSON the gateway reads, request bodies and provider answers alike.
# Invoices are a few levels deep; far deeper would only exhaust a stack later (pydantic's
# serializer gives up near 255 levels, the json module near the interpreter's recursion limit).
MAX_DEPTH = 100


class JsonNumber(Decimal):
    """A JSON number with a fraction or an exponent, as read: a ``Decimal`` that remembers the
    text it was written as, so it is written back the same (``500.00``, ``1e3``).

    Arithmetic and validation (pydantic) make plain ``Decimal`` values of it; only a value passed
    through untouched (a provider's payload in ``remote_data``) keeps its text.
    """

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> JsonNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number


def loads(text: str | bytes) -> Any:
    return json.loads(
        text, parse_float=JsonNumber, parse_int=exact_int, parse_constant=_refuse_constant
    )


def exact_int(text: str) -> int | Decimal:
    """A JSON integer: an ``int``, or a ``JsonNumber`` when it is too long for Python's default
    conversion limit (the value is kept; whatever reads it decides whether it is too large)."""
    return int(text) if len(text) <= _INT_DIGITS else JsonNumber(text)


def plain(value: Any) -> Any:
    """``value`` with JSON types only, numbers kept as numbers: what ``dumps`` writes of a raw
    payload. A ``Decimal`` stays (a ``JsonNumber`` with its text); anything else that is not JSON
    (a date, say) is given the form pydantic's JSON mode gives it."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if value is None or isinstance(value, str | bool | int | Decimal):
        return value
    return to_jsonable_python(value)


def nested_deeper(text: str | bytes, value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` (parsed from ``text``) nests arrays and objects more than ``limit``
    levels deep (a top-level object or array is level 1). Walks without recursion."""
    if isinstance(text, bytes):
        brackets = text.count(b"[") + text.count(b"{")
    else:
        brackets = text.count("[") + text.count("{")
    if brackets <= limit:
        return False  # cannot be: too few brackets
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def dumps(value: Any, *, indent: int | None = None) -> str:
    """JSON text; with ``indent``, one member per line (for files people review)."""
    parts: list[str] = []
    _write(value, parts, indent, 0)
    return "".join(parts)


def _write(value: Any, out: list[str], indent: int | None, depth: int) -> None:
    if isinstance(value, str):
        out.append(_encode_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, JsonNumber):
        out.append(value.text)  # as it was read
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be written as a JSON number")
        out.append(format(value, "f"))
    elif isinstance(value, dict):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            out.append(_separator(i, indent, depth + 1))
            out.append(_encode_string(str(key)))
            out.append(": ")
            _write(item, out, indent, depth + 1)
        out.append(_closing(bool(value), indent, depth) + "}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            out.append(_separator(i, indent, depth + 1))
            _write(item, out, indent, depth + 1)
        out.append(_closing(bool(value), indent, depth) + "]")
    elif isinstance(value, float):
        raise TypeError("a float reached the wire; amounts must be Decimal")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _separator(position: int, indent: int | None, depth: int) -> str:
    if indent is None:
        return ", " if position else ""
    return ("," if position else "") + "\n" + " " * (indent * depth)


def _closing(nonempty: bool, indent: int | None, depth: int) -> str:
    return "\n" + " " * (indent * depth) if indent is not None and nonempty else ""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
