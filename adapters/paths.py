"""Putting a caller's id into a provider path, so that no id can change which path is called.

An id is one path segment, always. ``segment`` refuses (``BadIdentifier``, a 400) an id that a
server anywhere along the way could read as something else: empty, a dot segment (``.``,
``..``) or a separator (``/``, ``\\``), in any percent-encoding, however many times encoded,
and control characters. Everything else is percent-encoded whole (``safe=""``), and the upstream
client sends the path exactly as built, without normalizing it.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote, unquote

from gateway.errors import BadIdentifier

# More layers of percent-encoding than this is not an id anyone means.
_MAX_DECODINGS = 8
_DOT_SEGMENTS = frozenset({".", ".."})


def segment(value: str, *, what: str = "id", reserved: frozenset[str] = frozenset()) -> str:
    """``value`` as one percent-encoded path segment, or ``BadIdentifier`` when it could be
    read as anything but one segment naming one record, or is one of ``reserved`` (the
    provider's own path segments where an id would stand, in any encoding or case)."""
    reason = _unsafe(value, reserved)
    if reason is not None:
        raise BadIdentifier(f"{_shown(value, what)} cannot name a record: {reason}.")
    return quote(value, safe="")


def provider_path(*parts: str) -> str:
    """``/`` + the parts, each one a segment: ``provider_path("invoices", id, "notes")``."""
    return "".join("/" + segment(part) for part in parts)


def _unsafe(value: str, reserved: frozenset[str] = frozenset()) -> str | None:
    if not value:
        return "it is empty"
    layers = [value]
    while len(layers) <= _MAX_DECODINGS:
        try:
            decoded = unquote(layers[-1], errors="strict")
        except UnicodeDecodeError:
            return "it is percent-encoded bytes that are not UTF-8 text"
        if decoded == layers[-1]:
            break
        layers.append(decoded)
    else:
        return "it is percent-encoded too many times"
    for layer in layers:
        # NFKC: servers that fold compatibility characters read "．．" (fullwidth) as "..".
        for text in {layer, unicodedata.normalize("NFKC", layer)}:
            if any(is_control(ch) for ch in text):
                return "it contains control characters"
            if "/" in text or "\\" in text:
                return "it contains a path separator (/ or \\)"
            if not text.strip():
                return "it is blank"
            # ";" starts path parameters on some servers ("..;x" is ".." there).
            if text.split(";", 1)[0].strip() in _DOT_SEGMENTS:
                return "it is a dot segment (. or ..)"
            if text.split(";", 1)[0].strip().casefold() in reserved:
                return "it is a path of the provider's own, not an id"
    return None


def is_control(ch: str) -> bool:
    """A character no name or id holds: a control or format character, a line or paragraph
    separator (what breaks a header line or hides in one)."""
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def _shown(value: str, what: str) -> str:
    """The id for the message: printable, and short (it may be anything a caller sent)."""
    shown = value if len(value) <= 80 else value[:77] + "..."
    return f"{what} {shown!r}"
