"""What the order_linked emulator tests share: the app on loopback and its credential."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from emulators.order_linked import create_app

Client = TestClient[web.Request, web.Application]
AUTH = {"Authorization": "Bearer sandbox-order_linked"}
JSON_HEADERS = {**AUTH, "Content-Type": "application/json"}


@pytest.fixture
async def client(aiohttp_client: AiohttpClient) -> Client:
    """A fresh order_linked emulator with its default seed; test modules import it by name."""
    return await aiohttp_client(create_app())


async def post(client: Client, path: str, body: Any = None) -> tuple[int, Any]:
    """POST ``body`` as JSON; answers the status and the parsed body."""
    response = await client.post(path, json=body, headers=AUTH)
    return response.status, await response.json()
