"""A gateway with several accounts of the same providers, for lists across connections.

Emulators on loopback, each seeded differently: two crm_v1, two bill_crm and one item_envelope
(the five merged), a third crm_v1 kept for failing, a draft_publish (no issue-date sort), and an
item_envelope behind a stand-in that turns its ascending pages descending (a provider that
answers out of the order it was asked). Two API keys: one on every connection, one on two.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from emulators.registry import create_app as create_emulator
from gateway.config import AuthFailures, Client, ServerSettings, Settings, StoreSettings
from gateway.http.app import create_app
from gateway.sandbox import default_token, sandbox_connection
from tests.e2e.sandbox import running_in_thread

KEY = "sk_fanout_all"
NARROW_KEY = "sk_fanout_narrow"
NARROW = ("crm-a", "bill-a")  # the connections the narrow key may use
MERGED = ("bill-a", "bill-b", "crm-a", "crm-b", "envelope")
# name → (provider, seed)
EMULATED = {
    "crm-a": ("crm_v1", 1),
    "crm-b": ("crm_v1", 2),
    "bill-a": ("bill_crm", 1),
    "bill-b": ("bill_crm", 2),
    "envelope": ("item_envelope", 1),
    "crm-failing": ("crm_v1", 3),
    "draft": ("draft_publish", 1),
    "envelope-disordered": ("item_envelope", 2),
}


@dataclass(frozen=True)
class FanoutSandbox:
    gateway_url: str
    emulator_urls: dict[str, str]  # by connection name (the disordered one: its emulator)


@contextmanager
def fanout_sandbox(seed_invoices: int) -> Iterator[FanoutSandbox]:
    """The sandbox above, running in a thread of its own until the block ends."""
    with running_in_thread(lambda: _running(seed_invoices)) as sandbox:
        yield sandbox


@asynccontextmanager
async def _running(seed_invoices: int) -> AsyncIterator[FanoutSandbox]:
    runners: list[web.AppRunner] = []
    scratch = tempfile.TemporaryDirectory(prefix="invoice-gateway-fanout-")
    try:
        urls: dict[str, str] = {}
        connections = []
        for name, (provider, seed) in EMULATED.items():
            emulator = create_emulator(
                provider, token=default_token(provider), seed=seed, seed_invoices=seed_invoices
            )
            urls[name] = await _start(emulator, runners)
            base = urls[name]
            if name == "envelope-disordered":
                base = await _start(_disordered(urls[name]), runners)
            connection = sandbox_connection(provider, base).model_copy(update={"name": name})
            if name == "crm-failing":  # one attempt: the failure is answered at once
                retries = connection.retries.model_copy(update={"max_attempts": 1})
                connection = connection.model_copy(update={"retries": retries})
            connections.append(connection)
        settings = Settings(
            server=ServerSettings(
                host="127.0.0.1", port=0, auth_failures=AuthFailures(per_minute=1_000_000)
            ),
            store=StoreSettings(url=f"sqlite:///{scratch.name}/store.db"),
            clients=[
                _client("all", KEY, ["*"]),
                _client("narrow", NARROW_KEY, list(NARROW)),
            ],
            connections=connections,
        )
        gateway = await _start(create_app(settings), runners)
        yield FanoutSandbox(gateway, urls)
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        scratch.cleanup()


def _client(name: str, key: str, connections: list[str]) -> Client:
    return Client(
        name=name,
        key_sha256=hashlib.sha256(key.encode()).hexdigest(),
        connections=connections,
        scopes=frozenset({"invoices:read"}),
    )


async def _start(app: web.Application, runners: list[web.AppRunner]) -> str:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    runners.append(runner)
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}"


def _disordered(upstream: str) -> web.Application:
    """item_envelope as a provider that ignores the direction asked: ascending comes descending."""

    async def forward(request: web.Request) -> web.Response:
        query = dict(request.query)
        if query.get("direction", "asc") == "asc":
            query["direction"] = "desc"
        headers = {"Authorization": request.headers.get("Authorization", "")}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, upstream + request.path, params=query, headers=headers
            ) as answer,
        ):
            body = await answer.read()
            kind = answer.headers.get("Content-Type", "application/json")
            return web.Response(status=answer.status, body=body, headers={"Content-Type": kind})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    return app
