"""Which writes hold their invoice's lock while they run (``Write.serialized``)."""

from __future__ import annotations

from decimal import Decimal

from adapters.registry import build_adapter
from gateway.canonical.model import Payment
from gateway.config import Settings
from gateway.sandbox import sandbox_connection
from gateway.service.writes import Act, DeletePayment, RecordPayment

PAYMENT = Payment(amount=Decimal("10.00"), date="2026-01-05", method="bank_transfer")  # type: ignore[arg-type]


def test_writes_that_add_or_take_away_a_payment_hold_the_invoice_lock_without_if_match() -> None:
    """A payment's lost answer is looked up by counting the invoice's payments alike: a
    payment, a payment's deletion or a mark_paid running beside it would fool the count, so
    each holds the invoice's lock, If-Match or not. Other actions hold it only to check an
    If-Match; the lock is the same for both (one name per invoice)."""
    adapter = build_adapter(sandbox_connection("draft_publish", "http://127.0.0.1:9"), None)  # type: ignore[arg-type]
    lock = "draft_publish http://127.0.0.1:9 7"  # the account, then the invoice
    payment = PAYMENT
    assert RecordPayment(adapter, "7", payment).serialized == lock
    assert DeletePayment(adapter, "7", "p1").serialized == lock
    assert Act(adapter, "7", "mark_paid").serialized == lock
    assert Act(adapter, "7", "issue").serialized is None
    assert Act(adapter, "7", "issue", if_match='"3"').serialized == lock
    # Only an If-Match is checked against the invoice's ETag.
    assert RecordPayment(adapter, "7", payment).guarded is None
    assert RecordPayment(adapter, "7", payment, if_match='"3"').guarded == lock


def test_connections_to_one_account_share_its_locks_and_what_its_writes_made() -> None:
    """Two connections to one draft_publish account, its base URL written once with a trailing
    slash: each had its own invoice locks, and a payment recorded through one was taken, by a
    lost payment's retry through the other, for its own (the account compared as written)."""
    spellings = ["http://127.0.0.1:9", "http://127.0.0.1:9/", "HTTP://127.0.0.1:9/"]
    connections = [
        sandbox_connection("draft_publish", url).model_copy(update={"name": f"dp{i}"})
        for i, url in enumerate(spellings)
    ]
    other = sandbox_connection("draft_publish", "http://127.0.0.1:10").model_copy(
        update={"name": "elsewhere"}
    )
    settings = Settings(connections=[*connections, other])
    locks = {
        RecordPayment(build_adapter(c, None), "7", PAYMENT).serialized  # type: ignore[arg-type]
        for c in connections
    }
    assert locks == {"draft_publish http://127.0.0.1:9 7"}
    assert settings.same_records() == {
        "dp0": ("dp0", "dp1", "dp2"),
        "dp1": ("dp1", "dp0", "dp2"),
        "dp2": ("dp2", "dp0", "dp1"),
        "elsewhere": ("elsewhere",),
    }
