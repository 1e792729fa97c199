"""A date as the canonical model writes it, ``YYYY-MM-DD``, read the one way every input is:
bodies, query parameters and the command line; and today's, in UTC (``utc_today``).

``date.fromisoformat`` alone takes more than the canonical grammar (``20260701``, the ISO week
date ``2026-W27-3``, digits of other scripts), so the text is matched first; a text of that shape
that names no day (``2026-02-30``) is told so, rather than told to be written the way it is.
"""

from __future__ import annotations

import calendar
import re
from datetime import MINYEAR, UTC, date, datetime

WRITTEN_AS = "must be a date written as YYYY-MM-DD"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_date(text: str) -> date:
    """The date ``text`` names; ``ValueError`` saying what is wrong (a predicate of the field's
    name: "must be …", "names no day …")."""
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(WRITTEN_AS)
    year, month, day = int(text[:4]), int(text[5:7]), int(text[8:])
    if year < MINYEAR:
        raise ValueError(f"names no day of the calendar: years start at {MINYEAR:04d}")
    if not 1 <= month <= 12:
        raise ValueError(f"names no day of the calendar: months run from 01 to 12, not {month:02d}")
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        raise ValueError(f"names no day of the calendar: {year:04d}-{month:02d} has {days} days")
    return date(year, month, day)


def utc_today() -> date:
    """Today as the gateway counts it (``overdue`` is ``due_date`` before it): the date in UTC,
    as the providers date their own records, never the host's zone, so that two gateways on
    hosts in other zones answer the same invoice alike (and alike to its provider)."""
    return datetime.now(UTC).date()
