"""The walk over the source: page by page, each page a chunk that one worker claims.

A run's work is the source listing's pages (or slices of an ``--ids`` file), recorded as chunks
in the store as they are discovered: a worker claims the lowest free chunk (with a lease it
renews), reads that page, adds the next page as a new chunk at once (so other workers can take
it), copies the page's invoices ``concurrency`` at a time and marks the chunk done. A worker
holds up to ``CHUNKS_AHEAD`` chunks at once: it claims and reads the next page while the last
copies of the one before are still running, so its copies never wait for a page to be read (a
page's invoices start copying in listing order, behind the earlier page's). Any number of
processes started with the same ``--run`` on one store share the work; a worker that dies leaves
its chunk to be claimed again when the lease runs out (the store's ``lease_seconds``, as for a
dead writer's Idempotency-Key), and what it had copied is found in the crosswalk. Memory holds
``CHUNKS_AHEAD`` pages per worker, however many invoices there are.

A dry run and a ``--sample`` read in listing order in this process only and touch no chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.base import Adapter
from gateway.background import alongside
from gateway.canonical.model import Invoice
from gateway.errors import AdapterError
from gateway.listing import matching_pages
from gateway.migration.copy import Copier
from gateway.migration.plan import Plan
from gateway.migration.progress import Progress
from gateway.migration.report import Entry, ReportFile, ReportUnwritable, Summary
from gateway.store import Store

CHUNK_LEASE_S = 10.0  # the default; a run uses the store's lease_seconds
CHUNKS_AHEAD = 2  # chunks one worker holds at once: the one it copies, and the next
_WAIT_FOR_OTHERS_S = 0.2


class PlanMismatch(ValueError):
    """Another process started this run with other options: the workers would not agree."""


class RunStopped(Exception):
    """The run was asked to stop (``Runner.stop_asked``): the copies under way were finished and
    recorded, no other was started; the chunks not finished are left to a resume."""


# A sample and the run after it may pick other invoices, but copy them the same way.
_WHERE_COPIES_GO = ("source", "target", "map_digest")


@dataclass
class Runner:
    plan: Plan
    source: Adapter
    copier: Copier
    store: Store | None
    concurrency: int
    progress: Progress
    report: ReportFile
    sample: int | None = None
    clock: Callable[[], float] = time.time
    lease_s: float = CHUNK_LEASE_S  # a dead worker's chunk is free again after this
    # Set (by the command line, at Ctrl-C or SIGTERM): the run stops as ``stopping`` says.
    stop_asked: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.summary = Summary()
        self._gate = asyncio.Semaphore(self.concurrency)
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._pass = 1
        self._chunk_news = asyncio.Event()  # this worker added or finished a chunk
        self._unwritable: ReportUnwritable | None = None  # the report's failure, once met

    async def count(self) -> int | None:
        """How many invoices the run will read, where the source says so without a full walk."""
        if self.plan.ids is not None:
            return len(self.plan.ids)
        async for page in matching_pages(
            self.source, self.plan.filters.query(), page_size=self.plan.page_size
        ):
            return page.total
        return 0

    @property
    def stopping(self) -> bool:
        """``stop_asked`` is set: start no other copy, finish those under way (each one's create,
        status and payments, recorded in the crosswalk), then end ``run`` with ``RunStopped``. A
        copy cut off in the middle would leave its create unrecorded (``pending``): made at the
        target, perhaps, where only a resume finds it."""
        return self.stop_asked.is_set()

    async def run(self) -> Summary:
        self.progress.start(await self.count())
        try:
            if self.store is None:
                await self._in_order()
            elif self.sample is not None:
                await self._same_plan(self.store)  # a sample's copies are the run's too
                await self._in_order()
            else:
                await self._agree_on_plan(self.store)
                await self._chunks(self.store)
        except BaseExceptionGroup as group:
            # What stops a run (the store failing) stops it as itself, whichever task met it
            # first, so the command says what failed instead of printing a task group.
            raise _first_error(group) from group
        finally:
            self.progress.stop()
        if self._unwritable is not None:
            raise self._unwritable
        if self.stopping:
            raise RunStopped
        return self.summary

    # -- one process, in listing order ----------------------------------------------------------

    async def _in_order(self) -> None:
        left = self.sample
        async for invoices in self._pages():
            if self.stopping:
                return
            if left is not None:
                invoices = invoices[:left]
                left -= len(invoices)
            await self._copy_all(invoices)
            if left is not None and left <= 0:
                return

    async def _pages(self) -> AsyncIterator[list[Invoice]]:
        if self.plan.ids is not None:
            for start in range(0, len(self.plan.ids), self.plan.page_size):
                yield await self._by_id(self.plan.ids[start : start + self.plan.page_size])
            return
        async for page in matching_pages(
            self.source, self.plan.filters.query(), page_size=self.plan.page_size
        ):
            yield page.invoices

    # -- several processes, chunk by chunk -----------------------------------------------------

    async def _agree_on_plan(self, store: Store) -> None:
        """Record the run's plan, or check it is the one recorded; choose the pass to work on.

        A run walks its source in passes. Workers started while a pass has chunks left join it;
        a run started again once its pass is finished walks the source again (a new pass):
        what was copied is found in the crosswalk, what failed or was skipped is tried again.
        """
        recorded = await self._same_plan(store)
        number = int(recorded["pass"]) if recorded is not None else 1
        if recorded is not None:
            counts = await store.chunk_counts(self._pass_name(number))
            if not counts.get("pending") and not counts.get("claimed"):
                number += 1
        name, wanted = f"migration:{self.plan.run}", self.plan.shared()
        await store.checkpoint_put(name, {"plan": wanted, "pass": number}, now=self.clock())
        self._pass = number
        await store.chunk_add(self._pass_name(number), 0, None)

    async def _same_plan(self, store: Store) -> dict[str, Any] | None:
        """The run's recorded plan and pass, refused (``PlanMismatch``) when its options differ
        from this process's: all of them for a worker of a pass under way, where the copies
        come from and go to for a ``--sample`` or after one. A sample that is the run's first
        records its plan (pass 0: none walked yet), so that the rest of the run is held to its
        source, target and map, and a sample under another run's name to that run's."""
        name = f"migration:{self.plan.run}"
        wanted = self.plan.shared()
        recorded = await store.checkpoint_get(name)
        if recorded is not None:
            plan = recorded.get("plan") or {}
            whole = self.sample is None and recorded.get("pass") != 0
            keys = wanted if whole else _WHERE_COPIES_GO
            different = sorted(k for k in keys if plan.get(k) != wanted[k])
            if different:
                raise PlanMismatch(
                    f"run {self.plan.run!r} was started with other options "
                    f"({', '.join(different)}); start its other workers with the same ones, or "
                    "name a new run"
                )
        elif self.sample is not None:
            await store.checkpoint_put(name, {"plan": wanted, "pass": 0}, now=self.clock())
        return recorded

    def _pass_name(self, number: int) -> str:
        return f"{self.plan.run}#{number}"

    async def _chunks(self, store: Store) -> None:
        run = self._pass_name(self._pass)
        held = asyncio.Semaphore(CHUNKS_AHEAD)
        async with asyncio.TaskGroup() as group:
            while True:
                await held.acquire()
                if self.stopping:
                    return  # the chunks under way finish (the group waits for them)
                self._chunk_news.clear()
                chunk = await store.chunk_claim(
                    run, self._owner, now=self.clock(), lease_s=self.lease_s
                )
                if chunk is None:
                    held.release()
                    counts = await store.chunk_counts(run)
                    if not counts.get("pending") and not counts.get("claimed"):
                        return
                    # Others hold the rest (one may die), or this worker does: its next page
                    # is added, or a chunk of its own finished, as soon as that happens.
                    await self._chunk_news_or_a_while()
                    continue
                work = self._work_on(store, run, chunk.seq, chunk.token, held)
                try:
                    group.create_task(work)
                except RuntimeError:  # a chunk failed meanwhile: the group is stopping
                    work.close()
                    raise

    async def _chunk_news_or_a_while(self) -> None:
        """Until this worker adds or finishes a chunk, or ``_WAIT_FOR_OTHERS_S``; a cancellation
        is never lost here (``asyncio.wait`` does not swallow it, as 3.11's ``wait_for`` may)."""
        news = asyncio.ensure_future(self._chunk_news.wait())
        try:
            await asyncio.wait({news}, timeout=_WAIT_FOR_OTHERS_S)
        finally:
            news.cancel()

    async def _work_on(
        self, store: Store, run: str, seq: int, token: str | None, held: asyncio.Semaphore
    ) -> None:
        try:
            async with self._holding(store, seq):
                invoices, following = await self._chunk_page(token)
                if following is not None:
                    await store.chunk_add(run, seq + 1, following)
                    self._chunk_news.set()
                await self._copy_all(invoices)
            if not self.stopping:
                await store.chunk_done(run, seq, self._owner)
            else:  # some were not copied: the chunk is given back, free for a resume at once
                await store.chunk_renew(run, seq, self._owner, now=self.clock(), lease_s=0)
        finally:
            held.release()
            self._chunk_news.set()

    async def _chunk_page(self, token: str | None) -> tuple[list[Invoice], str | None]:
        """The invoices of one chunk, and the token of the chunk after it (None: the last)."""
        if self.plan.ids is not None:
            start = int(token or 0)
            end = start + self.plan.page_size
            following = str(end) if end < len(self.plan.ids) else None
            return await self._by_id(self.plan.ids[start:end]), following
        pages = matching_pages(
            self.source, self.plan.filters.query(), start=token, page_size=self.plan.page_size
        )
        async with contextlib.aclosing(pages):
            page = await anext(pages)
        return page.invoices, page.next_token

    @contextlib.asynccontextmanager
    async def _holding(self, store: Store, seq: int) -> AsyncIterator[None]:
        """Renew the chunk's lease while its invoices are copied."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.lease_s / 4)
                with contextlib.suppress(Exception):
                    await store.chunk_renew(
                        self._pass_name(self._pass),
                        seq,
                        self._owner,
                        now=self.clock(),
                        lease_s=self.lease_s,
                    )

        async with alongside(renew()):
            yield

    # -- copying --------------------------------------------------------------------------------

    async def _by_id(self, ids: tuple[str, ...]) -> list[Invoice]:
        found = []
        for source_id in ids:
            try:
                found.append(await self.source.get(source_id))
            except AdapterError as exc:
                self._done(Entry(source_id, "failed", reason=f"reading it failed: {exc.message}"))
        return found

    async def _copy_all(self, invoices: list[Invoice]) -> None:
        async with asyncio.TaskGroup() as group:
            for invoice in invoices:
                group.create_task(self._copy(invoice))

    async def _copy(self, invoice: Invoice) -> None:
        async with self._gate:
            if self.stopping:
                return
            entry = await self.copier.copy(invoice)
        self._done(entry)

    def _done(self, entry: Entry) -> None:
        self.summary.add(entry)
        try:
            self.report.write(entry)
        except ReportUnwritable as exc:
            # Stopped as Ctrl-C stops a run: the copies under way finish and are recorded (cut
            # off, their creates would be left "pending", made perhaps), none is started, and
            # the run then says what failed (``run``).
            if self._unwritable is None:
                self._unwritable = exc
            self.stop_asked.set()
        self.progress.advance(entry, self.summary)


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_error(first) if isinstance(first, BaseExceptionGroup) else first
