"""The sandbox: each emulated provider as a configured connection.

``<provider>.yaml`` beside this file holds the connection settings that match the emulator's
seeded reference data (tax ids and rates, currency ids, required provider-field defaults).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from gateway.config import Connection


def default_token(provider: str) -> str:
    """The credential each emulator accepts in the sandbox."""
    return f"sandbox-{provider}"


def sandbox_connection(provider: str, base_url: str, *, token: str | None = None) -> Connection:
    """A connection named after ``provider``, pointing at its emulator on ``base_url``."""
    text = resources.files("gateway.sandbox").joinpath(f"{provider}.yaml").read_text("utf-8")
    settings: dict[str, Any] = yaml.safe_load(text)
    auth = {**settings.pop("auth", {"type": "bearer"}), "token": token or default_token(provider)}
    return Connection.model_validate(
        {"name": provider, "provider": provider, "base_url": base_url, "auth": auth, **settings}
    )
