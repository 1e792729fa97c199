"""Calling the running sandbox over HTTP, as a client would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict

from gateway.sandbox.serve import Sandbox


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
