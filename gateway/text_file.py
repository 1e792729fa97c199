"""A file the operator gives (configuration, map, ids) read as UTF-8 text, or one line saying
why not: the commands print it, naming the file, and exit 2, never a traceback."""

from __future__ import annotations

import asyncio
import codecs
import concurrent.futures
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

T = TypeVar("T")

# Longer than any provider's invoice id by far: a line of an ``--ids`` file past it is not an id
# (a binary file given by mistake, ``/dev/zero``), for ``export`` and ``migrate`` alike.
MAX_ID_CHARS = 4096


def id_line_too_long(path: Path, number: int) -> str:
    """What is said of line ``number`` of an ``--ids`` file longer than ``MAX_ID_CHARS``."""
    return (
        f"--ids {path}: line {number} is longer than {MAX_ID_CHARS:,} characters, longer than "
        "any invoice id (is it the right file?)"
    )


async def open_file(path: Path, mode: str, **options: Any) -> IO[Any]:
    """``path.open(mode, **options)`` without holding the event loop: opening a named pipe
    waits until its other end is opened (a loader that has not started yet), and a wait on
    the loop's thread could not be stopped by Ctrl-C or SIGTERM, which the commands handle on
    the loop. Opened on a thread of its own (a daemon: one still waiting when the command is
    stopped does not hold the process), raising what the open raises; a stream opened after
    the wait was given up is closed."""
    loop = asyncio.get_running_loop()
    opened: asyncio.Future[IO[Any]] = loop.create_future()

    def settle(stream: IO[Any] | None, error: BaseException | None) -> None:
        if opened.cancelled():
            if stream is not None:
                stream.close()
        elif error is not None:
            opened.set_exception(error)
        else:
            assert stream is not None
            opened.set_result(stream)

    def work() -> None:
        try:
            stream = path.open(mode, **options)
        except Exception as exc:
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, stream, None)

    threading.Thread(target=work, name=f"open {path}", daemon=True).start()
    return await opened


class DrawnOffLoop(Generic[T]):
    """``items`` (an iterator that may block: the lines of a named pipe waiting for its writer)
    drawn on a thread of their own, a daemon, and handed to the event loop a few at a time, so
    that Ctrl-C and SIGTERM, which the commands handle on the loop, are heard while they wait.
    What ``items`` raises is raised here, in its turn. ``close`` is called on that thread once
    the items end: a file being read cannot be closed from the loop's thread meanwhile (its
    close would wait for the read). Abandoned (the command stopped), the thread waits on,
    and ends with the process."""

    def __init__(self, items: Iterator[T], close: Callable[[], None], name: str) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue(maxsize=64)
        self._ended = False
        threading.Thread(target=self._draw, args=(items, close), name=name, daemon=True).start()

    def _draw(self, items: Iterator[T], close: Callable[[], None]) -> None:
        try:
            for item in items:
                if not self._hand(True, item):
                    return
            self._hand(False, None)
        except Exception as exc:
            self._hand(False, exc)
        finally:
            close()

    def _hand(self, more: bool, value: Any) -> bool:
        """``value`` handed to the loop, once it has room; False when the loop is gone."""
        try:
            asyncio.run_coroutine_threadsafe(self._queue.put((more, value)), self._loop).result()
        except (RuntimeError, concurrent.futures.CancelledError):
            return False
        return True

    def __aiter__(self) -> DrawnOffLoop[T]:
        return self

    async def __anext__(self) -> T:
        if self._ended:
            raise StopAsyncIteration
        more, value = await self._queue.get()
        if more:
            return value  # type: ignore[no-any-return]
        self._ended = True
        if value is not None:
            raise value
        raise StopAsyncIteration


class UnreadableText(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_text(path: Path, *, max_bytes: int | None = None) -> str:
    """The file's text, without the byte order mark some editors put first (Notepad, a
    spreadsheet's "CSV UTF-8"), which would otherwise join the first id or key; ``UnreadableText``
    when it cannot be read, is over ``max_bytes``, or is not UTF-8."""
    try:
        with path.open("rb") as file:
            # Read up to the limit and one byte more, rather than trusting the size the file
            # says it has: a pipe (``--config <(…)``) or ``/dev/zero`` says none.
            data = file.read() if max_bytes is None else file.read(max_bytes + 1)
    except OSError as exc:
        raise UnreadableText(f"cannot be read: {exc.strerror or exc}") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise UnreadableText(
            f"is larger than {max_bytes:,} bytes, more than a file of this kind holds "
            "(is it the right file?)"
        )
    return utf8_text(data)


def utf8_text(data: bytes, line: int = 1) -> str:
    """``data`` (which starts at line ``line`` of its file) as text, without the byte order mark
    some editors put first; ``UnreadableText`` naming the line, column and byte where it is
    not UTF-8 (counted in the file as written: the mark is three bytes of it, and no column)."""
    mark = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[mark:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = exc.start + mark
        line += data.count(b"\n", 0, at)
        start = max(data.rfind(b"\n", 0, at) + 1, mark)
        column = len(data[start:at].decode("utf-8", errors="replace")) + 1
        raise UnreadableText(
            f"is not UTF-8 text: byte 0x{data[at]:02x} at line {line}, column {column} "
            "(save the file as UTF-8)"
        ) from None


def padded_or_controlled(text: str) -> bool:
    """Whether ``text`` has a space at an end or a control character anywhere: most often a
    line end kept from the file or the environment variable it was read from. A secret, a key
    or a store URL so written is another value than the one meant."""
    return text != text.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in text)
