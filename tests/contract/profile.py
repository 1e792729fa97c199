"""What the contract suite needs to know about one provider, beyond its mapping.

Each provider has ``tests/contract/profiles/<provider>.py`` defining ``PROFILE``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from adapters.base import Adapter
from gateway.canonical.model import Invoice


@dataclass(frozen=True)
class Profile:
    provider: str
    # The n-th sample invoice: valid for this provider, within its capabilities, using only
    # seeded reference data and the sandbox connection's taxes. Samples differ as n changes.
    sample: Callable[[int], Invoice]
    # Random valid invoices within the provider's capabilities (round-trip property tests).
    invoices: Callable[[], st.SearchStrategy[Invoice]]
    # An invoice the provider itself rejects (say, an unknown customer), and the canonical
    # pointer the adapter must translate the provider's error to.
    rejected: tuple[Invoice, str] | None
    # Sequences of actions to run on a freshly created sample, each with the status after it.
    action_paths: list[list[tuple[str, str]]] = field(default_factory=list)
    # Golden wire payloads: operation name → coroutine doing it (on a fresh, seeded emulator).
    golden: dict[str, Callable[[Adapter], Awaitable[Any]]] = field(default_factory=dict)
    # Keyword options for the emulator's create_app.
    emulator_options: dict[str, Any] = field(default_factory=dict)
    seed_invoices: int = 23
