"""``iso_date``: the one reading of a date every input gets (bodies, queries, the command line)."""

from __future__ import annotations

import inspect
import time
from datetime import UTC, date, datetime

import pytest

from adapters.base import Adapter
from adapters.registry import ADAPTERS, adapter_class
from gateway.canonical.dates import WRITTEN_AS, iso_date, utc_today


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


def test_today_is_the_utc_date_whatever_the_host_s_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """``overdue`` (due before today) read by the host's zone: a gateway at UTC+14 called an
    invoice due today overdue that its provider, and a gateway at UTC, did not. A zone is
    picked whose date is another day than UTC's at this hour."""
    zone = "Pacific/Kiritimati" if datetime.now(UTC).hour >= 12 else "Etc/GMT+12"
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        utc = datetime.now(UTC).date()
        assert date.today() != utc  # the host's date is another day
        assert utc_today() == utc
        adapter = Adapter(
            client=None,  # type: ignore[arg-type]  # today is all that is asked of it
            connection=None,  # type: ignore[arg-type]
            mapping=None,  # type: ignore[arg-type]
        )
        assert adapter.today() == utc
        for provider in ADAPTERS:  # those that take a today of their own
            taken = inspect.signature(adapter_class(provider)).parameters.get("today")
            assert taken is None or taken.default is utc_today, provider
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
