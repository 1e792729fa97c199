"""Currencies and rounding: the ISO 4217 minor-unit table and the one rounding function.

The table is ISO 4217 List One (minor units), kept here on purpose: CLDR's "digits" (as used by
Babel) differ from ISO 4217 for several currencies (IQD, LAK, LBP, RSD, SYP, YER, ...), and an
invoice amount must follow ISO 4217.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, Overflow
from functools import cache
from typing import Literal

RoundingMode = Literal["half_up", "half_even"]
# A difference of a provider's figures worked out exactly needs at most this many digits.
_EXACT_DIGITS = 200

_ZERO_DECIMAL = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMAL = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMAL = "CLF UYW"
_TWO_DECIMAL = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BMD BND BOB BOV BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP "
    "GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK "
    "LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO "
    "NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS "
    "SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST "
    "XCD XCG YER ZAR ZMW ZWG"
)
# Withdrawn codes that older invoices still carry; kept so that reading history never fails.
_WITHDRAWN_TWO_DECIMAL = "ANG BGN HRK SLL ZWL"

MINOR_UNITS: dict[str, int] = {
    **{code: 2 for code in (_TWO_DECIMAL + " " + _WITHDRAWN_TWO_DECIMAL).split()},
    **{code: 0 for code in _ZERO_DECIMAL.split()},
    **{code: 3 for code in _THREE_DECIMAL.split()},
    **{code: 4 for code in _FOUR_DECIMAL.split()},
}

_ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}
_QUANTUM = {places: Decimal(1).scaleb(-places) for places in range(0, 5)}


class UnknownCurrency(ValueError):
    """A currency code that is not in the ISO 4217 table."""

    def __init__(self, code: str) -> None:
        super().__init__(f"{code!r} is not an ISO 4217 currency code")
        self.code = code


def exponent(currency: str) -> int:
    """Number of minor-unit digits of ``currency`` (USD 2, JPY 0, KWD 3, CLF 4)."""
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise UnknownCurrency(currency) from None


def quantum(places: int) -> Decimal:
    return _QUANTUM.get(places) or Decimal(1).scaleb(-places)


def rounding(mode: RoundingMode) -> str:
    """The ``decimal`` rounding constant of ``mode``, for ``Decimal.quantize``."""
    return _ROUNDING[mode]


@cache
def rounder(places: int, mode: RoundingMode = "half_up") -> Callable[[Decimal], Decimal]:
    """A function rounding to ``places`` decimals with ``mode``; it never yields -0.

    ``half_up`` rounds halves away from zero (``ROUND_HALF_UP``), ``half_even`` to the even digit.
    Hot loops inline it as ``value.quantize(step, rounding(mode)) or zero``, with ``zero`` the
    step times 0 (a rounded -0 is falsy, so it becomes 0 with the step's exponent).
    """
    step = quantum(places)
    mode_ = _ROUNDING[mode]
    zero = step * 0

    def round_(value: Decimal) -> Decimal:
        # Positional: a keyword argument doubles the cost of a quantize call.
        return value.quantize(step, mode_) or zero

    return round_


def round_to(value: Decimal, places: int, mode: RoundingMode = "half_up") -> Decimal:
    """Round to ``places`` decimals (see ``rounder``)."""
    return rounder(places, mode)(value)


def round_money(value: Decimal, currency: str, mode: RoundingMode = "half_up") -> Decimal:
    """Round an amount to its currency's minor unit."""
    return round_to(value, exponent(currency), mode)


def decimal_places(value: Decimal) -> int:
    """Decimals ``value`` needs once trailing zeros are dropped (``1.500`` needs 1), counted on
    its exact digits: no context precision is involved, so a 31-place value needs 31."""
    _, digits, exp = value.as_tuple()
    assert isinstance(exp, int)  # finite by construction
    if exp >= 0 or not any(digits):
        return 0
    trailing = 0
    for digit in reversed(digits):
        if digit != 0 or trailing >= -exp:
            break
        trailing += 1
    return -exp - trailing


def exact_difference(a: Decimal, b: Decimal) -> Decimal:
    """``a - b`` exactly, whatever the two hold (the default context rounds at 28 digits, so a
    provider's large figures would lose their cents); ``Overflow`` past 200 digits."""
    low = min(int(a.as_tuple().exponent), int(b.as_tuple().exponent))
    digits = max(a.adjusted(), b.adjusted()) - low + 2
    if digits > _EXACT_DIGITS:
        raise Overflow(f"{a} - {b} needs {digits} digits")
    return Context(prec=max(digits, 28)).subtract(a, b)


# Past this many digits before the point, or places after it, a figure is not written out:
# only a provider's can have them (a caller's are bounded, docs/canonical-invoice.md), and
# ``1e50000000`` written out is fifty million zeros (each answer holding it as large).
PLAIN_DIGITS = 40


def plain_text(value: Decimal) -> str:
    """Fixed-point text (``1E+2`` is ``100``, ``1E-7`` is ``0.0000001``), except a figure whose
    first digit is more than ``PLAIN_DIGITS`` places from the point, which keeps its exponent
    (``1E+50000000``) rather than be written out with as many zeros. (Digits a figure holds
    are written whatever their number: they came in as text as long.)"""
    if value.is_finite() and not -PLAIN_DIGITS <= value.adjusted() < PLAIN_DIGITS:
        return str(value)
    return format(value, "f")


def padded(amount: Decimal, currency: str) -> Decimal:
    """``amount`` written with at least the currency's minor units (``0`` as ``0.00``): the same
    value, so nothing is rounded; one with more places is left as it is."""
    places = exponent(currency)
    if not places or not amount.is_finite() or -amount.as_tuple().exponent >= places:  # type: ignore[operator]
        return amount
    digits = max(amount.adjusted(), 0) + places + 1
    try:  # a provider's figure of any size is read as it is: room for every digit
        return amount.quantize(Decimal(1).scaleb(-places), context=Context(prec=digits))
    except ArithmeticError:
        return amount  # beyond what a context holds: kept as written
