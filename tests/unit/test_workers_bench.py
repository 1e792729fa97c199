"""``bench/workers.py``: nginx answers each provider call the gateway makes with the emulator's
recorded answer, byte for byte, and each create's answer with an invoice id of its own."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.unit.bench_modules import bench_module

workers = bench_module("workers")
overhead = bench_module("overhead")

READ = {"invoice": {"id": "INV-7", "invoice_note": 'it\'s "quoted" \\ {braced}', "total": 12.50}}
CREATED = {"invoice": {"status": "ACTIVE", "id": "INV-00022", "lines": [{"uuid": "INV-00022x"}]}}


def _fetch(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def test_nginx_answers_each_recorded_call_as_the_emulator_did(tmp_path: Path) -> None:
    nginx = workers.nginx_path()
    if nginx is None:
        pytest.fail("nginx is not installed (.ci/run installs Debian's nginx-light)")
    read = json.dumps(READ).encode()
    created = json.dumps(CREATED).encode()
    kind = "application/json; charset=utf-8"
    answers = {
        "get": workers.Answer(overhead.Call("GET", "/invoices/INV-7", {}), 200, kind, read),
        "create5": workers.Answer(
            overhead.Call("POST", "/invoices", {}, "{}"), 201, kind, created, '"INV-00022"'
        ),
    }
    server = workers.nginx_server(nginx, tmp_path, answers)
    server.start("/invoices/INV-7")
    try:
        assert _fetch(server.url + "/invoices/INV-7") == (200, kind, read)  # byte for byte
        ids = []
        for _ in range(3):
            status, got_kind, body = _fetch(server.url + "/invoices", "POST", b'{"invoice": {}}')
            assert (status, got_kind) == (201, kind)
            answer = json.loads(body)
            ids.append(answer["invoice"].pop("id"))
            # Nothing else changes: not the line whose uuid starts with the same text.
            assert answer == {"invoice": {k: v for k, v in CREATED["invoice"].items() if k != "id"}}
        assert len(set(ids)) == 3 and all(i.startswith("INV-00022-") for i in ids)
        assert _fetch(server.url + "/invoices/INV-8")[0] == 404  # nothing else is answered
    finally:
        server.stop()
