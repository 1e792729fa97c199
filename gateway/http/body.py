"""Reading request bodies exactly: JSON numbers become ``Decimal``, never a binary float.

Every JSON body goes through ``read_json_object``, the one place that checks its media type
(``application/json`` or ``application/*+json``, else 415) and its depth (at most
``jsonwire.MAX_DEPTH`` levels, else 400) before anything validates it. It also refuses (400) an
object with the same member twice (JSON parsers disagree on which one counts, so neither is
silently dropped) and text that is not Unicode: a lone surrogate, escaped (``"\\ud800"``) or
encoded, which no answer could carry back (docs/decisions.md, "Fuzzing the invoice routes").
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from gateway.canonical.errors import FieldError, pointer
from gateway.http.keys import ARRIVING, SETTINGS
from gateway.http.problems import Problem
from gateway.http.validation import validation_problem
from gateway.jsonwire import MAX_DEPTH, exact_int, nested_deeper

JSON_MEDIA_TYPE = "application/json"
# Where a lone surrogate can come from: a \u escape of one, or one encoded as UTF-8 (which the
# json module decodes with "surrogatepass"). Only a body with one of these is walked.
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAME_SHOWN = 64
# A body announced longer than this is refused for its label before it is read; one this short
# is read first, as whitespace alone is the 400 "empty", not a 415.
_BLANK_BODY_BYTES = 64
# What ``curl -d`` labels a body with, unless told otherwise.
CURL_FORM_LABEL = "application/x-www-form-urlencoded"


def is_json_media_type(media_type: str) -> bool:
    """``application/json`` or ``application/<anything>+json`` (parameters already removed)."""
    kind, _, subtype = media_type.strip().lower().partition("/")
    suffixed = len(subtype) > len("+json") and subtype.endswith("+json")
    return kind == "application" and (subtype == "json" or suffixed)


def check_json_media_type(
    request: web.Request, *, unread: bool = False, curl_label: bool = False
) -> None:
    """415 ``unsupported_media_type`` unless the body is labelled as JSON (any charset).
    ``unread``: said before the body is read (none of it is needed for this answer), and the
    connection closed, as the rest of the body is not waited for. ``curl_label``: a body with
    no label, or with the form label ``curl -d`` gives it, is read as JSON too."""
    given = request.headers.get("Content-Type")
    if given is not None and is_json_media_type(request.content_type):
        return
    if curl_label and (not (given or "").strip() or request.content_type == CURL_FORM_LABEL):
        return  # an empty Content-Type field labels nothing, as none does
    # What was sent, as sent (without parameters): aiohttp reads a type it cannot parse as
    # application/octet-stream, which is not what the client would recognise.
    sent = given.partition(";")[0].strip()[:100] if given is not None else ""
    received = f"is sent as {sent}" if sent else "has no Content-Type"
    raise Problem(
        "unsupported_media_type",
        f"The request body {received}; send it as {JSON_MEDIA_TYPE} (or application/*+json).",
        headers={"Connection": "close"} if unread else None,
    )


class ClientClosed(Exception):
    """The caller closed the connection before its body arrived whole: nothing failed and no
    one reads an answer (logged and counted as 499, "client closed request", never a 500)."""


@asynccontextmanager
async def body_deadline(request: web.Request) -> AsyncIterator[None]:
    """Within it the request's body must arrive whole within ``server.body_timeout_s`` of now,
    else 408 (retryable: nothing was done). A body sent a byte at a time holds no connection
    for longer; the answer comes before anything is sent to a provider."""
    seconds = request.app[SETTINGS].server.body_timeout_s
    arriving = request.app[ARRIVING]
    try:
        async with asyncio.timeout(seconds) as deadline:
            with arriving.reading(request, deadline):
                yield
    except ConnectionResetError:  # aiohttp's "Connection lost" while the body was read
        raise ClientClosed from None
    except TimeoutError:
        if arriving.stopping:
            raise Problem(
                "request_timeout",
                "The gateway is stopping and reads no more of a request's body; this one had "
                "not arrived whole, and nothing was done with it: send it again.",
                headers={"Connection": "close"},
            ) from None
        raise Problem(
            "request_timeout",
            f"The request body did not arrive whole within {seconds:g} s; send it again.",
            headers={"Connection": "close"},
        ) from None


# The codings aiohttp decodes (br and zstd with the brotli and backports.zstd dependencies),
# each only alone: a body in any other, or in two at once, would reach the JSON parser still
# encoded.
_CODINGS = frozenset({"identity", "gzip", "deflate", "br", "zstd"})


def check_content_encoding(request: web.Request) -> None:
    """415 for a ``Content-Encoding`` the gateway cannot decode (read as it came, the body
    would be taken for what it is not)."""
    header = request.headers.get("Content-Encoding")
    if header is None:
        return
    coding = header.strip().lower()
    if coding in _CODINGS or not coding:
        return
    said = (
        f"Content-Encoding {header.strip()[:40]} stacks codings; one is taken at a time"
        if "," in coding
        else f"Content-Encoding {coding[:40]} is not taken"
    )
    raise Problem(
        "unsupported_media_type",
        f"{said}: send the body uncompressed, or compressed with one of gzip, deflate, br or zstd.",
    )


async def read_body(request: web.Request) -> bytes:
    """The request's body, whole, within its deadline (``body_deadline``). One that announces
    more than ``server.max_body_bytes`` is a 413 at once, none of it read: the client learns
    before it sends it, rather than after the first MiB (or never, if it stalls)."""
    limit = request.app[SETTINGS].server.max_body_bytes
    if (request.content_length or 0) > limit:
        raise Problem(
            "payload_too_large",
            f"The request body announces {request.content_length} bytes; at most {limit} are "
            "taken (server.max_body_bytes).",
            headers={"Connection": "close"},
        )
    check_content_encoding(request)
    async with body_deadline(request):
        return await request.read()


async def read_json_object(request: web.Request, *, curl_label: bool = False) -> dict[str, Any]:
    """The body as a JSON object; 415 when it is not labelled JSON, 400 ``bad_request`` that
    says what is wrong with it otherwise. ``curl_label``: also a body labelled as ``curl -d``
    labels it, or not at all (``calculate`` only: it reads and writes no data)."""
    if (request.content_length or 0) > _BLANK_BODY_BYTES:
        # A body is coming that cannot be blank, and its label alone decides this answer: said
        # before reading it (a client that stalled after the head was answered 408, not 415;
        # one that sent a MiB had it all read first). A chunked body, or a short one, is read
        # first: empty or blank, it is the 400 "empty" (docs/decisions.md, "HTTP").
        check_json_media_type(request, unread=True, curl_label=curl_label)
    raw = await read_body(request)
    if not raw.strip():
        raise Problem("bad_request", "The request body is empty; send a JSON object.")
    check_json_media_type(request, curl_label=curl_label)
    encoding = json.detect_encoding(raw)  # what json.loads would decode bytes as
    if encoding not in ("utf-8", "utf-8-sig"):
        # JSON between systems is UTF-8 (RFC 8259); Latin-1 was refused, UTF-16 taken.
        shown = encoding.upper().replace("-BE", "").replace("-LE", "")
        raise Problem("bad_request", f"The request body is {shown} text; send it as UTF-8.")
    too_deep = f"The request body is nested deeper than {MAX_DEPTH} levels."
    unreadable: list[_OutOfRange] = []
    try:
        data = json.loads(
            raw,
            parse_float=functools.partial(_number, unreadable),
            parse_int=exact_int,
            parse_constant=_reject_constant,
            object_pairs_hook=_object,
        )
    except _DuplicateMember as exc:
        raise Problem("bad_request", str(exc)) from None
    except UnicodeDecodeError:
        raise Problem("bad_request", "The request body is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise Problem(
            "bad_request",
            f"The request body is not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno}).",
        ) from None
    except RecursionError:
        raise Problem("bad_request", too_deep) from None
    except ValueError as exc:
        raise Problem("bad_request", f"The request body is not valid JSON: {exc}.") from None
    if nested_deeper(raw, data, MAX_DEPTH):
        raise Problem("bad_request", too_deep)
    if not isinstance(data, dict):
        raise Problem("bad_request", "The request body must be a JSON object.")
    if _MAYBE_SURROGATE.search(raw):
        _refuse_lone_surrogates(data)
    if unreadable:
        _refuse_out_of_range(data)
    return data


class _OutOfRange:
    """A JSON number whose exponent no ``Decimal`` can hold (``1E-99999999999999999999``):
    stands in its place until ``_refuse_out_of_range`` points at it."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _number(unreadable: list[_OutOfRange], text: str) -> Decimal | _OutOfRange:
    """A JSON number with a fraction or an exponent, exactly; one whose exponent is out of
    ``Decimal``'s range is kept aside, to be refused by where it stands."""
    try:
        return Decimal(text)
    except InvalidOperation:
        found = _OutOfRange(text)
        unreadable.append(found)
        return found


def _refuse_out_of_range(data: dict[str, Any]) -> None:
    """422, pointing at every number whose exponent is out of range."""
    detail = (
        "is a number whose exponent is out of range (beyond ±999999999999999999), far too large "
        'or too fine for any value here: send a decimal such as "12.50"'
    )
    errors = [
        FieldError(pointer(at), detail)
        for at, item in _members(data)
        if isinstance(item, _OutOfRange)
    ]
    errors.sort(key=lambda error: error.pointer)
    raise validation_problem(errors)


def _members(data: dict[str, Any]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every member of ``data`` at any depth, without recursion: its location (the names and
    indexes from the top, for ``errors.pointer``) and its value."""
    stack: list[tuple[tuple[Any, ...], Any]] = [((), data)]
    while stack:
        location, value = stack.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            at = (*location, key)
            yield at, item
            if isinstance(item, dict | list):
                stack.append((at, item))


class _DuplicateMember(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a member name repeats (parsers differ on which one wins)."""
    data = dict(pairs)
    if len(data) == len(pairs):
        return data
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            cut = name[:_NAME_SHOWN] + ("…" if len(name) > _NAME_SHOWN else "")
            raise _DuplicateMember(
                f"The request body has the member {json.dumps(cut)} twice in one object; "
                "send each member once."
            )
        seen.add(name)
    raise AssertionError("unreachable: a shorter dict has a repeated name")


def _refuse_lone_surrogates(data: dict[str, Any]) -> None:
    """400, pointing at the first string (or member name) holding a lone surrogate."""
    for at, item in _members(data):
        name = at[-1]
        if isinstance(name, str) and _SURROGATE.search(name):
            _surrogate_problem(pointer(at[:-1]), "a member name")
        if isinstance(item, str) and _SURROGATE.search(item):
            _surrogate_problem(pointer(at), "text")


def _surrogate_problem(at: str, what: str) -> None:
    detail = f"has {what} with a lone surrogate (U+D800 to U+DFFF), which is not Unicode text"
    raise Problem(
        "bad_request",
        f"The request body at {at or 'its top level'} {detail}; send UTF-8 text.",
        errors=[FieldError(at, detail)],
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
