"""A migrate worker reads its next page while the last copies of the one before still run
(``runner.CHUNKS_AHEAD``): here the last copy of the first page can only finish once the second
page is being read, which a worker taking one page at a time never does (it would wait forever;
the test gives up after a few seconds and fails)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

from gateway.canonical.model import Invoice, invoice_from_input
from gateway.migration.plan import Plan
from gateway.migration.report import Entry, ReportFile
from gateway.migration.runner import Runner
from gateway.store import open_store

PAGE = 3
IDS = tuple(str(n) for n in range(1, 2 * PAGE + 1))


class Source:
    """Reads each invoice by id; says when the second page's first invoice is asked for."""

    def __init__(self) -> None:
        self.second_page_read = asyncio.Event()

    async def get(self, source_id: str) -> Invoice:
        if source_id == IDS[PAGE]:
            self.second_page_read.set()
        invoice = invoice_from_input({"currency": "USD", "lines": []})
        return invoice.model_copy(update={"id": source_id})


class Copier:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.copied: list[str] = []

    async def copy(self, invoice: Invoice) -> Entry:
        assert invoice.id is not None
        if invoice.id == IDS[PAGE - 1]:  # the first page's last copy
            await asyncio.wait_for(self.source.second_page_read.wait(), 5)
        self.copied.append(invoice.id)
        return Entry(invoice.id, "copied", target_id=f"t{invoice.id}")


class Quiet:
    def start(self, total: int | None) -> None: ...

    def advance(self, entry: Entry, summary: Any) -> None: ...

    def stop(self) -> None: ...


async def test_the_next_page_is_read_while_the_last_copies_of_a_page_run(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    await store.open()
    source = Source()
    copier = Copier(source)
    plan = Plan(run="ahead", source="a", target="b", ids=IDS, page_size=PAGE)
    runner = Runner(
        plan=plan,
        source=cast(Any, source),
        copier=cast(Any, copier),
        store=store,
        concurrency=4,
        progress=Quiet(),
        report=ReportFile(None),
    )
    try:
        summary = await asyncio.wait_for(runner.run(), 20)
    finally:
        await store.close()
    assert sorted(copier.copied, key=int) == list(IDS)  # each once
    assert summary.counts["copied"] == len(IDS)
    assert copier.copied.index(IDS[PAGE - 1]) > copier.copied.index(IDS[PAGE])
