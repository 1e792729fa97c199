"""What a migration, a verify and a revert say at the end (``commands._finish``): the skipped
and failed invoices, named on stderr. Without ``--report`` they are named nowhere else: every
one is listed (the first 50 were, then "… and 903 more (the report lists all)", of a report
never asked for). With a report, the first 50 and where the rest are."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from gateway.migration.commands import EXIT_SOME_FAILED, _finish
from gateway.migration.report import Entry, Summary


def _summary(failed: int) -> Summary:
    summary = Summary()
    for n in range(failed):
        summary.add(Entry(str(n), "failed", reason=f"reason {n}"))
    summary.add(Entry("ok", "copied", target_id="t"))
    return summary


def _said(summary: Summary, report: Path | None) -> tuple[int, list[str], dict[str, object]]:
    err = io.StringIO()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = _finish(summary, err, report=report)
    return code, err.getvalue().splitlines(), json.loads(out.getvalue())


def test_without_a_report_every_failed_invoice_is_named() -> None:
    code, lines, printed = _said(_summary(60), None)
    assert code == EXIT_SOME_FAILED
    assert lines == [f"failed: {n}: reason {n}" for n in range(60)]
    assert printed["summary"]["failed"] == 60  # type: ignore[index]


def test_with_a_report_the_first_fifty_are_named_and_the_report_for_the_rest(
    tmp_path: Path,
) -> None:
    report = tmp_path / "run.jsonl"
    code, lines, _ = _said(_summary(60), report)
    assert code == EXIT_SOME_FAILED
    assert lines[:50] == [f"failed: {n}: reason {n}" for n in range(50)]
    assert lines[50:] == [f"… and 10 more (the report, {report}, lists all)"]
