"""Log lines collected and written in batches: no flushed write per request line.

``serve`` logs one line per request. Written and flushed one by one, that is a system call per
request; here the lines wait in memory and go out together: when ``max_bytes`` wait, when the
oldest has waited ``max_seconds`` (a daemon thread looks every ``max_seconds``), at once for a
warning or an error, and when the process exits. Each write holds whole lines and, where it can,
at most ``PIPE_BUF`` bytes (a write that size to a pipe is atomic), so the lines of several
worker processes sharing one stream never run into each other. What a SIGKILL takes with it is
at most ``max_seconds`` of info lines.
"""

from __future__ import annotations

import atexit
import os
import select
import threading
import time
from typing import TextIO

# POSIX guarantees at least 512; Linux's is 4096.
_ATOMIC = getattr(select, "PIPE_BUF", 512)
# The buffers started in this process, for ``flush_all`` (a forked worker's ``os._exit`` runs
# no atexit handler).
_started: list[LineBuffer] = []


def flush_all() -> None:
    for buffer in _started:
        buffer.flush()


class LineBuffer:
    def __init__(self, stream: TextIO, *, max_bytes: int = 16_384, max_seconds: float = 0.5):
        self._stream = stream
        self._max_bytes = max_bytes
        self._max_seconds = max_seconds
        self._lines: list[str] = []
        self._size = 0
        self._since = 0.0
        self._lock = threading.Lock()
        self._ticker: threading.Thread | None = None

    def start(self) -> None:
        """Start the timer thread and flush at exit (once). A forked child starts afresh: its
        own lock and timer, none of the parent's waiting lines (the parent writes those)."""
        if self._ticker is None:
            self._start_ticker()
            atexit.register(self.flush)
            os.register_at_fork(after_in_child=self._after_fork)
            _started.append(self)

    def _start_ticker(self) -> None:
        self._ticker = threading.Thread(target=self._tick, name="log-flush", daemon=True)
        self._ticker.start()

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._lines, self._size = [], 0
        self._start_ticker()

    def add(self, line: str, *, urgent: bool = False) -> None:
        with self._lock:
            if not self._lines:
                self._since = time.monotonic()
            self._lines.append(line + "\n")
            self._size += len(line) + 1
            if urgent or self._size >= self._max_bytes:
                self._write_locked()

    def flush(self) -> None:
        with self._lock:
            self._write_locked()

    def _tick(self) -> None:
        """Lines at most ``max_seconds`` old when written: the oldest is looked at every fifth
        of that and written once it would be older by the next look. Sleeping the whole
        ``max_seconds`` and writing only lines that old held a line up to twice that (1 s)."""
        every = self._max_seconds / 5
        while True:
            time.sleep(every)
            with self._lock:
                if self._lines and time.monotonic() - self._since >= self._max_seconds - every:
                    self._write_locked()

    def _write_locked(self) -> None:
        if not self._lines:
            return
        lines, self._lines, self._size = self._lines, [], 0
        chunk: list[str] = []
        size = 0
        try:
            for line in lines:
                if chunk and size + len(line) > _ATOMIC:
                    self._stream.write("".join(chunk))
                    chunk, size = [], 0
                chunk.append(line)
                size += len(line)
            self._stream.write("".join(chunk))
            self._stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken stream: logging never takes the process down


class BufferedLineLogger:
    """A structlog logger writing rendered lines into a ``LineBuffer``; warnings and worse are
    written at once."""

    def __init__(self, buffer: LineBuffer) -> None:
        self._buffer = buffer

    def msg(self, message: str) -> None:
        self._buffer.add(message)

    def urgent(self, message: str) -> None:
        self._buffer.add(message, urgent=True)

    log = debug = info = msg
    warn = warning = fatal = failure = err = error = critical = exception = urgent


class BufferedLoggerFactory:
    def __init__(self, buffer: LineBuffer) -> None:
        self._buffer = buffer

    def __call__(self, *args: object) -> BufferedLineLogger:
        return BufferedLineLogger(self._buffer)
