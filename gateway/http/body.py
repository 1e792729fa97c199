"""Reading request bodies exactly: JSON numbers become ``Decimal``, never a binary float.

Every JSON body goes through ``read_json_object``, the one place that checks its media type
(``application/json`` or ``application/*+json``, else 415) and its depth (at most
``jsonwire.MAX_DEPTH`` levels, else 400) before anything validates it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from gateway.http.problems import Problem
from gateway.jsonwire import MAX_DEPTH, exact_int, nested_deeper

JSON_MEDIA_TYPE = "application/json"


def is_json_media_type(media_type: str) -> bool:
    """``application/json`` or ``application/<anything>+json`` (parameters already removed)."""
    kind, _, subtype = media_type.strip().lower().partition("/")
    suffixed = len(subtype) > len("+json") and subtype.endswith("+json")
    return kind == "application" and (subtype == "json" or suffixed)


def check_json_media_type(request: web.Request) -> None:
    """415 ``unsupported_media_type`` unless the body is labelled as JSON (any charset)."""
    given = request.headers.get("Content-Type")
    if given is not None and is_json_media_type(request.content_type):
        return
    # What was sent, as sent (without parameters): aiohttp reads a type it cannot parse as
    # application/octet-stream, which is not what the client would recognise.
    sent = given.partition(";")[0].strip()[:100] if given is not None else ""
    received = f"is sent as {sent}" if sent else "has no Content-Type"
    raise Problem(
        "unsupported_media_type",
        f"The request body {received}; send it as {JSON_MEDIA_TYPE} (or application/*+json).",
    )


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; 415 when it is not labelled JSON, 400 ``bad_request`` that
    says what is wrong with it otherwise."""
    raw = await request.read()
    if not raw.strip():
        raise Problem("bad_request", "The request body is empty; send a JSON object.")
    check_json_media_type(request)
    too_deep = f"The request body is nested deeper than {MAX_DEPTH} levels."
    try:
        data = json.loads(
            raw, parse_float=Decimal, parse_int=exact_int, parse_constant=_reject_constant
        )
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
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
