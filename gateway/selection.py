"""Which invoices a command works on, checked the one way for ``export`` and ``migrate``: the
ids of an ``--ids`` file or the filters, never both (the filters would be ignored), and a date
range that runs forward (a reversed one matches nothing, silently), its dates written one way."""

from __future__ import annotations

from datetime import date

from adapters.base import ListQuery
from gateway.canonical.dates import iso_date


class UsageError(ValueError):
    """What was asked cannot be done as asked; the message says what to change."""


def given_date(option: str, text: str | None) -> date | None:
    """A date given on the command line, ``YYYY-MM-DD``; anything else is a usage error."""
    if text is None:
        return None
    try:
        return iso_date(text)
    except ValueError as wrong:
        raise UsageError(f"{option} {text!r} {wrong}") from None


def selection_problem(query: ListQuery, *, ids: bool, does: str, filters: str) -> str | None:
    """What is wrong with selecting by ``query`` (and an ``--ids`` file, where ``ids``), as a
    usage error's message; None when nothing is. ``does`` says what the command does with the
    listed invoices ("exports"), ``filters`` names the command's filter options."""
    if ids and query.given():
        return f"--ids {does} the invoices it lists: give it without {filters}"
    if query.issued_from and query.issued_to and query.issued_from > query.issued_to:
        return f"--issued-from {query.issued_from} is after --issued-to {query.issued_to}"
    return None
