"""The request log of the control layer: what a request looked like, credentials redacted."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy, MultiDictProxy, MultiMapping

REDACTED = "[redacted]"
_ALWAYS_REDACTED = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"}
)
# Parts of a header name that mark it as carrying a credential ("X-Auth-Token", "X-Client-Secret").
_SENSITIVE_PARTS = frozenset(
    {
        "auth",
        "authorization",
        "apikey",
        "key",
        "token",
        "secret",
        "password",
        "passwd",
        "credential",
        "credentials",
        "signature",
        "session",
        "cookie",
        "jwt",
    }
)
_SENSITIVE_SUBSTRINGS = ("token", "secret", "password", "apikey", "credential")
# An idempotency key identifies a request, it grants nothing, and tests need to see it.
_NEVER_REDACTED = frozenset({"idempotency-key", "x-idempotency-key"})


class UnreadableBody(Exception):
    """The body could not be read (over the size limit, say); ``entry`` is logged without it."""

    def __init__(self, entry: dict[str, Any], error: web.HTTPException) -> None:
        super().__init__(error.text)
        self.entry = entry
        self.error = error


async def log_entry(request: web.Request) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": _flatten(request.query),
        "headers": _redacted_headers(request.headers),
        "body": None,
    }
    try:
        entry["body"] = await _logged_body(request)
    except web.HTTPException as exc:
        entry["body"] = f"[unread: {exc.reason}]"
        raise UnreadableBody(entry, exc) from None
    return entry


def _flatten(values: MultiMapping[str]) -> dict[str, Any]:
    """One value per key as a string; a repeated key becomes a list of its values."""
    flat: dict[str, Any] = {}
    for key in values:
        if key in flat:
            continue
        all_values = values.getall(key)
        flat[key] = all_values[0] if len(all_values) == 1 else list(all_values)
    return flat


def _redacted_headers(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for name in headers:
        if name in result:
            continue
        value = ", ".join(headers.getall(name))
        result[name] = _redact(name, value) if _is_sensitive(name) else value
    return result


def _is_sensitive(name: str) -> bool:
    lowered = name.lower()
    if lowered in _NEVER_REDACTED:
        return False
    if lowered in _ALWAYS_REDACTED:
        return True
    parts = set(re.split(r"[-_.\s]+", lowered))
    return bool(parts & _SENSITIVE_PARTS) or any(s in lowered for s in _SENSITIVE_SUBSTRINGS)


def _redact(name: str, value: str) -> str:
    # Keeping the scheme shows how a client authenticated without leaking what it sent.
    if name.lower() in {"authorization", "proxy-authorization"}:
        scheme, sep, _ = value.partition(" ")
        if sep and scheme:
            return f"{scheme} {REDACTED}"
    return REDACTED


async def _logged_body(request: web.Request) -> Any:
    """The body as parsed JSON, text, or a dict of form fields; ``None`` when empty.

    ``read()`` and ``post()`` cache what they read, so the handler can read the body again
    (through ``read``/``text``/``json``/``post``; not by streaming ``request.content``).
    """
    if not request.body_exists:
        return None
    if request.content_type == "multipart/form-data":
        try:
            return _form_fields(await request.post())
        except web.HTTPException:
            raise
        except Exception:
            # A broken form is the handler's to reject in the provider's own words.
            return "[unreadable multipart body]"
    raw = await request.read()
    if not raw:
        return None
    text = raw.decode(request.charset or "utf-8", errors="replace")
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, ArithmeticError, RecursionError):
        pass
    # `curl -d` labels JSON as a form, so JSON is tried first whatever the Content-Type says.
    if request.content_type == "application/x-www-form-urlencoded":
        return _form_fields(await request.post())
    return text


def _form_fields(form: MultiDictProxy[str | bytes | bytearray | web.FileField]) -> dict[str, Any]:
    fields: dict[str, list[Any]] = {}
    for key, value in form.items():
        fields.setdefault(key, []).append(_form_value(value))
    return {key: values[0] if len(values) == 1 else values for key, values in fields.items()}


def _form_value(value: str | bytes | bytearray | web.FileField) -> Any:
    if isinstance(value, web.FileField):
        stream = value.file
        position = stream.tell()
        size = stream.seek(0, 2)
        stream.seek(position)
        return {"filename": value.filename, "content_type": value.content_type, "size": size}
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", errors="replace")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def dumps(value: Any) -> str:
    """JSON with ``Decimal`` written as the number literal it was read from (no float)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}: {dumps(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    return json.dumps(value)
