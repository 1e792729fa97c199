"""Emulator of the bill_crm invoices API: numeric `bill_*` invoices, server-computed totals."""

from emulators.bill_crm.app import create_app

__all__ = ["create_app"]
