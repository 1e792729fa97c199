"""The order_linked adapter (see adapter.py)."""
