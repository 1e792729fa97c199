"""The store's one interface: idempotency keys, the migration crosswalk, checkpoints.

Two implementations pass one test suite (``tests/store/``): SQLite (``sqlite.py``, the default,
a file shared by local processes in WAL mode) and PostgreSQL (``postgres.py``, shared by
instances on several hosts). ``open_store(url)`` in ``__init__.py`` picks one from the URL.

Times are wall-clock seconds since the epoch (``time.time()``), passed in by the caller so that
leases compare across processes and tests can move the clock.

An idempotency record moves through these states::

    (absent) ──claim──▶ in_progress ──finish──▶ done ──(expires_at)──▶ reaped
                         │   ▲   │
                         │   │   └─release──▶ (absent)     nothing reached the provider
                         │   └─park: lease given up, the next claim takes it over at once
                         └─lease runs out (its owner died) ─▶ the next claim takes it over

A claim is atomic: of any number of concurrent claims of one key, in one process or several,
exactly one gets ``Claimed``; the others see ``Busy`` (or ``Mismatch``/``Finished``).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Literal

RecordState = Literal["in_progress", "done"]
Unfinished = Literal["running", "uncertain"]


@dataclass(frozen=True)
class KeyScope:
    """Where an ``Idempotency-Key`` is unique: a client's key, on one connection and operation.

    ``operation`` is the method and route, e.g. ``POST /v1/connections/{connection}/invoices``
    (or a command's own name, e.g. ``migrate create``).
    """

    client: str
    connection: str
    operation: str
    key: str


@dataclass(frozen=True)
class IdempotencyRecord:
    scope: KeyScope
    fingerprint: str  # a digest of the request: method, path, canonical body, handling
    state: RecordState
    # How far the write got, for whoever takes the record over: "claimed" (nothing sent yet),
    # "sending" (the write may have reached the provider), "uncertain" (it was sent and no
    # answer said whether it took effect), "done".
    recovery_point: str
    recovery: dict[str, Any]  # JSON: what a later attempt needs to find out what was done
    outcome: dict[str, Any] | None  # JSON: the final answer, once done
    owner: str | None  # the process and attempt holding the lease; None once parked or done
    lease_expires_at: float
    created_at: float
    expires_at: float  # the record is forgotten (and reaped) after this


@dataclass(frozen=True)
class Claimed:
    """The caller holds the key now. ``taken_over``: an earlier attempt left it unfinished."""

    record: IdempotencyRecord
    taken_over: bool


@dataclass(frozen=True)
class Finished:
    """The key's request already has its final answer (same fingerprint): replay it."""

    record: IdempotencyRecord


@dataclass(frozen=True)
class Mismatch:
    """The key was used with a different request (another fingerprint)."""

    record: IdempotencyRecord


@dataclass(frozen=True)
class Busy:
    """Another live attempt holds the key; ``retry_after`` is the seconds left on its lease."""

    record: IdempotencyRecord
    retry_after: float


Claim = Claimed | Finished | Mismatch | Busy


@dataclass(frozen=True)
class CrosswalkEntry:
    """One invoice copied (or being copied) from one connection to another."""

    source_connection: str
    source_id: str
    target_connection: str
    target_id: str | None  # None until the target has the invoice
    fingerprint: str  # a digest of the source invoice as copied: a changed source shows
    state: str  # e.g. "pending", "created", "verified", "failed", "reverted"
    detail: dict[str, Any]  # JSON: warnings, totals differences, the reason of a skip
    updated_at: float
    run: str | None = None  # the migration run that made the copy (a later run keeps it)


@dataclass(frozen=True)
class Chunk:
    """One page of a migration's source listing, claimed by one worker at a time."""

    run: str
    seq: int  # 0 for the first page, then in listing order
    token: str | None  # the provider's page token (None: the first page)
    state: str  # "pending", "claimed", "done"
    owner: str | None
    lease_expires_at: float


class StoreError(Exception):
    """The store cannot be reached or used; the message says which store and why."""


class Store(abc.ABC):
    """One async interface over SQLite and PostgreSQL."""

    url_scheme: str  # "sqlite" or "postgresql", for /readyz and logs

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, then create or migrate the schema (``migrations.py``), once per store."""

    def unusable(self) -> str | None:
        """What ``open`` would certainly fail on, told without connecting (``check-config``);
        None where only ``open`` can tell."""
        return None

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> dict[str, Any]:
        """For ``/readyz``: ``{"backend": ..., "schema_version": N}``; raises StoreError."""

    # -- idempotency keys ----------------------------------------------------------------------

    @abc.abstractmethod
    async def claim(
        self,
        scope: KeyScope,
        fingerprint: str,
        owner: str,
        *,
        now: float,
        lease_s: float,
        ttl_s: float,
        sending: dict[str, Any] | None = None,
    ) -> Claim:
        """Take the key for ``owner``, atomically.

        - No record, or an expired one (``expires_at <= now``) that is forgettable
          (``records.forgettable``: done, never sent or sent again as it is and not held, or
          unsettled long past its expiry): a new ``in_progress`` record,
          recovery point "claimed", lease until ``now + lease_s``, expiring at ``now + ttl_s``:
          ``Claimed(taken_over=False)``. With ``sending`` (a write that prepares without the
          provider, so before its claim), the new record is at recovery point "sending" with
          ``sending`` as its recovery: the claim and ``save_progress`` in one statement.
        - A record with another fingerprint (in progress or done): ``Mismatch``.
        - ``done``: ``Finished``.
        - ``in_progress`` with a live lease (``lease_expires_at > now``): ``Busy``.
        - ``in_progress`` whose lease ran out (or that was parked), expired or not: the owner
          becomes ``owner`` with a fresh lease, recovery point and data kept, expiring no
          sooner than ``now + ttl_s``: ``Claimed(taken_over=True)``.
        """

    @abc.abstractmethod
    async def save_progress(
        self,
        scope: KeyScope,
        owner: str,
        recovery_point: str,
        recovery: dict[str, Any],
        *,
        now: float,
        lease_s: float,
    ) -> bool:
        """Record how far the write got (before it is sent), renewing the lease.

        False, and nothing changed, when ``owner`` no longer holds the key.
        """

    @abc.abstractmethod
    async def renew(self, scope: KeyScope, owner: str, *, now: float, lease_s: float) -> bool:
        """Extend ``owner``'s lease to ``now + lease_s``; False when it no longer holds it."""

    @abc.abstractmethod
    async def finish(
        self, scope: KeyScope, owner: str, outcome: dict[str, Any], *, made: str | None = None
    ) -> bool:
        """Store the final answer: state ``done``, recovery point "done", owner None; ``made``:
        the id of the invoice the write created, where it created one, or the payment it recorded
        (``payment_made``) (``made_by_another``).

        False, and nothing changed, when ``owner`` no longer holds the key.
        """

    @abc.abstractmethod
    async def made_by_another(
        self, connection: str, invoice_id: str, scope: KeyScope | None
    ) -> bool:
        """Whether a write on ``connection`` other than ``scope``'s (any, for None) is kept as
        having made ``invoice_id`` (an invoice's id, or a payment's ``payment_made``)."""

    @abc.abstractmethod
    async def alike_unfinished(
        self, scope: KeyScope, fingerprint: str, *, now: float
    ) -> Unfinished | None:
        """Another write than ``scope``'s on its connection with the same request (the same
        ``fingerprint``) that is not finished: ``running`` while its lease holds, ``uncertain``
        once given up (parked, or its owner gone); None when there is none."""

    @abc.abstractmethod
    async def park(self, scope: KeyScope, owner: str, recovery_point: str) -> bool:
        """Give the key up unfinished (outcome uncertain): owner None, lease expired, so the
        next claim takes it over at once and resolves it. False when not held by ``owner``."""

    @abc.abstractmethod
    async def release(self, scope: KeyScope, owner: str) -> bool:
        """Forget the key (nothing reached the provider): delete it if ``owner`` holds it."""

    @abc.abstractmethod
    async def get(self, scope: KeyScope) -> IdempotencyRecord | None:
        """The record as it stands (expired or not); for tests and operators."""

    @abc.abstractmethod
    async def reap(self, now: float, *, lock_grace_s: float = 0.0) -> int:
        """Delete every forgettable record with ``expires_at <= now`` (``records.REAPABLE``:
        one whose write may have reached the provider and never settled is kept, up to
        ``records.UNSETTLED_KEEP_S`` past its expiry), and the locks whose lease ran out
        more than ``lock_grace_s`` ago (their holders died, and no taker's ``grace_s`` can
        still be waiting on them); the number of records deleted."""

    # -- write locks ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def take_lock(
        self, name: str, owner: str, *, now: float, lease_s: float, grace_s: float = 0.0
    ) -> bool:
        """Hold the lock ``name`` for ``owner`` until ``now + lease_s``: True when it was free,
        already ``owner``'s (the lease renewed), or held by another whose lease ran out
        ``grace_s`` ago (taken over: a holder that died may have left a call that still lands
        meanwhile); False while another holds it."""

    @abc.abstractmethod
    async def renew_lock(self, name: str, owner: str, *, now: float, lease_s: float) -> bool:
        """Extend ``owner``'s hold of the lock ``name`` to ``now + lease_s``: False when it no
        longer holds it (let go, or taken over), and then nothing is written."""

    @abc.abstractmethod
    async def release_lock(self, name: str, owner: str) -> None:
        """Let go of the lock ``name`` if ``owner`` still holds it."""

    # -- the migration crosswalk ---------------------------------------------------------------

    @abc.abstractmethod
    async def crosswalk_get(
        self, source_connection: str, source_id: str, target_connection: str
    ) -> CrosswalkEntry | None: ...

    @abc.abstractmethod
    async def crosswalk_put(self, entry: CrosswalkEntry) -> None:
        """Insert or replace the entry of (source connection, source id, target connection)."""

    @abc.abstractmethod
    async def crosswalk_list(
        self,
        source_connection: str,
        target_connection: str,
        *,
        after_source_id: str | None = None,
        limit: int = 500,
    ) -> list[CrosswalkEntry]:
        """Entries of one source → target pair, ordered by source id, after ``after_source_id``."""

    @abc.abstractmethod
    async def crosswalk_copies_as(
        self, target_connection: str, target_id: str
    ) -> list[CrosswalkEntry]:
        """Entries whose copy is invoice ``target_id`` on ``target_connection`` (an invoice a
        migration made there), whatever their source: a copy is never copied back to its
        origin as a second invoice."""

    @abc.abstractmethod
    async def crosswalk_copies_of(
        self, source_connection: str, source_id: str
    ) -> list[CrosswalkEntry]:
        """Entries whose source is invoice ``source_id`` on ``source_connection``, ordered by
        target connection and id, with those another copy replaced: where migrations copied
        it, so that a copy of a copy is not made where its original was already copied."""

    @abc.abstractmethod
    async def crosswalk_by_run(
        self, run: str, *, after: tuple[str, str] | None = None, limit: int = 500
    ) -> list[CrosswalkEntry]:
        """Entries whose ``run`` is ``run``, ordered by (source connection, source id), after
        ``after`` (the last pair of the previous call): for verify and revert."""

    # -- migration chunks: one migration split between workers ----------------------------------

    @abc.abstractmethod
    async def chunk_add(self, run: str, seq: int, token: str | None) -> bool:
        """Add chunk ``seq`` of ``run`` as pending; False (and nothing changed) if it exists."""

    @abc.abstractmethod
    async def chunk_claim(
        self, run: str, owner: str, *, now: float, lease_s: float
    ) -> Chunk | None:
        """Claim the lowest-numbered chunk that is pending, or claimed with a lease that ran out:
        atomic across processes and hosts (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite a write
        transaction). None when no chunk is free now."""

    @abc.abstractmethod
    async def chunk_renew(
        self, run: str, seq: int, owner: str, *, now: float, lease_s: float
    ) -> bool:
        """Extend ``owner``'s lease on the chunk; False when it no longer holds it."""

    @abc.abstractmethod
    async def chunk_done(self, run: str, seq: int, owner: str) -> bool:
        """Mark the chunk done; False (nothing changed) when ``owner`` no longer holds it."""

    @abc.abstractmethod
    async def chunk_counts(self, run: str) -> dict[str, int]:
        """How many chunks of ``run`` are in each state (states with none are left out)."""

    # -- rate limits shared by every process on the store ------------------------------------------

    @abc.abstractmethod
    async def take_token(self, bucket: str, rate: float, burst: float, *, now: float) -> float:
        """A token bucket kept in the store (``rate`` tokens a second, at most ``burst``): take
        one token, atomically across processes, and answer 0; or, when none is there, take
        nothing and answer the seconds until one will be. A new bucket starts full."""

    @abc.abstractmethod
    async def forget_buckets(self, prefix: str, idle_before: float) -> int:
        """Delete the token buckets whose name starts with ``prefix`` and that no take touched
        since ``idle_before`` (buckets that are full again, as a new one would be); the
        number deleted."""

    # -- migration checkpoints -----------------------------------------------------------------

    @abc.abstractmethod
    async def checkpoint_get(self, name: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def checkpoint_put(self, name: str, data: dict[str, Any], *, now: float) -> None:
        """Insert or replace the checkpoint ``name`` (a migration run: its cursor, counts)."""


def made_elsewhere(rows: list[Any], scope: KeyScope | None) -> bool:
    """Of the (client, operation, key) rows kept as having made an invoice, whether one is not
    ``scope``'s."""
    return any(scope is None or _not(scope, row) for row in rows)


def unfinished_elsewhere(rows: list[Any], scope: KeyScope, now: float) -> Unfinished | None:
    """Of the (client, operation, key, owner, lease_expires_at) rows of unfinished writes, what
    the others than ``scope``'s say: one running wins over one whose outcome is uncertain."""
    others = [row for row in rows if _not(scope, row)]
    if any(row[3] is not None and row[4] > now for row in others):
        return "running"
    return "uncertain" if others else None


def _not(scope: KeyScope, row: Any) -> bool:
    return (row[0], row[1], row[2]) != (scope.client, scope.operation, scope.key)
