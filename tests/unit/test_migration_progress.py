"""The terminal's progress bar says what the summary says: failures and skips apart."""

from __future__ import annotations

import io

from gateway.migration.progress import RichProgress
from gateway.migration.report import Entry, Summary


def test_the_bar_counts_skipped_invoices_apart_from_failed_ones() -> None:
    """A dry run that skipped 2 of 3 ended its bar on "failed 2" while its summary said
    failed 0, skipped 2."""
    out = io.StringIO()
    bar = RichProgress(out)
    summary = Summary()
    bar.start(3)
    for source, outcome in (("1", "skipped"), ("2", "would_copy"), ("3", "skipped")):
        entry = Entry(source_id=source, outcome=outcome)
        summary.add(entry)
        bar.advance(entry, summary)
    bar.stop()

    assert "3/3" in out.getvalue()
    assert "failed 0 skipped 2" in out.getvalue()
    assert summary.not_copied == 2
