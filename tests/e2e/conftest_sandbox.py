"""Calling the running sandbox over HTTP, as a client would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict

from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import profile


@dataclass
class Answer:
    status: int
    headers: CIMultiDict[str]
    body: Any


async def call(
    sandbox: Sandbox,
    method: str,
    path: str,
    *,
    key: str | None = "sk_sandbox",
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    base: str | None = None,
) -> Answer:
    send = dict(headers or {})
    if key is not None:
        send["Authorization"] = f"Bearer {key}"
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    if data is not None and not any(name.lower() == "content-type" for name in send):
        send["Content-Type"] = "application/json"  # as the docs send JSON; 415 without it
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, (base or sandbox.gateway_url) + path, data=data, headers=send
        ) as response,
    ):
        text = await response.text()
        parsed = json.loads(text) if text and "json" in response.content_type else text
        return Answer(response.status, CIMultiDict(response.headers), parsed)


async def created(sandbox: Sandbox, connection: str, body: dict[str, Any] | None = None) -> str:
    """The location of a new invoice at ``connection``: ``body``, or the profile's first sample."""
    if body is None:
        body = profile(connection).sample(0).model_dump(mode="json", exclude_none=True)
    answer = await call(sandbox, "POST", f"/v1/connections/{connection}/invoices", body=body)
    assert answer.status == 201, answer.body
    return f"/v1/connections/{connection}/invoices/{answer.body['id']}"


async def provider_writes(sandbox: Sandbox, provider: str) -> list[tuple[str, str]]:
    """Every call but a read that ``provider``'s emulator has logged: (method, path)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(sandbox.emulator_urls[provider] + "/_emulator/requests") as response,
    ):
        log = (await response.json())["requests"]
    return [(e["method"], e["path"]) for e in log if e["method"] != "GET"]
