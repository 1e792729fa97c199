"""Exact decimal field types for the canonical model.

Every number enters as a string, an int or a ``Decimal`` (JSON bodies are parsed with
``parse_float=Decimal``); a Python ``float`` is refused, because by then the exact value the
caller wrote is already lost. Amounts serialize to JSON as decimal strings.

What a caller writes is held to one grammar and to bounds (docs/canonical-invoice.md, "Money"):
a string is ``-?[0-9]+(\\.[0-9]+)?`` and nothing else; a JSON number is read exactly as written;
the places are counted on the exact value, however long, and too many are refused, never rounded;
every value is below 10^15. What a *provider* reports is read as it is, whatever its size or
places (``provider_figures()``): a provider's figure never makes a read fail.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ParamSpec, TypeVar

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from gateway.canonical.money import PLAIN_DIGITS, decimal_places, plain_text, quantum

# Far beyond any invoice, and it keeps every product the engine forms exact.
MAX_INTEGER_DIGITS = 15
_ONE = Decimal(1)
# ASCII digits only (``\d`` would take other scripts' digits too).
_GRAMMAR = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_GRAMMAR_MESSAGE = (
    'must be a decimal number such as "12.50": ASCII digits with an optional minus sign and '
    'decimal point (no exponent, spaces, "+" or grouping)'
)
_reading: ContextVar[bool] = ContextVar("provider_figures", default=False)
P = ParamSpec("P")
T = TypeVar("T")


@contextmanager
def provider_figures() -> Iterator[None]:
    """Within it, decimals are a provider's figures: read as they are, whatever their size,
    places or sign (adapters read provider payloads inside it)."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def reads_provider_figures(function: Callable[P, T]) -> Callable[P, T]:
    """Decorates an adapter's reading of a provider payload: its figures are read as they are."""

    @functools.wraps(function)
    def read(*args: P.args, **kwargs: P.kwargs) -> T:
        with provider_figures():
            return function(*args, **kwargs)

    return read


def to_decimal(value: Any) -> Decimal:
    if _reading.get():
        return _provider_decimal(value)
    if isinstance(value, str):
        if _GRAMMAR.fullmatch(value) is None:
            raise PydanticCustomError("decimal_parsing", _GRAMMAR_MESSAGE)
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, float):
        raise PydanticCustomError(
            "decimal_float",
            "must be a decimal string or an exact JSON number, not a binary float",
        )
    else:
        raise PydanticCustomError(
            "decimal_type", "must be a decimal number given as a string or a JSON number"
        )
    if not number.is_finite():
        raise PydanticCustomError("decimal_finite", "must be a finite decimal number")
    if not number.is_zero() and number.adjusted() >= MAX_INTEGER_DIGITS:
        raise PydanticCustomError(
            "decimal_too_large",
            "must be smaller than 10^{digits} in absolute value",
            {"digits": MAX_INTEGER_DIGITS},
        )
    return number.copy_abs() if number.is_zero() else number  # -0 is read as 0


def _provider_decimal(value: Any) -> Decimal:
    """A provider's figure, as it is: any finite decimal (its own text forms included). One
    written with an exponent above zero (``4.0E2``, ``1e21``) is given its plain form (``400``),
    the same value, so that it prints without an exponent and reads back as it printed; a zero
    with more than six places (which ``str`` writes ``0E-7``) is 0, written so."""
    if type(value) is Decimal:  # a fraction as JSON reads it, or an adapter's own Decimal
        number = _plain_form(value) if "E" in str(value) else value
    elif isinstance(value, Decimal):  # one that keeps its text: it may have an exponent
        number = _plain_form(value) if "e" in str(getattr(value, "text", "e")).lower() else value
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise PydanticCustomError("decimal_parsing", _GRAMMAR_MESSAGE) from None
        number = _plain_form(number)
    else:
        raise PydanticCustomError(
            "decimal_type", "must be a decimal number given as a string or a JSON number"
        )
    if not number.is_finite():
        raise PydanticCustomError("decimal_finite", "must be a finite decimal number")
    if number.is_zero() and "E" in str(number):  # 0.0000000 is written 0E-7: the same 0
        return _ZERO
    return number


def _plain_form(number: Decimal) -> Decimal:
    """``number`` with exponent zero when it has one above zero and its first digit is at
    most ``PLAIN_DIGITS`` places before the point (the rule ``money.plain_text`` writes by:
    ``1e999999999`` would be a billion zeros, and keeps its exponent)."""
    sign, digits, exp = number.as_tuple()
    if not isinstance(exp, int) or exp <= 0 or number.adjusted() >= PLAIN_DIGITS:
        return number
    return Decimal((sign, digits + (0,) * exp, 0))


def check_places(value: Decimal, places: int, *, amount: bool = False) -> Decimal:
    """Refuse more than ``places`` decimals; return the value in fixed-point form.

    ``1E+2`` becomes ``100`` and ``1.5000000`` becomes ``1.500000``, so that ``str()`` of any
    accepted value (at most 6 places, under 10^15) is plain fixed-point text. A provider's
    figure (``provider_figures()``) is returned as it is. An ``amount`` (money, not a price
    or a rate) has a stricter bound checked afterwards, its currency's places: the message
    says so, so that a caller told 4 is not then told 2.
    """
    if _reading.get():
        return value
    exp = value.as_tuple().exponent
    assert isinstance(exp, int)  # finite: to_decimal refused the rest
    if exp > 0:
        return value.quantize(_ONE)
    if exp < -places:
        if decimal_places(value) > places:
            raise PydanticCustomError(
                "decimal_places",
                "must have at most {places} decimal places"
                + (", and no more than its currency has" if amount else ""),
                {"places": places, "amount": amount},
            )
        return value.quantize(quantum(places))
    return value


def check_non_negative(value: Decimal) -> Decimal:
    if value < 0 and not _reading.get():
        raise PydanticCustomError("decimal_negative", "must not be negative")
    return value


def _positive(value: Decimal) -> Decimal:
    if value <= 0 and not _reading.get():
        raise PydanticCustomError("decimal_not_positive", "must be greater than zero")
    return value


def check_percent(value: Decimal) -> Decimal:
    if not 0 <= value <= 100 and not _reading.get():
        raise PydanticCustomError("percent_range", "must be a percentage between 0 and 100")
    return value


def plain(value: Decimal) -> str:
    """Fixed-point text, never exponent notation (``1E+2`` prints as ``100``), but for a
    provider's figure too long to write out (``money.plain_text``)."""
    return plain_text(value)


AS_STRING = PlainSerializer(plain, return_type=str, when_used="json")
_ZERO = Decimal(0)


def _exact(
    places: int, check: Callable[[Decimal], Decimal] | None = None, *, amount: bool = False
) -> BeforeValidator:
    """Exact parsing, at most ``places`` decimals, then ``check``: one validator call per field,
    since this runs for every amount of every line.

    The usual input, plain text such as ``"19.99"`` within ``places`` and the integer digits,
    is matched by one regular expression made for the type (with no minus sign where ``check``
    is ``check_non_negative``, which such text then passes without the call). Anything else
    (exponents, extra places, too many digits, ``-0``, junk, a number) goes the general way,
    which says what is wrong."""
    signed = check is not check_non_negative and check is not _positive
    usual = re.compile(
        f"{'-?' if signed else ''}[0-9]{{1,{MAX_INTEGER_DIGITS}}}(?:\\.[0-9]{{1,{places}}})?"
    ).fullmatch
    then = None if check is check_non_negative else check

    def validate(value: Any) -> Decimal:
        if type(value) is str and usual(value) is not None:
            number = Decimal(value)
            if value[0] != "-" or not number.is_zero():  # -0 is read as 0, the general way
                return then(number) if then else number
        if _reading.get():
            return _provider_decimal(value)
        number = check_places(to_decimal(value), places, amount=amount)
        return check(number) if check else number

    return BeforeValidator(validate)


def _schema(
    places: int,
    *,
    signed: bool = False,
    positive: bool = False,
    amount: bool = False,
    more: str = "",
) -> WithJsonSchema:
    """What the API documents: a decimal string (or an exact JSON number) with these places;
    not below zero unless ``signed``, above it where ``positive`` (as the validators hold), and
    below 10^15 in absolute value. The string's pattern takes exactly what ``_exact`` takes:
    ASCII digits, leading zeros and trailing zeros past ``places`` (they change no value), ``-0``
    written any way (zero). ``amount``: also no finer than the invoice's currency. The text ends
    at ECMA-262's ``$`` (Python's also takes a final newline, which the gateway refuses): an end
    every dialect reads alike is a lookahead, which RE2 and Rust's regex cannot compile."""
    value = f"0*[0-9]{{1,{MAX_INTEGER_DIGITS}}}(\\.[0-9]{{1,{places}}}0*)?"
    pattern = f"^-?{value}$" if signed else f"^(-0+(\\.0+)?|{value})$"
    text: dict[str, Any] = {"type": "string", "pattern": pattern}
    number: dict[str, Any] = {"type": "number", "exclusiveMaximum": 10**MAX_INTEGER_DIGITS}
    if positive:
        text["not"] = {"pattern": "^-?0+(\\.0+)?$"}  # zero, however written
        number["exclusiveMinimum"] = 0
    elif signed:
        number["exclusiveMinimum"] = -(10**MAX_INTEGER_DIGITS)
    else:
        number["minimum"] = 0
    said = f"A decimal with at most {places} decimal places"
    if amount:
        said += " and no more than the invoice's currency has (2 for USD, 0 for JPY)"
    if positive:
        said += ", greater than zero"
    return WithJsonSchema(
        {"anyOf": [text, number], "description": f'{said}{more}, e.g. "12.50".'},
        mode="validation",
    )


# A discount's value: its own validator (the percent's bound depends on the discount's type).
DISCOUNT_VALUE_SCHEMA = _schema(4, more="; a percent from 0 to 100 where the type is percent")


# pydantic writes a Decimal to JSON as ``str(value)``: a string, fixed-point for these types.
_OUT = WithJsonSchema({"type": "string", "pattern": "^-?\\d+(\\.\\d+)?$"}, mode="serialization")
Money = Annotated[Decimal, _exact(4, amount=True), _schema(4, signed=True, amount=True), _OUT]
NonNegativeMoney = Annotated[
    Decimal, _exact(4, check_non_negative, amount=True), _schema(4, amount=True), _OUT
]
PositiveMoney = Annotated[
    Decimal, _exact(4, _positive, amount=True), _schema(4, positive=True, amount=True), _OUT
]
Quantity = Annotated[Decimal, _exact(6, check_non_negative), _schema(6), _OUT]
UnitPrice = Annotated[Decimal, _exact(4, check_non_negative), _schema(4), _OUT]
Rate = Annotated[Decimal, _exact(4, check_non_negative), _schema(4), _OUT]
# Ten places can print as 1E-10 through str(): this one is written out explicitly.
ExchangeRate = Annotated[
    Decimal, _exact(10, _positive), AS_STRING, _schema(10, positive=True), _OUT
]
