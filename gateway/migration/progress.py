"""What a person (or a log collector) sees while a migration runs.

On a terminal: a ``rich`` progress bar with the count, the rate, the time left, the failures and
the invoices skipped (apart: a skip is a refusal with its reason, not a failure).
Elsewhere: one JSON line every ``every`` invoices. Both on stderr, so stdout stays for results.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any, Protocol

from gateway.migration.report import Entry, Summary


class Progress(Protocol):
    def start(self, total: int | None) -> None: ...

    def advance(self, entry: Entry, summary: Summary) -> None: ...

    def stop(self) -> None: ...


def progress_for(stream: IO[str] | None = None, *, every: int = 100) -> Progress:
    out = stream or sys.stderr
    return RichProgress(out) if out.isatty() else JsonLines(out, every)


class JsonLines:
    def __init__(self, stream: IO[str], every: int) -> None:
        self._stream = stream
        self._every = max(1, every)
        self._total: int | None = None

    def start(self, total: int | None) -> None:
        self._total = total

    def advance(self, entry: Entry, summary: Summary) -> None:
        if summary.done % self._every == 0:
            self._write({"event": "progress", "total": self._total, **summary.as_dict()})

    def stop(self) -> None:
        pass

    def _write(self, data: dict[str, Any]) -> None:
        self._stream.write(json.dumps(data) + "\n")
        self._stream.flush()


class RichProgress:
    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]migrate"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}/s"),
            TimeRemainingColumn(),
            TextColumn("failed {task.fields[failed]} skipped {task.fields[skipped]}"),
            console=Console(file=stream),
        )
        self._task: Any = None
        self._started = time.monotonic()

    def start(self, total: int | None) -> None:
        self._bar.start()
        self._task = self._bar.add_task("migrate", total=total, rate="0", failed=0, skipped=0)

    def advance(self, entry: Entry, summary: Summary) -> None:
        seconds = time.monotonic() - self._started
        rate = f"{summary.done / seconds:.1f}" if seconds > 0 else "0"
        failed, skipped = summary.counts["failed"], summary.counts["skipped"]
        self._bar.update(self._task, advance=1, rate=rate, failed=failed, skipped=skipped)

    def stop(self) -> None:
        self._bar.stop()
