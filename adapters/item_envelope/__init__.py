"""The item_envelope adapter (``{"Invoice": {..., "InvoiceItem": [...]}}`` bodies)."""

from adapters.item_envelope.adapter import ItemEnvelopeAdapter

__all__ = ["ItemEnvelopeAdapter"]
