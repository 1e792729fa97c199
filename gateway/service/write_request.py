"""A write as the runner (``idempotency.py``) takes it: who asks, where, with which key, and
what the write itself must be able to do (prepare, send, find out after a lost answer)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from adapters.resolution import Resolution
from gateway import jsonwire
from gateway.errors import IdempotencyKeyReused
from gateway.service.outcomes import Outcome
from gateway.store import KeyScope

# Called for what happened to a write: (connection, event), e.g. ("crm", "replayed").
WriteObserver = Callable[[str, str], None]


class Write(Protocol):
    """One write, as a use case hands it to the runner."""

    idempotent: ClassVar[bool]  # PUT and DELETE: sending again converges, nothing to ask
    # A DELETE: sent again after it took effect, the provider answers 404 (the invoice gone).
    gone_when_repeated: ClassVar[bool]
    # A create: the invoice it made is kept with its key, and a lookup after a lost answer never
    # takes another write's invoice for its own (``LostAnswers._not_anothers``).
    makes_invoice: ClassVar[bool]

    @property
    def connection(self) -> str: ...

    def prepared(self) -> dict[str, Any] | None:
        """``prepare``'s answer when it needs no provider call (None: await ``prepare``)."""
        ...

    async def prepare(self) -> dict[str, Any]:
        """Before sending: what finding out what it did will need (JSON), e.g. its marker."""
        ...

    @property
    def settle_s(self) -> float:
        """How long the provider may go on working on a write it did not answer."""
        ...

    @property
    def guarded(self) -> str | None:
        """The lock of the invoice whose ``If-Match`` the write checks before sending (its
        provider's records and its id there), else None."""
        ...

    @property
    def serialized(self) -> str | None:
        """The invoice lock held while the write runs: ``guarded``'s, or its invoice's for a
        write whose lost answer is found by counting; else None."""
        ...

    async def send(self, recovery: dict[str, Any]) -> Outcome: ...

    async def find(self, recovery: dict[str, Any]) -> Resolution:
        """After a lost answer: did it take effect? (``Resolution.result`` is an Outcome.)"""
        ...


class KeyReusedAfterSuccess(IdempotencyKeyReused):
    """The key's earlier, different request succeeded: ``earlier`` is its kept outcome. A
    caller whose keys name a step (a migration's ``payment 0``) rather than a request can tell
    from it that the step is done, as the earlier request did it."""

    def __init__(self, message: str, earlier: Outcome) -> None:
        super().__init__(message)
        self.earlier = earlier


@dataclass(frozen=True)
class WriteRequest:
    """Who asks for a write, where, and with which key; free of HTTP so every caller has it.

    ``operation`` names the kind of write (for HTTP, the method and route template) and
    ``target`` the thing written (the path): together with the body they make the fingerprint.
    """

    client: str
    connection: str
    operation: str
    target: str
    idempotency_key: str | None = None

    def scope(self) -> KeyScope | None:
        if self.idempotency_key is None:
            return None
        return KeyScope(self.client, self.connection, self.operation, self.idempotency_key)

    def fingerprint(self, body: Any, handling: str | None) -> str:
        canonical = jsonwire.sorted_compact(
            {"operation": self.operation, "target": self.target, "body": body, "prefer": handling}
        )
        return hashlib.sha256(canonical).hexdigest()


# Who keeps what writes without a key made, invoices and payments (``LostAnswers.keep_made``):
# not a name a configured client can have (names are letters, digits, "_", "." and "-").
UNKEYED_CLIENT = "(no key)"
