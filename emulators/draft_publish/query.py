"""List query parameters of the draft_publish emulator: filters and pages.

A bad parameter is a 400 ``invalid_parameter`` naming it; a page past the end is not an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from emulators.draft_publish.errors import BadRequest, Detail
from emulators.draft_publish.store import STATUSES
from emulators.draft_publish.validate import DATE

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_DIGITS = 18


@dataclass(frozen=True, slots=True)
class Page:
    page: int
    limit: int


@dataclass(frozen=True, slots=True)
class ListQuery:
    status: str | None
    customer_id: str | None
    from_date: date | None
    to_date: date | None
    search: str | None
    page: Page


def parse_page(query: Mapping[str, str]) -> Page:
    page = _query_int(query, "page", 1)
    limit = _query_int(query, "limit", DEFAULT_PAGE_SIZE)
    # A larger page size is served at the maximum (meta.limit says so) rather than refused.
    return Page(page=page, limit=min(limit, MAX_PAGE_SIZE))


def parse_list_query(query: Mapping[str, str]) -> ListQuery:
    status = query.get("status") or None
    if status is not None and status not in STATUSES:
        raise _bad_parameter("status", f"must be one of: {', '.join(STATUSES)}")
    search = (query.get("search") or "").strip() or None
    return ListQuery(
        status=status,
        customer_id=query.get("customer_id") or None,
        from_date=_query_date(query, "from_date"),
        to_date=_query_date(query, "to_date"),
        search=search,
        page=parse_page(query),
    )


def _query_int(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    # isascii: str.isdigit also accepts digits int() cannot read, such as "²".
    if not (raw.isascii() and raw.isdigit()) or int(raw[:MAX_DIGITS]) < 1:
        raise _bad_parameter(name, "must be a positive integer")
    # Past any real page or page size either way; and int() refuses very long digit strings.
    return int(raw) if len(raw) <= MAX_DIGITS else 10**MAX_DIGITS


def _query_date(query: Mapping[str, str], name: str) -> date | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        if DATE.match(raw):
            return date.fromisoformat(raw)
        return datetime.fromisoformat(raw).date()
    except ValueError:
        raise _bad_parameter(name, "must be an ISO 8601 date (YYYY-MM-DD)") from None


def _bad_parameter(name: str, message: str) -> BadRequest:
    return BadRequest(
        f"Invalid query parameter: {name}", [Detail(name, message)], code="invalid_parameter"
    )
