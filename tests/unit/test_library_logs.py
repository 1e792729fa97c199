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
