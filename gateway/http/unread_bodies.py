"""A compressed request body left unread is never decompressed whole after its answer.

aiohttp reads what is left of a request body once its answer has been given, so that the
connection can serve the next request ("lingering", for up to 10 s), and decompresses it as it
reads, on the event loop, without giving the loop back between chunks. A few KB of brotli that
expand to GiBs (a decompression bomb), sent to any route with no key, held every other request
of the process for those 10 s, and a handful of them at once for longer.

So a compressed body that its handler did not read to its end (a 413 past
``server.max_body_bytes``, a 401, a 404, a 415) is dealt with here, after the answer is written:
what is left is read and thrown away a chunk at a time, the loop free between chunks, up to
``DISCARDED_AT_MOST`` bytes once decompressed; a body that is still not at its end then closes
its connection, as aiohttp does with one that outlasts its lingering. A body sent uncompressed
is left to aiohttp: reading and dropping raw bytes costs next to nothing.
"""

from __future__ import annotations

import asyncio

from aiohttp import StreamReader, web
from aiohttp.typedefs import Handler

# At most this much of an unread compressed body is read (decompressed) and dropped before its
# connection is closed: a client that sent a little too much still reads its answer on a
# connection that stays open, and a bomb costs a few milliseconds, never the whole process.
DISCARDED_AT_MOST = 16 * 2**20
# A chunk that does not arrive within this is not waited for: the connection is closed.
_WAIT_S = 10.0


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
    """The answer goes out first, so that the caller reads it whatever becomes of the rest of
    the body; then the rest is dropped, and a body not at its end closes the connection: the
    answer and the end of the gateway's sending first (so the caller reads both before the
    close), then the connection."""
    await response.prepare(request)
    await response.write_eof()
    if await _dropped_to_its_end(request.content):
        return
    transport = request.transport
    if transport is not None and transport.can_write_eof():
        transport.write_eof()
    request.protocol.force_close()


async def _dropped_to_its_end(content: StreamReader) -> bool:
    """Whether the body's end was reached within ``DISCARDED_AT_MOST`` decompressed bytes."""
    dropped = 0
    try:
        async with asyncio.timeout(_WAIT_S):
            while not content.is_eof() and dropped <= DISCARDED_AT_MOST:
                dropped += len(await content.readany())
                await asyncio.sleep(0)  # the loop serves others between chunks
    except (TimeoutError, web.RequestPayloadError, ConnectionError):
        return False
    return content.is_eof()
