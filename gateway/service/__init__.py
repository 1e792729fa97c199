"""The service layer: the gateway's use cases over the adapters, free of HTTP and YAML.

``InvoiceService`` (``invoices.py``) offers every write; ``KeyedWrites`` (``idempotency.py``)
runs each exactly once, with the caller's Idempotency-Key kept in the store.
"""
