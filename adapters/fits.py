"""What an invoice was fitted to, kept for the same invoice object: one ``fit`` per create.

A create fits the caller's invoice to what the provider carries three times: for its bounds
(the service), for the lookup before it (``prepare_create``) and when it is sent (the adapter's
``create``, on the invoice with its marker). ``Fits`` answers the later two from the first. It
is keyed by the invoice object, which it holds, so that no other object can take its id while
the answer is kept; it keeps the last ``SIZE`` of one adapter (requests in flight interleave).
Canonical invoices are never changed in place (every change is a copy), so the same object
always fits the same way. A refusal (strict handling) is not kept: it is raised again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # adapters.base holds a ``Fits``
    from adapters.base import Handling, WriteWarning
    from gateway.canonical.model import Invoice

    Fitted = tuple[Invoice, list[WriteWarning]]


class Fits:
    SIZE = 64

    def __init__(self) -> None:
        # (id, handling) → (the invoice itself, what it fits as, the warnings)
        self._kept: OrderedDict[tuple[int, str], tuple[Invoice, Invoice, list[WriteWarning]]]
        self._kept = OrderedDict()

    def fit(self, invoice: Invoice, handling: Handling, compute: Callable[[], Fitted]) -> Fitted:
        entry = self._kept.get((id(invoice), handling))
        if entry is not None and entry[0] is invoice:
            self._kept.move_to_end((id(invoice), handling))
            return entry[1], list(entry[2])
        fitted, warnings = compute()
        self._keep(invoice, handling, fitted, warnings)
        return fitted, list(warnings)

    def marked(self, invoice: Invoice, marked: Invoice, mark: Callable[[Invoice], Invoice]) -> None:
        """``marked`` is ``invoice`` with a marker written by ``mark`` into a field the provider
        carries: it fits as ``invoice`` fitted, with the same marker, and the same warnings."""
        for handling in ("strict", "lenient"):
            entry = self._kept.get((id(invoice), handling))
            if entry is None or entry[0] is not invoice:
                continue
            fitted = marked if entry[1] is invoice else mark(entry[1])
            self._keep(marked, handling, fitted, entry[2])

    def _keep(
        self, invoice: Invoice, handling: str, fitted: Invoice, warnings: list[WriteWarning]
    ) -> None:
        self._kept[(id(invoice), handling)] = (invoice, fitted, list(warnings))
        self._kept.move_to_end((id(invoice), handling))
        while len(self._kept) > self.SIZE:
            self._kept.popitem(last=False)
