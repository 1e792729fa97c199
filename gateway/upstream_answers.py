"""Reading a provider's answer: the body capped, the text decoded, JSON parsed or refused.

Whatever a provider sends back, the upstream client gets either an ``UpstreamResponse`` or an
``UnusableAnswer`` (an ``UpstreamError``: 502, not retryable) that says what was wrong: more
than ``max_response_bytes`` (the connection is closed, not drained, so memory stays bounded),
JSON that is invalid, not in its charset, or nested deeper than ``MAX_JSON_DEPTH``, a success
answer whose body is not labelled JSON (an HTML page with 200, JSON sent as text/html or with no
Content-Type). The body of an error answer that is plainly not JSON (an HTML error page) is kept
as text for the adapter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from gateway import jsonwire
from gateway.credential_forms import without_secret
from gateway.errors import NotFound, UpstreamError

# Provider JSON deeper than this is refused (provider payloads are a few levels deep; far deeper
# would only exhaust the stack later, in a validator or an encoder): the limit request bodies have.
MAX_JSON_DEPTH = jsonwire.MAX_DEPTH
_CHUNK_BYTES = 64 * 1024
_LEADING_SPACE = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*")


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    headers: CIMultiDictProxy[str]
    text: str
    body: Any  # parsed JSON (fractions as Decimal), or None when the body is not JSON
    method: str = ""  # the request's: a GET is the gateway's own read (``read_refused``)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class UnusableAnswer(UpstreamError):
    """The provider answered, but nothing the gateway may use: a redirect, a body over the cap,
    JSON it cannot read. Asking again the same way will not help."""

    retryable = False


class ReadRefused(UpstreamError):
    """The provider refused one of the gateway's reads (a 400, 409, 413, 414 or 422 to a
    GET): nothing in the caller's request decides that (a read carries no field of it; the
    filters it passes on were checked first), so it is the provider failing, and asking again
    gets the same."""

    retryable = False


def read_refused(
    response: UpstreamResponse, says: str, *, provider: str, status: int | None = None
) -> ReadRefused | None:
    """``ReadRefused`` for a refusal of a GET (``says``: the provider's own words), else None:
    every adapter reads a refused read this way, not as the caller's invalid request
    (``status``: the refusal's, where the provider's envelope says it and not its status)."""
    refusal = response.status if status is None else status
    if response.method != "GET" or refusal not in (400, 409, 413, 414, 422):
        return None
    how = f"with {response.status}" if status is None else "in its error envelope"
    return ReadRefused(
        f"{says} ({provider} refused the gateway's read {how}: nothing in the request can "
        "change that)",
        provider=provider,
        status=response.status,
    )


@contextlib.contextmanager
def reading_a_list(listing: str) -> Iterator[None]:
    """Around an adapter's reading of a list call's answer (``listing``: "invoice", "trash"):
    the "not found" it makes of a 404 becomes what that is here (``_naming_no_invoice``). A 502,
    final, in the provider's words."""
    with _naming_no_invoice(f"read of the {listing} list:", ReadRefused):
        yield


@contextlib.contextmanager
def reading_a_create() -> Iterator[None]:
    """Around an adapter's reading of its create call's answer (``_naming_no_invoice``): a
    502, final; nothing was made."""
    with _naming_no_invoice("create: nothing was made;", UpstreamError):
        yield


@contextlib.contextmanager
def _naming_no_invoice(call: str, error: type[UpstreamError]) -> Iterator[None]:
    """A 404 to a call that names no invoice (a list, a create): what is missing is the call's
    path at the connection's ``base_url``. Passed on as not found, the caller would read it as
    an unknown connection or invoice; raised as ``error`` (a 4xx status: not retryable)."""
    try:
        yield
    except NotFound as missing:
        raise error(
            f"{missing.message} (a 404 to the gateway's {call} its path is missing at the "
            "connection's base_url, is it the API's root? Sending the request again cannot "
            "change that)",
            provider=missing.provider,
            status=404,
        ) from None


@dataclass(frozen=True)
class RawAnswer:
    """What came back before any reading of it: the status, headers and the (capped) body."""

    status: int
    headers: CIMultiDictProxy[str]
    content: bytes
    content_type: str
    charset: str | None
    # The charset the body was labelled with when it did not decode as that (``in_utf8``).
    undecodable: str | None = None


def is_utf8(charset: str | None) -> bool:
    """Whether text in ``charset`` is UTF-8 (no charset: JSON's own, RFC 8259)."""
    return charset is None or charset.lower().replace("_", "-") in ("utf-8", "utf8")


def in_utf8(answer: RawAnswer) -> RawAnswer:
    """The answer with its body in UTF-8, whatever charset it was labelled with: a credential
    the provider echoes in UTF-16 or EBCDIC is found by the blanking of the raw bytes (which
    looks for it in UTF-8) only once the body is in UTF-8. A body that does not decode as its
    label says is kept as far as it decodes, and marked (``undecodable``: JSON that is refused
    as it was before, other text read for its message). An unknown charset is left as it is:
    ``read_answer`` refuses it for JSON and reads other text as UTF-8."""
    if is_utf8(answer.charset):
        return answer
    assert answer.charset is not None
    undecodable = None
    try:
        text = answer.content.decode(answer.charset)
    except LookupError:
        return answer
    except UnicodeError:
        try:
            text = answer.content.decode(answer.charset, "replace")
        except UnicodeError:
            # A codec that decodes no text at all (``undefined``; ``punycode`` of most bytes):
            # left as it is, as an unknown charset is (``_decoded`` reads it as UTF-8).
            return answer
        undecodable = answer.charset
    content = text.encode("utf-8", "surrogatepass")
    return dataclasses.replace(answer, content=content, charset="utf-8", undecodable=undecodable)


async def read_capped(
    raw: aiohttp.ClientResponse, cap: int, *, says: str, provider: str
) -> RawAnswer:
    """The answer with its body read in chunks up to ``cap`` bytes; past that the connection
    is closed (not drained) and ``UnusableAnswer`` raised. ``says`` names the provider and
    connection for the message."""
    declared = raw.content_length if raw.method != "HEAD" else None
    content = bytearray()
    if declared is None or declared <= cap:
        async for chunk in raw.content.iter_chunked(_CHUNK_BYTES):
            content += chunk
            if len(content) > cap:
                break
        else:
            return RawAnswer(raw.status, raw.headers, bytes(content), raw.content_type, raw.charset)
    raw.close()
    raise UnusableAnswer(
        f"{says} answered more than {cap} bytes, more than the gateway reads",
        provider=provider,
        status=raw.status,
    )


def read_answer(
    answer: RawAnswer, *, says: str, provider: str, method: str = ""
) -> UpstreamResponse:
    """The answer as text and, where it is JSON, parsed (``UnusableAnswer`` when the body
    is labelled or shaped as JSON and cannot be read, or is a success answer's body not labelled
    JSON; error answers' other bodies are only text)."""

    def unreadable(why: str) -> UnusableAnswer:
        return UnusableAnswer(
            f"{says} answered JSON the gateway cannot read: {why}",
            provider=provider,
            status=answer.status,
        )

    content = answer.content
    start = _LEADING_SPACE.match(content)
    first = content[start.end() : start.end() + 1] if start else b""
    labelled = "json" in answer.content_type
    json_like = labelled or first in (b"{", b"[")
    if not json_like:
        if first:
            _refuse_unlabelled(answer, says=says, provider=provider)
        text = _decoded(content, answer.charset, errors="replace")
        return UpstreamResponse(answer.status, answer.headers, text, _lenient_json(text), method)
    try:
        if answer.undecodable is not None:
            raise unreadable(f"it is not {answer.undecodable} text")
        text = _decoded(content, answer.charset, errors="strict")
    except (UnicodeError, LookupError):
        raise unreadable(f"it is not {answer.charset or 'UTF-8'} text") from None
    if not first:
        return UpstreamResponse(answer.status, answer.headers, text, None, method)  # empty: fine
    try:
        body = jsonwire.loads_fast(text)
    except RecursionError:
        raise unreadable(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise unreadable(f"{exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:
        raise unreadable(str(exc)) from None
    if jsonwire.nested_deeper(text, body, MAX_JSON_DEPTH):
        raise unreadable(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if not labelled:
        _refuse_unlabelled(answer, says=says, provider=provider)
    return UpstreamResponse(answer.status, answer.headers, text, body, method)


def _refuse_unlabelled(answer: RawAnswer, *, says: str, provider: str) -> None:
    """A success answer with a body not labelled JSON is not the provider's API speaking (a
    proxy's or portal's page, a misrouted request): refused, whatever the body looks like. An
    error answer's body is only read for its message, so any label does."""
    if not 200 <= answer.status < 300:
        return
    label = answer.headers.get("Content-Type")
    said = f"labelled {answer.content_type[:100]}" if label else "without a Content-Type"
    raise UnusableAnswer(
        f"{says} answered {answer.status} {said}, not JSON; the gateway reads only JSON answers",
        provider=provider,
        status=answer.status,
    )


def _decoded(content: bytes, charset: str | None, *, errors: str) -> str:
    codec = charset or "utf-8"
    if is_utf8(codec):
        codec = "utf-8-sig"  # a byte order mark is tolerated, as JSON parsers may
    try:
        return content.decode(codec, errors)
    except (LookupError, UnicodeError):
        # An unknown charset, or a codec that decodes no text (``undefined``), even leniently.
        if errors == "strict":
            raise
        return content.decode("utf-8", errors)


def _lenient_json(text: str) -> Any:
    """A body not labelled or shaped as JSON: parsed when it happens to be JSON (a bare number,
    say), otherwise only text."""
    if not text.strip():
        return None
    try:
        return jsonwire.loads(text)
    except (ValueError, RecursionError):
        return None


# What of a failure's body is shown in its detail: a provider's own words, cut.
_SAID_CHARS = 200
_SAID_BYTES = 64 * 1024  # a body larger than this is no short message: not looked into
_MESSAGE_KEYS = ("message", "error", "detail", "title", "error_description", "msg")


def provider_said(answer: RawAnswer, secret: str) -> str | None:
    """The message a provider wrote in an answer the client fails on (a 5xx, a 429, a 401 or
    403: the adapter never reads those), for the caller to see: a JSON body's ``message`` (or
    ``error``, ``detail``…, one level down too), or a plain-text body's first line; cut at
    ``_SAID_CHARS`` characters, what does not print escaped. None for anything else (an HTML
    page, an empty body, JSON naming no message). The raw bytes had ``secret`` blanked
    (``credential_blanking``); what decoding gives back (JSON's ``\\u`` escapes) is blanked
    here, before the cut (a cut through it would show its start)."""
    if not answer.content or len(answer.content) > _SAID_BYTES:
        return None
    text = _decoded(answer.content, answer.charset, errors="replace").strip()
    said: str | None = None
    if "json" in answer.content_type or text.startswith("{"):
        with contextlib.suppress(ValueError, RecursionError):
            said = _message_in(json.loads(text))
    elif answer.content_type == "text/plain" and text:
        said = text.splitlines()[0]
    if said is None or not said.strip():
        return None
    said = without_secret(" ".join(said.split()), secret)
    cut = said[:_SAID_CHARS]
    shown = cut if cut.isprintable() else cut.encode("unicode_escape").decode("ascii")
    return shown + ("…" if len(said) > _SAID_CHARS else "")


def _message_in(body: Any, depth: int = 0) -> str | None:
    if not isinstance(body, dict):
        return None
    for key in _MESSAGE_KEYS:
        value = body.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and depth == 0:
            inner = _message_in(value, depth + 1)
            if inner is not None:
                return inner
    return None
