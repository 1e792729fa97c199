"""Stateful emulators of the five provider APIs, written as a third party would write them.

Nothing here imports from ``gateway`` or ``adapters``.
"""
