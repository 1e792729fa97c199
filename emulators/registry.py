"""Provider id → emulator application factory."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # not loaded for the command line's parser, which lists PROVIDERS alone
    from aiohttp import web

PROVIDERS: tuple[str, ...] = (
    "crm_v1",
    "draft_publish",
    "bill_crm",
    "item_envelope",
    "order_linked",
)


def default_token(provider: str) -> str:
    """The sandbox credential of an emulator: ``sandbox-<provider id>``."""
    return f"sandbox-{provider}"


def create_app(provider: str, **options: Any) -> web.Application:
    """Build the emulator of ``provider``; options go to its module's ``create_app``."""
    if provider not in PROVIDERS:
        raise KeyError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
    module = importlib.import_module(f"emulators.{provider}")
    app: web.Application = module.create_app(**options)
    return app
