"""Emulator of the order_linked invoice API: ``{"invoice": {...}}`` documents linked to orders."""

from emulators.order_linked.app import create_app

__all__ = ["create_app"]
