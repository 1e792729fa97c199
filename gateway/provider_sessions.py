"""One HTTP client session per connection, each with a pool of its own size.

A connection's ``max_connections`` (config.yaml) is how many requests may be open to its
provider at once; callers beyond it wait for a free connection (``pool_slot``: before their
timeout starts, so that a wait in the gateway is never taken for the provider not answering).
The default is high enough that 50 concurrent callers of one connection do not queue in the
gateway: a provider's own limit on concurrency is what the connection's ``rate_limit`` is for.
One pool per connection also means a slow provider cannot take the sockets another connection
needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
    contextmanager,
    nullcontext,
)
from contextvars import ContextVar
from weakref import WeakKeyDictionary

import aiohttp

from gateway.config import Connection


@asynccontextmanager
async def provider_sessions(
    connections: Iterable[Connection],
) -> AsyncIterator[dict[str, aiohttp.ClientSession]]:
    """Connection name → its client session, all closed on the way out."""
    async with AsyncExitStack() as stack:
        sessions: dict[str, aiohttp.ClientSession] = {}
        for connection in connections:
            connector = aiohttp.TCPConnector(limit=connection.max_connections, limit_per_host=0)
            # No cookie jar: a provider's Set-Cookie was kept and sent back on every later
            # call, whichever client it served, in a jar without a bound.
            session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                middlewares=(_counted,),
            )
            sessions[connection.name] = await stack.enter_async_context(session)
        yield sessions


_SLOTS: WeakKeyDictionary[aiohttp.ClientSession, asyncio.Semaphore] = WeakKeyDictionary()


def pool_slot(session: aiohttp.ClientSession) -> AbstractAsyncContextManager[object]:
    """Held while a call uses one of ``session``'s pooled connections: as many at once as its
    connector's limit (``max_connections``), so that aiohttp itself never makes a call wait
    for one inside the call's timeout."""
    slots = _SLOTS.get(session)
    if slots is None:
        limit = session.connector.limit if session.connector is not None else 0
        if not limit:
            return nullcontext()
        slots = _SLOTS[session] = asyncio.Semaphore(limit)
    return slots


# The times one provider call was sent (``counted_sends``). aiohttp sends an idempotent request
# (GET, PUT, DELETE) again by itself, once, when its connection drops (a kept-alive one closed
# by the provider as it was reused): a repeat the gateway did not see, whose answer it took
# for the first's (a DELETE done, its repeat told 404, was answered "no such invoice"). Each
# sending passes the session's middleware, which counts it; ``upstream`` then knows the
# answer for a repeat's. aiohttp's resend is kept: for a read it is what a dropped idle
# connection needs, at no cost to the retries, the budget or the breaker.
_SENDS: ContextVar[list[None] | None] = ContextVar("provider_sends", default=None)


async def _counted(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    sends = _SENDS.get()
    if sends is not None:
        sends.append(None)
    return await handler(request)


@contextmanager
def counted_sends() -> Iterator[list[None]]:
    """A list that holds one item for each time the calls made meanwhile were sent."""
    sends: list[None] = []
    token = _SENDS.set(sends)
    try:
        yield sends
    finally:
        _SENDS.reset(token)
