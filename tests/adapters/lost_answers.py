"""What the lost-answer tests of every provider share: the faults that lose an answer, an
impatient adapter that gives up quickly, and invoices compared without what the provider
assigns.

A lost answer is the emulator's fault injection (docs/emulators.md, "Faults"): with
``after_commit`` the provider stores the write and then answers an error, drops the connection
or never answers; without it the same fault comes before anything is stored.
"""

from __future__ import annotations

from typing import Any, TypeVar

from adapters.base import Adapter
from gateway.canonical.model import Invoice
from gateway.config import RetrySettings
from tests.adapters.env import Env

AdapterT = TypeVar("AdapterT", bound=Adapter)

# The three ways an answer is lost once the request was sent.
KINDS: dict[str, dict[str, Any]] = {
    "error": {"error_rate": 1, "error_status": 503},
    "reset": {"reset_rate": 1},
    "timeout": {"timeout_rate": 1},
}
# The connection's timeout in these tests: a hang is given up on at once.
TIMEOUT_S = 0.3
# What the provider assigns to a new document: two creates of the same invoice differ only here.
ASSIGNED = frozenset({"id", "number", "remote_data", "created_at", "updated_at", "public_url"})


async def lose(
    env: Env[Any, Any],
    kind: str,
    *,
    after_commit: bool,
    methods: tuple[str, ...] = ("POST",),
    path_regex: str | None = None,
) -> None:
    """Every matching request from now on loses its answer in the way ``kind`` says."""
    settings: dict[str, Any] = {**KINDS[kind], "after_commit": after_commit, "methods": methods}
    if path_regex is not None:
        settings["path_regex"] = path_regex
    await env.faults(**settings)


def impatient(env: Env[AdapterT, Any]) -> AdapterT:
    """The env's adapter with one attempt per call and a short timeout."""
    return env.adapter_with(retries=RetrySettings(max_attempts=1), timeout_s=TIMEOUT_S)


def comparable(invoice: Invoice) -> dict[str, Any]:
    """``invoice`` without what the provider assigns to each new document (ids, numbers, times)."""
    data = invoice.model_dump(mode="json", exclude=set(ASSIGNED))
    for line in data.get("lines", []):
        line.pop("id", None)
    return data
