"""Store URLs for tests: a SQLite file in a scratch directory of its own, or a fresh schema on
the real PostgreSQL server (127.0.0.1:5432, database test)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def sqlite_url() -> str:
    """A new, empty SQLite store, removed when the test run ends."""
    directory = tempfile.mkdtemp(prefix="invoice-gateway-test-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return f"sqlite:///{directory}/store.db"


def postgres_url() -> str:
    """A new, empty schema on the PostgreSQL server (created when the store opens)."""
    return f"{POSTGRES}?schema=t_{uuid.uuid4().hex[:16]}"
