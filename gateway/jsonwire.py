"""JSON with exact numbers: fractions read as ``Decimal``, and ``Decimal`` written as a number.

The standard library can only write a ``Decimal`` through ``float``; providers that take amounts
as JSON numbers get them here as the exact literal (``500.00``), never a float's approximation.
A number read here is written back as the text it was read as (``JsonNumber``).
"""

from __future__ import annotations

import codecs
import functools
import json
import re
from collections.abc import Set as AbstractSet
from decimal import MAX_EMAX, MIN_EMIN, Decimal, InvalidOperation
from typing import Any

import msgspec
import orjson
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError, to_jsonable_python

from gateway.canonical.money import plain_text

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
        try:
            number = super().__new__(cls, text)
        except InvalidOperation:
            number = super().__new__(cls, beyond_range(text))
        number.text = text
        return number


def beyond_range(text: str) -> Decimal:
    """A JSON number whose exponent no ``Decimal`` can hold (``1e-99999999999999999999``), as
    the nearest value it can: the same digits at the largest (or smallest) exponent there is,
    and zero as zero. Only a provider writes such a figure; it is read, as every figure of a
    provider is (a read never fails on one), its text kept where the payload is kept, and the
    reconciliation lists it as the difference it makes."""
    mantissa, _, exponent = text.lower().partition("e")
    number = Decimal(mantissa)
    sign, digits, _ = number.as_tuple()
    if number.is_zero():
        return Decimal((sign, (0,), 0))
    if exponent.lstrip("+").startswith("-"):
        return Decimal((sign, digits, MIN_EMIN))
    return Decimal((sign, digits, MAX_EMAX - len(digits) + 1))


class RawJson(bytes):
    """JSON text already written by one of the gateway's own serializers (an invoice written by
    pydantic-core), put into ``compact`` and ``dumps`` output as it is."""


def loads(text: str | bytes) -> Any:
    return json.loads(
        text, parse_float=JsonNumber, parse_int=exact_int, parse_constant=_refuse_constant
    )


def loads_fast(text: str | bytes) -> Any:
    """What ``loads`` reads, read by msgspec (two to six times as fast). Whatever msgspec
    refuses or reads differently (invalid JSON, an integer past its range, nesting past its
    stack, a lone surrogate escape) is read by ``loads`` instead, so the values and the errors
    are ``loads``'s own.

    A text with many fractions (a page of invoices) has them read as plain ``Decimal`` values
    (made in C: a ``JsonNumber`` costs about half a microsecond each), which keep their digits
    and exponent and are written back as ``format(value, "f")``: the text they were read as,
    for every literal without an exponent (``500.00``, ``-0.0``, ``0.0000001``). A text that
    may hold a number with an exponent (``_may_hold_an_exponent``), or that has few fractions
    (where looking costs more than it saves), is read with ``JsonNumber`` for every fraction,
    so that ``1e3`` is written back as ``1e3`` and not ``1000``."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    plain = data.count(b".") * 1024 >= _DOTS_PER_KB * len(data) and not _may_hold_an_exponent(data)
    try:
        return (_decoder() if plain else _keeping_text()).decode(data)
    except (msgspec.MsgspecError, RecursionError, InvalidOperation):
        return loads(text)  # an exponent beyond Decimal's range: ``JsonNumber`` reads it


# Below this many dots a kilobyte (each fraction has one; so do addresses and names), the
# JsonNumbers cost less than the look for exponents: 1 µs a kilobyte, up to 5 where ids are
# UUIDs (each digit before an e is one more look), against half a microsecond a fraction.
_DOTS_PER_KB = 12
# Every digit as 0 and E as e, so that one search for ``0e`` (in C) finds each digit before an
# ``e``: rare outside numbers with an exponent (a colour such as ``#9E9E9E``, an id ``3e5f…``).
_DIGIT_E = bytes.maketrans(b"123456789E", b"000000000e")
# After the e of an exponent: a sign or digits, then what ends a number.
_EXPONENT_TAIL = re.compile(rb"0e[-+]?0+(?:[,}\]\s]|\Z)")
_IN_NUMBER = frozenset(b"0123456789.-")
_BEFORE_NUMBER = frozenset(b":,[ \t\r\n")


def _may_hold_an_exponent(data: bytes) -> bool:
    """Whether ``data`` may hold a number with an exponent: a digit, an ``e``, an exponent and
    the end of a token, whose token begins the text or follows ``:``, ``,``, ``[`` or
    whitespace, as a JSON number does (inside a string, where the same letters may also stand
    so, it only costs the slower reader). Each digit before an ``e`` is found in C; most (ids
    such as ``510e-b95e``, colours such as ``#9E9E9E``) fail at their tail, also in C."""
    folded = data.translate(_DIGIT_E)
    at = folded.find(b"0e")
    while at >= 0:
        if _EXPONENT_TAIL.match(folded, at):
            start = at
            while start > 0 and data[start - 1] in _IN_NUMBER:
                start -= 1
            if start == 0 or data[start - 1] in _BEFORE_NUMBER:
                return True
        at = folded.find(b"0e", at + 1)
    return False


@functools.cache
def _decoder() -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(float_hook=Decimal)


@functools.cache
def _keeping_text() -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(float_hook=JsonNumber)


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


def payload_bytes(value: Any) -> bytes:
    """``compact(plain(value))`` as bytes, for a provider's decoded payload (``remote_data``):
    written by orjson in one pass, its numbers as they were read; what orjson refuses (a lone
    surrogate, an integer past 64 bits, a non-finite decimal) goes the general way."""
    try:
        return orjson.dumps(value, default=_payload_value, option=orjson.OPT_NON_STR_KEYS)
    except (orjson.JSONEncodeError, TypeError, ValueError):
        return compact(plain(value)).encode()


def model_json(model: BaseModel, exclude: AbstractSet[str]) -> bytes:
    """``model`` without the ``exclude`` fields, as JSON bytes written by pydantic-core; what it
    cannot write (a lone surrogate a provider sent) is written by ``dumps``, which escapes it."""
    try:
        return model.__pydantic_serializer__.to_json(model, exclude=set(exclude))
    except PydanticSerializationError:
        return dumps(model.model_dump(mode="json", exclude=set(exclude))).encode()


def with_payload(body: bytes, name: str, payload: Any) -> bytes:
    """A JSON object's bytes with one more member: ``payload`` (a provider's payload, its
    numbers as they were read: ``payload_bytes``)."""
    return body[:-1] + b',"' + name.encode() + b'":' + payload_bytes(payload) + b"}"


def _payload_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _exact(value)
    return to_jsonable_python(value)  # as ``plain`` gives it


def nested_deeper(text: str | bytes, value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` (parsed from ``text``) nests arrays and objects more than ``limit``
    levels deep (a top-level object or array is level 1).

    Told from the text's brackets where it can be (C string operations: about a third of a
    walk's cost for a page of invoices); else the value is walked, without recursion."""
    if not isinstance(value, dict | list):
        return False
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if b"\\" in data:
        data = _ESCAPED_QUOTE.sub(b"", data)
    skeleton = data.translate(None, _NOT_SKELETON)
    if skeleton.count(b"[") + skeleton.count(b"{") <= limit:
        return False  # cannot be: too few brackets, in strings or not
    if _utf8(data) and _bracket_passes(skeleton, limit // 2) is not None:
        return False  # at most twice the passes taken, which is at most ``limit``
    return _walked_deeper(value, limit)


# Every byte but the quote and the four brackets (deleted to leave a text's skeleton).
_NOT_SKELETON = bytes(sorted(set(range(256)) - set(b'"[]{}')))
# An escaped backslash or quote; every other escape (``\n``, ``\u00e9``) holds neither.
_ESCAPED_QUOTE = re.compile(rb'\\[\\"]')
_MOST_PASSES = 8


def _bracket_passes(skeleton: bytes, passes: int) -> int | None:
    """The passes needed to take every bracket pair out of ``skeleton`` (the quotes and
    brackets of valid UTF-8 JSON whose escaped quotes and backslashes were taken out), innermost
    first, when they are at most ``passes`` and at most ``_MOST_PASSES``; else, or when a string
    holds a bracket, ``None``. A pass takes out every ``{}``, then every ``[]``, so it lowers
    the nesting by one or two: the nesting is at most twice the passes.

    Brackets inside strings are not structure: each ``""`` (a string with no bracket in it) is
    taken out first, and a quote left means a string held a bracket (the caller walks the value
    instead)."""
    skeleton = skeleton.replace(b'""', b"")
    if b'"' in skeleton:
        return None
    for taken in range(min(passes, _MOST_PASSES) + 1):
        if not skeleton:
            return taken
        skeleton = skeleton.replace(b"{}", b"").replace(b"[]", b"")
    return None


def _utf8(data: bytes) -> bool:
    """Whether ``data`` is not UTF-16 or UTF-32 (which ``json.loads`` also reads, and whose
    bytes for other characters may be a quote's or a bracket's): UTF-8 has none such."""
    return (
        not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and b"\x00" not in data[:4]
    )


def _walked_deeper(value: Any, limit: int) -> bool:
    if limit < 1:
        return True  # ``value`` itself is level 1
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


def compact(value: Any) -> str:
    """What ``dumps`` writes, without spaces, written by orjson (about four times faster): for
    the store's records. The same values are refused first (a float, a type that is not JSON);
    a ``Decimal`` is its literal as ``dumps`` writes it. What orjson cannot write that ``dumps``
    can (a lone surrogate, an integer beyond 64 bits) falls back to ``dumps``."""
    return compact_bytes(value).decode()


def compact_bytes(value: Any) -> bytes:
    """``compact`` as UTF-8 bytes: for request bodies sent to a provider."""
    _refuse_non_json(value)
    try:
        return orjson.dumps(value, default=_exact, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError as exc:
        if isinstance(exc.__cause__, ValueError | TypeError):
            raise exc.__cause__ from None  # a non-finite Decimal: refused as ``dumps`` does
        return dumps(value).encode()


def sorted_compact(value: Any) -> bytes:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    default=str)`` encoded as UTF-8, byte for byte, written by orjson (about seven times
    faster): for what a fingerprint is taken of, JSON-mode dumps of the canonical models, which
    hold no float (a float is the one JSON value the two would write differently, ``1e+16``
    against ``1e16``). What orjson refuses (a lone surrogate, an integer beyond 64 bits, a key
    that is not a string, a type that is not JSON) is written by the stdlib, as before."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )
        return text.encode()


# Values ``compact`` hands to orjson as they are; containers are walked, anything else checked.
_LEAVES = frozenset({str, int, bool, type(None), JsonNumber, Decimal, RawJson})


def _refuse_non_json(value: Any) -> None:
    """Raise as ``dumps`` would for a float or a value that is not JSON, anywhere in ``value``
    (orjson would write a float, a date or a dataclass); walks without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if not isinstance(item, dict | list | tuple):
            children = (item,)  # a top-level leaf
        for child in children:
            if type(child) in _LEAVES:
                continue
            if isinstance(child, dict | list | tuple):
                stack.append(child)
            elif isinstance(child, float):
                raise TypeError("a float reached the wire; amounts must be Decimal")
            elif not isinstance(child, str | int | Decimal):
                raise TypeError(f"cannot write {type(child).__name__} as JSON")


def _exact(value: Any) -> Any:
    """orjson's hook: a ``Decimal`` as the literal ``dumps`` writes."""
    if isinstance(value, RawJson):
        return orjson.Fragment(bytes(value))
    if isinstance(value, JsonNumber):
        return orjson.Fragment(value.text)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be written as a JSON number")
        return orjson.Fragment(plain_text(value))
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


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
        out.append(plain_text(value))
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
    elif isinstance(value, RawJson):
        out.append(value.decode())
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
