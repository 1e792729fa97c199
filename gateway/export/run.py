"""The export itself: walk one connection's listing (or read the given ids) and write each invoice.

Memory holds one provider page at a time (``gateway.listing.matching_pages``), whatever the
number of invoices; the output is flushed after each page, so what was read is kept when a
later page fails. A provider failure is reported on stderr, never as a traceback: a page that
cannot be read ends the walk (exit 1, with everything before it written); an id that cannot be
read is one failed invoice, and the export goes on with the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from io import BufferedIOBase
from pathlib import Path
from typing import IO

from adapters.base import Adapter, ListQuery
from adapters.registry import build_adapter
from gateway.canonical.model import Invoice
from gateway.config import Settings
from gateway.errors import AdapterError
from gateway.export.formats import Format, FormatError, Writer, invoice_record, writer_for
from gateway.export.output import Output
from gateway.export.progress import Progress, Summary, progress_for
from gateway.listing import matching_pages
from gateway.provider_sessions import provider_sessions
from gateway.selection import UsageError, selection_problem
from gateway.text_file import (
    MAX_ID_CHARS,
    DrawnOffLoop,
    UnreadableText,
    id_line_too_long,
    open_file,
    utf8_text,
)

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class ExportOptions:
    connection: str
    format: Format = "jsonl"
    query: ListQuery = field(default_factory=ListQuery)
    ids: Path | None = None  # a file of source invoice ids, one per line: just those
    output: Path | None = None  # None: stdout
    page_size: int | None = None  # the provider page size (default: the provider's largest)


async def export(
    settings: Settings,
    options: ExportOptions,
    *,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    """Run one export; the exit status: 0, or 1 when some invoices failed (listed on ``err``).
    A usage or configuration problem raises ``UsageError`` before anything is written."""
    err = err or sys.stderr
    connection = settings.connection(options.connection)
    if connection is None:
        known = ", ".join(c.name for c in settings.connections) or "none"
        raise UsageError(
            f"no connection named {options.connection!r} in the configuration (known: {known})"
        )
    query = options.query
    problem = selection_problem(
        query,
        ids=options.ids is not None,
        does="exports",
        filters="--status, --customer, --issued-from, --issued-to or --document-type",
    )
    if problem is not None:
        raise UsageError(problem)
    if options.page_size is not None and options.page_size < 1:
        raise UsageError(f"--page-size must be 1 or more, not {options.page_size}")
    # The connection's own client session, as the server has (gateway/provider_sessions.py).
    async with provider_sessions([connection]) as sessions:
        adapter = build_adapter(connection, sessions[connection.name])
        caps = adapter.capabilities
        if options.ids is not None and "get" not in caps.operations:
            raise UsageError(f"{adapter.provider} cannot read one invoice: --ids cannot be used")
        if options.ids is None and "list" not in caps.operations:
            raise UsageError(f"{adapter.provider} cannot list invoices: give --ids FILE")
        summary = Summary(
            connection=options.connection,
            format=options.format,
            output=str(options.output) if options.output is not None else "-",
        )
        progress = progress_for(err)
        output = Output(options.output, out, summary, err)
        async with contextlib.AsyncExitStack() as opened:
            try:
                ids = await opened.enter_async_context(_ids(options.ids))
                stream = await output.open()
            except asyncio.CancelledError:
                # Stopped while a named pipe waited for its other end: the summary is said all
                # the same, as of any export stopped.
                _interrupted(summary, progress)
                progress.finish(summary)
                raise
            progress.start(summary)
            try:
                # A CSV's header is written at once: an output that cannot take it (a full
                # disk, a reader gone) is said as any later write is, not a traceback.
                writer = writer_for(options.format, stream)
                invoices = (
                    _by_id(adapter, ids, summary, progress)
                    if ids is not None
                    else _listing(adapter, query, options.page_size, summary, progress)
                )
                await write_all(invoices, writer, summary, progress)
            except asyncio.CancelledError:  # Ctrl-C, SIGTERM: what was written is summed up
                _interrupted(summary, progress)
                raise
            except OSError as exc:  # the output cannot take more (disk full, a closed pipe)
                summary.stopped = True
                where = "stdout" if options.output is None else summary.output
                reason = f"cannot write {where}: {exc.strerror or exc}"
                progress.failure(summary, {"error": reason, "stopped": True})
            finally:
                if _stop_asked() and not summary.stopped:
                    # Asked while the last step ran without a pause for it to be heard: the
                    # export is cut short all the same, never taken for whole.
                    _interrupted(summary, progress)
                output.settle()  # in place of an earlier export: what the summary then says
                progress.finish(summary)
    return EXIT_SOME_FAILED if summary.failed or summary.stopped else EXIT_OK


async def write_all(
    pages: AsyncIterator[list[Invoice]], writer: Writer, summary: Summary, progress: Progress
) -> None:
    """Write each invoice as it comes, flushing after each page; an invoice that cannot be
    written exactly (a float in it) is a failure, and the export goes on."""
    async for page in pages:
        written = 0
        try:
            for invoice in page:
                try:
                    writer.write(invoice_record(invoice))
                except FormatError as exc:
                    summary.failed += 1
                    progress.failure(summary, {"invoice_id": invoice.id, "error": str(exc)})
                else:
                    summary.exported += 1
                    written += 1
                progress.advance(summary)
            writer.flush()
        except OSError:
            # The output could not take the page (a full disk): none of it counts as exported.
            summary.exported -= written
            raise


async def _listing(
    adapter: Adapter,
    query: ListQuery,
    page_size: int | None,
    summary: Summary,
    progress: Progress,
) -> AsyncIterator[list[Invoice]]:
    size = min(page_size or adapter.capabilities.max_page_size, adapter.capabilities.max_page_size)
    pages = matching_pages(adapter, query, page_size=size)
    token: str | None = None
    first = True
    while True:
        try:
            page = await anext(pages)
        except StopAsyncIteration:
            return
        except Exception as exc:  # a provider failure ends the walk; what was read is kept
            summary.stopped = True
            progress.failure(summary, {"page": token, "error": _reason(exc), "stopped": True})
            return
        if first and page.total is not None:
            progress.total(page.total)
        first = False
        token = page.next_token
        yield page.invoices


async def _by_id(
    adapter: Adapter, ids: AsyncIterator[str], summary: Summary, progress: Progress
) -> AsyncIterator[list[Invoice]]:
    exported: set[str | None] = set()  # ids as the provider gives them: 7 and 007 are one
    while True:
        try:
            invoice_id = await anext(ids, None)
        except IdsUnreadable as exc:
            summary.stopped = True
            progress.failure(summary, {"error": str(exc), "stopped": True})
            return
        if invoice_id is None:
            return
        try:
            invoice = await adapter.get(invoice_id)
        except Exception as exc:  # one invoice that cannot be read; the others still can
            summary.failed += 1
            progress.failure(summary, {"invoice_id": invoice_id, "error": _reason(exc)})
            progress.advance(summary)
            continue
        if invoice.id in exported:
            continue  # named again in another form: exported once
        exported.add(invoice.id)
        yield [invoice]


def _reason(exc: Exception) -> str:
    if isinstance(exc, AdapterError):
        status = getattr(exc, "status", None)
        return f"{exc.message} (HTTP {status})" if status else exc.message
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@asynccontextmanager
async def _ids(path: Path | None) -> AsyncIterator[AsyncIterator[str] | None]:
    """The ids of an ``--ids`` file, read line by line as the export goes (blank lines are
    skipped), off the event loop: a named pipe's next line may be a while coming, and Ctrl-C
    and SIGTERM must be heard meanwhile (a stop not heard until the pipe closed took its end
    for the list's, and replaced an earlier export with what was read)."""
    if path is None:
        yield None
        return
    try:
        stream = await open_file(path, "rb")
    except OSError as exc:
        raise UsageError(f"--ids {path}: cannot be read ({exc.strerror})") from None
    assert isinstance(stream, BufferedIOBase)  # "rb": buffered
    yield DrawnOffLoop(_once(_lines(stream, path)), stream.close, f"read {path}")


class IdsUnreadable(Exception):
    """An ``--ids`` file that stops being a list of ids part-way: the export stops there."""


# A line that reaches this many bytes (UTF-8 takes at most four bytes a character) is longer
# than any id, and is not read to its end.
_MAX_ID_BYTES = 4 * (MAX_ID_CHARS + 1)
# What one read of the file asks for: what a pipe holds is taken as it comes (``read1``).
_READ_BYTES = 64 * 1024
_LINE_END = re.compile(rb"\r\n?|\n")


def _lines(stream: BufferedIOBase, path: Path) -> Iterator[str]:
    """The file's ids, line by line, each decoded on its own: a line that is not UTF-8 stops
    the export there, named by its number and column, as ``migrate --ids`` refuses the file
    (an id guessed at, its bytes read as U+FFFD, would be asked of the provider as written).
    Lines end as ``migrate --ids`` ends them (``str.splitlines``): at a line feed, a carriage
    return alone (a spreadsheet's "CSV (Macintosh)") or both. A byte order mark (a
    spreadsheet's "CSV UTF-8") is no part of the first id."""
    for number, raw in enumerate(_raw_lines(stream, path), start=1):
        if len(raw) >= _MAX_ID_BYTES:
            raise IdsUnreadable(id_line_too_long(path, number))
        try:
            line = utf8_text(raw, number)
        except UnreadableText as exc:
            raise IdsUnreadable(f"--ids {path}: {exc.reason}") from None
        for part in line.splitlines() or [line]:
            if len(part) > MAX_ID_CHARS:
                raise IdsUnreadable(id_line_too_long(path, number))
            if invoice_id := part.strip():
                yield invoice_id


def _raw_lines(stream: BufferedIOBase, path: Path) -> Iterator[bytes]:
    """Each line's bytes without its end (a line feed, a carriage return, or both); a line
    is cut at ``_MAX_ID_BYTES``, which ``_lines`` refuses, rather than read to its end."""
    pending = b""
    while chunk := _read(stream, path):
        data = pending + chunk
        start = 0
        for end in _LINE_END.finditer(data):
            if end.group() == b"\r" and end.end() == len(data):
                break  # a CR last in what has come: its LF, if any, is in the next read
            yield data[start : end.start()]
            start = end.end()
        pending = data[start:]
        if len(pending) >= _MAX_ID_BYTES:
            yield pending[:_MAX_ID_BYTES]
            return
    pending = pending.removesuffix(b"\r")
    if pending:
        yield pending


def _read(stream: BufferedIOBase, path: Path) -> bytes:
    """What the file has next, up to ``_READ_BYTES``; a read that fails (a failing disk, a
    mount gone) is the ``--ids`` file's, named as such (not the output's)."""
    try:
        data: bytes = stream.read1(_READ_BYTES)
    except OSError as exc:
        raise IdsUnreadable(f"--ids {path}: cannot be read ({exc.strerror or exc})") from None
    return data


def _once(ids: Iterator[str]) -> Iterator[str]:
    """Each id the first time it comes (an id listed twice is exported once, as ``migrate``
    copies it once)."""
    seen: set[str] = set()
    for invoice_id in ids:
        if invoice_id not in seen:
            seen.add(invoice_id)
            yield invoice_id


def _stop_asked() -> bool:
    """Whether this task was told to stop (Ctrl-C, SIGTERM) and has not yet heard it."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _interrupted(summary: Summary, progress: Progress) -> None:
    summary.stopped = True
    progress.failure(summary, {"error": "interrupted", "stopped": True})


def quiet_stdout() -> None:
    """When a reader stopped early (``export … | head``) stdout is a closed pipe: the export
    said so already, and the interpreter's last flush must not say it again as a traceback."""
    try:
        sys.stdout.flush()
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
