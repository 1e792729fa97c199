"""The read path's steps, each timed the way it was done before and the way it is done now;
prints JSON (microseconds per call, CPU time of this process, median of ``--rounds``).

    .venv/bin/python bench/hotpath.py                      # order_linked and draft_publish
    .venv/bin/python bench/hotpath.py --providers crm_v1 --rounds 7

One invoice is read from the provider's emulator (on loopback, in this process) through its
adapter; the steps are then repeated on that answer: decoding the provider's JSON, translating
and reconciling it (cold, and from ``adapters.read_cache`` when the payload is unchanged),
writing the answer (for an invoice not rendered yet, and for the same invoice object again,
which ``gateway.service.versions`` keeps) and its ETag, writing the kept outcome of a write,
one access-log line, and the request metrics. ``total_us`` sums a read of a new payload,
``total_us_unchanged_payload`` one of a payload unchanged since the last read.
``bench/overhead.py`` measures the same changes end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import structlog
from aiohttp.test_utils import TestServer
from processes import positive

from adapters.base import ListQuery
from adapters.registry import build_adapter
from emulators.registry import PROVIDERS, create_app
from gateway import jsonwire
from gateway.http.render import render
from gateway.log_buffer import BufferedLoggerFactory, LineBuffer
from gateway.logging_setup import _json_line
from gateway.metrics import Metrics
from gateway.sandbox import sandbox_connection
from gateway.service import versions
from gateway.service.outcomes import Outcome
from gateway.service.versions import version_tag
from gateway.store.records import dump_json


def per_call_us(step: Callable[[], Any], rounds: int, seconds: float = 0.3) -> float:
    """Median over ``rounds`` of the CPU time per call, in µs."""
    step()
    calls = 1
    started = time.process_time()
    while time.process_time() - started < 0.05:
        step()
        calls += 1
    batch = max(1, int(calls * seconds / 0.05))
    figures = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(batch):
            step()
        figures.append((time.process_time() - started) / batch * 1e6)
    return round(statistics.median(figures), 1)


async def steps_for(provider: str, rounds: int) -> dict[str, Any]:
    emulator = TestServer(create_app(provider, seed_invoices=20))
    await emulator.start_server()
    try:
        connection = sandbox_connection(provider, str(emulator.make_url("")).rstrip("/"))
        async with aiohttp.ClientSession() as session:
            adapter = build_adapter(connection, session)
            listed = await adapter.list_page(ListQuery(), None, 5)
            invoice_id = next(i.id for i in listed.invoices if i.id is not None)
            seen: dict[str, Any] = {}
            request = adapter.client.request

            async def keep(*args: Any, **kwargs: Any) -> Any:
                seen["answer"] = answer = await request(*args, **kwargs)
                return answer

            adapter.client.request = keep  # type: ignore[method-assign]
            invoice = await adapter.get(invoice_id)
            adapter.client.request = request  # type: ignore[method-assign]
            text = seen["answer"].text

            # The translation alone: the adapter's read of the answer, nothing kept.
            emulator_get = seen["answer"]

            def translate() -> None:
                adapter.reads = type(adapter.reads)()
                _read_answer(adapter, emulator_get, invoice_id)

            def kept() -> None:
                _read_answer(adapter, emulator_get, invoice_id)

    finally:
        await emulator.close()

    dumped = invoice.model_dump(mode="json", exclude={"remote_data"})
    outcome = Outcome(kind="invoice", invoice=invoice, created=True)
    event = {
        "event": "request",
        "request_id": "0f3c2a9e7b4d4c1a8e6f5d3b2a1c0e9f",
        "client": "bench",
        "remote": "127.0.0.1",
        "method": "GET",
        "route": "/v1/connections/{connection}/invoices/{invoice_id}",
        "connection": provider,
        "status": 200,
        "latency_ms": 1.23,
        "upstream_calls": 1,
        "upstream_retries": 0,
    }
    before_log, after_log = _loggers()
    metrics = Metrics()
    route = "/v1/connections/{connection}/invoices/{invoice_id}"

    def labels_each_time() -> None:
        metrics.requests.labels(route, "GET", "200").inc()
        metrics.latency.labels(route, "GET", "200").observe(0.002)

    def old_body() -> str:
        return jsonwire.dumps(invoice.model_dump(mode="json", exclude={"remote_data"}))

    def outcome_before() -> str:
        data: dict[str, Any] = {"kind": outcome.kind, "created": outcome.created}
        data["invoice"] = invoice.model_dump(mode="json", exclude={"remote_data"})
        data["invoice"]["remote_data"] = jsonwire.plain(invoice.remote_data)
        return dump_json(data)

    translated = per_call_us(translate, rounds)
    dumped_before = per_call_us(old_body, rounds)  # every answer dumped anew, before
    figures = {
        "decode provider JSON": (
            per_call_us(lambda: jsonwire.loads(text), rounds),
            per_call_us(lambda: jsonwire.loads_fast(text), rounds),
        ),
        # Before: translated every time; after: an unchanged payload is the read cache's.
        "translate + reconcile (unchanged payload)": (translated, per_call_us(kept, rounds)),
        # A new payload is translated now as it was (timed once, for the new read's total).
        "translate + reconcile (a new payload)": (translated, translated),
        # A new invoice: rendered for the first time (nothing kept by ``versions``).
        "answer body": (dumped_before, per_call_us(lambda: render_cold(invoice), rounds)),
        # The same invoice object rendered again (a write's answer after its kept outcome).
        "answer body (the same invoice again)": (
            dumped_before,
            per_call_us(lambda: render(invoice, remote_data=False).body, rounds),
        ),
        "ETag": (
            per_call_us(lambda: tag_cold(invoice), rounds),  # a second serialization, before
            0.0,  # taken from the rendering above
        ),
        "kept outcome of a write": (
            per_call_us(outcome_before, rounds),
            per_call_us(lambda: dump_json(outcome.to_json()), rounds),
        ),
        "access log line": (
            per_call_us(lambda: before_log.info(**event), rounds),
            per_call_us(lambda: after_log.info(**event), rounds),
        ),
        "request metrics": (
            per_call_us(labels_each_time, rounds),
            per_call_us(lambda: metrics.request_served(route, "GET", 200, 0.002), rounds),
        ),
    }
    structlog.reset_defaults()
    return {
        "invoice_bytes": len(text),
        "lines": len(invoice.lines),
        "answer_body_dict_bytes": len(json.dumps(dumped)),
        "steps_us": {name: {"before": b, "after": a} for name, (b, a) in figures.items()},
        # A read of a payload not seen before, and a read of one unchanged since the last.
        "total_us": _total(figures, UNCHANGED_ONLY),
        "total_us_unchanged_payload": _total(figures, NEW_ONLY),
    }


NEW_ONLY = frozenset({"translate + reconcile (a new payload)", "answer body"})
UNCHANGED_ONLY = frozenset(
    {"translate + reconcile (unchanged payload)", "answer body (the same invoice again)"}
)


def _total(figures: dict[str, tuple[float, float]], leave_out: frozenset[str]) -> dict[str, float]:
    kept = [pair for name, pair in figures.items() if name not in leave_out]
    return {
        "before": round(sum(b for b, _ in kept), 1),
        "after": round(sum(a for _, a in kept), 1),
    }


def tag_cold(invoice: Any) -> str:
    """The ETag of an invoice not rendered yet: its content serialized for the tag alone."""
    versions._WRITTEN.clear()
    return version_tag(invoice)


def render_cold(invoice: Any) -> bytes:
    """The answer's body as a new invoice gets it: nothing kept of an earlier rendering."""
    versions._WRITTEN.clear()
    return render(invoice, remote_data=False).body


def _read_answer(adapter: Any, answer: Any, invoice_id: str) -> Any:
    """What each adapter's ``get`` does with the provider's answer (no call made)."""

    class Replay:
        async def request(self, *args: Any, **kwargs: Any) -> Any:
            return answer

    real, adapter.client = adapter.client, Replay()
    try:
        coroutine = adapter.get(invoice_id)
        try:
            coroutine.send(None)
        except StopIteration as done:
            return done.value
        raise RuntimeError("the read awaited something else than its one provider call")
    finally:
        adapter.client = real


def _loggers() -> tuple[Any, Any]:
    """structlog as ``serve`` configured it before (stdlib JSON, one flushed write per line)
    and now (orjson, lines written in batches), both into memory."""
    processors: list[Any] = [structlog.processors.add_log_level]
    before = structlog.wrap_logger(
        structlog.WriteLogger(io.StringIO()),
        processors=[
            *processors,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
    )
    after = structlog.wrap_logger(
        BufferedLoggerFactory(LineBuffer(io.StringIO()))(),
        processors=[
            *processors,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=_json_line),
        ],
    )
    return before, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--providers",
        nargs="+",
        default=["order_linked", "draft_publish"],
        choices=PROVIDERS,
        help="the providers whose read is timed (default: order_linked draft_publish)",
    )
    parser.add_argument(
        "--rounds", type=positive, default=5, help="rounds a step is timed; the median (5)"
    )
    args = parser.parse_args()
    results = {p: asyncio.run(steps_for(p, args.rounds)) for p in args.providers}
    print(json.dumps({"benchmark": "hotpath", "unit": "µs per call (CPU)", **results}))


if __name__ == "__main__":
    main()
