"""structlog set up once, when a command starts (never at import time)."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import sys
from collections.abc import MutableMapping
from decimal import Decimal
from typing import Any, TextIO

import orjson
import structlog
from aiohttp.http_exceptions import HttpProcessingError

from gateway.config import LoggingSettings
from gateway.log_buffer import BufferedLoggerFactory, LineBuffer
from gateway.upstream import request_id_var


def configure_logging(
    settings: LoggingSettings, stream: TextIO | None = None, *, buffered: bool = False
) -> None:
    """Logs as configured, to ``stream`` (stdout by default; commands whose stdout carries
    their results, such as export and migrate, log to stderr). ``buffered`` (``serve``): lines
    are written in batches, not flushed one by one (``gateway.log_buffer``)."""
    level = getattr(logging, settings.level.upper())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    factory: Any
    if buffered:
        buffer = LineBuffer(stream or sys.stdout)
        buffer.start()
        factory = BufferedLoggerFactory(buffer)
    else:
        # One write per line, so the lines of several worker processes never run into each other.
        factory = structlog.WriteLoggerFactory(stream or sys.stdout)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            _add_pid,
            _add_request_id,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            *([] if settings.format == "json" else [_exception_in_the_line]),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )
    # Libraries log through the standard library (asyncpg's pool, aiohttp's server): their
    # warnings and errors become lines of the same stream and format, not bare tracebacks.
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _ToStructlog):
            root.removeHandler(handler)
    root.addHandler(_ToStructlog())
    root.setLevel(max(level, logging.WARNING))


class ServedRequest:
    """The request a task's context was made in, and whether its answer is done (``ended``).
    A library's task started while a request was served (asyncpg's pool restoring its
    connections, the connection's callbacks) keeps that context for as long as it runs: its
    lines written after the request ended are about no request, and carry no ``request_id``.
    The gateway's own work that outlives its answer (an outcome kept later) keeps the id, and
    so do the lines of the task that served it (aiohttp's own, once the answer is made)."""

    __slots__ = ("ended", "task")

    def __init__(self) -> None:
        self.ended = False
        self.task = asyncio.current_task()

    def over_for_this_task(self) -> bool:
        """Whether the request is over and this line comes from a task of another's."""
        return self.ended and asyncio.current_task() is not self.task


served_request: contextvars.ContextVar[ServedRequest | None] = contextvars.ContextVar(
    "served_request", default=None
)


def _exception_in_the_line(
    logger: Any, method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """The console format writes a record's traceback on lines of its own after it; as a field
    (``traceback='Traceback…\\n…'``, written as its repr) it stays in the record's one line,
    as docs/operations.md says and as the JSON format has it."""
    if "exception" in event_dict:
        event_dict["traceback"] = event_dict.pop("exception")
    return event_dict


class _ToStructlog(logging.Handler):
    """A standard-library record as a structlog line: its logger, level, message and, where
    it carries one, the exception (rendered into the line by ``format_exc_info``); the
    request's id only while the request is served (``ServedRequest``)."""

    def emit(self, record: logging.LogRecord) -> None:
        served = served_request.get()
        if served is not None and served.over_for_this_task():
            contextvars.copy_context().run(self._emit_unbound, record)
        else:
            self._emit(record)

    def _emit_unbound(self, record: logging.LogRecord) -> None:
        request_id_var.set(None)
        self._emit(record)

    def _emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name}
            log = structlog.get_logger(record.name)
            error = record.exc_info[1] if record.exc_info else None
            if isinstance(error, HttpProcessingError):
                # A request aiohttp's parser refused (400 before any view ran): the caller's
                # mistake, not the gateway's, and its text quotes the bytes sent, an API key's
                # among them. The kind of mistake is logged, never the request's bytes.
                log.info(
                    "malformed_request",
                    logger=record.name,
                    error=type(error).__name__,
                    status=error.code,
                )
                return
            if record.exc_info:
                fields["exc_info"] = record.exc_info
            method = getattr(log, record.levelname.lower(), log.error)
            method(record.getMessage(), **fields)
        except Exception:
            self.handleError(record)


def _add_pid(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Which process wrote the line: with ``serve --workers N`` several write to one stream."""
    event["pid"] = os.getpid()
    return event


def _add_request_id(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The request a line was written for (``X-Request-ID``), where it was not given: a lost
    answer resolved (``write_resolved``), a lease lost, an outcome not kept are told apart
    from the other writes on their connection, and tied to the answer their caller got."""
    if "request_id" not in event:
        request_id = request_id_var.get()
        if request_id is not None:
            event["request_id"] = request_id
    return event


def _json_line(event: Any, **_: Any) -> str:
    """One JSON line, written by orjson; what it cannot write (a lone surrogate, a key that is
    not a string) by the standard library, as structlog would."""
    try:
        return orjson.dumps(event, default=_fallback).decode()
    except TypeError:
        return json.dumps(event, default=_fallback)


def _fallback(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else repr(value)
