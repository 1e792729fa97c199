"""Emulator of the crm_v1 invoices API (``/v1/invoices``), faithful to the provider's doc."""

from emulators.crm_v1.app import create_app

__all__ = ["create_app"]
