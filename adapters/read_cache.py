"""Invoices already read, kept by the content they were read from.

Reading a provider's invoice (its payload translated, then recomputed and checked by
``reconcile``) is a pure function of the payload, the connection's configuration and the day
(the day decides ``overdue``). Clients that poll read the same unchanged invoices again and
again; here the last ``size`` reads of a connection are kept, keyed by the payload's exact JSON
(numbers as they were written) and the day, so an unchanged invoice costs its key (a few µs)
instead of its translation and recomputation. A changed payload is a new key: nothing stale is
ever answered. Invoices handed out are shared and must not be changed in place (nothing in the
gateway does: changes are ``model_copy`` or ``with_fields``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import orjson

from gateway.canonical.model import Invoice
from gateway.jsonwire import JsonNumber

# Payloads larger than this are read every time (their key would cost more than it saves).
MAX_KEY_BYTES = 256 * 1024


class ReadCache:
    def __init__(self, size: int = 128) -> None:
        self._size = size
        self._kept: OrderedDict[tuple[date, bytes], Invoice] = OrderedDict()

    def read(self, payload: Any, day: date, read: Callable[[], Invoice]) -> Invoice:
        """``read()``, or what it returned for the same ``payload`` on the same ``day``."""
        try:
            content = orjson.dumps(payload, default=_number, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            return read()  # not plain JSON (a lone surrogate, say): read, not kept
        if len(content) > MAX_KEY_BYTES:
            return read()
        key = (day, content)
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
            return kept
        invoice = read()
        # orjson's bytes hold the whole buffer it wrote into (about 16 KB for an invoice of 3.5
        # KB): the key kept is an exact copy (through memoryview: ``bytes()`` of bytes is the
        # same object).
        self._kept[(day, bytes(memoryview(content)))] = invoice
        if len(self._kept) > self._size:
            self._kept.popitem(last=False)
        return invoice


def _number(value: Any) -> Any:
    """A number as its text: ``500.00`` and ``500.0`` are different payloads."""
    if isinstance(value, JsonNumber):
        return orjson.Fragment(value.text)
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f"))  # as written back: 0.0000001, not 1E-7
    raise TypeError(type(value).__name__)
