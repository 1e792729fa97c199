from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from gateway.config import ServerSettings, Settings, StoreSettings
from gateway.http.app import create_app
from tests.stores import sqlite_url

ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def gateway(aiohttp_client: ClientFactory) -> TestClient:
    return await aiohttp_client(
        create_app(
            Settings(
                server=ServerSettings(max_body_bytes=64 * 1024),
                store=StoreSettings(url=sqlite_url()),
            )
        )
    )
