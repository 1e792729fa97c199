"""The HTTP of one provider call, apart from its flow: the URL built from a path exactly as the
adapter gave it, a ``Retry-After`` read, and a transport failure told in words the caller may see.
"""

from __future__ import annotations

import email.utils
import errno
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from gateway.errors import BadIdentifier

# Characters a built path keeps as they are (RFC 3986 pchar and "/"; "%" starts an escape).
_PATH_SAFE = "/%!$&'()*+,;=:@-._~"
_MAX_DECODINGS = 8
# A longer Retry-After is read as this: a day is already "not in this request".
_MAX_RETRY_AFTER_S = 86400.0


def provider_url(base: str, path: str, params: Mapping[str, Any] | None, *, provider: str) -> URL:
    """``base`` (normalized once) and ``path`` as they are: encoded=True, so that yarl neither
    decodes ``%2e`` nor removes dot segments. A dot segment is refused here too, whatever
    builds the path."""
    if not path.startswith("/") or any(ch in path for ch in "?#"):
        raise ValueError(f"a provider path starts with / and has no query: {path!r}")
    for part in path.split("/"):
        if _dot_segment(part):
            raise BadIdentifier(
                f"{provider} paths carry no dot segments: {part!r} was refused",
                provider=provider,
            )
    url = URL(base + quote(path, safe=_PATH_SAFE), encoded=True)
    query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
    return url.extend_query(query) if query else url


def unreached(exc: aiohttp.ClientConnectorError) -> str:
    """Why no connection was made, in words of its kind only: the driver's own message names
    the host and port, an address the caller is never shown. A name that does not resolve, a
    refusal and a TLS failure are each fixed in another place (the URL, the service, the
    scheme or the certificates), so they are told apart."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "could not be reached: its host name did not resolve"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "could not be reached: its TLS certificate was not accepted"
    if isinstance(exc, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError):
        return "could not be reached: the TLS handshake failed (does it speak https there?)"
    if exc.os_error.errno == errno.ECONNREFUSED:
        return "could not be reached: the connection was refused"
    return "could not be reached"


def failed(exc: aiohttp.ClientError) -> str:
    """What went wrong once the request was sent, as the caller's message says it: an answer
    that is not HTTP (another service on the provider's port) is not a dropped connection."""
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "broke off its answer before the end"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "answered with something that is not HTTP"
    return "dropped the connection"


def _dot_segment(part: str) -> bool:
    for _ in range(_MAX_DECODINGS):
        if part in (".", ".."):
            return True
        decoded = unquote(part)
        if decoded == part:
            return False
        part = decoded
    return True  # encoded over and over: not a segment anyone means


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def retry_after(headers: CIMultiDictProxy[str]) -> float | None:
    """``Retry-After`` in seconds, given as seconds or as an HTTP date; None when absent or
    unreadable."""
    value = headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds):
        return None
    # Past a float (``1e400``, a long run of digits) is the longest wait, not "none said".
    return min(max(0.0, seconds), _MAX_RETRY_AFTER_S)
