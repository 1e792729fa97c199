"""Where a provider's answer can hold the connection's credential it echoed, and the searches
that find it: the forms it can be written in (as sent, JSON-escaped, percent-encoded, base64),
its base64 written in lines with a break inside, and strings whose JSON escapes hide it.

``gateway/credential_blanking.py`` blanks what these find out of every answer, its labels and
the chunks of a streamed body; docs/security.md says which echoes are looked for.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus

from gateway.config import MIN_TOKEN_CHARS


@functools.lru_cache(maxsize=256)
def secret_forms(secret: str) -> tuple[bytes, ...]:
    """The ways an answer may write the credential it echoes, as bytes, longest first: as sent,
    with ``/`` escaped for JSON, percent-encoded (every reserved character, or all but ``/``;
    ``+`` for a space; upper- or lower-case hex, both RFC 3986's), and base64 (standard and
    URL-safe, padded or not). Kept per credential: every answer is blanked with them, and
    making them costs more than the blanking (14 µs against 5 for an invoice's answer)."""
    encoded = {
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret, safe=""),
        quote_plus(secret),
    }
    lower = {_HEX.sub(lambda hex_digits: hex_digits.group(0).lower(), form) for form in encoded}
    raw = secret.encode()
    padded = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    forms = {secret, secret.replace("/", "\\/"), *encoded, *lower, *padded}
    forms |= {form.decode() for form in base64_forms(secret)}
    return tuple(form.encode() for form in sorted(forms, key=len, reverse=True))


@functools.lru_cache(maxsize=256)
def secret_text_forms(secret: str) -> tuple[str, ...]:
    """``secret_forms`` as text, for the answer's headers and labels."""
    return tuple(form.decode() for form in secret_forms(secret))


def without_secret(text: str, secret: str, blank: str = "[redacted]") -> str:
    """``text`` with every form of ``secret`` (``secret_text_forms``) replaced by ``blank``:
    for text decoded from an answer whose raw bytes were blanked (a JSON ``\\u`` escape gives
    the credential back once decoded). Nothing for a credential shorter than
    ``MIN_TOKEN_CHARS``, as the answers' blanking."""
    if len(secret) < MIN_TOKEN_CHARS:
        return text
    for form in secret_text_forms(secret):  # longest first
        if form in text:
            text = text.replace(form, blank)
    return text


@functools.lru_cache(maxsize=256)
def base64_forms(secret: str) -> tuple[bytes, ...]:
    """The credential's base64, alone or within more that was encoded with it (as
    ``secret_forms`` has them): what a base64 run written in lines is looked into for."""
    raw = secret.encode()
    based = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    forms = {form.rstrip("=") for form in based} | _within_base64(raw)
    return tuple(form.encode() for form in forms)


# A base64 run written in lines (MIME's 76 characters, PEM's 64: Python's ``encodebytes``, PHP's
# ``chunk_split``, Java's MIME encoder), its breaks as they are or as JSON writes them escaped,
# its lines indented or not, a "/" written "\\/" (PHP's ``json_encode``). Matched only where a
# run starts (``without_wrapped_base64`` finds where), and nothing in it is given back once
# taken (possessive): read once, whatever its length.
_WRITTEN = rb"(?:[A-Za-z0-9+/_-]|\\/)"
_REST = rb"(?:[A-Za-z0-9+/_-]++|\\/)"  # runs of plain characters (read fast), "\\/" between
_LINE_BREAK = rb"(?:\r\n?|\n|\\r\\n|\\n|\\r|\\u000[dD]\\u000[aA]|\\u000[aAdD])"
_WRAPPED_BASE64 = re.compile(
    rb"%(w)s{16}%(rest)s*+(?:%(br)s[ \t]*+%(rest)s++)++=*+"
    % {b"w": _WRITTEN, b"rest": _REST, b"br": _LINE_BREAK}
)
_BASE64_CHARACTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"


def _shapes() -> bytes:
    """Each byte as its kind: a base64 character "A", a line break "\\n", a backslash itself,
    anything else a space."""
    table = bytearray(b" " * 256)
    for byte in _BASE64_CHARACTERS:
        table[byte] = ord("A")
    table[ord("\r")] = table[ord("\n")] = ord("\n")
    table[ord("\\")] = ord("\\")
    return bytes(table)


_SHAPES = _shapes()
# A shape's base64 characters, and spaces: the search back to a line's start goes no further
# than the line.
_RUNS = bytes.maketrans(b"\n\\", b"  ")
_LINE = b"A" * 16  # the shortest line of base64 looked into: MIME's are 76, PEM's 64


def without_wrapped_base64(content: bytes, forms: tuple[bytes, ...]) -> bytes:
    """``content`` with each base64 run written in lines blanked whole where, its lines joined,
    it holds one of ``forms`` (``base64_forms``): a line break that falls inside the
    credential's base64 hides it from a plain search. Content with no line break at all is
    returned as it is, unsearched.

    Found by its shape (a translation and substring searches, in C, which skip what is not a
    line of base64 at the speed of memory): a line of 16 base64 characters or more that ends
    in a break. The expression is tried only where such a line starts; run over the whole
    answer, trying every position, it cost 20 to 30 µs a KB of an attachment's base64."""
    if b"\n" not in content and b"\r" not in content and b"\\" not in content:
        return content
    # An escaped "/" (``\\/``) is two characters of a line, not an escape that may end it.
    shape = content.replace(b"\\/", b"//").translate(_SHAPES)
    ends = _LineEnds(shape)
    if ends.next_from(0) < 0:
        return content
    runs = shape.translate(_RUNS)
    kept: list[bytes] = []
    done = at = 0
    while (found := ends.next_from(at)) >= 0:
        start = runs.rfind(b" ", 0, found) + 1  # the line's: after its last other byte
        run = _WRAPPED_BASE64.match(content, start)
        if run is None:
            at = found + 1
            continue
        joined = _joined(run.group())
        if any(form in joined for form in forms):
            kept += [content[done:start], b"[redacted]"]
            done = run.end()
        at = run.end()  # the lines it took are read
    if not kept:
        return content
    return b"".join([*kept, content[done:]])


def held_for_wrapped_base64(data: bytes, hold: int) -> int:
    """Where a stream's blanked window ``data`` may be handed on up to: at least its last
    ``hold`` bytes are kept back (the longest a credential's base64 written in lines can span),
    and more where those would begin less than 16 characters before a line break within a line
    of base64 that starts earlier: the kept part, searched with the next chunk, then starts
    with a line ``without_wrapped_base64`` looks into, so that a credential's base64 running
    from it over a break is found whole."""
    cut = max(0, len(data) - hold)
    if cut == 0:
        return 0
    shape = data[cut : cut + len(_LINE)].replace(b"\\/", b"//").translate(_SHAPES)
    breaks = [at for at in (shape.find(b"\n"), shape.find(b"\\")) if at >= 0]
    if breaks and _SHAPES[data[cut - 1]] == ord("A"):
        return max(0, cut + min(breaks) - len(_LINE))
    return cut


def wrapped_base64_span(forms: tuple[bytes, ...]) -> int:
    """The most bytes a credential's base64 (``forms``) can span written in lines: a break at
    most every 16 characters (the shortest line looked into), each as long as an escaped CRLF,
    with indentation."""
    longest = max((len(form) for form in forms), default=0)
    return longest + (longest // len(_LINE) + 2) * 80


def _joined(lines: bytes) -> bytes:
    """The base64 of ``lines`` (``_WRAPPED_BASE64``'s match) without its line breaks and
    indentation, a "/" written "\\/" made "/" again: the only backslashes in it begin those."""
    for escaped in _ESCAPED_BREAKS:
        lines = lines.replace(escaped, b"")
    return lines.replace(b"\\/", b"/").translate(None, b"\r\n \t")


_ESCAPED_BREAKS = (b"\\r", b"\\n", b"\\u000a", b"\\u000A", b"\\u000d", b"\\u000D")


class _LineEnds:
    """Where lines of 16 base64 characters or more end in a break, found in order from a
    position. Each search goes on from its last find, and one that found nothing is not made
    again. Where breaks are few (an attachment's base64, on one line or in lines of 76), each
    is found by itself (``memchr``: a fraction of a nanosecond a byte) and the 16 bytes before
    it looked at; where they are many (a pretty-printed answer, one a line), 16 base64
    characters and a break are searched for together, which such an answer rarely holds (a
    search for them through a long line of base64 would cost ten times more)."""

    def __init__(self, shape: bytes) -> None:
        self.shape = shape
        self.few = (shape.count(b"\n") + shape.count(b"\\")) * 64 < len(shape)
        self.patterns = (b"\n", b"\\") if self.few else (_LINE + b"\n", _LINE + b"\\")
        self.back = 0 if self.few else len(_LINE)  # where the break is in a pattern
        self.found = [-2] * len(self.patterns)  # -2: not searched yet; -1: no more

    def next_from(self, at: int) -> int:
        """The first break at ``at`` or after that ends a line of 16 base64 characters or
        more; -1: none."""
        while True:
            for i, pattern in enumerate(self.patterns):
                if self.found[i] == -2 or 0 <= self.found[i] < at - self.back:
                    self.found[i] = self.shape.find(pattern, max(at - self.back, 0))
            present = [found for found in self.found if found >= 0]
            if not present:
                return -1
            end = min(present) + self.back
            if self.shape[end - len(_LINE) : end] == _LINE:
                return end
            at = end + 1  # a short line, or none: the next break


def _within_base64(raw: bytes) -> set[str]:
    """The credential's base64 where it is part of what was encoded (``Bearer <token>``, a dump
    of the request's headers): each of the three places it can start in a group of three bytes
    encodes it differently, and the characters its first and last bytes share with the bytes
    around it are not known; what lies between them is (for a credential of 8 bytes or more,
    at least 8 characters: never ordinary text by chance)."""
    cores: set[str] = set()
    for before in range(3):
        whole_groups = (before + len(raw)) // 3  # the groups of three holding its bytes alone
        start = 1 if before else 0
        if whole_groups - start < 2:
            continue
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            written = encode(b"\0" * before + raw).decode()
            cores.add(written[4 * start : 4 * whole_groups])
    return cores


_HEX = re.compile("%[0-9A-F]{2}")


# The standard library's JSON string scanner (C): the string whose opening quote is just before
# the index, decoded, and the index after its closing quote. Not in the type stubs.
_scan_string: Callable[[str, int], tuple[str, int]]
_scan_string = json.decoder.scanstring  # type: ignore[attr-defined]


def escapes_hide(text: str, secret: str) -> bool:
    """Whether a string of the JSON ``text`` holds ``secret`` once its escapes are decoded.
    The strings written without an escape hold it as they are; only those with one are found
    (JSON has a backslash nowhere else) and decoded, by the standard library's own string
    scanner, in C: a long answer with a few costs little."""
    at = text.find("\\")
    while at != -1:
        try:
            decoded, end = _scan_string(text, _opening_quote(text, at) + 1)
        except ValueError:
            return True  # not read as the parser read it: let the whole body be walked
        if secret in decoded or end <= at:
            return True
        at = text.find("\\", end)
    return False


def _opening_quote(text: str, inside: int) -> int:
    """The quote that opens the string holding position ``inside``: the nearest one before it
    that no backslash escapes (an odd run of backslashes before a quote escapes it)."""
    quote = text.rfind('"', 0, inside)
    while quote > 0:
        run = quote
        while run > 0 and text[run - 1] == "\\":
            run -= 1
        if (quote - run) % 2 == 0:
            return quote
        quote = text.rfind('"', 0, run)
    return max(quote, 0)


def without_text(value: Any, text: str, blank: str) -> Any:
    """``value`` (parsed JSON) with ``text`` replaced by ``blank`` in every string, keys
    included: the same object where nothing held it, so an answer without it is not copied."""
    if isinstance(value, str):
        return value.replace(text, blank) if text in value else value
    if isinstance(value, list):
        items = [without_text(item, text, blank) for item in value]
        same = all(new is old for new, old in zip(items, value, strict=True))
        return value if same else items
    if isinstance(value, dict):
        pairs = [
            (without_text(k, text, blank), without_text(v, text, blank)) for k, v in value.items()
        ]
        same = all(
            k is old_k and v is old_v
            for (k, v), (old_k, old_v) in zip(pairs, value.items(), strict=True)
        )
        return value if same else dict(pairs)
    return value
