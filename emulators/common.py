"""Small pieces every emulator shares: reading bodies, checking credentials, rounding money."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

from aiohttp import web

CONTROL_PREFIX = "/_emulator/"


class MalformedBody(ValueError):
    """The request body is not valid JSON (or not the JSON object the endpoint needs)."""


async def read_json(request: web.Request) -> Any:
    """Parse a JSON body whatever its Content-Type (some providers' own examples send text/plain).

    Numbers with a fraction are read as ``Decimal`` so no amount passes through a binary float.
    A body that is not UTF-8, nests past Python's recursion limit, or holds a number no invoice
    could (over 1,000 digits, or an exponent past ±1,000, which the decimal checks would round to
    nothing or overflow on) is as malformed as broken JSON: a 400, never a 500. ``NaN`` is read
    (as a float) for each emulator's validation to refuse in its own words.
    """
    raw = await request.read()
    try:
        text = raw.decode(request.charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        raise MalformedBody(f"the body is not {request.charset or 'UTF-8'} text") from None
    if not text.strip():
        raise MalformedBody("request body is empty")
    try:
        return json.loads(text, parse_float=_bounded_number, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise MalformedBody(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError:
        raise MalformedBody("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # int() past its digit limit, or a number out of range
        raise MalformedBody(f"malformed JSON: {exc}") from None


MAX_EXPONENT = 1000


def _bounded_number(text: str) -> Decimal:
    """``text`` as a ``Decimal`` whose exponent, as written and as its size, is within
    ±``MAX_EXPONENT``: ``0e-999999`` is 0 but would be written back with its million zeros, and
    an exponent past what ``Decimal`` holds is no number at all."""
    try:
        number = Decimal(text)
    except ArithmeticError:  # InvalidOperation: an exponent past Decimal's own bounds
        raise ValueError(f"the number {text[:40]} is out of range") from None
    exponent = number.as_tuple().exponent
    written = abs(exponent) if isinstance(exponent, int) else 0
    if written > MAX_EXPONENT or (number and abs(number.adjusted()) > MAX_EXPONENT):
        raise ValueError(f"the number {text[:40]} is out of range")
    return number


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_EXPONENT:
        raise ValueError(f"the number {text[:40]}… is out of range")
    return int(text)


def is_control_path(request: web.Request) -> bool:
    return request.path.startswith(CONTROL_PREFIX)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def round_money(value: Decimal, places: int, *, half_even: bool = False) -> Decimal:
    """Round to ``places`` decimals, half-up away from zero unless ``half_even``. A zero is
    unsigned: a price sent as ``-0.0`` (which "≥ 0" admits), or a tiny negative rounded away,
    is ``0.00`` as a provider shows it, never ``-0.00``."""
    quantum = Decimal(1).scaleb(-places)
    rounded = value.quantize(quantum, rounding=ROUND_HALF_EVEN if half_even else ROUND_HALF_UP)
    return rounded if rounded else rounded.copy_abs()


def days_after(day: date, days: int) -> date:
    """A default due date ``days`` after ``day``: the last day there is when the term runs past
    it (an invoice dated 9999-12-31), where the sum would raise ``OverflowError``."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max
