"""A compressed request body left unread is never decompressed after its answer.

aiohttp reads what is left of a request body once its answer has been given, so that the
connection can serve the next request and the client, still sending, can read the answer
("lingering", for up to 10 s). It decompresses what it reads, on the event loop, without giving
the loop back between chunks: a few KB of brotli that expand to GiBs (a decompression bomb),
sent to any route with no key, held every other request of the process for those 10 s, and a
handful of them at once for longer.

So a compressed body that its handler did not read to its end (a 413 past
``server.max_body_bytes``, a 401, a 404, a 415) is dealt with here. Its answer says
``Connection: close`` and is written first; then aiohttp is let go of the connection (its
parser, and what it held of the body, with it), and the rest of the body is read off the socket
as it comes, raw, and dropped: nothing of it is decompressed. The connection closes once the
client has sent it all or after ``LINGER_S``, as aiohttp's lingering would, so that a client
that writes its whole body before reading (Python's ``http.client`` does) reads its answer
rather than a reset connection. A stop of the gateway ends the wait at once, as it ends a
body's reading (``ArrivingBodies``). A body sent uncompressed is left to aiohttp: reading and
dropping raw bytes is what it does with one.
"""

from __future__ import annotations

import asyncio
import os
import socket

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.http.keys import ARRIVING

# How long the rest of an unread compressed body is waited for, as aiohttp lingers.
LINGER_S = 10.0
_CHUNK_BYTES = 64 * 1024


@web.middleware
async def unread_compressed_body_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # an answer raised (aiohttp's own): the same
        if _compressed_and_unread(request):
            await _answer_then_drop(request, exc)
        raise
    if _compressed_and_unread(request):
        await _answer_then_drop(request, response)
    return response


def _compressed_and_unread(request: web.Request) -> bool:
    coding = request.headers.get("Content-Encoding")
    return (
        coding is not None
        and coding.strip().lower() not in ("", "identity")
        and not request.content.is_eof()
    )


async def _answer_then_drop(request: web.Request, response: web.StreamResponse) -> None:
    """The answer, saying the connection closes after it; then the rest of the body dropped
    raw off the socket, and the connection closed."""
    if not response.prepared:
        response.force_close()  # "Connection: close": no request follows on this connection
    await response.prepare(request)
    await response.write_eof()
    transport = request.transport
    held = transport.get_extra_info("socket") if transport is not None else None
    if held is None:
        request.protocol.force_close()
        return
    # The socket stays open on a descriptor of its own while aiohttp lets go of its one: its
    # transport still writes out what it holds of the answer before it closes that one.
    raw = socket.socket(fileno=os.dup(held.fileno()))
    raw.setblocking(False)
    request.protocol.force_close()
    try:
        await _drop_until_sent(request, raw)
    finally:
        raw.close()


async def _drop_until_sent(request: web.Request, raw: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(LINGER_S) as deadline:
            with request.app[ARRIVING].reading(request, deadline):
                while await loop.sock_recv(raw, _CHUNK_BYTES):
                    pass
    except (TimeoutError, OSError):
        pass  # the client sent no more in time, or went: closed either way
