"""The invoice-wide checks of a body that did not validate, said beside its other errors.

The currency's minor unit (``shipping`` of 0.001 USD) and a compound tax in an inclusive invoice
are checked by the engine on a validated invoice (``totals``): a body with a bad field never got
that far, so a caller who fixed the field was then told of the next one. These read the same
checks off the body as sent, value by value, skipping what does not parse (its own error says
why), so that one answer lists every bad field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic_core import PydanticCustomError

from gateway.canonical.decimals import to_decimal
from gateway.canonical.errors import FieldError
from gateway.canonical.totals import compound_inclusive, finer_than_currency


def invoice_wide_problems(data: Any, named: list[FieldError]) -> list[FieldError]:
    """The engine's own input checks found in ``data`` (an invoice body as sent), at pointers
    that ``named`` (its field errors) does not already name."""
    if not isinstance(data, dict):
        return []
    taken = {error.pointer for error in named}
    found: list[FieldError] = []
    currency = data.get("currency")
    if isinstance(currency, str):
        for where, raw in _amounts(data):
            error = _too_fine(where, raw, currency)
            if error is not None:
                found.append(error)
    if data.get("tax_mode") == "inclusive":
        found += [compound_inclusive(i, j) for i, j in _compound_taxes(data)]
    return [error for error in found if error.pointer not in taken]


def _too_fine(where: str, raw: Any, currency: str) -> FieldError | None:
    try:
        value = to_decimal(raw)
    except PydanticCustomError:
        return None  # its own error says what is wrong with it
    return finer_than_currency(where, value, currency)


def _amounts(data: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Each money amount the currency bounds, where the body gives one: (pointer, raw value)."""
    if "shipping" in data:
        yield "/shipping", data["shipping"]
    adjustment = data.get("adjustment")
    if isinstance(adjustment, dict) and "amount" in adjustment:
        yield "/adjustment/amount", adjustment["amount"]
    yield from _amount_discount("", data.get("discount"))
    for i, payment in _items(data.get("payments")):
        if "amount" in payment:
            yield f"/payments/{i}/amount", payment["amount"]
    for i, line in _items(data.get("lines")):
        yield from _amount_discount(f"/lines/{i}", line.get("discount"))


def _amount_discount(at: str, discount: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(discount, dict) and discount.get("type") == "amount" and "value" in discount:
        yield f"{at}/discount/value", discount["value"]


def _compound_taxes(data: dict[str, Any]) -> Iterator[tuple[int, int]]:
    for i, line in _items(data.get("lines")):
        for j, tax in _items(line.get("taxes")):
            if tax.get("compound") is True:
                yield i, j


def _items(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(value, list):
        yield from ((i, item) for i, item in enumerate(value) if isinstance(item, dict))
