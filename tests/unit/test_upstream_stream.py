"""``UpstreamClient.stream`` over real HTTP on loopback: chunks handed on as they come (more
than ``max_response_bytes`` in all), the credential blanked out even across chunk ends, a
transfer that breaks off raised, a non-2xx answer read for the adapter, no redirect followed."""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.base import OutcomeUncertain, UpstreamError, UpstreamUnavailable
from gateway.config import Connection
from gateway.credential_forms import base64_forms
from gateway.provider_sessions import provider_sessions
from gateway.upstream import UnusableAnswer, UpstreamClient

SECRET = "s3cr3t-token-value-0123456789"


async def _chunks(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/csv"})
    await response.prepare(request)
    for _ in range(40):
        await response.write(b"x" * 1000 + b"\n")
    # The credential split over two writes, as an echoing provider might send it.
    await response.write(b"token=" + SECRET[:10].encode())
    await asyncio.sleep(0.01)
    await response.write(SECRET[10:].encode() + b"\nend\n")
    await response.write_eof()
    return response


async def _utf16(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/csv; charset=utf-16"})
    await response.prepare(request)
    text = "id,note\n" + "7,caf\u00e9\n" * 300 + f"8,token={SECRET}\n"
    data = text.encode("utf-16")
    for at in range(0, len(data), 333):  # odd cuts: a character split over two writes
        await response.write(data[at : at + 333])
    await response.write_eof()
    return response


async def _labelled(request: web.Request) -> web.StreamResponse:
    codec = request.query["charset"]
    response = web.StreamResponse(headers={"Content-Type": f"text/csv; charset={codec}"})
    await response.prepare(request)
    await response.write(b"id,note\n7,cafe\n")
    await response.write_eof()
    return response


async def _broken(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/csv"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(b"a,b\n" + b"1,2\n" * 500)  # more than the blanking holds back
    await asyncio.sleep(0.01)
    assert request.transport is not None
    request.transport.close()  # no final chunk: the body is cut off
    return response


def _echoed_in_lines() -> bytes:
    """A request echoed as MIME base64 (lines of 76), its credential's base64 over a break."""
    echoed = b"GET /x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " + SECRET.encode() + b"\r\n"
    lines = base64.encodebytes(b"x" * 3 + echoed)
    return b'id,number\n1,"' + lines + b'"\n'


async def _base64_lines(request: web.Request) -> web.StreamResponse:
    """``_echoed_in_lines`` after ``pad`` bytes of CSV, written in writes of ``step`` bytes."""
    pad, step = int(request.query["pad"]), int(request.query["step"])
    response = web.StreamResponse(headers={"Content-Type": "text/csv"})
    await response.prepare(request)
    data = b"2,ok\n" * (pad // 5) + _echoed_in_lines() + b"3,end\n"
    for at in range(0, len(data), step):
        await response.write(data[at : at + step])
        await asyncio.sleep(0)
    await response.write_eof()
    return response


async def _echoing_label(request: web.Request) -> web.Response:
    """A 200 whose Content-Type echoes the credential (a label an error would quote)."""
    kind = request.query["kind"]
    label = {
        "stream": f"text/plain; echo={SECRET}",
        "charset": f"application/json; charset={SECRET}",
    }[kind]
    return web.Response(body=b'{"id": 1}', headers={"Content-Type": label, "X-Echo": SECRET})


async def _missing(request: web.Request) -> web.Response:
    return web.json_response({"error": {"code": "not_found"}}, status=404)


async def _redirect(request: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": "http://elsewhere.example/"})


async def _trickle(request: web.Request) -> web.StreamResponse:
    """An export that takes its time: a row every 0.2 s, for a second."""
    response = web.StreamResponse(headers={"Content-Type": "text/csv"})
    await response.prepare(request)
    await response.write(b"id\n")
    for row in range(1, 6):
        await asyncio.sleep(0.2)
        await response.write(b"%d\n" % row)
    await response.write_eof()
    return response


async def _one(request: web.Request) -> web.Response:
    return web.json_response({"id": "1"})


@pytest.fixture
async def base() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/trickle", _trickle)
    app.router.add_get("/one", _one)
    app.router.add_get("/chunks", _chunks)
    app.router.add_get("/broken", _broken)
    app.router.add_get("/utf16", _utf16)
    app.router.add_get("/labelled", _labelled)
    app.router.add_get("/missing", _missing)
    app.router.add_get("/base64-lines", _base64_lines)
    app.router.add_get("/echoing-label", _echoing_label)
    app.router.add_get("/redirect", _redirect)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def _client(session: aiohttp.ClientSession, base: str, **changes: Any) -> UpstreamClient:
    data: dict[str, Any] = {
        "name": "dp",
        "provider": "draft_publish",
        "base_url": base,
        "auth": {"type": "bearer", "token": SECRET},
        "retries": {"max_attempts": 1},
        "max_response_bytes": 1024,
    }
    data.update(changes)
    return UpstreamClient(session, Connection.model_validate(data), rng=random.Random(1))


async def test_chunks_pass_the_cap_and_the_credential_is_blanked_across_chunks(
    base: str,
) -> None:
    async with aiohttp.ClientSession() as session:
        upstream = _client(session, base)
        async with upstream.stream("/chunks") as answer:
            assert answer.ok and answer.status == 200
            parts = [chunk async for chunk in answer.chunks]
    body = b"".join(parts)
    assert len(body) > 40_000  # far past max_response_bytes: never held whole
    assert SECRET.encode() not in body
    assert body.endswith(b"token=[redacted]\nend\n")
    assert len(parts) > 1


async def test_text_in_another_charset_is_handed_on_in_utf8_with_the_credential_blanked(
    base: str,
) -> None:
    """A provider's export in UTF-16: its credential's bytes there are not the ones the
    blanking looks for, and the export is handed on labelled UTF-8."""
    async with aiohttp.ClientSession() as session:
        upstream = _client(session, base)
        async with upstream.stream("/utf16") as answer:
            body = b"".join([chunk async for chunk in answer.chunks])
    assert body.decode("utf-8") == "id,note\n" + "7,caf\u00e9\n" * 300 + "8,token=[redacted]\n"


@pytest.mark.parametrize("codec", ["hex", "base64", "rot13", "zlib", "no-such-charset"])
async def test_a_charset_that_is_no_text_encoding_is_refused_by_name(base: str, codec: str) -> None:
    """Python's codecs include some that are no text encoding (bytes to bytes, text to text):
    named as a charset, they broke the transfer off with a traceback, the export empty."""
    async with aiohttp.ClientSession() as session:
        upstream = _client(session, base)
        async with upstream.stream("/labelled", params={"charset": codec}) as answer:
            with pytest.raises(UnusableAnswer) as info:
                [chunk async for chunk in answer.chunks]
    assert "labelled its answer with a charset the gateway does not know" in info.value.message


async def test_a_transfer_that_breaks_off_is_an_error_not_a_short_body(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        upstream = _client(session, base)
        async with upstream.stream("/broken") as answer:
            received = b""
            with pytest.raises(UpstreamError, match="broke off"):
                async for chunk in answer.chunks:
                    received += chunk
    assert received.startswith(b"a,b")


async def test_a_transfer_is_counted_once_it_ends_an_error_when_it_broke_off(base: str) -> None:
    """The metrics heard a broken-off export as its status line's 200, before its body."""
    heard: list[str] = []
    async with aiohttp.ClientSession() as session:
        upstream = _client(session, base)
        upstream._observer = lambda _c, _p, _s, outcome: heard.append(outcome)
        async with upstream.stream("/broken") as answer:
            with pytest.raises(UpstreamError, match="broke off"):
                [chunk async for chunk in answer.chunks]
        assert heard == ["error"]
        async with upstream.stream("/utf16") as answer:
            [chunk async for chunk in answer.chunks]
        assert heard == ["error", "200"]


@pytest.mark.parametrize("step", [7, 50, 333, 4096])
@pytest.mark.parametrize("pad", [0, 70_000, 65_500])
async def test_the_credentials_base64_written_in_lines_is_blanked_whatever_the_chunks(
    base: str, pad: int, step: int
) -> None:
    """A provider echoing the request as MIME base64, the credential's base64 over a line
    break: a whole answer had it blanked, a streamed export handed it on (only the plain forms
    were looked for in the chunks). Written in writes of every size, after CSV that puts the run
    at a chunk's edge (chunks of 64 KB) or not."""
    lines = _echoed_in_lines().split(b'"')[1]
    # The premise: it is in there, and none of its base64 forms is, but over a line break.
    assert SECRET.encode() in base64.b64decode(lines)
    assert not any(form in lines for form in base64_forms(SECRET))
    assert any(form in lines.replace(b"\n", b"") for form in base64_forms(SECRET))
    async with aiohttp.ClientSession() as session:
        upstream = _client(session, base)
        async with upstream.stream("/base64-lines", params={"pad": pad, "step": step}) as answer:
            body = b"".join([chunk async for chunk in answer.chunks])
    field = body.split(b'"')[1]  # the echo's field, as handed on
    assert SECRET.encode() not in base64.b64decode(field.replace(b"[redacted]", b""))
    assert b"[redacted]" in field
    assert body.startswith(b"2,ok\n" * (pad // 5) + b'id,number\n1,"')
    assert body.endswith(b"3,end\n")


async def test_a_credential_echoed_in_an_answers_labels_is_blanked(base: str) -> None:
    """A provider echoing the credential in its Content-Type: the draft_publish export quoted
    the label in its 502 ("answered its CSV export as text/plain; echo=…"), and an answer
    refused for its charset quoted that ("it is not … text"). Headers, media type and charset
    come with the credential blanked, streamed or not."""
    async with aiohttp.ClientSession() as session:
        upstream = _client(session, base)
        async with upstream.stream("/echoing-label", params={"kind": "stream"}) as answer:
            assert answer.headers["Content-Type"] == "text/plain; echo=[redacted]"
            assert answer.headers["X-Echo"] == "[redacted]"
        with pytest.raises(UnusableAnswer) as refused:
            await upstream.request("GET", "/echoing-label", params={"kind": "charset"})
    assert SECRET not in refused.value.message
    assert "it is not [redacted] text" in refused.value.message


async def test_an_error_answer_is_read_for_the_adapter(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        upstream = _client(session, base)
        async with upstream.stream("/missing") as answer:
            assert not answer.ok
            assert answer.answer is not None and answer.answer.status == 404
            assert answer.answer.body == {"error": {"code": "not_found"}}
            assert [chunk async for chunk in answer.chunks] == []


async def test_no_redirect_is_followed(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        upstream = _client(session, base)
        with pytest.raises(UnusableAnswer, match="redirect"):
            async with upstream.stream("/redirect"):
                pass


@pytest.mark.parametrize(
    ("sent", "says"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n", "answered with something that is not HTTP"),
        (b'{"id": 1}', "answered with something that is not HTTP"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{", "broke off its answer before the end"),
        (b"", "dropped the connection"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_what_went_wrong_after_the_request_was_sent_is_said_as_it_was(
    sent: bytes, says: str, method: str
) -> None:
    """Another service on the provider's port answers with what is not HTTP: the caller's
    message said the provider "dropped the connection", sending the operator after the network
    instead of the base_url. A write stays uncertain either way (it was sent)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(sent)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            upstream = _client(session, f"http://127.0.0.1:{port}")
            with pytest.raises(UpstreamError) as info:
                await upstream.request(
                    method, "/v1/invoices/1", json={} if method == "POST" else None
                )
    finally:
        server.close()
        await server.wait_closed()
    assert info.value.message.startswith(f"draft_publish (connection dp) {says}")
    expected = OutcomeUncertain if method == "POST" else UpstreamUnavailable
    assert type(info.value) is expected


async def test_an_open_stream_holds_its_pool_slot_and_a_call_behind_it_waits_outside_its_timeout(
    base: str,
) -> None:
    """A stream did not hold one of the pool's slots: a call behind it went on to aiohttp,
    which could make it wait for the stream's connection inside the call's own ``timeout_s``
    (with ``max_connections: 1``, a create sent while a reader took an export slowly was a 504
    "did not answer in time", nothing sent, and the waits opened the breaker). The stream holds
    its slot until it is closed, and a call behind it waits for the slot, outside its timeout."""
    probe = _client(aiohttp.ClientSession(), base, max_connections=1, timeout_s=0.5)
    await probe.session.close()
    async with provider_sessions([probe.connection]) as sessions:  # as the gateway makes them
        upstream = UpstreamClient(sessions["dp"], probe.connection, rng=random.Random(1))
        async with upstream.stream("/trickle") as answer:
            first = await anext(aiter(answer.chunks))
            behind = asyncio.create_task(upstream.request("GET", "/one"))
            await asyncio.sleep(1.0)  # its reader slow to take the rest: twice timeout_s
            assert not behind.done()  # waiting for the stream's slot, not timed out
            rest = b"".join([chunk async for chunk in answer.chunks])
        assert first + rest == b"id\n1\n2\n3\n4\n5\n"
        got = await asyncio.wait_for(behind, 5)
        assert (got.status, got.body) == (200, {"id": "1"})
        assert upstream.breaker.describe()["consecutive_failures"] == 0
