"""No credential leaves where it belongs (OWASP API8, API10): a whole session over the five
providers, with debug logging, provider faults, lost answers and providers whose errors echo
the request, every log line, response body and header captured.

The secrets: each provider's token (random here, so a match can only be a leak), each client's
API key, and keys presented that the gateway does not know. None may appear in any response, in
any log line (structlog's JSON lines at debug, every standard-library record at DEBUG, anything
printed), or in the store's file. The provider side is checked as well: a provider (the echo
servers record what they receive) gets its own token and never a caller's API key.
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from adapters.base import ACTIONS
from emulators.registry import create_app as create_emulator
from gateway.config import LoggingSettings
from gateway.http.app import create_app
from gateway.logging_setup import configure_logging
from tests.contract.profiles.load import profile
from tests.security.support import client, connection, settings

PROVIDERS = ("crm_v1", "draft_publish", "bill_crm", "item_envelope", "order_linked")
# Random per run: a match in a log or an answer can only be the secret itself.
TOKENS = {p: f"tok-{p.replace('_', '')}-{secrets.token_hex(12)}" for p in PROVIDERS}
ECHO_TOKENS = {p: f"echo-{p.replace('_', '')}-{secrets.token_hex(12)}" for p in PROVIDERS}
KEY = f"sk_live_{secrets.token_hex(16)}"
ADMIN_KEY = f"sk_admin_{secrets.token_hex(16)}"
WRONG_KEYS = [f"sk_live_{secrets.token_hex(16)}", f"sk_guess_{secrets.token_hex(8)}"]
SECRETS = [*TOKENS.values(), *ECHO_TOKENS.values(), KEY, ADMIN_KEY, *WRONG_KEYS]
QUICK = {
    "retries": {"max_attempts": 2, "backoff_base_s": 0.001, "backoff_max_s": 0.002},
    "breaker": {"failures": 1000},
    "timeout_s": 0.3,
}
PAYMENT = {"amount": "1.00", "date": "2026-03-05", "method": "bank_transfer"}


@dataclass
class Capture:
    """Everything the session left behind."""

    log: io.StringIO = field(default_factory=io.StringIO)  # structlog's lines
    records: list[str] = field(default_factory=list)  # standard library records, formatted
    answers: list[str] = field(default_factory=list)  # status, headers and body of each answer
    received: list[dict[str, str]] = field(default_factory=list)  # headers the echoes got


class _Records(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(self.format(record) + repr(getattr(record, "__dict__", {})))


@pytest.fixture
def capture() -> Iterator[Capture]:
    """Debug logging for the test: structlog into a buffer (as ``serve`` configures it, JSON at
    debug), every standard-library logger at DEBUG into a list; both restored afterwards."""
    found = Capture()
    saved = structlog.get_config()
    root = logging.getLogger()
    handler = _Records(found.records)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    configure_logging(LoggingSettings(level="debug", format="json"), found.log)
    try:
        yield found
    finally:
        structlog.configure(**saved)
        root.removeHandler(handler)
        root.setLevel(level)


_HIDDEN = "@@credential@@"


def echo_app(capture: Capture) -> web.Application:
    """A provider whose every answer is an error that repeats the request: its headers (the
    credential among them) and its body, in each of the five providers' error envelopes."""

    async def echo(request: web.Request) -> web.Response:
        capture.received.append(dict(request.headers))
        said = (
            f"you sent {request.method} {request.path_qs} with "
            + "; ".join(f"{k}: {v}" for k, v in request.headers.items())
            + " and "
            + (await request.text())
        )
        status = int(request.query.get("status", "422"))
        if request.method == "GET" and "pageSize" not in request.query:
            status = 409  # reads get another status than writes, to go down other paths
        # The messages write the credential with every character a JSON escape (as an encoder
        # that escapes more than it must does): only decoded does it read as the credential.
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        token = token or request.headers.get("X-API-Key", "")
        hidden = said.replace(token, _HIDDEN) if token else said
        body = {
            "success": False,
            "result": "failed",
            "code": status,
            "message": hidden,
            "errors": {"customer_id": [said]},
            "error": {
                "code": "validation_error",
                "message": hidden,
                "details": [{"field": "customer", "message": said}],
            },
        }
        escaped = "".join(f"\\u{ord(c):04x}" for c in token)
        return web.Response(
            text=json.dumps(body).replace(_HIDDEN, escaped),
            content_type="application/json",
            status=status,
            headers={"X-Echo": " ".join(said.split())[:2000]},
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@dataclass
class Session:
    gateway: TestClient  # type: ignore[type-arg]
    emulators: dict[str, str]
    capture: Capture
    http: aiohttp.ClientSession

    async def send(
        self,
        method: str,
        path: str,
        *,
        key: str | None = KEY,
        body: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        sent = dict(headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        async with self.gateway.request(
            method, path, json=body, data=data, headers=sent
        ) as response:
            text = await response.text()
        head = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.capture.answers.append(f"{response.status} {method} {path}\n{head}\n\n{text}")
        parsed = json.loads(text) if text and "json" in response.content_type else text
        return response.status, parsed

    async def faults(self, provider: str, **config: Any) -> None:
        url = self.emulators[provider] + "/_emulator/faults"
        async with self.http.post(url, json=config) as response:
            assert response.status == 200, await response.text()


async def tour(session: Session, name: str, provider: str, n: int) -> None:
    """What a client does on one connection: read, create, replay, act, pay, note, delete."""
    base = f"/v1/connections/{name}"
    await session.send("GET", base)
    await session.send("GET", base, key=ADMIN_KEY)  # with base_url
    status, page = await session.send("GET", f"{base}/invoices?limit=3&expand=remote_data")
    if status == 200 and page["data"]:
        first = page["data"][0]["id"]
        await session.send("GET", f"{base}/invoices/{first}?expand=remote_data")
        await session.send("GET", f"{base}/invoices/{first}/payments")
        if page["next_cursor"]:
            await session.send("GET", f"{base}/invoices?limit=3&cursor={page['next_cursor']}")
    sample = profile(provider).sample(n).model_dump(mode="json", exclude_none=True)
    await session.send("POST", f"{base}/invoices/preview", body=sample)
    key = {"Idempotency-Key": f"sec-{name}-{n}"}
    status, created = await session.send("POST", f"{base}/invoices", body=sample, headers=key)
    await session.send("POST", f"{base}/invoices", body=sample, headers=key)  # replayed
    invoice = created.get("id") if isinstance(created, dict) and status == 201 else "1"
    one = f"{base}/invoices/{invoice}"
    await session.send("GET", one + "?expand=remote_data")
    await session.send("PUT", one, body=profile(provider).sample(n + 1).model_dump(mode="json"))
    for action in ACTIONS[:3]:
        await session.send("POST", f"{one}/{action}", headers={"Idempotency-Key": f"a-{n}"})
    await session.send("POST", f"{one}/payments", body=PAYMENT)
    form = aiohttp.FormData()
    form.add_field("note", f"note {n}")
    form.add_field("file", b"%PDF-1.4 fake", filename="a.pdf", content_type="application/pdf")
    await session.send("POST", f"{one}/notes", data=form)
    await session.send("POST", f"{base}/orders/SO-1001/invoices")
    await session.send("DELETE", one)


async def test_no_secret_in_any_log_line_answer_or_header_of_a_whole_session(
    capture: Capture,
    aiohttp_server: Any,
    aiohttp_client: Any,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    emulators: dict[str, str] = {}
    connections = []
    for provider in PROVIDERS:
        emulator: TestServer = await aiohttp_server(
            create_emulator(provider, token=TOKENS[provider], seed_invoices=4)
        )
        emulators[provider] = str(emulator.make_url("")).rstrip("/")
        connections.append(
            connection(provider, emulators[provider], token=TOKENS[provider], **QUICK)
        )
    echo: TestServer = await aiohttp_server(echo_app(capture))
    echo_url = str(echo.make_url("")).rstrip("/")
    for provider in PROVIDERS:
        connections.append(
            connection(
                provider,
                echo_url,
                name=f"{provider}-echo",
                token=ECHO_TOKENS[provider],
                **QUICK,
            )
        )
    store = tmp_path / "store.db"
    clients = [client("app", KEY), client("ops", ADMIN_KEY, scopes=["admin"])]
    app = create_app(settings(connections, clients, store_url=f"sqlite:///{store}"))
    gateway = await aiohttp_client(app)

    async with aiohttp.ClientSession() as http:
        session = Session(gateway, emulators, capture, http)
        for n, provider in enumerate(PROVIDERS):
            await tour(session, provider, provider, n)
            # Faults: errors, resets, rate limits and timeouts, then a lost answer on create
            # (the gateway asks the provider what happened: lookups, read-backs).
            await session.faults(
                provider,
                error_rate=0.3,
                error_status=503,
                reset_rate=0.2,
                rate_limit_rate=0.2,
                timeout_rate=0.1,
                retry_after=0,
                seed=n,
            )
            await tour(session, provider, provider, n + 10)
            await session.faults(
                provider, reset_rate=1, after_commit=True, methods=["POST"], path_regex="voic"
            )
            await tour(session, provider, provider, n + 20)
            await session.faults(provider)
            await tour(session, f"{provider}-echo", provider, n)
        for wrong in WRONG_KEYS:
            await session.send("GET", "/v1/connections", key=wrong)
            await session.send("GET", "/readyz", key=wrong)
        await session.send("GET", "/v1/connections", headers={"X-API-Key": KEY}, key=None)
        await session.send("GET", "/readyz", key=ADMIN_KEY)
        await session.send("GET", "/metrics", key=ADMIN_KEY)
        await session.send("GET", "/v1/connections", key=ADMIN_KEY)
    await gateway.close()

    printed = capfd.readouterr()
    logs = "\n".join([capture.log.getvalue(), *capture.records, printed.out, printed.err])
    answers = "\n".join(capture.answers)
    at_rest = store.read_bytes().decode("utf-8", "replace")

    # The capture is not empty: one JSON line per request, at debug level, and the echoes'
    # errors came through (with the credential blanked out).
    lines = [json.loads(line) for line in capture.log.getvalue().splitlines() if line]
    assert sum(1 for line in lines if line.get("event") == "request") == len(capture.answers)
    assert len(capture.answers) > 300
    assert "you sent" in answers and "[redacted]" in answers
    assert sum(1 for a in capture.answers if a.startswith("201 ")) > 10
    assert any('"outcome": "uncertain"' in a or "Idempotent-Replayed" in a for a in capture.answers)

    for secret in SECRETS:
        assert secret not in logs, f"a secret in the logs: {_around(logs, secret)}"
        assert secret not in answers, f"a secret in an answer: {_around(answers, secret)}"
        assert secret not in at_rest, "a secret in the store"
    # "Bearer" is only ever followed by realm= or <key> (a 401's help) or the blanked value.
    for value in re.findall(r"Bearer (\S+)", answers):
        assert value.startswith(("realm=", "[redacted]", "<key>")), _around(answers, value)
    assert "Bearer " not in logs and "X-Api-Key" not in logs and "X-API-Key" not in logs

    # Each echo received its own connection's credential, and never a caller's key.
    assert capture.received
    for headers in capture.received:
        sent = headers.get("Authorization", "").removeprefix("Bearer ") or headers.get("X-API-Key")
        assert sent in ECHO_TOKENS.values(), headers
        assert not any(key in str(headers) for key in (KEY, ADMIN_KEY, *WRONG_KEYS))


def _around(text: str, needle: str) -> str:
    at = text.find(needle)
    return text[max(0, at - 300) : at + 100]
