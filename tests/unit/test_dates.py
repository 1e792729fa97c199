"""``iso_date``: the one reading of a date every input gets (bodies, queries, the command line)."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.canonical.dates import WRITTEN_AS, iso_date


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-07-01", date(2026, 7, 1)),
        ("2028-02-29", date(2028, 2, 29)),  # a leap year's
        ("0001-01-01", date(1, 1, 1)),
        ("9999-12-31", date(9999, 12, 31)),
    ],
)
def test_a_day_written_as_yyyy_mm_dd_is_read(text: str, day: date) -> None:
    assert iso_date(text) == day


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("2026-02-29", "names no day of the calendar: 2026-02 has 28 days"),
        ("2100-02-29", "names no day of the calendar: 2100-02 has 28 days"),
        ("2026-04-31", "names no day of the calendar: 2026-04 has 30 days"),
        ("2026-07-00", "names no day of the calendar: 2026-07 has 31 days"),
        ("2026-13-01", "names no day of the calendar: months run from 01 to 12, not 13"),
        ("2026-00-10", "names no day of the calendar: months run from 01 to 12, not 00"),
        ("0000-01-01", "names no day of the calendar: years start at 0001"),
        # Forms date.fromisoformat takes that the canonical grammar does not.
        ("2026-W27-3", WRITTEN_AS),
        ("20260701", WRITTEN_AS),
        ("2026-07-01T00:00:00", WRITTEN_AS),
        ("٢٠٢٦-07-01", WRITTEN_AS),
        ("2026-7-1", WRITTEN_AS),
        (" 2026-07-01", WRITTEN_AS),
        ("2026-07-01\n", WRITTEN_AS),
    ],
)
def test_what_is_not_a_canonical_date_is_told_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(ValueError) as refused:
        iso_date(text)
    assert str(refused.value) == said
