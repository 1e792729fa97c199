"""``migrate``, ``migrate verify`` and ``migrate revert``: the use cases the command line calls.

Each takes typed settings and options (no argument parsing here), prints the plan and the
summary, writes the report, and answers the exit status: 0 when all went well, 1 when some
invoices failed or were skipped (they are listed), 2 for a usage or configuration error.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from adapters.base import Adapter
from gateway.config import Settings
from gateway.errors import AdapterError
from gateway.migration.afterwards import revert_entry, run_entries, verify_entry
from gateway.migration.copy import Copier
from gateway.migration.plan import Plan
from gateway.migration.progress import progress_for
from gateway.migration.references import ReferenceMap
from gateway.migration.report import Entry, ReportFile, ReportUnwritable, Summary
from gateway.migration.runner import PlanMismatch, Runner, RunStopped
from gateway.runtime import Runtime, gateway_runtime
from gateway.selection import UsageError
from gateway.store import Store, StoreError, open_store
from gateway.store.urls import scheme_of, sqlite_path
from gateway.text_file import open_file

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
_LISTED = 50  # skipped and failed invoices named at the end; --report has every one


@dataclass(frozen=True)
class MigrateOptions:
    plan: Plan
    refs: ReferenceMap
    dry_run: bool = False
    concurrency: int = 4
    report: Path | None = None
    sample: int | None = None


async def migrate(
    settings: Settings,
    options: MigrateOptions,
    err: IO[str] = sys.stderr,
    *,
    stop: asyncio.Event | None = None,
) -> int:
    """``stop``: set to end the run once the copies under way are done (``Runner.stopping``)."""
    plan = options.plan
    _check_connections(settings, plan.source, plan.target)
    store_wanted = not options.dry_run
    async with (
        gateway_runtime(settings, with_store=store_wanted, shared_limits=True) as runtime,
        _copied_so_far(settings, options.dry_run) as seen,
    ):
        source, target = runtime.adapters[plan.source], runtime.adapters[plan.target]
        if "create" not in target.capabilities.operations:
            raise UsageError(f"{target.provider} (connection {plan.target}) cannot create invoices")
        plan = _one_spelling(plan, source)
        copier = Copier(plan, source, target, runtime.service, runtime.store, options.refs, seen)
        async with _opened(options.report, stop) as report:
            runner = Runner(
                plan,
                source,
                copier,
                runtime.store,
                concurrency=options.concurrency,
                progress=progress_for(err),
                report=ReportFile(report),
                sample=options.sample,
                lease_s=settings.store.lease_seconds,
                stop_asked=stop or asyncio.Event(),
            )
            try:
                total = await runner.count()
            except AdapterError as exc:
                print(
                    f"run {plan.run} did not start: listing {plan.source} failed: "
                    f"{exc.message}. Nothing was copied; run the same command again once the "
                    "connection answers.",
                    file=err,
                )
                return EXIT_SOME_FAILED
            print(_plan_line(plan, target, total, options), file=err, flush=True)
            try:
                summary = await runner.run()
            except PlanMismatch as exc:
                raise UsageError(str(exc)) from None
            except ReportUnwritable as exc:
                # Every copy made is in the store: the report is what failed, not the run.
                print(_report_stopped_line(plan, options, exc), file=err)
                _finish(runner.summary, err, stopped=True)
                return EXIT_USAGE
            except RunStopped:
                print(_stopped_line(plan, options), file=err)
                return _finish(runner.summary, err, stopped=True, report=options.report)
            except AdapterError as exc:
                then = (
                    f"Run the same command again (same --run {plan.run}) to resume where it "
                    "stopped."
                    if getattr(exc, "retryable", False)
                    else "Asking again would meet it again: fix what it names (the "
                    "configuration, or at the provider), then run the same command (same --run "
                    f"{plan.run}) to resume where it stopped."
                )
                print(f"run {plan.run} stopped: {exc.message}. {then}", file=err)
                summary = runner.summary
                _finish(summary, err, stopped=True, report=options.report)
                return EXIT_SOME_FAILED
            except asyncio.CancelledError:  # Ctrl-C or SIGTERM: what was done, then stop
                _finish(runner.summary, err, stopped=True, report=options.report)
                raise
        if options.sample is not None and not options.dry_run:
            print(_sampled(summary, plan.target, plan.run), file=err)
    return _finish(summary, err, report=options.report)


def _sampled(summary: Summary, target: str, run: str) -> str:
    """What a sample did with the first invoices it met, and what to do next: it said it had
    sampled them into the target when it had skipped them all."""
    counts = summary.counts
    copied, before = counts["copied"], counts["already_copied"]
    parts = [f"{copied} copied"]
    parts += [f"{counts[name]} {name.replace('_', ' ')}" for name in _NOT_NEW if counts[name]]
    met = f"sampled the first {summary.done} invoice(s) for {target}: {', '.join(parts)}"
    rest = f"run again with --run {run} and without --sample to copy the rest"
    if copied or before:
        return (
            f"{met}. Compare the copies there (the report lists their ids), then {rest} "
            "(the sampled ones are not copied twice)"
        )
    return (
        f"{met}: nothing to compare yet. The report says why each was not copied: fix that "
        f"(the map, --lenient) and sample again, or {rest}"
    )


_NOT_NEW = ("already_copied", "skipped", "failed")


async def verify(
    settings: Settings,
    run: str,
    report: Path | None,
    err: IO[str] = sys.stderr,
    *,
    stop: asyncio.Event | None = None,
) -> int:
    """``stop``: set to end it once the copy under way is read (a first Ctrl-C or SIGTERM)."""
    async with gateway_runtime(settings) as runtime:
        summary = Summary()
        async with _opened(report, stop) as stream:
            out = ReportFile(stream)
            assert runtime.store is not None
            copies = 0
            try:
                # Every invoice of the run, those it did not copy too: the report accounts for
                # each, and the skipped ones say why, as the run's report did.
                async for entry in run_entries(runtime.store, run, not_copied=True):
                    if stop is not None and stop.is_set():
                        return _step_stopped(summary, err, "verify", run, report)
                    pair = _pair(runtime, entry.source_connection, entry.target_connection)
                    checked = await verify_entry(entry, *pair)
                    copies += entry.target_id is not None or entry.state == "pending"
                    summary.add(checked)
                    out.write(checked)
            except ReportUnwritable as exc:
                return _report_stopped(summary, err, "verify", run, exc)
            if copies == 0:  # said, and nothing to do: exit 0
                await _no_copy(runtime.store, run, "verify", err)
    # A copy reverted, or an invoice the run skipped, has nothing to compare: verify fails
    # for a copy that differs or cannot be read, as the docs say, not for those.
    return _finish(summary, err, differences_fail=True, skips_fail=False, report=report)


async def revert(
    settings: Settings,
    run: str,
    report: Path | None,
    err: IO[str] = sys.stderr,
    *,
    stop: asyncio.Event | None = None,
) -> int:
    """``stop``: set to end it once the undo under way is done and recorded (a first Ctrl-C
    or SIGTERM): an undo cut off between the provider's delete and its record would be missing
    from the report."""
    async with gateway_runtime(settings) as runtime:
        summary = Summary()
        assert runtime.store is not None and runtime.service is not None
        async with _opened(report, stop) as stream:
            out = ReportFile(stream)
            try:
                async for entry in run_entries(runtime.store, run):
                    if stop is not None and stop.is_set():
                        return _step_stopped(summary, err, "revert", run, report)
                    _, target = _pair(runtime, entry.source_connection, entry.target_connection)
                    undone = await revert_entry(entry, target, runtime.service, runtime.store)
                    summary.add(undone)
                    out.write(undone)
            except ReportUnwritable as exc:
                return _report_stopped(summary, err, "revert", run, exc)
            if summary.done == 0:  # within: an earlier report is left as it was
                await _no_copy(runtime.store, run, "revert", err)
    return _finish(summary, err, report=report)


def _step_stopped(summary: Summary, err: IO[str], step: str, run: str, report: Path | None) -> int:
    """A verify or revert stopped by Ctrl-C or SIGTERM, once the copy under way was done:
    what it did, and that the same command finishes it."""
    done = "finished and recorded" if step == "revert" else "read"
    under_way = f"{'undo' if step == 'revert' else 'copy'} under way was {done}"
    print(
        f"migrate {step} --run {run} stopped: the {under_way}, no other was started. What it "
        "did is in the summary below; run the same command again to finish it.",
        file=err,
    )
    return _finish(summary, err, stopped=True, report=report)


def _report_stopped(
    summary: Summary, err: IO[str], step: str, run: str, exc: ReportUnwritable
) -> int:
    """A verify or revert whose report stopped taking lines (a full disk): what it did so far,
    said with its summary, and that the same command finishes it (each copy reverted is
    recorded in the store, and a revert run again says it is done)."""
    print(
        f"migrate {step} --run {run} stopped: {exc}. What it did is in the summary below; "
        f"run the same command again with a --report that can be written to finish it.",
        file=err,
    )
    _finish(summary, err, stopped=True)
    return EXIT_USAGE


async def _no_copy(store: Store, run: str, what: str, err: IO[str]) -> None:
    """A run with no copy to work on: one the store does not know is a usage error (a name
    mistyped); one that skipped or failed every invoice it met, or met only invoices that
    earlier runs had copied (whose entries keep those runs), is said, and there is nothing to
    do (exit 0)."""
    ran = await store.checkpoint_get(f"migration:{run}") is not None
    if not ran and not await store.crosswalk_by_run(run, after=None):
        raise UsageError(f"no run named {run!r} in the store")
    print(
        f"run {run!r} made no copy (it skipped or failed every invoice it met, or met only "
        f"copies that earlier runs made): nothing to {what}",
        file=err,
    )


@asynccontextmanager
async def _copied_so_far(settings: Settings, dry_run: bool) -> AsyncIterator[Store | None]:
    """For a dry run, the store, to read what earlier runs copied (a copy already made is
    ``already_copied`` there too, not ``would_copy``); None for a run (it has its own) and
    where there is no store yet (a SQLite file not made: nothing was copied)."""
    url = settings.store.url
    if not dry_run or _no_store_yet(url):
        yield None
        return
    store = open_store(url)
    try:
        await store.open()
    except StoreError as exc:
        # A dry run needs no store: without it, what earlier runs copied is not known.
        print(
            f"the store cannot be read ({exc}): the dry run cannot tell what earlier runs "
            "copied, and says every invoice would be copied",
            file=sys.stderr,
            flush=True,
        )
        yield None
        return
    try:
        yield store
    finally:
        await store.close()


def _no_store_yet(url: str) -> bool:
    return scheme_of(url) == "sqlite" and not Path(sqlite_path(url)).exists()


def _report_stopped_line(plan: Plan, options: MigrateOptions, exc: ReportUnwritable) -> str:
    """What a run stopped by its report says: a dry run wrote nothing to resume."""
    if options.dry_run:
        return (
            f"dry run {plan.run} stopped: {exc}. Nothing was written; run it again with a "
            "--report that can be written."
        )
    what = "sample" if options.sample is not None else "run"
    return (
        f"{what} {plan.run} stopped: {exc}. The copies under way were finished and recorded "
        f"in the store, no other was started; run the same command again (same --run "
        f"{plan.run}) with a --report that can be written to resume where it stopped."
    )


def _stopped_line(plan: Plan, options: MigrateOptions) -> str:
    if options.dry_run:
        return f"dry run {plan.run} stopped: nothing was written; what it checked is above."
    if options.sample is not None:
        return (
            f"sample {plan.run} stopped: the copies under way were finished and recorded, no "
            "other was started; the report lists them."
        )
    return (
        f"run {plan.run} stopped: the copies under way were finished and recorded, no other "
        f"was started. Run the same command again (same --run {plan.run}) to resume where it "
        "stopped."
    )


def _one_spelling(plan: Plan, source: Adapter) -> Plan:
    """The plan with each invoice of ``--ids`` named once: ``7`` and ``007`` are one crm_v1 or
    bill_crm invoice (``Adapter.record_key``), read and copied once (the first spelling kept),
    and counted once, as ``export --ids`` does."""
    if plan.ids is None:
        return plan
    first: dict[str, str] = {}
    for invoice_id in plan.ids:
        first.setdefault(source.record_key(invoice_id), invoice_id)
    return replace(plan, ids=tuple(first.values()))


def _check_connections(settings: Settings, *names: str) -> None:
    known = [c.name for c in settings.connections]
    for name in names:
        if name not in known:
            raise UsageError(
                f"no connection named {name!r} in the configuration (known: {', '.join(known)})"
            )


def _pair(runtime: Runtime, source: str, target: str) -> tuple[Adapter, Adapter]:
    try:
        return runtime.adapters[source], runtime.adapters[target]
    except KeyError as exc:
        raise UsageError(f"the run names connection {exc.args[0]!r}, not configured") from None


def _plan_line(plan: Plan, target: Adapter, total: int | None, options: MigrateOptions) -> str:
    what = "dry run" if options.dry_run else ("sample" if options.sample else "run")
    count = f"{total} invoice(s) match" if total is not None else "the source does not say how many"
    line = f"{what} {plan.run}: {plan.source} → {plan.target}, {count}"
    limit = target.connection.rate_limit
    if limit is not None and total:
        seconds = math.ceil(total / limit.per_second)
        line += (
            f"; {plan.target}'s rate limit ({limit.per_second:g}/s) makes it at least {seconds} s"
            " (one create each, more with status and payments)"
        )
    return line


def _finish(
    summary: Summary,
    err: IO[str],
    *,
    stopped: bool = False,
    differences_fail: bool = False,
    skips_fail: bool = True,
    report: Path | None = None,
) -> int:
    """The skipped and failed invoices named on ``err`` (every one without a report, where
    they are named nowhere else), the summary on stdout, and the exit status."""
    listed = summary.problems if report is None else summary.problems[:_LISTED]
    for entry in listed:
        print(f"{entry.outcome}: {entry.source_id}: {entry.reason}", file=err)
    if len(summary.problems) > len(listed):
        more = len(summary.problems) - len(listed)
        print(f"… and {more} more (the report, {report}, lists all)", file=err)
    data: dict[str, Any] = {"summary": summary.as_dict()}
    if stopped:
        data["stopped"] = True
    print(json.dumps(data), flush=True)
    not_done = summary.not_copied if skips_fail else summary.counts["failed"]
    failed = not_done or stopped or (differences_fail and summary.differences)
    return EXIT_SOME_FAILED if failed else EXIT_OK


@asynccontextmanager
async def _opened(
    path: Path | None, stop: asyncio.Event | None = None
) -> AsyncIterator[_ReportStream | None]:
    """The report file, written from its first entry on: a run refused before it copies
    anything (a usage error, another run's options) leaves an earlier report as it was. A
    usage error naming it at once when it cannot be written. A named pipe is opened at once,
    off the event loop (``open_file``): its open waits for the reader, and Ctrl-C and SIGTERM
    must still stop that wait."""
    if path is None:
        yield None
        return
    with _writable(path) as stream:
        if stream.piped:
            await _unless_stopped(stream.open_now(), stop)
        yield stream


async def _unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event | None) -> None:
    """``work``, or ``CancelledError`` once ``stop`` is set first (a migration's first Ctrl-C
    or SIGTERM finishes what is under way: while its report's reader is awaited, nothing is)."""
    if stop is None:
        await work
        return
    opening = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((opening, stopping), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        stopped = not opening.done()
        if stopped:
            opening.cancel()
    if stopped:
        raise asyncio.CancelledError
    opening.result()


def _writable(path: Path) -> _ReportStream:
    if path.is_dir():
        raise UsageError(f"--report {path} cannot be written: it is a folder")
    where = path if path.exists() else path.parent
    if not where.exists() or not os.access(where, os.W_OK):
        raise UsageError(f"--report {path} cannot be written: no such folder, or no permission")
    return _ReportStream(path, piped=path.is_fifo())


class _ReportStream:
    """A text file opened for writing (truncated) at its first write, or at a clean exit
    when nothing was written; left as it was when an error ends the command first."""

    def __init__(self, path: Path, *, piped: bool = False) -> None:
        self._path = path
        self.piped = piped  # a named pipe, opened at once (``_opened``)
        self._file: IO[str] | None = None
        self._failed = False

    def write(self, text: str) -> int:
        stream = self._opened()
        try:
            return stream.write(text)
        except OSError as exc:  # a full disk: the run stops saying so (``migrate``)
            raise self._unwritable(exc) from None

    def flush(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as exc:
                raise self._unwritable(exc) from None

    def _opened(self) -> IO[str]:
        if self._file is None:
            try:
                self._file = self._path.open("w", encoding="utf-8")
            except OSError as exc:
                raise self._unwritable(exc) from None
        return self._file

    async def open_now(self) -> None:
        try:
            self._file = await open_file(self._path, "w", encoding="utf-8")
        except OSError as exc:
            raise self._unwritable(exc) from None

    def _unwritable(self, exc: OSError) -> ReportUnwritable:
        self._failed = True  # said once: closing it is not made to say it again
        return ReportUnwritable(f"--report {self._path} cannot be written: {exc.strerror or exc}")

    def __enter__(self) -> _ReportStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self._opened()  # a run that reported nothing leaves an empty report
        if self._file is not None:
            try:
                self._file.close()  # what is left in its buffer is written here
            except OSError as exc:
                if kind is None and not self._failed:
                    raise self._unwritable(exc) from None


__all__ = ["Entry", "MigrateOptions", "StoreError", "UsageError", "migrate", "revert", "verify"]
