"""A client that sends slowly, or not at all, holds a connection for a bounded time: a real
``serve`` process with ``server.idle_timeout_s`` and ``server.body_timeout_s`` of one second,
and raw sockets (docs/operations.md, "config.yaml")."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import yaml

from tests.e2e.processes import GatewayProcess, gateway_process

CALCULATE = (
    b"POST /v1/invoices/calculate HTTP/1.1\r\nHost: gateway\r\n"
    b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    folder = tmp_path_factory.mktemp("slow")
    config = folder / "config.yaml"
    data = {
        "server": {"idle_timeout_s": 1, "body_timeout_s": 1},
        "connections": [],
        "store": {"url": f"sqlite:///{folder / 'store.db'}"},
        "logging": {"level": "warning"},
    }
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    with gateway_process(config) as running:
        yield running


def _connect(gateway: GatewayProcess) -> socket.socket:
    host, port = gateway.url.removeprefix("http://").rsplit(":", 1)
    connection = socket.create_connection((host, int(port)), timeout=10)
    return connection


def _closed_within(connection: socket.socket, seconds: float) -> tuple[float, bytes]:
    """How long until the gateway closed ``connection``, and what it sent before."""
    started = time.monotonic()
    received = b""
    connection.settimeout(seconds)
    while chunk := connection.recv(65536):
        received += chunk
    return time.monotonic() - started, received


def test_a_connection_that_sends_nothing_is_closed(gateway: GatewayProcess) -> None:
    with _connect(gateway) as connection:
        waited, received = _closed_within(connection, 10)
    assert waited < 5 and received == b""


def test_a_request_head_sent_a_byte_at_a_time_is_cut_off(gateway: GatewayProcess) -> None:
    with _connect(gateway) as connection:
        started = time.monotonic()
        for byte in CALCULATE:  # the whole head would take about 25 s
            try:
                connection.sendall(bytes([byte]))
                time.sleep(0.2)
                if connection.recv(1, socket.MSG_DONTWAIT) == b"":
                    break  # closed by the gateway
            except BlockingIOError:
                continue  # nothing to read: still open
            except OSError:
                break  # reset by the gateway
        else:
            pytest.fail("the gateway took a whole head sent a byte every 0.2 s")
        assert time.monotonic() - started < 5


def test_a_body_sent_a_byte_at_a_time_is_a_408_and_the_connection_ends(
    gateway: GatewayProcess,
) -> None:
    with _connect(gateway) as connection:
        started = time.monotonic()
        connection.sendall(CALCULATE + b'{"currency":')
        connection.settimeout(10)
        received = b""
        while b'"request_id"' not in received:
            received += connection.recv(65536)
        answered = time.monotonic() - started
        # The connection ends once aiohttp's lingering (10 s to let a client that is still
        # sending read the answer) is over: held 11 s at most, not for as long as it trickles.
        waited, rest = _closed_within(connection, 15)
    assert answered < 5 and answered + waited < 14
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"application/problem+json" in head
    assert b'"code": "request_timeout"' in body and b'"retryable": true' in body
    assert rest == b""


def test_a_prompt_client_is_served_on_a_kept_alive_connection(gateway: GatewayProcess) -> None:
    body = b'{"currency": "USD", "lines": [{"quantity": "2", "unit_price": "1.50"}]}'
    request = (
        b"POST /v1/invoices/calculate HTTP/1.1\r\nHost: gateway\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with _connect(gateway) as connection:
        for _ in range(2):  # the same connection, twice, each within the idle time
            connection.sendall(request)
            answer = connection.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 ")
            time.sleep(0.3)
