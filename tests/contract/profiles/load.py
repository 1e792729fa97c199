"""The profiles of every provider that has an adapter."""

from __future__ import annotations

import importlib

from adapters.registry import ADAPTERS
from tests.contract.profile import Profile


def profile(provider: str) -> Profile:
    loaded: Profile = importlib.import_module(f"tests.contract.profiles.{provider}").PROFILE
    return loaded


PROVIDERS = tuple(ADAPTERS)
