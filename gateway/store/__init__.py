"""The store: idempotency records, the migration crosswalk, chunks and checkpoints, shared rate
limits (see ``base.py``).

``open_store(url)`` picks the backend from ``store.url``; the caller then awaits ``open()``
(connect and migrate) and, on shutdown, ``close()``. Nothing connects before ``open()``.
"""

from __future__ import annotations

from gateway.store.base import (
    Busy,
    Chunk,
    Claim,
    Claimed,
    CrosswalkEntry,
    Finished,
    IdempotencyRecord,
    KeyScope,
    Mismatch,
    RecordState,
    Store,
    StoreError,
)
from gateway.store.urls import (
    ACCEPTED,
    MEMORY,
    mask_url,
    postgres_target,
    scheme_of,
    sqlite_path,
)
from gateway.text_file import padded_or_controlled

__all__ = [
    "Busy",
    "Chunk",
    "Claim",
    "Claimed",
    "CrosswalkEntry",
    "Finished",
    "IdempotencyRecord",
    "KeyScope",
    "Mismatch",
    "RecordState",
    "Store",
    "StoreError",
    "mask_url",
    "open_store",
    "url_problems",
]


def open_store(url: str) -> Store:
    """The store ``url`` names, not yet opened. StoreError for a URL no backend takes."""
    if padded_or_controlled(url):
        # A line end kept from a file or a variable (``${STORE_URL}``) made another SQLite file
        # (``store.db\n``) than the one meant, and processes sharing a store apart.
        raise StoreError(
            f"store URL {mask_url(url)!r} holds a line break, a tab or another control character, "
            "or a space at an end (kept from a file or an environment variable?): remove it"
        )
    scheme = scheme_of(url)
    if scheme == "sqlite":
        from gateway.store.sqlite import SqliteStore

        return SqliteStore(sqlite_path(url))
    if scheme in ("postgresql", "postgres"):
        from gateway.store.postgres import PostgresStore

        return PostgresStore(postgres_target(url))
    shown = f"scheme {scheme!r}" if scheme else "no scheme"
    raise StoreError(f"store URL {mask_url(url)!r} has {shown}; accepted: {ACCEPTED}")


def url_problems(url: str) -> list[str]:
    """What is wrong with a store URL, told without connecting (``check-config``): what
    ``open_store`` refuses (a scheme no backend takes, a URL it cannot take apart), and what
    the backend knows ``open`` would fail on (a SQLite file whose folder does not exist)."""
    try:
        problem = open_store(url).unusable()
    except StoreError as exc:
        problem = str(exc)
    if problem is None and scheme_of(url) == "sqlite" and sqlite_path(url) == MEMORY:
        problem = (
            "a store in memory forgets every Idempotency-Key when the gateway stops, and each "
            "worker would hold its own: a retried write could be made twice; name a file "
            "(sqlite:///./invoice-gateway.db)"
        )
    return [f"store.url: {problem}"] if problem is not None else []
