"""Errors about an invoice as sent, told in the caller's own line numbers.

Lenient handling drops whole lines a provider cannot carry (section lines), so the invoice an
adapter checks and sends can have fewer lines than the one the caller wrote: its line 0 may be
the caller's line 1. A refusal of it (the create's own checks, or the provider's answer) points
into what was sent; the caller is told where that is in what they wrote.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gateway.canonical.errors import FieldError, pointer_to_path
from gateway.errors import InvalidRequest

_LINE = re.compile(r"/lines/(\d+)(/.*)?\Z", re.DOTALL)
_WHOLE_LINE = re.compile(r"/lines/(\d+)\Z")


def sent_lines(line_count: int, dropped: Sequence[str]) -> tuple[int, ...] | None:
    """The caller's index of each line sent, given the pointers of what lenient handling
    dropped; None when every line is sent."""
    gone = {int(m[1]) for pointer in dropped if (m := _WHOLE_LINE.match(pointer))}
    if not gone:
        return None
    return tuple(i for i in range(line_count) if i not in gone)


def in_callers_lines(error: InvalidRequest, sent: tuple[int, ...] | None) -> InvalidRequest:
    """``error`` with its pointers (and the message that names its first) renumbered from the
    lines sent to the caller's lines; ``error`` itself when every line was sent."""
    if sent is None or not error.errors:
        return error
    renumbered = [FieldError(caller_pointer(e.pointer, sent), e.detail) for e in error.errors]
    first, now = pointer_to_path(error.errors[0].pointer), pointer_to_path(renumbered[0].pointer)
    if error.message.startswith(first) and first != now:
        error.message = now + error.message[len(first) :]
        error.args = (error.message,)
    error.errors = renumbered
    return error


def caller_pointer(pointer: str, sent: tuple[int, ...]) -> str:
    """``pointer`` into the lines sent, as a pointer into the caller's (``sent_lines``)."""
    match = _LINE.match(pointer)
    if match is None or int(match[1]) >= len(sent):
        return pointer
    return f"/lines/{sent[int(match[1])]}{match[2] or ''}"
