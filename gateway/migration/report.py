"""What happened to each source invoice (``--report FILE``), and the run's summary."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from gateway.selection import UsageError

if TYPE_CHECKING:
    from adapters.base import WriteWarning
    from gateway.migration.compare import Verdict

Outcome = Literal[
    "copied", "already_copied", "skipped", "failed", "would_copy", "verified", "reverted"
]
# What a migration reports; verify adds "verified", revert "reverted".
OUTCOMES: tuple[Outcome, ...] = ("copied", "already_copied", "skipped", "failed", "would_copy")


@dataclass
class Entry:
    """One report line: a source invoice and what became of it."""

    source_id: str
    outcome: Outcome
    target_id: str | None = None
    reason: str | None = None
    warnings: list[dict[str, str]] = field(default_factory=list)
    totals_differences: list[dict[str, Any]] = field(default_factory=list)
    verification: str | None = None  # "exact", "within the target's rounding …", "differs"
    made_by_run: str | None = None  # the earlier run whose copy this is, where it is one

    def as_dict(self) -> dict[str, Any]:
        line = {
            "source_id": self.source_id,
            "target_id": self.target_id,
            "outcome": self.outcome,
            "reason": self.reason,
            "warnings": self.warnings,
            "totals_differences": self.totals_differences,
            "verification": self.verification,
        }
        if self.made_by_run is not None:
            line["made_by_run"] = self.made_by_run
        return line


def verdict_entry(
    source_id: str,
    outcome: Any,
    target_id: str | None,
    warnings: list[WriteWarning],
    verdict: Verdict,
) -> Entry:
    """A copy's entry with its verification (``compare``'s verdict) and warnings."""
    return Entry(
        source_id,
        outcome,
        target_id=target_id,
        warnings=[w.as_dict() for w in warnings],
        totals_differences=verdict.differences,
        verification=verdict.verification,
    )


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    differences: int = 0  # invoices whose copy's totals differ from the source's
    started: float = field(default_factory=time.monotonic)
    problems: list[Entry] = field(default_factory=list)  # the entries named at the end

    def add(self, entry: Entry) -> None:
        self.counts[entry.outcome] = self.counts.get(entry.outcome, 0) + 1
        if entry.totals_differences:
            self.differences += 1
        if entry.outcome in ("skipped", "failed"):
            self.problems.append(entry)
        elif entry.outcome == "already_copied" and entry.reason is not None:
            self.problems.append(entry)  # its source changed since it was copied

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    @property
    def not_copied(self) -> int:
        """Invoices failed or skipped: either makes the run's exit status 1."""
        return self.counts["failed"] + self.counts["skipped"]

    def as_dict(self) -> dict[str, Any]:
        seconds = time.monotonic() - self.started
        return {
            **self.counts,
            "differences": self.differences,
            "seconds": round(seconds, 2),
            "per_second": round(self.done / seconds, 1) if seconds > 0 else None,
        }


class ReportUnwritable(UsageError):
    """The report could not be written (opened, or a line of it mid-run: a full disk)."""


class Lines(Protocol):
    """Where a report's lines go: a text file, or one opened at its first line."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class ReportFile:
    """One JSON line per source invoice, written as each is done (nothing kept in memory)."""

    def __init__(self, stream: Lines | None) -> None:
        self._stream = stream

    def write(self, entry: Entry) -> None:
        if self._stream is not None:
            self._stream.write(json.dumps(entry.as_dict(), ensure_ascii=False) + "\n")
            self._stream.flush()
