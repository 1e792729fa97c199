"""``check-config --probe``: one harmless read per connection, and what stops it, by name.

Each connection lists one invoice (the provider's list endpoint, a page of one), once, without
retries: what it proves is that the base URL answers, the credential is accepted, the base path
is the API's, and the first invoice can be read with the configured reference data (a currency
id missing from ``currencies`` is named). No provider documents a cheap way to list its tax or
currency records (docs/provider-api/), so the configured reference ids are not probed further.

Nothing is written. A message never holds a credential: the adapters' messages name the
connection and the status, the base URL is shown without user, password or query, and the
connection's secret is blanked out of anything else that could repeat it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp
from yarl import URL

from adapters.base import ListQuery
from adapters.registry import build_adapter
from gateway.config import Connection, Settings
from gateway.credential_forms import without_secret
from gateway.errors import AdapterError, UpstreamAuthFailed, UpstreamError, UpstreamTimeout


@dataclass(frozen=True)
class ProbeResult:
    connection: str
    provider: str
    url: str  # the base URL as it may be shown
    ok: bool
    what: str  # "listed 1 invoice", or the failure's name and why

    def line(self) -> str:
        verdict = "OK" if self.ok else "FAILED"
        return f"{self.connection} ({self.provider}, {self.url}): {verdict}: {self.what}"


async def probe(settings: Settings) -> list[ProbeResult]:
    """Probe every connection at once; results in the configuration's order."""
    # No cookies kept: a provider's session cookie must not go with another connection's calls
    # (two accounts on one host), as ``provider_sessions`` makes the serving sessions.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        return list(await asyncio.gather(*(_probe(c, session) for c in settings.connections)))


def shown_url(base_url: str) -> str:
    """The base URL without what may be secret in it (user, password, query, fragment)."""
    try:
        url = URL(base_url)
        return str(url.with_user(None).with_query(None).with_fragment(None))
    except (ValueError, TypeError):
        return "(base_url)"


async def _probe(connection: Connection, session: aiohttp.ClientSession) -> ProbeResult:
    once = connection.model_copy(
        update={"retries": connection.retries.model_copy(update={"max_attempts": 1})}
    )
    statuses: list[str] = []

    def observe(name: str, provider: str, seconds: float, outcome: str) -> None:
        statuses.append(outcome)  # the HTTP status of each call, or "error"

    def result(ok: bool, what: str) -> ProbeResult:
        return ProbeResult(
            connection.name, connection.provider, shown_url(connection.base_url), ok, what
        )

    started = time.perf_counter()
    try:
        adapter = build_adapter(once, session, observer=observe)
        page = await asyncio.wait_for(
            adapter.list_page(ListQuery(), None, 1), timeout=connection.timeout_s + 5
        )
    except UpstreamAuthFailed as exc:
        return result(
            False,
            f"wrong credentials: the provider answered {exc.status or 'a refusal'} to the "
            f"configured {connection.auth.type} credential (auth)",
        )
    except (UpstreamTimeout, TimeoutError) as exc:
        if isinstance(exc, UpstreamTimeout) and exc.status is not None:
            # The provider's own gateway answered 504 (a timeout behind it): no wait of ours.
            return result(False, _failure(exc, statuses, connection))
        return result(False, f"no answer within timeout_s ({connection.timeout_s:g} s)")
    except (AdapterError, LookupError, ValueError) as exc:
        return result(False, _failure(exc, statuses, connection))
    seconds = time.perf_counter() - started
    count = len(page.invoices)
    listed = f"listed {count} invoice{'s' if count != 1 else ''}" if count else "no invoices yet"
    return result(True, f"{listed} ({seconds:.2f} s)")


def _failure(exc: Exception, statuses: list[str], connection: Connection) -> str:
    message = _without_secret(str(getattr(exc, "message", None) or exc), connection)
    last = statuses[-1] if statuses else None  # what the provider answered, "error" for nothing
    status = getattr(exc, "status", None)
    if last == "404" or status == 404:
        return f"not found (404) at the base path: is base_url the API's root? ({message})"
    if last == "error" and isinstance(exc, UpstreamError):
        return f"unreachable: {message}"
    if isinstance(exc, UpstreamError) and status is not None:
        return f"the provider answered {status}: {message}"
    if isinstance(exc, LookupError):
        return f"no credential: {message}"
    return message


def _without_secret(text: str, connection: Connection) -> str:
    try:
        secret = connection.auth.secret()
    except LookupError:
        return text
    # Every form the credential may be written in (percent-encoded, JSON-escaped…), not only
    # as configured.
    return without_secret(text, secret, "***") if secret else text
