"""The connection's credential blanked out of everything a provider answers: the body read
whole, its headers and labels, its JSON strings once their escapes are decoded, and a streamed
body chunk by chunk, even where the credential spans two chunks.

A provider that echoes the request's headers in an error would otherwise hand the credential on
to the caller (an error's detail, ``remote_data``, a stored answer, an export). The forms looked
for are ``gateway/credential_forms.py``'s. A credential shorter than ``MIN_TOKEN_CHARS`` cannot
be told from ordinary text and is not looked for: check-config refuses one; a configuration
built in code may still hold one.
"""

from __future__ import annotations

import codecs
import dataclasses
from collections.abc import Callable
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from gateway.config import MIN_TOKEN_CHARS
from gateway.credential_forms import (
    base64_forms,
    escapes_hide,
    held_for_wrapped_base64,
    secret_forms,
    secret_text_forms,
    without_secret,
    without_text,
    without_wrapped_base64,
    wrapped_base64_span,
)
from gateway.upstream_answers import RawAnswer, UpstreamResponse, is_utf8

BLANK = b"[redacted]"


def blanked_answer(answer: RawAnswer, secret: str) -> RawAnswer:
    """The answer with ``secret`` blanked out wherever the provider repeated it (an error that
    echoes the request's headers): nothing read from it, an error's detail, ``remote_data`` or
    a stored answer, can carry it on."""
    if len(secret) < MIN_TOKEN_CHARS:
        return answer
    content = answer.content
    for form in secret_forms(secret):
        content = content.replace(form, BLANK)
    content = without_wrapped_base64(content, base64_forms(secret))
    changed = blanked_labels(answer.headers, answer.content_type, answer.charset, secret)
    if content != answer.content:
        changed["content"] = content
    return dataclasses.replace(answer, **changed) if changed else answer


def blanked_labels(
    headers: CIMultiDictProxy[str], content_type: str, charset: str | None, secret: str
) -> dict[str, Any]:
    """An answer's headers, media type and charset with ``secret`` blanked out where the
    provider echoed it in one (a header the adapters read, or a label an error quotes:
    "labelled …", "it is not … text"), as ``RawAnswer``'s fields; empty where none holds it."""
    if len(secret) < MIN_TOKEN_CHARS:
        return {}
    forms = secret_text_forms(secret)

    def blanked(value: str) -> str:
        return without_secret(value, secret)

    labels = "\n".join([*headers.values(), content_type, charset or ""])
    if not any(form in labels for form in forms):
        return {}
    cleaned: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        cleaned.add(name, blanked(value))
    return {
        "headers": CIMultiDictProxy(cleaned),
        "content_type": blanked(content_type),
        "charset": None if charset is None else blanked(charset),
    }


def blanked_decoded(answer: RawAnswer, response: UpstreamResponse, secret: str) -> UpstreamResponse:
    """JSON escapes hide the credential from the blanking of the raw bytes and give it back
    once decoded (``\\u002B`` for ``+``, as .NET's encoder writes it, or every character
    escaped): where a string written with escapes holds it once decoded, each decoded string
    is blanked too. Other answers (all but a hostile one) are not walked: a list of 25 invoices
    naming a "Rheinm\\u00f6bel GmbH" cost 1.5 ms walked."""
    if len(secret) < MIN_TOKEN_CHARS or response.body is None or b"\\" not in answer.content:
        return response
    if not escapes_hide(response.text, secret):
        return response
    body = without_text(response.body, secret, "[redacted]")
    return response if body is response.body else dataclasses.replace(response, body=body)


class ChunkBlanking:
    """A streamed body's chunks with ``secret`` blanked out, even across chunk ends: each
    ``feed`` returns what may be handed on, keeping back as much as a form of the credential
    can span (its base64 written in lines, a break inside it, the longest), to be searched
    whole with the next chunk; ``end`` returns the rest. A body labelled with a charset other
    than UTF-8 is turned into UTF-8 first, so that the credential is found in the form it is
    looked for and the text is handed on as the UTF-8 it is labelled with.

    ``LookupError`` from the constructor for a charset Python does not know as text;
    ``UnicodeDecodeError`` from ``feed`` or ``end`` for bytes that are not that charset."""

    def __init__(self, secret: str, charset: str | None) -> None:
        self._forms = secret_forms(secret) if len(secret) >= MIN_TOKEN_CHARS else ()
        self._wrapped = base64_forms(secret) if self._forms else ()
        keep = max((len(form) for form in self._forms), default=1) - 1
        self._hold = max(keep, wrapped_base64_span(self._wrapped))
        self._recode = _to_utf8(charset)
        self._carry = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._blanked(self._carry + (chunk if self._recode is None else self._recode(chunk)))
        # ``_hold`` covers the plain forms' length too.
        cut = held_for_wrapped_base64(data, self._hold) if self._forms else len(data)
        self._carry = data[cut:]
        return data[:cut]

    def end(self) -> bytes:
        """What is left; a character cut short at the end is an error too."""
        rest = self._carry
        self._carry = b""
        if self._recode is not None:
            rest = self._blanked(rest + self._recode(b"", final=True))
        return rest

    def _blanked(self, data: bytes) -> bytes:
        for form in self._forms:  # longest first
            data = data.replace(form, BLANK)
        return without_wrapped_base64(data, self._wrapped) if self._forms else data


def _to_utf8(charset: str | None) -> Callable[..., bytes] | None:
    """For a stream labelled with a charset other than UTF-8: a function that turns each chunk
    into UTF-8 (an incremental decoder: a character may span two chunks)."""
    if charset is None or is_utf8(charset):
        return None
    # LookupError for an unknown charset, and for a codec that is no text encoding (hex,
    # base64, zlib, rot13), which str.encode refuses where the incremental decoder would not.
    "".encode(charset)
    decoder = codecs.getincrementaldecoder(charset)()

    def recode(chunk: bytes, final: bool = False) -> bytes:
        return decoder.decode(chunk, final).encode("utf-8", "surrogatepass")

    return recode
