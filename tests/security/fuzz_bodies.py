"""Hypothesis strategies for canonical invoice bodies (docs/canonical-invoice.md): valid ones,
and one mutation of a valid one that breaks it, with what the gateway must answer to it.

A body is plain JSON data (dict, list, str, int, bool, None) plus two markers the writer
(``to_json``) understands: ``Raw`` (JSON text written as it is: a number such as ``1.25E+1``, a
string with a lone surrogate escape) and ``Pairs`` (an object written member by member, so a
name can repeat). ``view`` is the body as the gateway reads it, for the in-process engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import cache
from typing import Any

from hypothesis import strategies as st

from gateway.canonical.money import MINOR_UNITS
from gateway.http.problems import ECHO_CHARS
from gateway.jsonwire import exact_int

CURRENCIES = sorted(MINOR_UNITS)
LIMIT = Decimal(10) ** 15  # every decimal a caller writes is below it (bounds.py, decimals.py)
TEXT_CHARS = st.characters(codec="utf-8", exclude_categories=["Cs"])  # NUL, RTL, emoji: all valid


class Raw(str):
    """JSON text written as it is."""


class Pairs(list[tuple[str, Any]]):
    """A JSON object written member by member (a name may repeat)."""


def to_json(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, Pairs):
        return "{" + ", ".join(f"{json.dumps(k)}: {to_json(v)}" for k, v in value) + "}"
    if isinstance(value, dict):
        return to_json(Pairs(value.items()))
    if isinstance(value, list):
        return "[" + ", ".join(to_json(item) for item in value) + "]"
    return json.dumps(value)


def view(body: Any) -> Any:
    """The body as the gateway parses it (exact numbers)."""
    return json.loads(to_json(body), parse_float=Decimal, parse_int=exact_int)


def uncut(document: Any, token: str) -> str:
    """``token`` as sent where an answer's pointer cut it (``problems.shown_pointer``: a name
    over ``ECHO_CHARS`` characters ends in "…"), the one member of ``document`` it begins."""
    if not (token.endswith("…") and isinstance(document, dict)):
        return token
    begun = [name for name in document if len(name) > ECHO_CHARS and name.startswith(token[:-1])]
    return begun[0] if len(begun) == 1 else token


def resolves(document: Any, pointer: str) -> bool:
    """Whether the RFC 6901 ``pointer`` names a value in ``document``."""
    if pointer == "":
        return True
    if not pointer.startswith("/"):
        return False
    for token in pointer[1:].split("/"):
        token = uncut(document, token.replace("~1", "/").replace("~0", "~"))
        if isinstance(document, dict) and token in document:
            document = document[token]
        elif isinstance(document, list) and token.isdigit() and int(token) < len(document):
            document = document[int(token)]
        else:
            return False
    return True


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


# -- valid bodies -------------------------------------------------------------------------------


# Strategies are built once (cached): building them per draw would cost more than drawing.
@cache
def text(max_size: int = 24) -> st.SearchStrategy[str]:
    return st.text(TEXT_CHARS, max_size=max_size)


@cache
def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | values


# An id: 1 to 255 characters, or a JSON number (read as its text).
IDENTIFIER = st.text(TEXT_CHARS, min_size=1, max_size=20) | st.integers(0, 10**12)
FORMS = st.sampled_from(["string", "string", "zeros", "number", "exponent"])
PLACES = [st.integers(0, n) for n in range(11)]
FRACTIONS = st.integers(0, 100)


@cache
def decimals(low: Decimal, high: Decimal, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(low, high, places=places, allow_nan=False, allow_infinity=False)


def any_places(draw: st.DrawFn, low: Decimal, high: Decimal, places: int) -> Decimal:
    """A decimal from ``low`` to ``high`` with up to ``places`` decimals."""
    return draw(decimals(low, high, draw(PLACES[places])))


def written(draw: st.DrawFn, value: Decimal) -> Any:
    """``value`` as a caller may write it: a decimal string (with trailing zeros, sometimes),
    or a JSON number, plain or with an exponent. All read as the same number."""
    form = draw(FORMS)
    plain = format(value, "f")
    if form == "zeros":
        return plain + ("000" if "." in plain else ".000")
    if form == "number":
        return Raw(plain)
    if form == "exponent":
        return Raw(format(value, "E"))
    return plain


def _floor(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_FLOOR)


def _ceiling(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_CEILING)


def _optional(draw: st.DrawFn, into: dict[str, Any], fields: dict[str, Any]) -> None:
    """Each field or not, and when there, sometimes null."""
    for name, values in fields.items():
        if draw(st.booleans()):
            into[name] = draw(maybe(values))


@st.composite
def _line(draw: st.DrawFn, places: int, inclusive: bool) -> tuple[dict[str, Any], Decimal]:
    """A line, and the least net amount it can have under any rounding mode (0 for a section)."""
    line: dict[str, Any] = {}
    _optional(draw, line, {"id": IDENTIFIER, "name": text(), "description": text(60)})
    if draw(st.integers(0, 7)) == 0:
        return {**line, "kind": "section"}, Decimal(0)
    quantity = any_places(draw, Decimal(0), Decimal(10**6), 6)
    price = any_places(draw, Decimal(0), Decimal(10**7), 4)
    line |= {"quantity": written(draw, quantity), "unit_price": written(draw, price)}
    if draw(st.booleans()):
        line["kind"] = "item"
    _optional(draw, line, {"item_id": IDENTIFIER, "unit": text(10)})
    exact = quantity * price
    least = _floor(exact, places)
    kind = draw(DISCOUNTS)
    if kind == "percent":
        value = any_places(draw, Decimal(0), Decimal(100), 4)
        line["discount"] = {"type": "percent", "value": written(draw, value)}
        least -= _ceiling(_ceiling(exact, places) * value / 100, places)
    elif kind == "amount":
        value = _floor(least * draw(FRACTIONS) / 100, places)
        line["discount"] = {"type": "amount", "value": written(draw, value)}
        least -= value
    elif kind == "null":
        line["discount"] = None
    if draw(st.booleans()):
        line["taxes"] = draw(_taxes(inclusive))
    return line, max(least, Decimal(0))


DISCOUNTS = st.sampled_from(["none", "percent", "amount", "null"])


@cache
def _lines(places: int, inclusive: bool) -> st.SearchStrategy[list[tuple[dict[str, Any], Decimal]]]:
    return st.lists(_line(places, inclusive), max_size=5)


@cache
def _taxes(inclusive: bool) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(_tax(inclusive), max_size=3)


@st.composite
def _tax(draw: st.DrawFn, inclusive: bool) -> dict[str, Any]:
    tax: dict[str, Any] = {"rate": written(draw, any_places(draw, Decimal(0), Decimal(100), 4))}
    if draw(st.booleans()):
        tax["compound"] = draw(st.booleans()) and not inclusive
    _optional(draw, tax, {"id": IDENTIFIER, "name": text()})
    return tax


ISO_DATES = st.dates(date(1, 1, 1), date(9999, 12, 31)).map(date.isoformat)


@st.composite
def _money(draw: st.DrawFn, places: int, low: Decimal, high: Decimal) -> Any:
    return written(draw, draw(decimals(low, high, places)))


@cache
def _header(places: int) -> dict[str, st.SearchStrategy[Any]]:
    """The header fields but currency, tax mode, lines and discount, for a currency's places."""
    return {
        "customer": st.fixed_dictionaries(
            {}, optional={"id": maybe(IDENTIFIER), "name": maybe(text())}
        ),
        "issue_date": ISO_DATES,
        "due_date": ISO_DATES,
        "number": text(),
        "reference": text(),
        "notes": text(80),
        "terms": text(),
        "billing_address": text(),
        "shipping_address": text(),
        "tags": st.lists(text(), max_size=4),
        "exchange_rate": _money(10, Decimal("1E-10"), Decimal(10**6)),
        "shipping": _money(places, Decimal(0), Decimal(10**6)),
        "adjustment": st.fixed_dictionaries(
            {"amount": _money(places, Decimal(-(10**5)), Decimal(10**5))},
            optional={"description": maybe(text())},
        ),
        "payments": st.lists(_payment(places), max_size=3),
    }


@st.composite
def valid_bodies(draw: st.DrawFn, currencies: tuple[str, ...] = ()) -> dict[str, Any]:
    """A canonical invoice a caller may write: every field optional but currency, values in
    the grammar and within their places, bounds and the rules the engine checks (an amount
    discount no larger than what it discounts, money in the currency's minor unit)."""
    currency = draw(st.sampled_from(currencies or CURRENCIES))
    places = MINOR_UNITS[currency]
    inclusive = draw(st.booleans())
    body: dict[str, Any] = {"currency": currency}
    if inclusive or draw(st.booleans()):
        body["tax_mode"] = "inclusive" if inclusive else "exclusive"
    drawn = draw(_lines(places, inclusive))
    empty_lines: bool = draw(st.booleans())  # "lines": [] or no lines member at all
    if drawn or empty_lines:
        body["lines"] = [line for line, _ in drawn]
    available = sum((least for _, least in drawn), Decimal(0))
    for name, values in _header(places).items():
        if draw(st.integers(0, 3)) == 0:
            body[name] = draw(values)
    kind = draw(DISCOUNTS)
    if kind == "percent":
        value = any_places(draw, Decimal(0), Decimal(100), 4)
        body["discount"] = {"type": "percent", "value": written(draw, value)}
    elif kind == "amount":
        value = _floor(available * draw(FRACTIONS) / 100, places)
        body["discount"] = {"type": "amount", "value": written(draw, value)}
    elif kind == "null":
        body["discount"] = None
    return body


@cache
def _payment(places: int) -> st.SearchStrategy[dict[str, Any]]:
    unit = Decimal(1).scaleb(-places)
    return st.fixed_dictionaries(
        {"amount": _money(places, unit, Decimal(10**6)), "date": ISO_DATES},
        optional={"id": IDENTIFIER, "method": text(), "reference": text()},
    )


POLICIES = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "mode": st.sampled_from(["half_up", "half_even"]),
        "tax_scope": st.sampled_from(["per_line", "per_rate"]),
    },
)


def policies() -> st.SearchStrategy[dict[str, str] | None]:
    return POLICIES


# -- mutations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    """A broken body and what the gateway must answer: ``status`` 400 (malformed text) or 422
    with an error at (or above, or under) ``path``; ``status`` None when the mutation may leave
    the body valid (a null where null is allowed): any answer but a 5xx."""

    payload: bytes
    kind: str
    path: str
    status: int | None
    body: Any = None  # what the gateway parses, when it can
