"""Metrics shared between processes (``serve --workers``), in real forked processes: counts
summed over them, a gauge read from one worker's own state written for the others' scrapes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from prometheus_client.multiprocess import MultiProcessCollector

from gateway.metrics import Metrics, share_between_processes


def forked(directory: Path, work: Callable[[Metrics], None]) -> int:
    """The pid of a process that, as a worker does, shares its metrics in ``directory`` and
    then runs ``work``; waited for."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            share_between_processes(str(directory))
            work(Metrics())
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return pid


def test_a_scrape_in_any_worker_reports_the_counts_of_all(tmp_path: Path) -> None:
    def serve(requests: int) -> Callable[[Metrics], None]:
        def work(metrics: Metrics) -> None:
            for _ in range(requests):
                metrics.request_served("/v1/x", "GET", 200, 0.01)

        return work

    forked(tmp_path, serve(3))
    forked(tmp_path, serve(4))
    scraped = tmp_path / "scraped.txt"
    forked(tmp_path, lambda metrics: scraped.write_bytes(metrics.render()))
    text = scraped.read_text()
    assert 'gateway_requests_total{method="GET",route="/v1/x",status="200"} 7.0' in text
    assert 'gateway_request_seconds_count{method="GET",route="/v1/x",status="200"} 7.0' in text


def test_a_workers_gauges_are_written_for_the_scrapes_others_answer(tmp_path: Path) -> None:
    """A breaker that opens with no scrape in its worker still shows, within a second or so,
    with that worker's pid."""

    def work(metrics: Metrics) -> None:
        state = [0.0]
        metrics.watch_circuit("shop", lambda: state[0])

        async def main() -> None:
            writing = asyncio.create_task(metrics.keep_gauges_written())
            state[0] = 2.0
            await asyncio.sleep(1.5)
            writing.cancel()

        asyncio.run(main())

    pid = forked(tmp_path, work)
    [family] = [
        f
        for f in MultiProcessCollector(None, path=str(tmp_path)).collect()
        if f.name == "gateway_upstream_circuit_state"
    ]
    assert [(s.labels, s.value) for s in family.samples] == [
        ({"connection": "shop", "pid": str(pid)}, 2.0)
    ]
