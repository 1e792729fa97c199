"""Control endpoints every emulator shares: reset, the request log and fault injection.

The endpoints live under ``/_emulator/``, take no provider credential and are never logged or
faulted themselves:

- ``POST /_emulator/reset``: re-seed the store, clear the log and the faults.
- ``GET /_emulator/requests``: every other request, oldest first (the last ``LOG_LIMIT`` ones).
- ``GET|POST|DELETE /_emulator/faults``: show, set or clear the fault configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from emulators.common import CONTROL_PREFIX, MalformedBody, is_control_path, read_json
from emulators.faults import (
    FaultConfig,
    FaultConfigError,
    FaultKind,
    delay_seconds,
    pick_fault,
)
from emulators.request_log import UnreadableBody, dumps, log_entry

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# How often a hanging request checks whether its client has gone: aiohttp does not cancel
# handlers when the peer disconnects, so the hang has to notice by itself.
_HANG_POLL_SECONDS = 0.05


class Control:
    """Request log, fault injection and reset for one emulator app.

    ``reset`` re-seeds the provider's store; ``error_response(status, message)`` builds the
    provider's own error envelope, used for injected errors so clients parse them as real ones.
    """

    LOG_LIMIT = 10_000

    def __init__(
        self,
        *,
        reset: Callable[[], None],
        error_response: Callable[[int, str], web.StreamResponse],
    ) -> None:
        self._reset = reset
        self._error_response = error_response
        self._log: deque[dict[str, Any]] = deque(maxlen=self.LOG_LIMIT)
        self._faults: FaultConfig | None = None
        self._rng = random.Random(0)
        self._closing = asyncio.Event()
        self.middleware = self._make_middleware()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(CONTROL_PREFIX + "reset", self._handle_reset)
        app.router.add_get(CONTROL_PREFIX + "requests", self._handle_requests)
        app.router.add_get(CONTROL_PREFIX + "faults", self._handle_get_faults)
        app.router.add_post(CONTROL_PREFIX + "faults", self._handle_set_faults)
        app.router.add_delete(CONTROL_PREFIX + "faults", self._handle_clear_faults)
        app.on_startup.append(self._on_startup)
        # Hanging requests must end when the app stops, or shutdown would wait on them.
        app.on_shutdown.append(self._on_shutdown)

    # -- middleware ---------------------------------------------------------------------------

    def _make_middleware(self) -> Middleware:
        @web.middleware
        async def control_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            if is_control_path(request):
                return await handler(request)
            try:
                self._log.append(await log_entry(request))
            except UnreadableBody as unreadable:
                # aiohttp refused the body (413): answer in the provider's envelope, as it would.
                self._log.append(unreadable.entry)
                error = unreadable.error
                return self._error_response(error.status, error.text or error.reason)
            faults = self._faults
            if faults is None or not faults.applies_to(request):
                return await handler(request)
            # Draw everything up front, in a fixed order, so the sequence depends only on the
            # seed and the order requests arrive in, never on how long handlers take.
            delay = delay_seconds(faults, self._rng)
            kind = pick_fault(faults, self._rng.random())
            if delay > 0:
                await asyncio.sleep(delay)
            if kind == "rate_limit":
                return self._rate_limited(faults)
            if kind is None:
                return await handler(request)
            if faults.after_commit:
                # The handler's effect is stored; only the answer is lost or replaced.
                with contextlib.suppress(web.HTTPException):
                    await handler(request)
            return await self._inject(request, kind, faults)

        return control_middleware

    def _rate_limited(self, faults: FaultConfig) -> web.StreamResponse:
        response = self._error_response(429, "rate limit exceeded; retry later")
        if faults.retry_after is not None:
            response.headers["Retry-After"] = str(faults.retry_after)
        return response

    async def _inject(
        self, request: web.Request, kind: FaultKind, faults: FaultConfig
    ) -> web.StreamResponse:
        if kind == "error":
            return self._error_response(faults.error_status, _injected_message(faults.error_status))
        if kind == "timeout":
            await self._hang(request)
        _drop_connection(request)
        # Never reaches the client: aiohttp finds the transport closed and discards it. 444 is
        # nginx's "closed without response", so the access log says what happened.
        return web.Response(status=444)

    async def _hang(self, request: web.Request) -> None:
        while not self._closing.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), _HANG_POLL_SECONDS)

    async def _on_startup(self, app: web.Application) -> None:
        self._closing.clear()

    async def _on_shutdown(self, app: web.Application) -> None:
        self._closing.set()

    # -- control endpoints --------------------------------------------------------------------

    async def _handle_reset(self, request: web.Request) -> web.StreamResponse:
        self._reset()
        self._log.clear()
        self._faults = None
        return web.json_response({"reset": True})

    async def _handle_requests(self, request: web.Request) -> web.StreamResponse:
        body = dumps({"requests": list(self._log)})
        return web.Response(text=body, content_type="application/json")

    async def _handle_get_faults(self, request: web.Request) -> web.StreamResponse:
        return self._faults_response()

    async def _handle_set_faults(self, request: web.Request) -> web.StreamResponse:
        try:
            config = FaultConfig.parse(await read_json(request))
        except MalformedBody as exc:
            return _control_error("body", str(exc))
        except FaultConfigError as exc:
            return _control_error(exc.field, exc.message)
        self._faults = config
        self._rng = random.Random(config.seed if config is not None else 0)
        return self._faults_response()

    async def _handle_clear_faults(self, request: web.Request) -> web.StreamResponse:
        self._faults = None
        return self._faults_response()

    def _faults_response(self) -> web.StreamResponse:
        config = self._faults.to_json() if self._faults is not None else None
        return web.json_response({"faults": config})


def _injected_message(status: int) -> str:
    try:
        return f"injected fault: {HTTPStatus(status).phrase}"
    except ValueError:
        return f"injected fault: status {status}"


def _drop_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger 0 turns the close into a TCP reset, which is what a crashed upstream looks like.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _control_error(field: str, message: str) -> web.StreamResponse:
    return web.json_response({"error": {"field": field, "message": message}}, status=400)


__all__ = ["Control", "FaultConfig", "FaultConfigError"]
