"""A hostile provider (OWASP API10, unsafe consumption of APIs), for each of the five providers:
a rogue server on 127.0.0.1 (``tests/security/rogue.py``) stands in front of the provider's
emulator and answers a 50 MB body (declared and chunked), an endless body, broken JSON, JSON
labelled text/html or not labelled at all, a redirect to another host, an HTML page (with 500
and with 200), the provider's own invoice with a field of the wrong type (an id as an object, a
text as an array, a date as a number, an amount as "abc") or without its id, lines or totals.

Each is a 502 ``upstream_error`` whose detail names the provider and what was wrong, in plain
words, never a 500, never the rogue's secret or the gateway's credential; the redirect's target
hears nothing; memory stays bounded; and the gateway serves the same provider, another
connection and its health check right after. A write whose answer is hostile is a 502 that
says the write may have taken effect (``outcome: uncertain``).

Beyond tests/e2e/test_upstream_safety.py (crm_v1 and bill_crm only: a 1 GiB body, a declared
body, redirects, unreadable JSON): every provider, the list route and a write, the shape cases.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.http.app import create_app
from tests.contract.profiles.load import profile
from tests.security.rogue import (
    CASES,
    MANGLED,
    SECRET,
    SHAPES,
    STREAMED,
    MiB,
    Rogue,
    Target,
)
from tests.security.support import check_problem, client, connection, peak_memory, settings

KEY = "sk-hostile-upstream"
AUTH = {"Authorization": f"Bearer {KEY}"}
# The gateway's credential for the rogue server (which echoes it back in its pages).
CREDENTIAL = "cred-for-the-rogue-4c7e91d2"
PROVIDERS = tuple(SHAPES)
CAP = 10 * MiB  # max_response_bytes, the default

ClientFactory = Callable[..., Awaitable[TestClient]]  # type: ignore[type-arg]
ServerFactory = Callable[..., Awaitable[TestServer]]

# Words the detail must hold, per case: what was wrong, in the gateway's words. The shape cases
# are read by each adapter, in its own words: checked in ``test_...shape`` below.
SAYS = {
    "huge_declared": f"answered more than {CAP} bytes",
    "huge_chunked": f"answered more than {CAP} bytes",
    "endless": f"answered more than {CAP} bytes",
    "malformed_json": "answered JSON the gateway cannot read",
    "json_as_html": "answered 200 labelled text/html, not JSON",
    "json_untyped": "answered 200 without a Content-Type, not JSON",
    "redirect_302": "answered a redirect (302); the gateway follows no redirects",
    "redirect_307": "answered a redirect (307); the gateway follows no redirects",
    "html_500": "failed with 500",
    "html_200": "answered 200 labelled text/html, not JSON",
}


@dataclass
class Hostile:
    provider: str
    gateway: TestClient  # type: ignore[type-arg]
    rogue: Rogue
    target: Target
    invoice_id: str  # one of the emulator's invoices, as the gateway names it

    @property
    def one(self) -> str:
        return f"/v1/connections/{self.provider}/invoices/{self.invoice_id}"

    @property
    def listing(self) -> str:
        return f"/v1/connections/{self.provider}/invoices?limit=2"


@pytest.fixture(params=PROVIDERS)
async def hostile(
    request: pytest.FixtureRequest, aiohttp_server: ServerFactory, aiohttp_client: ClientFactory
) -> AsyncIterator[Hostile]:
    """A gateway with two connections to ``provider``: one through the rogue server (named
    after the provider), one straight to the emulator (``steady``)."""
    from emulators.registry import create_app as emulator_app

    provider: str = request.param
    options = profile(provider).emulator_options
    emulator = await aiohttp_server(emulator_app(provider, seed_invoices=3, **options))
    target = Target()
    target_app = web.Application()
    target_app.router.add_route("*", "/{tail:.*}", target.handle)
    target_server = await aiohttp_server(target_app)
    emulator_url = str(emulator.make_url("")).rstrip("/")
    rogue = Rogue(provider, emulator_url, str(target_server.make_url("")).rstrip("/"))
    rogue_server = await aiohttp_server(rogue.app())
    quick = {
        "retries": {"max_attempts": 2, "backoff_base_s": 0.001, "backoff_max_s": 0.002},
        "breaker": {"failures": 1000},  # each case is judged on its own answer
    }
    connections = [
        connection(
            provider,
            str(rogue_server.make_url("")).rstrip("/"),
            token=CREDENTIAL,
            **quick,
        ),
        connection(provider, emulator_url, name="steady"),
    ]
    gateway = await aiohttp_client(create_app(settings(connections, [client("ops", KEY)])))
    first = await gateway.get(f"/v1/connections/{provider}/invoices?limit=1", headers=AUTH)
    assert first.status == 200, await first.text()  # unarmed, the rogue passes all through
    invoice_id = (await first.json())["data"][0]["id"]
    try:
        yield Hostile(provider, gateway, rogue, target, invoice_id)
    finally:
        await rogue.close()


async def problem_of(hostile: Hostile, method: str, path: str, **kw: Any) -> dict[str, Any]:
    """The 502 ``upstream_error`` a hostile answer must be, checked for what it must not say."""
    response = await hostile.gateway.request(method, path, headers=AUTH, **kw)
    text = await response.text()
    body: dict[str, Any] = await response.json(content_type=None)
    check_problem(response.status, response.headers, body, 502, "upstream_error")
    assert body["connection"] == hostile.provider and body["provider"] == hostile.provider
    detail: str = body["detail"]
    assert hostile.provider in detail, detail
    for leak in (SECRET, CREDENTIAL, "<html", "Traceback", "{'", "['", "Error:"):
        assert leak not in text, f"{leak!r} in {text}"
    assert not re.search(r"\b(KeyError|TypeError|AttributeError|ValueError)\b", detail), detail
    return body


async def still_healthy(hostile: Hostile) -> None:
    """Right after: the health check, another connection, and the same provider once it is
    itself again."""
    hostile.rogue.disarm()
    gateway = hostile.gateway
    assert (await gateway.get("/healthz")).status == 200
    steady = await gateway.get(
        f"/v1/connections/steady/invoices/{hostile.invoice_id}", headers=AUTH
    )
    assert steady.status == 200, await steady.text()
    again = await gateway.get(hostile.one, headers=AUTH)
    assert again.status == 200, await again.text()
    assert (await again.json())["id"] == hostile.invoice_id


@pytest.mark.parametrize("case", [c for c in CASES if c not in MANGLED])
async def test_a_hostile_answer_to_a_read_is_a_clear_502(hostile: Hostile, case: str) -> None:
    hostile.rogue.arm(case)
    async with peak_memory() as peak:
        details = [
            (await problem_of(hostile, "GET", path))["detail"]
            for path in (hostile.one, hostile.listing)
        ]
    who = f"{hostile.provider} (connection {hostile.provider}) "
    for detail in details:
        assert detail.startswith(who) and SAYS[case] in detail, detail
    assert hostile.target.requests == []  # a redirect's target hears nothing
    assert hostile.rogue.hostile >= 2
    if case in STREAMED:
        assert hostile.rogue.sent < 2 * 64 * MiB, f"{hostile.rogue.sent / MiB:.0f} MiB sent"
    assert peak.growth < 64 * MiB, f"memory grew {peak.growth / MiB:.0f} MiB"
    await still_healthy(hostile)


# The words naming the spoiled field, per provider and case: the provider's name for it or the
# canonical one.
FIELD_WORDS = {
    "id_object": ("id",),
    "number_array": ("number", "notes", "reference", "purchase_order"),
    "date_number": ("date",),
    "amount_text": ("total", "amount"),
    "no_id": ("id",),
    "no_lines": ("lines", "items", "InvoiceItem"),
    "no_totals": ("total", "sub_total", "subtotal", "summary"),
}


@pytest.mark.parametrize("case", MANGLED)
async def test_an_invoice_of_the_wrong_shape_is_a_clear_502(hostile: Hostile, case: str) -> None:
    hostile.rogue.arm(case)
    for path in (hostile.one, hostile.listing):
        detail = (await problem_of(hostile, "GET", path))["detail"]
        print(f"\n{hostile.provider} {case}: {detail}")
        assert any(word in detail for word in FIELD_WORDS[case]), detail
        assert "cannot" in detail or "without" in detail or "missing" in detail, detail
    assert hostile.rogue.hostile >= 2  # the shape table found the invoices it spoils
    await still_healthy(hostile)


WRITE_CASES = ("endless", "malformed_json", "json_as_html", "html_200", "redirect_307")


@pytest.mark.parametrize("case", [*WRITE_CASES, "id_object", "no_id"])
async def test_a_hostile_answer_to_a_create_says_the_write_may_have_happened(
    hostile: Hostile, case: str
) -> None:
    invoice = profile(hostile.provider).sample(0).model_dump(mode="json", exclude_none=True)
    hostile.rogue.arm(case, from_write=True)  # the checks before sending see the real provider
    async with peak_memory() as peak:
        body = await problem_of(
            hostile, "POST", f"/v1/connections/{hostile.provider}/invoices", json=invoice
        )
    print(f"\n{hostile.provider} create {case}: {body['detail']}")
    assert body["outcome"] == "uncertain", body
    assert "Whether the write took effect cannot be told" in body["detail"]
    assert body["retryable"] is False  # without a key, a retry is a new write
    assert hostile.rogue.hostile >= 1 and hostile.target.requests == []
    assert peak.growth < 64 * MiB
    await still_healthy(hostile)
