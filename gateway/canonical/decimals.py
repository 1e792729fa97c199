"""Exact decimal field types for the canonical model.

Every number enters as a string, an int or a ``Decimal`` (JSON bodies are parsed with
``parse_float=Decimal``); a Python ``float`` is refused, because by then the exact value the
caller wrote is already lost. Amounts serialize to JSON as decimal strings.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

from gateway.canonical.money import decimal_places

# Far beyond any invoice, and it keeps every product the engine forms exact.
MAX_INTEGER_DIGITS = 15


def to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise PydanticCustomError(
                "decimal_parsing", 'must be a decimal number such as "12.50"'
            ) from None
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
    if number.adjusted() >= MAX_INTEGER_DIGITS:
        raise PydanticCustomError(
            "decimal_too_large",
            "must be smaller than 10^{digits} in absolute value",
            {"digits": MAX_INTEGER_DIGITS},
        )
    return number


def check_places(value: Decimal, places: int) -> Decimal:
    if decimal_places(value) > places:
        raise PydanticCustomError(
            "decimal_places", "must have at most {places} decimal places", {"places": places}
        )
    return value


def _max_places(places: int) -> AfterValidator:
    return AfterValidator(lambda value: check_places(value, places))


def check_non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise PydanticCustomError("decimal_negative", "must not be negative")
    return value


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise PydanticCustomError("decimal_not_positive", "must be greater than zero")
    return value


def check_percent(value: Decimal) -> Decimal:
    if not 0 <= value <= 100:
        raise PydanticCustomError("percent_range", "must be a percentage between 0 and 100")
    return value


def plain(value: Decimal) -> str:
    """Fixed-point text, never exponent notation (``1E+2`` prints as ``100``)."""
    return format(value, "f")


AS_STRING = PlainSerializer(plain, return_type=str, when_used="json")
_EXACT = BeforeValidator(to_decimal)

# An amount of money in the invoice's currency; its places are checked against the currency.
Money = Annotated[Decimal, _EXACT, _max_places(4), AS_STRING]
NonNegativeMoney = Annotated[
    Decimal, _EXACT, _max_places(4), AfterValidator(check_non_negative), AS_STRING
]
PositiveMoney = Annotated[Decimal, _EXACT, _max_places(4), AfterValidator(_positive), AS_STRING]
Quantity = Annotated[Decimal, _EXACT, _max_places(6), AfterValidator(check_non_negative), AS_STRING]
UnitPrice = Annotated[
    Decimal, _EXACT, _max_places(4), AfterValidator(check_non_negative), AS_STRING
]
Rate = Annotated[Decimal, _EXACT, _max_places(4), AfterValidator(check_non_negative), AS_STRING]
Percent = Annotated[Decimal, _EXACT, _max_places(4), AfterValidator(check_percent), AS_STRING]
ExchangeRate = Annotated[Decimal, _EXACT, _max_places(10), AfterValidator(_positive), AS_STRING]
