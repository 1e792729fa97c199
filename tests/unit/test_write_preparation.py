"""Which writes are claimed with their recovery at once (``_Write.prepared``): those with
nothing to prepare, and a create whose marker has room; a write that prepares by calling the
provider claims first, so that a replay calls nothing."""

from __future__ import annotations

import gateway.service.collection  # noqa: F401  (its writes are writes too)
from gateway.service.writes import CreateInvoice, _Write


def _every_write() -> list[type[_Write]]:
    found: list[type[_Write]] = []
    todo = list(_Write.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return found


def test_nothing_to_prepare_is_prepared_at_once_and_a_preparation_is_awaited() -> None:
    prepared = {
        cls.__name__: object.__new__(cls).prepared()
        for cls in _every_write()
        if cls
        is not CreateInvoice  # depends on its invoice: tests/adapters/test_create_recovery.py
    }

    for name in (
        "ReplaceInvoice",
        "DeleteInvoice",
        "DeletePayment",
        "AttachToNote",
        "ReplaceNoteText",
        "Purge",
    ):
        assert prepared[name] == {}, name
    for name in ("Act", "RecordPayment", "AddNote", "InvoiceOrder"):
        assert prepared[name] is None, name  # their preparation reads the provider
    for cls in _every_write():
        if cls is not CreateInvoice:
            overrides = cls.prepare is not _Write.prepare
            assert (prepared[cls.__name__] is None) == overrides, cls.__name__
