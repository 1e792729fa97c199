"""Emulator of the draft_publish invoices API (``/api/v1/invoices``)."""

from emulators.draft_publish.app import create_app

__all__ = ["create_app"]
