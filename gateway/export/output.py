"""Where an export is written: stdout, or ``--output FILE``.

A new or empty file is written as the export goes (it has nothing to lose, and a reader
following it sees each page); so is a named pipe or a device. A file with content (an earlier
export) is replaced only once the export has ended whole: until then the export is written to a
file of its own beside it (``.FILE.<random>.partial``, made new, never through a link someone
left there), with the earlier file's owner and permissions, and renamed over it at the end. An
export cut short (a page that could not be read, a full disk, Ctrl-C), or one that read no
invoice because every one it asked for failed, leaves the earlier one in place, and its summary
names the partial file (``Summary.partial``); one that ended whole with no invoice matching
replaces it with an empty export (a CSV's header alone). Through a symbolic link, the file it
names is the one replaced. A file that is not the caller's own, that has other names (hard
links) or extended attributes (an access control list) is written in place as the export goes,
as a new file is: a file renamed over it would lose its owner, its other names or its
attributes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO

from gateway.export.progress import Summary
from gateway.selection import UsageError
from gateway.text_file import open_file


class Output:
    """The export's output, opened by ``open`` and closed (and put in place) by ``settle``."""

    def __init__(self, path: Path | None, out: IO[str] | None, summary: Summary, err: IO[str]):
        self._path = path
        self._out = out
        self._summary = summary
        self._err = err
        self._final: Path | None = None  # the file replaced, where the export is written beside
        self._beside: Path | None = None
        self._stream: IO[str] | None = None

    async def open(self) -> IO[str]:
        """The stream to write (``UsageError`` when it cannot be opened)."""
        path = self._path
        if path is None:
            self._stream = self._out or sys.stdout
            return self._stream
        replaced = _with_content(path)
        if replaced is not None and (opened := _beside(*replaced)) is not None:
            self._final = replaced[0]
            self._stream, self._beside = opened
            return self._stream
        try:
            self._stream = await open_file(path, "w", encoding="utf-8", newline="")
        except OSError as exc:
            raise UsageError(f"--output {path}: cannot be written ({exc.strerror})") from None
        return self._stream

    def settle(self) -> None:
        """Close the output; put an export written beside its file in place of it, where the
        export ended whole (else the partial file is kept, named by the summary, or removed
        when it holds no invoice). Said on ``err`` when that fails, and the summary says
        ``stopped``."""
        if self._path is None or self._stream is None:  # stdout, or never opened
            return
        summary = self._summary
        try:
            self._stream.close()
        except OSError as exc:
            # After a page that could not be written (already said: the export stopped) the
            # close tries its bytes again. Otherwise only the close could tell (a network file
            # system reports late): said here, and the exit status says it too.
            if not summary.stopped:
                summary.stopped = True
                print(f"cannot write {self._path}: {exc.strerror or exc}", file=self._err)
        beside, final = self._beside, self._final
        if beside is None or final is None:
            return
        if summary.exported == 0 and (summary.failed or summary.stopped):
            # Nothing read (every invoice asked for failed, or the first page): the earlier
            # export stays, and nothing is kept beside it. (One that ended whole with nothing
            # to export, no invoice matching, replaces it: the earlier export is no answer to
            # what was asked, and exit 0 says the file holds every invoice that matched.)
            with contextlib.suppress(OSError):
                beside.unlink()
            return
        if summary.stopped:
            # Cut short (a page that could not be read, a full disk, Ctrl-C): the earlier
            # export stays, and what was read is kept beside it. An invoice of --ids that
            # could not be read does not hold it back: listed, and the export went on (one
            # gone for good would keep the file from ever being written again).
            summary.partial = str(beside)
            return
        try:
            os.replace(beside, final)
        except OSError as exc:
            summary.partial = str(beside)
            summary.stopped = True
            print(
                f"cannot put the export in place of {self._path}: {exc.strerror or exc}; it is "
                f"in {beside}",
                file=self._err,
            )


def _with_content(path: Path) -> tuple[Path, os.stat_result] | None:
    """The file ``path`` leads to (through links) and its status, where it is a file with
    content that a new file renamed over it can stand for: None, so written in place, for a
    new or empty file, a pipe or a device; a file the caller may not write (refused, as
    before); one that is not the caller's own (a new file would be the caller's, not its
    owner's, and a folder with the sticky bit, /tmp's, refuses the rename); and one with more
    than one name (a hard link), whose other names would keep the earlier export."""
    final = Path(os.path.realpath(path))
    try:
        found = final.stat()
    except OSError:
        return None
    if not stat.S_ISREG(found.st_mode) or found.st_size == 0 or found.st_nlink > 1:
        return None
    if _extended_attributes(final):  # an ACL, a label: a new file would not carry them
        return None
    if not os.access(final, os.W_OK):
        return None
    if os.geteuid() not in (0, found.st_uid):
        return None
    return final, found


def _beside(final: Path, found: os.stat_result) -> tuple[IO[str], Path] | None:
    """A new file beside ``final`` (made with O_EXCL: never one that was there, nor a link),
    with its owner (where this process may give it) and its permissions; None when none can
    be made there (a folder the caller may not write in: the file is written in place)."""
    try:
        descriptor, name = tempfile.mkstemp(
            prefix=f".{final.name}.", suffix=".partial", dir=final.parent
        )
    except OSError:
        return None
    try:
        # The owner is this process's (or root gives it); a group it is not in, it cannot give.
        os.fchown(descriptor, found.st_uid, found.st_gid)
        os.fchmod(descriptor, stat.S_IMODE(found.st_mode))
        return os.fdopen(descriptor, "w", encoding="utf-8", newline=""), Path(name)
    except OSError:
        os.close(descriptor)
        with contextlib.suppress(OSError):
            os.unlink(name)
        return None


def _extended_attributes(path: Path) -> bool:
    """Whether ``path`` carries extended attributes (an access control list, a security
    label), which a file renamed over it would lose; True when that cannot be told."""
    try:
        return bool(os.listxattr(path))
    except OSError as exc:
        return exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP)
