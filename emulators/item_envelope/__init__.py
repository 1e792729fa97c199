"""Emulator of the item_envelope invoice API (``/api2/api2/invoices.json``)."""

from emulators.item_envelope.app import create_app

__all__ = ["create_app"]
