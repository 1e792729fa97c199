"""One store suite, run against both backends.

SQLite gets a file in ``tmp_path``; PostgreSQL is the real server (``INVOICE_GATEWAY_TEST_PG``,
by default ``postgresql://postgres@127.0.0.1:5432/test``), each test in a schema of its own,
dropped afterwards. When PostgreSQL is down its half of the suite fails: CI starts the server,
and a skipped half would pass unnoticed.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gateway.store import Store, open_store

PG_URL = os.environ.get("INVOICE_GATEWAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


@dataclass
class Backend:
    """Where one test's store lives, and raw SQL on it (to check what the API cannot show)."""

    name: str
    url: str
    sqlite_file: Path | None = None
    pg_schema: str | None = None

    async def sql(self, statement: str) -> list[tuple[Any, ...]]:
        """Run ``statement`` outside the store; its rows as tuples."""
        if self.sqlite_file is not None:
            with closing(sqlite3.connect(self.sqlite_file)) as db, db:
                return [tuple(row) for row in db.execute(statement).fetchall()]
        con = await asyncpg.connect(PG_URL, server_settings={"search_path": f'"{self.pg_schema}"'})
        try:
            return [tuple(row) for row in await con.fetch(statement)]
        finally:
            await con.close()


def pg_url_with_schema(schema: str) -> str:
    """The test server's URL, in ``schema``. A few connections per store object are enough to
    race (fifty claims share them), and leave the server's connections to parallel runs."""
    return f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}&pool_max=3"


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        yield Backend("sqlite", f"sqlite:///{path}", sqlite_file=path)
        return
    schema = f"t_{uuid.uuid4().hex}"
    yield Backend("postgresql", pg_url_with_schema(schema), pg_schema=schema)
    con = await asyncpg.connect(PG_URL)
    try:
        await con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await con.close()


OpenStore = Callable[[], Awaitable[Store]]


@pytest.fixture
async def open_stores(backend: Backend) -> AsyncIterator[OpenStore]:
    """Opens another store object on the test's store (its own connection); all closed after."""
    stores: list[Store] = []

    async def open_one() -> Store:
        store = open_store(backend.url)
        stores.append(store)
        await store.open()
        return store

    yield open_one
    for store in stores:
        await store.close()


@pytest.fixture
async def store(open_stores: OpenStore) -> Store:
    return await open_stores()
