"""A provider answer an adapter cannot read: one error, in plain words, for every adapter.

Adapters read a provider's JSON with ``data[...]``, ``str()`` and the canonical model, so an
answer of the wrong shape surfaces as one of ``READ_ERRORS`` (``KeyError``, ``TypeError``,
``ValueError``, pydantic's ``ValidationError`` among them, ``AttributeError``, ``IndexError``).
``unreadable`` turns any of them into ``UnusableAnswer`` (502 ``upstream_error``, not retryable:
asking again gets the same answer) whose message names the provider, what it answered and what
was wrong, without Python's words for it (no exception class, no repr) and without the
provider's values, which may carry anything. ``identifier`` and ``array`` read the two things
no invoice goes without: its id, and its lines.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from gateway.canonical.errors import InvalidInvoice
from gateway.canonical.model import Invoice
from gateway.upstream_answers import UnusableAnswer

READ_ERRORS: tuple[type[Exception], ...] = (
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
)
_MAX_SHOWN = 300
_MAX_ID_SHOWN = 64


def unreadable(provider: str, what: str, why: BaseException | str) -> UnusableAnswer:
    """``{provider} answered {what} the gateway cannot read: {why}``."""
    reason = why if isinstance(why, str) else explain(why)
    return UnusableAnswer(
        f"{provider} answered {what} the gateway cannot read: {reason}", provider=provider
    )


def explain(exc: BaseException) -> str:
    """What was wrong, in words a caller can act on."""
    if isinstance(exc, ValidationError):
        return _shown(str(InvalidInvoice.from_pydantic(exc)))
    if isinstance(exc, KeyError):
        name = exc.args[0] if exc.args else None
        return f"{name} is missing" if isinstance(name, str) else "a required field is missing"
    if isinstance(exc, ValueError) and str(exc):
        # The adapters' own checks raise ValueError with a message meant to be read.
        return _shown(str(exc).splitlines()[0])
    # Python's own words ("'dict' object has no attribute 'get'") name no field.
    return "a field is not of the type the provider documents"


def invoice_label(value: Any) -> str:
    """``invoice 42`` for an answer's id when it is a plain one, else ``an invoice``."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value)
        if 0 < len(text) <= _MAX_ID_SHOWN and text.isprintable():
            return f"invoice {text}"
    return "an invoice"


def identifier(value: Any, name: str) -> str:
    """A provider's id as canonical text: a string or a whole number, never an object's repr."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(_not(name, value, "an id"))


def array(data: dict[str, Any], name: str) -> list[Any]:
    """``data[name]``, which must be a JSON array (an invoice's lines: never left out)."""
    value = data.get(name)
    if not isinstance(value, list):
        raise ValueError(_not(name, value, "an array"))
    return value


def _not(name: str, value: Any, expected: str) -> str:
    return f"{name} is missing" if value is None else f"{name} is {kind(value)}, not {expected}"


def kind(value: Any) -> str:
    """A JSON value's kind, for a message (never the value itself)."""
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "of an unknown kind"


def _shown(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def the_one_asked(provider: str, invoice_id: str, invoice: Invoice) -> Invoice:
    """``invoice``, answered for ``invoice_id``; ``UnusableAnswer`` when it is another one (a
    proxy's cache, a misrouted request): its data and its ETag would stand under the id asked
    for, and an ``If-Match`` would be checked against them. Ids are compared as the providers
    write them: digits by their number (``7`` is ``007``), anything else in either case (a
    UUID). An answer without an id is not told apart."""
    if invoice.id is None or _same_id(invoice_id, invoice.id):
        return invoice
    raise UnusableAnswer(
        f"{provider} answered {invoice_label(invoice.id)} when asked for "
        f"{invoice_label(invoice_id)}; the gateway passes on only the invoice asked for",
        provider=provider,
    )


def _same_id(asked: str, answered: str) -> bool:
    asked, answered = asked.strip(), answered.strip()
    if asked.isascii() and asked.isdigit() and answered.isascii() and answered.isdigit():
        return (asked.lstrip("0") or "0") == (answered.lstrip("0") or "0")  # as numbers
    return asked.casefold() == answered.casefold()
