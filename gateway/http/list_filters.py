"""The list parameters every invoice list takes, read the one way: ``status``, ``customer_id``,
``issued_from``, ``issued_to``, ``number``, ``document_type``, ``limit`` and ``view`` (a
connection's list and the list across connections; each 400 names the parameter)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from multidict import MultiMapping

from gateway.canonical.dates import iso_date
from gateway.canonical.model import DOCUMENT_TYPES, InvoiceStatus
from gateway.http.validation import query_problem

NAMES = frozenset(
    {"status", "customer_id", "issued_from", "issued_to", "number", "document_type", "limit"}
)
# ``view``: full invoices (the default), or the rows as the provider lists them (docs/facade.md).
VIEWS = ("full", "summary")
STATUSES: tuple[InvoiceStatus, ...] = ("draft", "open", "paid", "void", "unknown")
# ASCII digits only: int() would also take "1_0", " 10", "+5" and other scripts' digits.
_DIGITS = re.compile(r"[0-9]{1,9}")


def filters(params: MultiMapping[str]) -> dict[str, Any]:
    """``ListQuery`` keyword arguments for the filters every list takes."""
    status = params.get("status")
    if status is not None and status not in STATUSES:
        raise query_problem({"status": f"must be one of {', '.join(STATUSES)}"})
    document_type = params.get("document_type")
    if document_type is not None and document_type not in DOCUMENT_TYPES:
        raise query_problem({"document_type": f"must be one of {', '.join(DOCUMENT_TYPES)}"})
    issued_from, issued_to = issue_dates(params)
    return {
        "status": status,
        "customer_id": params.get("customer_id") or None,
        "issued_from": issued_from,
        "issued_to": issued_to,
        "number": params.get("number") or None,
        "document_type": document_type,
    }


def limit(params: MultiMapping[str]) -> int:
    given = params.get("limit", "25")
    value = int(given) if _DIGITS.fullmatch(given) else 0
    if not 1 <= value <= 100:
        raise query_problem({"limit": "must be a whole number from 1 to 100"})
    return value


def cursor(params: MultiMapping[str]) -> str | None:
    """The ``cursor`` given, None for none; an empty one is a 400, as an empty date is: it
    would silently start the walk again from the first page."""
    given = params.get("cursor")
    if given == "":
        raise query_problem(
            {"cursor": "is empty: give the next_cursor of the previous page, or leave it out"}
        )
    return given


def summary_view(params: MultiMapping[str]) -> bool:
    """Whether ``view=summary`` asks for the rows as listed (``view=full``, the default: not)."""
    view = params.get("view", "full")
    if view not in VIEWS:
        raise query_problem({"view": f"must be one of {', '.join(VIEWS)}"})
    return view == "summary"


def issue_dates(params: MultiMapping[str]) -> tuple[date | None, date | None]:
    """``issued_from`` and ``issued_to``; a 400 where the first is after the second: no invoice
    can match, and an empty page (or file) would read as "none issued then" (the command
    line's export refuses the same dates)."""
    issued_from, issued_to = query_date(params, "issued_from"), query_date(params, "issued_to")
    if issued_from is not None and issued_to is not None and issued_from > issued_to:
        raise query_problem(
            {"issued_from": f"{issued_from} is after issued_to {issued_to}: swap them"}
        )
    return issued_from, issued_to


def query_date(params: MultiMapping[str], name: str) -> date | None:
    """A date parameter written as YYYY-MM-DD, else a 400 naming it."""
    value = params.get(name)
    if value is None:
        return None
    try:
        return iso_date(value)
    except ValueError as wrong:
        raise query_problem({name: str(wrong)}) from None
