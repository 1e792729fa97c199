"""What a person (or a log collector) sees on stderr while an export runs.

On a terminal: a ``rich`` progress line (count, rate, failures, time), then one summary line.
Elsewhere: one JSON line every ``every`` invoices, a JSON line per failure and a final JSON
summary. stdout is left to the export itself.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any, Protocol


@dataclass
class Summary:
    connection: str
    format: str
    output: str  # the file written, "-" for stdout
    exported: int = 0
    failed: int = 0
    stopped: bool = False  # the walk ended early: a provider page could not be read
    # What an export cut short read, kept beside the earlier export it would have replaced,
    # which is left as it was (``output.Output.settle``)
    partial: str | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def as_dict(self) -> dict[str, Any]:
        seconds = self.seconds
        return {
            "connection": self.connection,
            "format": self.format,
            "output": self.output,
            "exported": self.exported,
            "failed": self.failed,
            "stopped": self.stopped,
            **({"partial": self.partial} if self.partial else {}),
            "seconds": round(seconds, 3),
            "rate": round(self.exported / seconds, 1) if seconds > 0 else None,
        }


class Progress(Protocol):
    def start(self, summary: Summary) -> None: ...

    def total(self, count: int) -> None: ...

    def advance(self, summary: Summary) -> None: ...

    def failure(self, summary: Summary, what: dict[str, Any]) -> None: ...

    def finish(self, summary: Summary) -> None: ...


def progress_for(stream: IO[str] | None = None, *, every: int = 100) -> Progress:
    out = stream or sys.stderr
    return RichProgress(out) if out.isatty() else JsonLines(out, every)


class JsonLines:
    def __init__(self, stream: IO[str], every: int) -> None:
        self._stream = stream
        self._every = max(1, every)
        self._total: int | None = None

    def start(self, summary: Summary) -> None:
        pass

    def total(self, count: int) -> None:
        self._total = count

    def advance(self, summary: Summary) -> None:
        if (summary.exported + summary.failed) % self._every == 0:
            self._write({"event": "progress", "total": self._total, **summary.as_dict()})

    def failure(self, summary: Summary, what: dict[str, Any]) -> None:
        self._write({"event": "failed", "connection": summary.connection, **what})

    def finish(self, summary: Summary) -> None:
        self._write({"event": "summary", **summary.as_dict()})

    def _write(self, data: dict[str, Any]) -> None:
        self._stream.write(json.dumps(data) + "\n")
        self._stream.flush()


class RichProgress:
    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._console = Console(file=stream)
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]export[/] {task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}{task.fields[of]} invoice(s)"),
            TextColumn("{task.fields[rate]}/s"),
            TextColumn("failed {task.fields[failed]}"),
            TimeElapsedColumn(),
            console=self._console,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task: Any = None

    def start(self, summary: Summary) -> None:
        self._bar.start()
        self._task = self._bar.add_task(summary.connection, total=None, of="", rate="0", failed=0)

    def total(self, count: int) -> None:
        self._bar.update(self._task, total=count, of=f"/{count}")

    def advance(self, summary: Summary) -> None:
        seconds = summary.seconds
        rate = f"{summary.exported / seconds:.1f}" if seconds > 0 else "0"
        self._bar.update(self._task, completed=summary.exported, rate=rate, failed=summary.failed)

    def failure(self, summary: Summary, what: dict[str, Any]) -> None:
        where = f"invoice {what['invoice_id']}" if "invoice_id" in what else "the listing"
        self._console.print(f"failed: {where}: {what['error']}", markup=False, highlight=False)
        self._bar.update(self._task, failed=summary.failed)

    def finish(self, summary: Summary) -> None:
        self.advance(summary)
        self._bar.stop()
        data = summary.as_dict()
        stopped = " (stopped early)" if summary.stopped else ""
        if summary.partial:
            stopped = (
                f" (not whole: {summary.output} is left as it was; what was read is in "
                f"{summary.partial})"
            )
        self._console.print(
            f"exported {data['exported']} invoice(s) from {summary.connection} to "
            f"{summary.output} in {data['seconds']} s, {data['failed']} failed{stopped}",
            markup=False,
            highlight=False,
        )
