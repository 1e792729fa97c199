"""One HTTP client session per connection, each with a pool of its own size.

A connection's ``max_connections`` (config.yaml) is how many requests may be open to its
provider at once; callers beyond it wait for a free connection. The default is high enough that
50 concurrent callers of one connection do not queue in the gateway: a provider's own limit on
concurrency is what the connection's ``rate_limit`` is for. One pool per connection also means
a slow provider cannot take the sockets another connection needs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager

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
            session = aiohttp.ClientSession(connector=connector)
            sessions[connection.name] = await stack.enter_async_context(session)
        yield sessions
