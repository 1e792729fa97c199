"""The store's schema, as a numbered list of migrations; both backends apply it on ``open()``.

Each migration has its SQL for SQLite and for PostgreSQL, as separate statements: SQLite's
``executescript`` would commit on its own, and a migration must be applied in one transaction
together with its ``schema_migrations`` row. New migrations are appended, never edited: a store
records which versions it has, and one holding a version this code does not know (written by a
newer gateway) refuses to open rather than guess.

JSON columns are text in both backends, written by ``gateway.jsonwire``: jsonb would reorder
keys and drop duplicates, and a replayed answer must come back exactly as it was stored.
Times are epoch seconds as doubles (the callers' ``time.time()``). In PostgreSQL, ids that are
listed in order use the "C" collation so that paging orders them as SQLite does (by code point),
whatever the database's locale.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.store.base import StoreError


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]


def _initial(text: str, time: str, json: str, ordered_text: str) -> tuple[str, ...]:
    """Migration 1 in one dialect: the types differ, the tables do not."""
    return (
        f"""CREATE TABLE schema_migrations (
            version INTEGER PRIMARY KEY,
            name {text} NOT NULL,
            applied_at {time} NOT NULL
        )""",
        f"""CREATE TABLE idempotency_keys (
            client {text} NOT NULL,
            connection {text} NOT NULL,
            operation {text} NOT NULL,
            key {text} NOT NULL,
            fingerprint {text} NOT NULL,
            state {text} NOT NULL CHECK (state IN ('in_progress', 'done')),
            recovery_point {text} NOT NULL,
            recovery {json} NOT NULL,
            outcome {json},
            owner {text},
            lease_expires_at {time} NOT NULL,
            created_at {time} NOT NULL,
            expires_at {time} NOT NULL,
            PRIMARY KEY (client, connection, operation, key)
        )""",
        "CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at)",
        f"""CREATE TABLE crosswalk (
            source_connection {text} NOT NULL,
            source_id {ordered_text} NOT NULL,
            target_connection {text} NOT NULL,
            target_id {text},
            fingerprint {text} NOT NULL,
            state {text} NOT NULL,
            detail {json} NOT NULL,
            updated_at {time} NOT NULL,
            PRIMARY KEY (source_connection, source_id, target_connection)
        )""",
        "CREATE INDEX crosswalk_target ON crosswalk (target_connection, target_id)",
        f"""CREATE TABLE migration_checkpoints (
            name {text} PRIMARY KEY,
            data {json} NOT NULL,
            updated_at {time} NOT NULL
        )""",
    )


def _workers(text: str, double: str, ordered: str) -> tuple[str, ...]:
    """Migration 2 in one dialect: a migration split between workers, and shared rate limits.

    ``crosswalk.run`` names the run that made a copy (NULL on rows written before it);
    ``crosswalk_run`` serves listing a run's entries in (source connection, source id) order
    (the target connection last, to make the order total), ``ordered`` giving the connection
    code-point order as ``source_id`` already has.
    ``migration_chunks_open`` keeps a claim from walking past the chunks already done (workers
    add chunks one at a time, so nearly all of a long run's chunks are done).
    ``rate_buckets`` holds plain doubles: the JSON columns refuse floats.
    """
    return (
        f"ALTER TABLE crosswalk ADD COLUMN run {text}",
        "CREATE INDEX crosswalk_run ON crosswalk "
        f"(run, source_connection {ordered}, source_id, target_connection)",
        f"""CREATE TABLE migration_chunks (
            run {text} NOT NULL,
            seq INTEGER NOT NULL CHECK (seq >= 0),
            token {text},
            state {text} NOT NULL CHECK (state IN ('pending', 'claimed', 'done')),
            owner {text},
            lease_expires_at {double} NOT NULL,
            PRIMARY KEY (run, seq)
        )""",
        "CREATE INDEX migration_chunks_open ON migration_chunks (run, seq) WHERE state <> 'done'",
        f"""CREATE TABLE rate_buckets (
            name {text} PRIMARY KEY,
            tokens {double} NOT NULL,
            updated_at {double} NOT NULL
        )""",
    )


def _write_locks(text: str, double: str) -> tuple[str, ...]:
    """Migration 3: a lock per invoice for the writes that check ``If-Match`` (its check and its
    write one at a time across every process on the store)."""
    return (
        f"""CREATE TABLE write_locks (
            name {text} PRIMARY KEY,
            owner {text} NOT NULL,
            expires_at {double} NOT NULL
        )""",
    )


def _made(text: str) -> tuple[str, ...]:
    """Migration 4: the invoice a keyed create made (``made``), so that another write's lookup
    after a lost answer never takes it for its own, and the unfinished writes by request (two
    keys sending one body), both found by connection."""
    return (
        f"ALTER TABLE idempotency_keys ADD COLUMN made {text}",
        "CREATE INDEX idempotency_keys_made ON idempotency_keys (connection, made) "
        "WHERE made IS NOT NULL",
        "CREATE INDEX idempotency_keys_unfinished ON idempotency_keys (connection, fingerprint) "
        "WHERE state = 'in_progress'",
    )


def _replaced_copies(text: str, ordered_text: str, time: str, json: str) -> tuple[str, ...]:
    """Migration 5: a crosswalk row that another copy of the same source invoice replaced.

    The crosswalk keeps one row per source invoice and target connection. A run that copies an
    invoice again after a revert (which could only void the first copy) wrote its row over the
    first copy's, and the first copy, still at the target, was no longer known as one: copied
    back to the source, it came back as a second, open invoice. The row a put replaces with
    another copy (or none yet) is kept here, and ``crosswalk_copies_as`` reads both tables.
    In SQLite a trigger keeps it, as the crosswalk's ``INSERT OR REPLACE`` stays one statement;
    PostgreSQL's put keeps it in the same statement (a data-modifying ``WITH``)."""
    return (
        f"""CREATE TABLE crosswalk_replaced (
            source_connection {text} NOT NULL,
            source_id {ordered_text} NOT NULL,
            target_connection {text} NOT NULL,
            target_id {text} NOT NULL,
            fingerprint {text} NOT NULL,
            state {text} NOT NULL,
            detail {json} NOT NULL,
            updated_at {time} NOT NULL,
            run {text},
            PRIMARY KEY (target_connection, target_id, source_connection, source_id)
        )""",
    )


# ``crosswalk_copies_of`` reads the replaced rows of a source invoice too: a copy made from a
# copy that was replaced is still one of its copies' copies.
_REPLACED_BY_SOURCE = (
    "CREATE INDEX crosswalk_replaced_source ON crosswalk_replaced (source_connection, source_id)",
)


# SQLite's trigger: before the crosswalk's row for a source invoice and target connection is
# replaced by another copy (or by a row that names none yet), that row is kept.
_KEEP_REPLACED_SQLITE = """CREATE TRIGGER crosswalk_keep_replaced BEFORE INSERT ON crosswalk
BEGIN
    INSERT OR IGNORE INTO crosswalk_replaced
    SELECT source_connection, source_id, target_connection, target_id, fingerprint, state,
        detail, updated_at, run
    FROM crosswalk
    WHERE source_connection = NEW.source_connection AND source_id = NEW.source_id
        AND target_connection = NEW.target_connection AND target_id IS NOT NULL
        AND target_id IS NOT NEW.target_id;
END"""


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=1,
        name="idempotency keys, crosswalk, checkpoints",
        sqlite=_initial(text="TEXT", time="REAL", json="TEXT", ordered_text="TEXT"),
        postgresql=_initial(
            text="TEXT", time="DOUBLE PRECISION", json="TEXT", ordered_text='TEXT COLLATE "C"'
        ),
    ),
    Migration(
        version=2,
        name="crosswalk runs, migration chunks, rate buckets",
        sqlite=_workers(text="TEXT", double="REAL", ordered=""),
        postgresql=_workers(text="TEXT", double="DOUBLE PRECISION", ordered='COLLATE "C"'),
    ),
    Migration(
        version=3,
        name="write locks",
        sqlite=_write_locks(text="TEXT", double="REAL"),
        postgresql=_write_locks(text="TEXT", double="DOUBLE PRECISION"),
    ),
    Migration(
        version=4,
        name="the invoice a keyed create made",
        sqlite=_made(text="TEXT"),
        postgresql=_made(text="TEXT"),
    ),
    Migration(
        version=5,
        name="crosswalk rows replaced by another copy",
        sqlite=(
            *_replaced_copies(text="TEXT", ordered_text="TEXT", time="REAL", json="TEXT"),
            _KEEP_REPLACED_SQLITE,
        ),
        postgresql=_replaced_copies(
            text="TEXT", ordered_text='TEXT COLLATE "C"', time="DOUBLE PRECISION", json="TEXT"
        ),
    ),
    Migration(
        version=6,
        name="replaced crosswalk rows found by their source",
        sqlite=_REPLACED_BY_SOURCE,
        postgresql=_REPLACED_BY_SOURCE,
    ),
)

LATEST = MIGRATIONS[-1].version


def pending(applied: Iterable[int], store: str) -> list[Migration]:
    """The migrations still to apply, in order; StoreError when the store is ahead of us."""
    done = set(applied)
    unknown = sorted(v for v in done if v > LATEST)
    if unknown:
        raise StoreError(
            f"{store}: its schema is at version {unknown[-1]}, but this gateway knows versions "
            f"up to {LATEST} only; it was written by a newer gateway: upgrade this one "
            "(or point store.url at another store)"
        )
    return [m for m in MIGRATIONS if m.version not in done]


_CREATED = re.compile(r"CREATE TABLE (\w+)")


def made_tables(applied: Iterable[int]) -> set[str]:
    """The tables the ``applied`` migrations made (``schema_migrations`` with the first)."""
    done = set(applied)
    made = {
        name
        for step in MIGRATIONS
        if step.version in done
        for statement in step.sqlite
        for name in _CREATED.findall(statement)
    }
    return made | {"schema_migrations"} if done else made


def missing_tables(applied: Iterable[int], present: Iterable[str]) -> list[str]:
    """The tables the ``applied`` migrations made that are not ``present``, sorted: a table
    dropped or renamed by hand, which no migration makes again (``schema_migrations`` says it
    was made)."""
    return sorted(made_tables(applied) - set(present))


def damaged(store: str, missing: list[str]) -> StoreError:
    """The error of a store whose ``missing`` tables are gone while its schema says they were
    made: every keyed write would fail on them, and no start makes them again."""
    return StoreError(
        f"{store}: its table(s) {', '.join(missing)} are missing, though its schema_migrations "
        "says they were made: the store was changed outside the gateway; restore them from a "
        "backup, or empty the store (schema_migrations too) to start afresh, forgetting every "
        "Idempotency-Key it kept"
    )
