"""Resource limits on what a caller sends (OWASP API4): bodies over the limit, hostile JSON,
query strings, cursors and headers, each a clear 4xx, in bounded memory.

Beyond tests/security/test_strict_input.py (415, the depth limit on four routes, digits-only
``limit``): a body over ``server.max_body_bytes`` is refused before it is read whole (watched
from a raw socket: the 413 arrives while most of the body is still unsent) on every route that
takes a body, the notes route's multipart included; 10,000 lines, 1 MB strings and numbers,
deep nesting on the payment and order routes; ``limit=10^9``; huge, negative and foreign
cursors, and cursors signed with the gateway's own secret that hold positions out of range.
The gateways run in this process, so its resident set is theirs: each test bounds its growth.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import logging
import os
import sys
import zlib
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import brotli
import orjson
import pytest
from aiohttp.test_utils import TestClient

from adapters.base import ListQuery
from gateway.http.app import create_app
from gateway.listing import Cursors, Position, scope_of
from gateway.sandbox.serve import Sandbox
from tests.e2e.sandbox import sandbox_in_thread

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd
from tests.security.support import (
    MiB,
    check_problem,
    client,
    connection,
    peak_memory,
    request_counts,
    settings,
)

KEY = {"Authorization": "Bearer sk_sandbox"}
LIMIT = 1_048_576  # server.max_body_bytes, the default the sandbox runs with
INVOICE = "/v1/connections/draft_publish/invoices/00000000-0000-4000-8000-000000000000"
# Every route that reads a body, with the media type it takes.
BODY_ROUTES = [
    ("POST", "/v1/invoices/calculate", "application/json"),
    ("POST", "/v1/connections/crm_v1/invoices", "application/json"),
    ("POST", "/v1/connections/crm_v1/invoices/preview", "application/json"),
    ("PUT", "/v1/connections/crm_v1/invoices/1", "application/json"),
    ("POST", INVOICE + "/payments", "application/json"),
    ("POST", "/v1/connections/order_linked/orders/SO-1001/invoices", "application/json"),
    ("POST", "/v1/connections/order_linked/invoices/INV-00001/notes", "multipart/form-data"),
]
# Routes whose body is an invoice (the payments route takes a payment).
INVOICE_ROUTES = [(m, p) for m, p, t in BODY_ROUTES if t == "application/json" and "pay" not in p]
LINE = {"quantity": "1", "unit_price": "1.00"}
BOUNDARY = "sec-boundary-7f3a"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=3) as running:
        yield running


async def answer_while_sending(
    sandbox: Sandbox, method: str, path: str, head: dict[str, str], body: Any, cap: int
) -> tuple[int, dict[str, Any], int]:
    """Send the request head, then ``body``'s chunks, over a raw socket, until the gateway
    answers or ``cap`` bytes are sent; the status, the problem, and how much was sent by then."""
    where = urlsplit(sandbox.gateway_url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {where.netloc}", *KEY_LINES]
    lines += [f"{k}: {v}" for k, v in head.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    sent = [0]

    async def send() -> None:
        for chunk in body:
            writer.write(chunk)
            await writer.drain()
            sent[0] += len(chunk)
            # drain() does not yield while the socket takes everything: let the reader see
            # an answer that has arrived before the next chunk goes.
            await asyncio.sleep(0)
            if sent[0] >= cap:
                return
        await asyncio.sleep(30)  # all sent; wait for the answer

    sender = asyncio.create_task(send())
    try:
        status_line = await asyncio.wait_for(reader.readline(), 30)
        headers = await reader.readuntil(b"\r\n\r\n")
        sent_by_then = sent[0]
        length = int(
            next(
                line.split(b":")[1]
                for line in headers.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        problem = json.loads(await reader.readexactly(length))
    finally:
        sender.cancel()
        writer.close()
    return int(status_line.split()[1]), problem, sent_by_then


KEY_LINES = [f"{k}: {v}" for k, v in KEY.items()]


def endless(chunk: bytes) -> Iterator[bytes]:
    while True:
        yield chunk


def chunked(chunk: bytes) -> Iterator[bytes]:
    """Transfer-Encoding: chunked, never ending."""
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    while True:
        yield framed


def multipart_junk() -> Iterator[bytes]:
    """A multipart body of ever more small file parts (each well under the file limit on its
    own): only the whole body's size can stop it."""
    part = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'.encode()
        + b"x" * 32 * 1024
        + b"\r\n"
    )
    yield from endless(part)


@pytest.mark.parametrize(("method", "path", "media_type"), BODY_ROUTES)
@pytest.mark.parametrize("framing", ["declared", "chunked"])
async def test_a_body_over_the_limit_is_413_before_it_is_read_whole(
    sandbox: Sandbox, method: str, path: str, media_type: str, framing: str
) -> None:
    """256 MiB announced (or streamed without a length): the 413 comes after about the limit,
    with most of the body never sent, and nothing reaches a provider."""
    multipart = media_type.startswith("multipart/")
    content_type = f"{media_type}; boundary={BOUNDARY}" if multipart else media_type
    head = {"Content-Type": content_type}
    if framing == "declared":
        head["Content-Length"] = str(256 * MiB)
        body = multipart_junk() if multipart else endless(b" " * 64 * 1024)
    else:
        head["Transfer-Encoding"] = "chunked"
        body = (
            (chunk for raw in multipart_junk() for chunk in chunked(raw))
            if multipart
            else chunked(b" " * 64 * 1024)
        )
    async with aiohttp.ClientSession() as session:
        before = await request_counts(session, sandbox.emulator_urls)
        async with peak_memory() as peak:
            status, problem, sent = await answer_while_sending(
                sandbox, method, path, head, body, cap=64 * MiB
            )
        after = await request_counts(session, sandbox.emulator_urls)
    assert (status, problem["code"]) == (413, "payload_too_large"), (sent, problem)
    assert problem["status"] == 413 and problem["type"] == "/problems/payload_too_large"
    # (socket buffers on both sides hold a few MiB the gateway never read)
    assert sent < 32 * MiB, f"{sent / MiB:.0f} MiB were sent before the 413"
    assert peak.growth < 48 * MiB, f"memory grew {peak.growth / MiB:.0f} MiB"
    assert after == before


@pytest.mark.parametrize(("method", "path", "media_type"), BODY_ROUTES)
async def test_a_body_announced_over_the_limit_is_413_before_any_of_it_is_sent(
    sandbox: Sandbox, method: str, path: str, media_type: str
) -> None:
    """A client that announces 256 MiB and waits (as ``Expect: 100-continue`` clients do, or a
    stalled one) was answered only by the body timeout: the length alone decides."""
    multipart = media_type.startswith("multipart/")
    content_type = f"{media_type}; boundary={BOUNDARY}" if multipart else media_type
    head = {"Content-Type": content_type, "Content-Length": str(256 * MiB)}

    status, problem, sent = await answer_while_sending(sandbox, method, path, head, iter(()), cap=0)

    assert (status, problem["code"], sent) == (413, "payload_too_large", 0), problem
    assert str(256 * MiB) in problem["detail"] or multipart, problem["detail"]


async def test_the_connection_is_closed_after_a_body_announced_over_the_limit(
    sandbox: Sandbox,
) -> None:
    """The 413 said ``Connection: close``, but once aiohttp had read (to discard) the body the
    client sent anyway, it kept the connection open for another request: closed now, as said."""
    where = urlsplit(sandbox.gateway_url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    try:
        head = [
            "POST /v1/invoices/calculate HTTP/1.1",
            f"Host: {where.netloc}",
            "Content-Type: application/json",
            f"Content-Length: {2 * MiB}",
        ]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        writer.write(b" " * 2 * MiB)  # all of it, as a client that did not wait for an answer
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        assert status_line.split()[1] == b"413"
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        rest = await asyncio.wait_for(reader.read(), 5)  # to the end: the gateway closed
        assert b"payload_too_large" in rest
    finally:
        writer.close()


def too_deep(levels: int) -> bytes:
    return b'{"a": ' * levels + b"1" + b"}" * levels


def invoice_with(**fields: Any) -> bytes:
    return json.dumps({"currency": "EUR", "lines": [LINE], **fields}).encode()


MILLION = 1_000_000  # a 1 MB string: the body is still under the 1 MiB limit
# (name, body, status, code, the first error's pointer or None, words of the detail)
INVOICE_BODIES: list[tuple[str, bytes, int, str, str | None, str]] = [
    (
        "10,000 lines",
        json.dumps({"currency": "EUR", "lines": [LINE] * 10_000}).encode(),
        422,
        "validation_error",
        "/lines",
        "at most 1000 items",
    ),
    (
        "a 1 MiB string (over the limit)",
        invoice_with(notes="x" * LIMIT),
        413,
        "payload_too_large",
        None,
        "",
    ),
    ("a 1 MB note", invoice_with(notes="x" * MILLION), 422, "validation_error", "/notes", "10000"),
    (
        "a 1 MB currency",
        invoice_with(currency="X" * MILLION),
        422,
        "validation_error",
        "/currency",
        "ISO 4217",
    ),
    (
        "a 1 MB customer name",
        invoice_with(customer={"name": "x" * MILLION}),
        422,
        "validation_error",
        "/customer/name",
        "1000",
    ),
    (
        "a 1 MB quantity string",
        invoice_with(lines=[{"quantity": "9" * MILLION, "unit_price": "1"}]),
        422,
        "validation_error",
        "/lines/0/quantity",
        "10^15",
    ),
    (
        "a 1 MB JSON number",
        b'{"currency": "EUR", "lines": [{"unit_price": "1", "quantity": 0.'
        + b"1" * MILLION
        + b"}]}",
        422,
        "validation_error",
        "/lines/0/quantity",
        "decimal places",
    ),
    (
        "a 1 MB JSON integer",
        b'{"currency": "EUR", "lines": [{"unit_price": "1", "quantity": ' + b"9" * MILLION + b"}]}",
        422,
        "validation_error",
        "/lines/0/quantity",
        "10^15",
    ),
    (
        "a 1 MB field name",
        invoice_with(**{"x" * MILLION: 1}),
        422,
        "validation_error",
        "/" + "x" * 100 + "…",  # cut, as a detail cuts a name (not echoed whole: 1 MB)
        "is not a field",
    ),
    ("10,000 levels deep", too_deep(10_000), 400, "bad_request", None, "nested deeper than 100"),
    (
        "100,000 tags",
        invoice_with(tags=["t"] * 100_000),
        422,
        "validation_error",
        "/tags",
        "at most 100",
    ),
    ("not an object", b"[" + b"1," * 100_000 + b"1]", 400, "bad_request", None, "JSON object"),
]


@pytest.mark.parametrize(("method", "path"), INVOICE_ROUTES)
async def test_hostile_invoice_bodies_are_a_clear_4xx_in_bounded_memory(
    sandbox: Sandbox, method: str, path: str
) -> None:
    async with aiohttp.ClientSession() as session:
        # Invoicing an order reads the order first (an unknown one is a 404 whatever the body):
        # a read, never a write.
        writes_only = "/orders/" in path
        before = await request_counts(session, sandbox.emulator_urls, writes_only=writes_only)
        async with peak_memory() as peak:
            for name, body, status, code, pointer, words in INVOICE_BODIES:
                headers = {**KEY, "Content-Type": "application/json"}
                async with session.request(
                    method, sandbox.gateway_url + path, data=body, headers=headers
                ) as response:
                    answer = await response.json(content_type=None)
                    check_problem(response.status, response.headers, answer, status, code)
                assert words in answer["detail"], (name, answer["detail"][:300])
                if pointer is not None:
                    assert answer["errors"][0]["pointer"] == pointer, name
        after = await request_counts(session, sandbox.emulator_urls, writes_only=writes_only)
    assert after == before  # refused before anything was sent
    assert peak.growth < 96 * MiB, f"memory grew {peak.growth / MiB:.0f} MiB"


PAYMENT_BODIES: list[tuple[str, bytes, int, str, str | None]] = [
    ("10,000 levels deep", too_deep(10_000), 400, "bad_request", None),
    (
        "a 1 MB method",
        json.dumps({"amount": "1", "date": "2026-01-01", "method": "m" * MILLION}).encode(),
        422,
        "validation_error",
        "/method",
    ),
    (
        "a 1 MB amount",
        json.dumps({"amount": "9" * MILLION, "date": "2026-01-01"}).encode(),
        422,
        "validation_error",
        "/amount",
    ),
    (
        "a 1 MB date",
        json.dumps({"amount": "1", "date": "2" * MILLION}).encode(),
        422,
        "validation_error",
        "/date",
    ),
    (
        "10,000 fields",
        json.dumps({f"f{i}": i for i in range(10_000)}).encode(),
        422,
        "validation_error",
        None,
    ),
]


async def test_hostile_payment_bodies_are_a_clear_4xx(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as session, peak_memory() as peak:
        for name, body, status, code, pointer in PAYMENT_BODIES:
            headers = {**KEY, "Content-Type": "application/json"}
            async with session.post(
                sandbox.gateway_url + INVOICE + "/payments", data=body, headers=headers
            ) as response:
                answer = await response.json(content_type=None)
                check_problem(response.status, response.headers, answer, status, code)
            if pointer is not None:
                assert answer["errors"][0]["pointer"] == pointer, name
    assert peak.growth < 64 * MiB


LIST = "/v1/connections/crm_v1/invoices"


@pytest.mark.parametrize(
    ("query", "pointer"),
    [
        ("limit=1000000000", "#/query/limit"),  # 10^9
        ("limit=" + "9" * 4000, "#/query/limit"),
        ("limit=-1000000000", "#/query/limit"),
        ("cursor=-1", "#/query/cursor"),
        ("cursor=-99999999999999999999", "#/query/cursor"),
        ("cursor=" + "9" * 4000, "#/query/cursor"),
        ("cursor=" + "A" * 7000, "#/query/cursor"),
        ("cursor=eyJzIjoiYSIsInAiOm51bGwsIm8iOi0xLCJ6IjoxfQ.AAAA", "#/query/cursor"),
        ("cursor=.", "#/query/cursor"),
        ("cursor=%00", "#/query/cursor"),
    ],
)
async def test_huge_or_negative_limits_and_cursors_are_400(
    sandbox: Sandbox, query: str, pointer: str
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(sandbox.gateway_url + f"{LIST}?{query}", headers=KEY) as response,
    ):
        answer = await response.json(content_type=None)
        check_problem(response.status, response.headers, answer, 400, "bad_request")
    assert [e["pointer"] for e in answer["errors"]] == [pointer]


@pytest.mark.parametrize(
    "what",
    ["a 64 KiB cursor", "a 64 KiB header", "a thousand headers", "a 64 KiB path"],
)
async def test_a_request_line_or_header_past_the_servers_limits_is_a_4xx(
    sandbox: Sandbox, what: str
) -> None:
    """aiohttp's parser refuses these (8,190 bytes a line, 128 headers) before the gateway's
    code runs: a plain 4xx, and the gateway serves the next request as usual."""
    path, headers = LIST, dict(KEY)
    if what == "a 64 KiB cursor":
        path += "?cursor=" + "A" * 65536
    elif what == "a 64 KiB header":
        headers["X-Padding"] = "a" * 65536
    elif what == "a thousand headers":
        headers.update({f"X-H{i}": "1" for i in range(1000)})
    else:
        path = "/v1/connections/" + "c" * 65536 + "/invoices"
    async with aiohttp.ClientSession() as session:
        async with session.get(sandbox.gateway_url + path, headers=headers) as response:
            assert 400 <= response.status < 500, response.status
            if response.status == 400:  # the gateway's problem: named, as every answer is
                named = response.headers.get("X-Request-ID")
                assert named and (await response.json())["request_id"] == named
        async with session.get(sandbox.gateway_url + LIST + "?limit=1", headers=KEY) as response:
            assert response.status == 200


async def test_a_cursor_for_other_filters_or_another_connection_is_400(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(sandbox.gateway_url + LIST + "?limit=1", headers=KEY) as response:
            cursor = (await response.json())["next_cursor"]
        assert cursor
        for other in (
            f"{LIST}?limit=1&status=open&cursor={cursor}",
            f"/v1/connections/bill_crm/invoices?limit=1&cursor={cursor}",
        ):
            async with session.get(sandbox.gateway_url + other, headers=KEY) as response:
                answer = await response.json()
                check_problem(response.status, response.headers, answer, 400, "bad_request")
            assert "another connection or other filters" in answer["detail"]


SECRET = b"sec-resource-limits-cursor-secret-0123456789"


@pytest.mark.parametrize(
    "position",
    [
        Position(None, -5, 10),  # a negative offset
        Position(None, 0, 0),  # no page size
        Position(None, 0, -3),
        Position(None, 0, 10**9),  # a page size no provider takes
        Position(None, 10**12, 10),  # far past any page
    ],
    ids=["negative offset", "size 0", "negative size", "size 10^9", "offset 10^12"],
)
async def test_a_signed_cursor_out_of_range_is_400_on_every_connection(
    sandbox: Sandbox, aiohttp_client: Any, position: Position
) -> None:
    """Cursors are signed, so only a holder of the gateway's secret (another instance, an older
    version) can make these; they are refused all the same, never followed into an error."""
    connections = [connection(p, url) for p, url in sandbox.emulator_urls.items()]
    app = create_app(settings(connections, [client("all", "k-all")]), cursor_secret=SECRET)
    gateway: TestClient = await aiohttp_client(app)  # type: ignore[type-arg]
    cursors = Cursors(SECRET)
    for name in sandbox.emulator_urls:
        cursor = cursors.make(scope_of(name, ListQuery()), position)
        path = f"/v1/connections/{name}/invoices?limit=2&cursor={cursor}"
        async with gateway.get(path, headers={"Authorization": "Bearer k-all"}) as response:
            answer = await response.json()
            check_problem(response.status, response.headers, answer, 400, "bad_request")
        assert answer["errors"][0]["pointer"] == "#/query/cursor"
    # The control: a cursor the gateway made itself is followed.
    good = cursors.make(scope_of("crm_v1", ListQuery()), Position(None, 1, 2))
    path = f"/v1/connections/crm_v1/invoices?limit=2&cursor={good}"
    async with gateway.get(path, headers={"Authorization": "Bearer k-all"}) as response:
        assert response.status == 200, await response.text()


async def _calculate(sandbox: Sandbox, coding: str, body: bytes) -> tuple[int, str, Any]:
    """POST ``body`` to the calculation route sent with ``Content-Encoding: coding``: the
    status, the media type and the decoded answer."""
    headers = {"Content-Type": "application/json", "Content-Encoding": coding}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            sandbox.gateway_url + "/v1/invoices/calculate", data=body, headers=headers
        ) as response,
    ):
        return response.status, response.content_type, await response.json(content_type=None)


@pytest.mark.parametrize(
    ("coding", "body", "status", "said"),
    [
        ("gzip", b"\x1f\x8b garbage", 400, "could not be decoded as its Content-Encoding (gzip)"),
        ("deflate", b"garbage", 400, "could not be decoded as its Content-Encoding (deflate)"),
        ("br", b"garbage", 400, "could not be decoded as its Content-Encoding (br)"),
        ("zstd", b"garbage", 400, "could not be decoded as its Content-Encoding (zstd)"),
        ("x-unknown", b'{"currency": "USD", "lines": []}', 415, "Content-Encoding x-unknown"),
        # Codings aiohttp reads the body through only when they stand alone: the body would
        # reach the JSON parser still encoded.
        ("x-gzip", gzip.compress(b"{}"), 415, "Content-Encoding x-gzip is not taken"),
        ("gzip, br", b"{}", 415, "Content-Encoding gzip, br stacks codings"),
    ],
)
async def test_a_body_that_does_not_decode_as_its_content_encoding_says_is_a_4xx(
    sandbox: Sandbox,
    coding: str,
    body: bytes,
    status: int,
    said: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not a 500 with a traceback (anyone could send one, no key needed), and not read as it
    came when the coding is one the gateway cannot decode."""
    caplog.set_level(logging.ERROR, logger="aiohttp.server")
    answered, content_type, problem = await _calculate(sandbox, coding, body)
    assert answered == status, problem
    assert content_type == "application/problem+json"
    assert said in problem["detail"], problem
    await asyncio.sleep(0.2)  # the server's end of the exchange, after the answer
    assert not [r for r in caplog.records if r.name == "aiohttp.server"], "logged as a failure"


_CALCULATE = {"currency": "EUR", "lines": [{"quantity": "2", "unit_price": "50.005"}]}


@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("br", brotli.compress),
        ("zstd", zstd.compress),
        ("identity", lambda body: body),
    ],
)
async def test_a_body_compressed_with_a_coding_the_gateway_takes_is_read_as_sent(
    sandbox: Sandbox, coding: str, compress: Callable[[bytes], bytes]
) -> None:
    """br and zstd were a plain-text 400 from aiohttp's parser, asking the caller to install
    a Python package: each coding the 415 names as taken is decoded, and the answer is the
    invoice the uncompressed body gives."""
    status, _, answer = await _calculate(sandbox, coding, compress(json.dumps(_CALCULATE).encode()))
    assert status == 200, answer
    assert answer["lines"][0]["unit_price"] == "50.005"
    assert answer["totals"]["total"] == "100.01"


async def _raw(
    sandbox: Sandbox, request_line: bytes, head: list[bytes], body: bytes
) -> tuple[int, bytes]:
    """``request_line`` with ``head`` and ``body`` sent as bytes over a socket (a client's bytes
    as they are, which an HTTP client would refuse to send): the status and the answer's body."""
    where = urlsplit(sandbox.gateway_url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    try:
        lines = [
            request_line + b" HTTP/1.1",
            f"Host: {where.netloc}".encode(),
            *head,
            b"Connection: close",
        ]
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(
    ("header", "path"),
    [
        (b"Content-Type: application/\xff", "/v1/invoices/calculate"),
        (b"Content-Encoding: gz\xffip", "/v1/invoices/calculate"),
        (b'If-Match: "\xff"', "/v1/connections/crm_v1/invoices/1"),
    ],
    ids=["content-type", "content-encoding", "if-match"],
)
async def test_a_header_that_is_not_utf8_is_quoted_as_text_a_strict_parser_reads(
    sandbox: Sandbox, header: bytes, path: str
) -> None:
    """A header's bytes that are not UTF-8 came back in ``detail`` as a lone surrogate escape
    (``\\udcff``), which strict JSON parsers (orjson, the gateway's own) refuse: the error
    could not be read. The byte is quoted as the escape's text."""
    method = b"PUT" if "crm_v1" in path else b"POST"
    body = b'{"currency": "USD", "lines": []}'
    head = [
        *(line.encode() for line in KEY_LINES),
        *([] if header.startswith(b"Content-Type") else [b"Content-Type: application/json"]),
        header,
        f"Content-Length: {len(body)}".encode(),
    ]
    status, answer = await _raw(sandbox, method + b" " + path.encode(), head, body)
    problem = orjson.loads(answer)  # raised on a lone surrogate
    assert status in (412, 415), answer
    assert "\\udcff" in problem["detail"], problem


async def test_a_body_labelled_other_than_json_is_refused_before_it_is_read(
    sandbox: Sandbox,
) -> None:
    """The label alone decides a 415, but it was said only once the whole body had arrived: a
    client that stalled after the head was answered 408 after server.body_timeout_s (60 s),
    and one sending a MiB of it had it all read first. Now at once, none of the body sent."""
    head = {"Content-Type": "text/plain", "Content-Length": "500"}
    status, problem, sent = await answer_while_sending(
        sandbox, "POST", "/v1/invoices/calculate", head, iter(()), cap=0
    )
    assert (status, problem["code"], sent) == (415, "unsupported_media_type", 0), problem
    assert "text/plain" in problem["detail"]  # answered with none of the body: not its 408


@pytest.mark.parametrize(
    ("head", "body"),
    [
        ([b"Transfer-Encoding: chunked"], b"0\r\n\r\n"),
        ([b"Content-Type: text/plain", b"Content-Length: 2"], b"  "),
    ],
    ids=["chunked-empty", "blank"],
)
async def test_an_empty_or_blank_body_is_said_empty_whatever_its_label(
    sandbox: Sandbox, head: list[bytes], body: bytes
) -> None:
    """The 415 said before the body is read took an empty chunked body (as clients that
    stream send one, labelled with nothing) or a blank one for a body in another type: they
    are the documented 400 "empty"."""
    status, answer = await _raw(sandbox, b"POST /v1/invoices/calculate", head, body)
    problem = json.loads(answer)
    assert status == 400, answer
    assert problem["detail"] == "The request body is empty; send a JSON object."


async def _chunks(body: bytes) -> Any:
    yield body  # no Content-Length: sent chunked


@pytest.mark.parametrize("refused", ["bad-gzip", "gzip-over-the-limit", "chunked-over-the-limit"])
async def test_a_body_refused_on_a_connections_route_names_the_connection(
    sandbox: Sandbox, refused: str
) -> None:
    """Three body refusals on a connection's route named neither it nor its provider, where
    facade.md says every problem met there does (a body announced too large did): a gzip body
    that does not decode, and one over ``server.max_body_bytes`` once decompressed or sent
    without a length, whose 413 also said aiohttp's own words ("Maximum request body size
    1048576 exceeded.") rather than which setting."""
    big = b'{"notes": "' + b"a" * 1_100_000 + b'"}'
    data: Any = {
        "bad-gzip": b"not gzip at all",
        "gzip-over-the-limit": gzip.compress(big),
        "chunked-over-the-limit": _chunks(big),
    }[refused]
    headers = {"Authorization": f"Bearer {sandbox.api_key}", "Content-Type": "application/json"}
    if refused != "chunked-over-the-limit":
        headers["Content-Encoding"] = "gzip"
    url = sandbox.gateway_url + "/v1/connections/crm_v1/invoices"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=data, headers=headers) as response,
    ):
        problem = await response.json(content_type=None)
    assert (problem["connection"], problem["provider"]) == ("crm_v1", "crm_v1"), problem
    if refused == "bad-gzip":
        assert (response.status, problem["code"]) == (400, "bad_request")
        return
    assert (response.status, problem["code"]) == (413, "payload_too_large")
    decompressed = " once decompressed" if refused == "gzip-over-the-limit" else ""
    assert problem["detail"] == (
        f"The request body is larger than the 1048576 bytes taken (server.max_body_bytes)"
        f"{decompressed}."
    )


@pytest.fixture(scope="module")
def brotli_bomb() -> bytes:
    """4 GiB of zeros, brotli-compressed: about 400 KB, under the limit as sent."""
    zeros = bytes(64 * 2**20)
    compressor = brotli.Compressor(quality=1)
    return b"".join(compressor.process(zeros) for _ in range(64)) + compressor.finish()


@pytest.mark.parametrize(
    ("request_line", "key", "status"),
    [
        (b"POST /v1/invoices/calculate", False, 413),  # read up to the limit, then refused
        (b"POST /v1/connections/crm_v1/invoices", False, 401),  # no key: never read
        (b"POST /v1/no-such-route", False, 404),
    ],
)
async def test_a_decompression_bomb_holds_no_other_request_up(
    sandbox: Sandbox, brotli_bomb: bytes, request_line: bytes, key: bool, status: int
) -> None:
    """A body of a few hundred KB that brotli expands to GiBs, on any route, with no key: the
    answer was right, but aiohttp then read the rest of the body to keep the connection open,
    decompressing it on the event loop without a break, and every other request of the gateway
    waited up to 10 s. The rest is now dropped a bounded amount at a time and the connection
    closed: a request sent right after the answer is served at once (a bound far under the 8 s
    the bomb held the loop), and the bomb's connection is closed by the gateway."""
    where = urlsplit(sandbox.gateway_url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    head = [
        request_line + b" HTTP/1.1",
        f"Host: {where.netloc}".encode(),
        b"Content-Type: application/json",
        b"Content-Encoding: br",
        f"Content-Length: {len(brotli_bomb)}".encode(),
    ]
    try:
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + brotli_bomb)
        status_line = await asyncio.wait_for(reader.readline(), 10)
        assert int(status_line.split()[1]) == status, status_line
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with (
            aiohttp.ClientSession() as session,
            session.get(sandbox.gateway_url + "/healthz") as health,
        ):
            assert health.status == 200
        assert loop.time() - started < 3.0, "the gateway was held up by the bomb"
        # The client has sent its whole body: the gateway, which said it closes the connection
        # after this answer, closes it once the client says it sends no more.
        writer.write_eof()
        rest = await asyncio.wait_for(reader.read(), 5)
        head, _, body = rest.partition(b"\r\n\r\n")
        assert b"Connection: close" in head.split(b"\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        assert len(body) == length and json.loads(body)["status"] == status  # whole
    finally:
        writer.close()


async def test_a_client_that_sends_its_whole_compressed_body_before_reading_gets_its_answer(
    sandbox: Sandbox,
) -> None:
    """Python's http.client writes the whole body, then reads. A compressed body past the limit
    (4 MB sent, 100 MB decompressed) must not end in a broken pipe while it is still being
    sent: the rest is read off the connection, undecompressed, until the client has sent it."""
    body = gzip.compress(bytes(96 * 2**20) + os.urandom(4 * 2**20), 1)
    where = urlsplit(sandbox.gateway_url)

    def post() -> tuple[int, str]:
        connection = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
        try:
            connection.request(
                "POST",
                "/v1/invoices/calculate",
                body=body,
                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            )
            answer = connection.getresponse()
            return answer.status, json.loads(answer.read())["code"]
        finally:
            connection.close()

    for _ in range(3):
        assert await asyncio.to_thread(post) == (413, "payload_too_large")
