"""Request bodies still arriving when the gateway is told to stop.

Once stopping, aiohttp reads nothing more from its connections (``RequestHandler.close``: what
arrives is dropped) while it lets the requests in flight finish. A request whose body was still
arriving would wait for bytes that never reach it, until ``server.body_timeout_s`` (a minute by
default), and hold the stop that long. Such a request is answered at once instead: 408, nothing
was done with it, safe to send again (``body.body_deadline``). A body that arrived whole before
the stop is read as ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web


class ArrivingBodies:
    """The requests reading their body now, each with its deadline."""

    def __init__(self) -> None:
        # By the request's id: a request is a mapping, not hashable.
        self._reading: dict[int, tuple[web.Request, asyncio.Timeout]] = {}
        self.stopping = False

    @contextmanager
    def reading(self, request: web.Request, deadline: asyncio.Timeout) -> Iterator[None]:
        self._reading[id(request)] = (request, deadline)
        if self.stopping:  # the stop came between the request's head and its body's reading
            self._end_wait(request, deadline)
        try:
            yield
        finally:
            self._reading.pop(id(request), None)

    def stop(self) -> None:
        """The gateway stops reading: every body not arrived whole ends its wait now."""
        self.stopping = True
        for request, deadline in list(self._reading.values()):
            self._end_wait(request, deadline)

    @staticmethod
    def _end_wait(request: web.Request, deadline: asyncio.Timeout) -> None:
        if not request.content.is_eof():
            deadline.reschedule(asyncio.get_running_loop().time())
