"""The bill_crm invoice list: its query parameters, filters, sorting and pages."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulators.bill_crm.fields import Errors, read_choice, read_integer, to_integer
from emulators.bill_crm.model import Invoice
from emulators.bill_crm.store import CLIENTS, STATUSES
from emulators.bill_crm.totals import compute

SORTS = ("bill_date", "bill_due_date", "bill_final_amount", "bill_created")
ORDERS = ("asc", "desc")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass
class ListQuery:
    statuses: list[int] = field(default_factory=list)
    client_id: int | None = None
    project_id: int | None = None
    category_id: int | None = None
    search: str | None = None
    sort: str | None = None
    order: str = "desc"
    limit: int = DEFAULT_LIMIT
    page: int = 1


def parse_list_query(query: Mapping[str, str]) -> ListQuery:
    """Read the list parameters; an empty one (``search=``) counts as absent."""
    errors = Errors()
    parsed = ListQuery()
    if query.get("status", "").strip():
        for part in query["status"].split(","):
            status_id = to_integer(part)
            if status_id is None or status_id not in STATUSES:
                errors.add("status", "The selected status is invalid.")
                break
            parsed.statuses.append(status_id)
    for name in ("client_id", "project_id", "category_id"):
        if query.get(name, "").strip():
            setattr(parsed, name, read_integer(errors, query, name, False))
    parsed.search = query.get("search", "").strip() or None
    if query.get("sort"):
        parsed.sort = read_choice(errors, query, "sort", SORTS)
    if query.get("order"):
        parsed.order = read_choice(errors, query, "order", ORDERS) or parsed.order
    for name, low, high in (("limit", 1, MAX_LIMIT), ("page", 1, None)):
        if not query.get(name, "").strip():
            continue
        value = read_integer(errors, query, name, True)
        if value is None:
            continue
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            errors.add(name, f"The {name} must be {bounds}.")
        else:
            setattr(parsed, name, value)
    errors.check()
    return parsed


def select(invoices: Iterable[Invoice], query: ListQuery) -> tuple[list[Invoice], int]:
    """The requested page and how many invoices match in all."""
    found = [invoice for invoice in invoices if _matches(invoice, query)]
    # The id breaks ties in the same direction, so pages follow on without gaps or repeats.
    found.sort(key=_sort_key(query), reverse=query.order == "desc")
    start = (query.page - 1) * query.limit
    return found[start : start + query.limit], len(found)


def _matches(invoice: Invoice, query: ListQuery) -> bool:
    if query.statuses and invoice.status_id not in query.statuses:
        return False
    for wanted, actual in (
        (query.client_id, invoice.client_id),
        (query.project_id, invoice.project_id),
        (query.category_id, invoice.category_id),
    ):
        if wanted is not None and wanted != actual:
            return False
    if query.search is None:
        return True
    needle = query.search.casefold()
    haystack = [str(invoice.id), CLIENTS[invoice.client_id].name, *invoice.tags]
    haystack += [item.description for item in invoice.line_items]
    return any(needle in text.casefold() for text in haystack)


def _sort_key(query: ListQuery) -> Callable[[Invoice], Any]:
    if query.sort == "bill_date":
        return lambda invoice: (invoice.bill_date, invoice.id)
    if query.sort == "bill_due_date":
        return lambda invoice: (invoice.due_date, invoice.id)
    if query.sort == "bill_final_amount":
        return lambda invoice: (compute(invoice).totals.final_amount, invoice.id)
    if query.sort == "bill_created":
        return lambda invoice: (invoice.created, invoice.id)
    return lambda invoice: invoice.id
