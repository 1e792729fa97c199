"""``bench/wrk_load.py``: wrk driving a real server on loopback sends each request its own
``{n}``, counts the answers by status (any 2xx a success) and keeps an error's body; the pooled
percentiles weigh wrk's quantiles by the requests they stand for."""

from __future__ import annotations

import asyncio
import json
import math
import socket
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.unit.bench_modules import bench_module

wrk_load = bench_module("wrk_load")


def test_a_lua_string_literal_holds_any_text_without_ending_early() -> None:
    text = 'a "quoted" {n}\n]] \\ end -- é'
    literal = wrk_load.lua_string(text).encode("ascii")  # the script file's bytes
    assert literal.startswith(b'"') and literal.endswith(b'"')
    inner = literal[1:-1]
    assert b'"' not in inner and b"\n" not in inner and b"]" not in inner
    # Decoding the decimal escapes gives the text's UTF-8 bytes back.
    decoded = bytearray()
    i = 0
    while i < len(inner):
        if inner[i : i + 1] == b"\\":
            decoded.append(int(inner[i + 1 : i + 4]))
            i += 4
        else:
            decoded.append(inner[i])
            i += 1
    assert decoded.decode() == text


async def test_wrk_sends_each_request_its_own_n_and_counts_answers_by_status() -> None:
    wrk = _wrk()
    seen: list[tuple[str, str]] = []
    notes: list[str] = []

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        key = request.headers["Idempotency-Key"]
        seen.append((key, body["number"]))
        notes.append(body["note"])
        if len(seen) % 10 == 0:
            return web.json_response({"title": 'refused "politely"\nagain'}, status=409)
        return web.json_response({"id": key}, status=202 if len(seen) % 10 == 5 else 201)

    server = await _serving(create)
    try:
        spec = {
            "url": str(server.make_url("/v1/invoices")),
            "method": "POST",
            "headers": {"Content-Type": "application/json", "Idempotency-Key": "key-{n}"},
            "body": json.dumps({"number": "{n}", "note": 'a "quoted" café'}, ensure_ascii=False),
            "concurrency": 4,
            "seconds": 1,
        }
        result = await asyncio.get_running_loop().run_in_executor(None, wrk_load.run, spec, wrk)
    finally:
        await server.close()

    keys = [key for key, _ in seen]
    assert len(keys) == len(set(keys)) > 20  # never the same key twice
    assert all(key == f"key-{number}" for key, number in seen)  # one {n} per request
    assert set(notes) == {'a "quoted" café'}  # the body's UTF-8 bytes as written
    refused = len(seen) // 10
    # wrk counts what it completed before the clock ran out; the server may have answered one
    # or two more in flight.
    assert 0 <= len(seen) - result["requests"] <= spec["concurrency"]
    assert abs(result["errors"]["409"] - refused) <= 1
    assert set(result["errors"]) == {"409"}  # a 202 (accepted) is a success
    assert json.loads(result["error_samples"]["409"]) == {"title": 'refused "politely"\nagain'}
    weights = [weight for _, weight in result["latencies"]]
    assert len(weights) == 1000 and sum(weights) == pytest.approx(result["requests"])
    seconds = [latency for latency, _ in result["latencies"]]
    assert seconds == sorted(seconds) and 0 < seconds[0] <= seconds[-1] < 5
    assert 0.5 < result["wall_s"] < 3


async def test_a_static_call_is_sent_as_given_and_its_refusals_are_counted() -> None:
    """A call with no ``{n}`` runs no Lua per request: wrk formats it once and counts the
    answers of 400 or more itself. The request still carries the method, headers and body."""
    wrk = _wrk()
    seen: list[tuple[str, str, str]] = []

    async def create(request: web.Request) -> web.Response:
        seen.append((request.method, request.headers["X-Tenant"], await request.text()))
        if len(seen) % 4 == 0:
            return web.json_response({"title": "refused"}, status=503)
        return web.json_response({}, status=201 if len(seen) % 4 == 1 else 200)

    server = await _serving(create)
    try:
        spec = {
            **_spec(str(server.make_url("/v1/invoices"))),
            "method": "POST",
            "headers": {"X-Tenant": "acme é"},
            "body": '{"note": "the same body"}',
        }
        assert wrk_load.is_static(spec)
        assert "function request" not in wrk_load.script(spec)
        result = await asyncio.get_running_loop().run_in_executor(None, wrk_load.run, spec, wrk)
    finally:
        await server.close()

    assert len(seen) > 20
    assert set(seen) == {("POST", "acme é", '{"note": "the same body"}')}
    assert 0 <= len(seen) - result["requests"] <= spec["concurrency"]
    assert abs(result["errors"]["status >= 400"] - len(seen) // 4) <= spec["concurrency"]
    assert set(result["errors"]) == {"status >= 400"}  # 200 and 201 are successes
    assert "error_samples" not in result or result["error_samples"] == {}


def test_a_call_with_n_anywhere_is_not_static() -> None:
    base = _spec("http://127.0.0.1:1/v1/invoices")
    assert wrk_load.is_static(base)
    assert not wrk_load.is_static({**base, "headers": {"Idempotency-Key": "k-{n}"}})
    assert not wrk_load.is_static({**base, "body": '{"number": "{n}"}'})
    assert "function request" in wrk_load.script({**base, "body": "{n}"})


async def _serving(create: Any) -> TestServer:
    """A server on loopback answering ``POST /v1/invoices`` with ``create``."""
    app = web.Application()
    app.router.add_post("/v1/invoices", create)
    server = TestServer(app)
    await server.start_server()
    return server


async def _keys_of_two_runs(run: Any) -> tuple[set[str], set[str]]:
    """The ``Idempotency-Key`` values two runs of the same spec sent (``run(spec)`` in a
    thread: wrk, or the aiohttp client)."""
    seen: list[set[str]] = []

    async def create(request: web.Request) -> web.Response:
        seen[-1].add(request.headers["Idempotency-Key"])
        return web.json_response({}, status=201)

    server = await _serving(create)
    try:
        spec = {
            **_spec(str(server.make_url("/v1/invoices"))),
            "method": "POST",
            "headers": {"Idempotency-Key": "bench-{n}-1796421537.47"},  # as overhead.py's
        }
        for _ in range(2):
            seen.append(set())
            await asyncio.get_running_loop().run_in_executor(None, run, spec)
    finally:
        await server.close()
    return seen[0], seen[1]


async def test_wrk_never_sends_a_key_of_an_earlier_run() -> None:
    wrk = _wrk()
    first, second = await _keys_of_two_runs(lambda spec: wrk_load.run(spec, wrk))
    # The same spec run again (the next round, or the measured run after the warm one) would
    # otherwise replay the first run's creates from the gateway's store.
    assert len(first) > 20 and len(second) > 20
    assert not first & second


async def test_the_aiohttp_client_never_sends_a_key_of_an_earlier_run() -> None:
    overhead = bench_module("overhead")
    first, second = await _keys_of_two_runs(lambda spec: asyncio.run(overhead.load(spec)))
    assert len(first) > 20 and len(second) > 20
    assert not first & second


def _spec(url: str) -> dict[str, Any]:
    return {
        "url": url,
        "method": "GET",
        "headers": {},
        "body": None,
        "concurrency": 2,
        "seconds": 1,
    }


def test_a_target_nothing_listens_on_is_an_error_that_says_so() -> None:
    port = bench_module("processes").free_port()
    with pytest.raises(RuntimeError, match=r"wrk failed .*unable to connect"):
        wrk_load.run(_spec(f"http://127.0.0.1:{port}/v1/invoices"), _wrk())


def test_a_target_that_never_answers_reports_no_latency() -> None:
    with socket.socket() as listener:  # the kernel accepts the connections; nothing answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        result = wrk_load.run(_spec(f"http://127.0.0.1:{port}/v1/invoices"), _wrk())
    assert result["requests"] == 0
    assert result["latencies"] == []  # not a latency of 0 s


def _wrk() -> str:
    wrk = wrk_load.wrk_path()
    if wrk is None:
        pytest.fail("wrk is not installed (.ci/run installs Debian's wrk)")
    return wrk


def test_pooled_percentiles_weigh_each_latency_by_the_requests_it_stands_for() -> None:
    overhead = bench_module("overhead")
    # Four of the aiohttp client's latencies (one request each) and a quantile of wrk's that
    # stands for 97 requests.
    pooled = sorted([(0.010, 1.0), (0.020, 1.0), (0.030, 1.0), (0.001, 1.0), (0.500, 97.0)])
    # Nearest rank of 101 requests: the first whose cumulative weight reaches share × 101.
    assert overhead.weighted_percentile(pooled, 0.0099) == 0.001
    assert overhead.weighted_percentile(pooled, 0.02) == 0.020  # rank 2.02: the third request
    assert overhead.weighted_percentile(pooled, 0.04) == 0.500  # rank 4.04: past the four bare ones
    assert overhead.weighted_percentile(pooled, 1.0) == 0.500
    # No request, or only weightless quantiles (wrk's run with none completed): no latency.
    assert math.isnan(overhead.weighted_percentile([], 0.5))
    assert math.isnan(overhead.weighted_percentile([(0.0, 0.0), (0.0, 0.0)], 0.5))


def test_wrk_asked_for_and_missing_is_an_error_not_the_other_generator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    overhead = bench_module("overhead")
    monkeypatch.setattr(wrk_load, "wrk_path", lambda: "/usr/bin/wrk")
    assert overhead.wrk_for("auto") == "/usr/bin/wrk"
    assert overhead.wrk_for("aiohttp") is None  # asked for, though wrk is there
    monkeypatch.setattr(wrk_load, "wrk_path", lambda: None)
    assert overhead.wrk_for("auto") is None
    with pytest.raises(SystemExit, match="wrk is not installed"):
        overhead.wrk_for("wrk")
