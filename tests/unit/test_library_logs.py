"""What libraries log through the standard library (asyncpg's pool while PostgreSQL is down,
aiohttp's server) leaves as lines of the gateway's own format, a traceback inside its line,
never as bare multi-line text a JSON log pipeline cannot read."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from aiohttp.http_exceptions import BadHttpMessage

from gateway.config import LoggingSettings
from gateway.logging_setup import configure_logging


@pytest.fixture
def restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_a_library_warning_with_its_traceback_is_one_json_line(restored: None) -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="info", format="json"), stream)
    configure_logging(LoggingSettings(level="info", format="json"), stream)  # once, not twice
    try:
        raise ConnectionRefusedError(111, "Connect call failed")
    except ConnectionRefusedError:
        logging.getLogger("asyncpg.pool").warning(
            "Failed to restore the pool connection floor; retrying", exc_info=True
        )
    logging.getLogger("aiohttp.access").info("an access line the gateway writes itself")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    line = json.loads(lines[0])
    assert line["event"] == "Failed to restore the pool connection floor; retrying"
    assert (line["logger"], line["level"]) == ("asyncpg.pool", "warning")
    assert "ConnectionRefusedError" in line["exception"]
    assert line["exception"].startswith("Traceback")


def test_a_library_warning_with_its_traceback_is_one_console_line(restored: None) -> None:
    """docs/operations.md: ``format: console`` writes one line of text a record; the console
    renderer wrote a traceback on 20-30 lines of its own after it."""
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="info", format="console"), stream)
    try:
        raise ConnectionRefusedError(111, "Connect call failed")
    except ConnectionRefusedError:
        logging.getLogger("asyncpg.pool").warning("Failed to restore the pool", exc_info=True)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert "Failed to restore the pool" in lines[0]
    assert "traceback='Traceback (most recent call last):\\n" in lines[0], lines[0]
    assert "ConnectionRefusedError: [Errno 111] Connect call failed" in lines[0]


def test_a_request_the_parser_refused_is_logged_by_its_kind_not_its_bytes(
    restored: None,
) -> None:
    """aiohttp's parser quotes the bytes it refused (an ``Authorization`` header with a NUL,
    say, and the API key in it): the line says what kind of mistake it was, at info (the
    caller's, answered 400), with neither the bytes nor a traceback."""
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="info", format="json"), stream)
    try:
        raise BadHttpMessage("Invalid header value char: b'Authorization: Bearer sk_live_9\\x00'")
    except BadHttpMessage:
        logging.getLogger("aiohttp.server").exception("Error handling request from 127.0.0.1")
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line == {
        "logger": "aiohttp.server",
        "error": "BadHttpMessage",
        "status": 400,
        "event": "malformed_request",
        "level": "info",
        "pid": line["pid"],
        "timestamp": line["timestamp"],
    }
    assert "sk_live_9" not in stream.getvalue()


def test_a_line_written_while_a_request_is_served_names_the_request(restored: None) -> None:
    """``write_resolved`` (a lost answer looked for), ``lease_lost`` and the like named only
    the connection: with several writes on one connection, none could be tied to the request
    (and its ``X-Request-ID``) whose caller was told the outcome was uncertain."""
    from gateway.upstream import request_id_var

    stream = io.StringIO()
    configure_logging(LoggingSettings(level="info", format="json"), stream)
    log = structlog.get_logger("gateway.service")
    log.info("outside")
    token = request_id_var.set("3f2a")
    try:
        log.info("write_resolved", connection="crm", state="done")
        log.info("request", request_id="given")  # a line that names its request keeps it
    finally:
        request_id_var.reset(token)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line.get("request_id") for line in lines] == [None, "3f2a", "given"]
    assert lines[1]["event"] == "write_resolved"
