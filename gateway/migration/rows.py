"""What a crosswalk row says of a copy: begun, made, which copy of its source, refused how
often, what its source said when it was copied, and what its create sent."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any, TypeGuard

from pydantic import ValidationError

from gateway.canonical.model import Customer, Invoice
from gateway.service.versions import VOLATILE
from gateway.store import CrosswalkEntry

# What a ``pending`` row keeps of its create once begun, whatever is recorded of it later.
BEGUN = ("marker", "pending_since", "keep_s", "sent_as", "sent")


def create_pending(known: CrosswalkEntry | None) -> bool:
    """Whether the entry is a copy whose create may have been made, and names none: its
    answer lost, or its process killed around it."""
    return known is not None and known.state == "pending" and known.target_id is None


def names_copy(known: CrosswalkEntry | None) -> TypeGuard[CrosswalkEntry]:
    """Whether the entry names a copy at the target (not one reverted since)."""
    return known is not None and known.target_id is not None and known.state != "reverted"


def refusals(known: CrosswalkEntry | None) -> dict[str, int]:
    """How many times the target refused each step of an unfinished copy (its keys' suffix)."""
    if known is None or known.state == "reverted":
        return {}
    kept = known.detail.get("refused")
    if not isinstance(kept, dict):
        return {}
    return {str(step): int(n) for step, n in kept.items() if isinstance(n, int)}


def generation(known: CrosswalkEntry | None) -> int:
    """Which copy of a source invoice this is: 0, then one more after each revert (kept in the
    crosswalk's detail, so a crash in the middle of a later copy resumes with its keys)."""
    if known is None:
        return 0
    made = int(known.detail.get("copy", 0))
    return made + 1 if known.state == "reverted" else made


FINGERPRINT_FORM = "v2:"  # what the fields below gave; an entry without it is older


def fingerprint(invoice: Invoice) -> str:
    """What the source invoice said when it was copied (a later change shows): a digest of its
    canonical JSON as pydantic-core writes it (fields in the model's order), without what
    changes while the invoice does not (``versions.VOLATILE``: ``overdue`` turns true on the
    day after it is due)."""
    text = invoice.model_dump_json(exclude=set(VOLATILE))
    return FINGERPRINT_FORM + hashlib.sha256(text.encode()).hexdigest()


def changed_since(recorded: str, now: str) -> bool:
    """Whether the source changed since its copy's fingerprint was recorded; an entry recorded
    by an earlier version (another form, which counted ``overdue``) cannot tell: not said."""
    return recorded.startswith(FINGERPRINT_FORM) and recorded != now


def sent_as(invoice: Invoice) -> dict[str, Any]:
    """What a create's lookup narrows by (``lookup_query``), as sent: kept in its row."""
    customer = invoice.customer.id if invoice.customer is not None else None
    issued = invoice.issue_date
    return {
        "customer": None if customer is None else str(customer),
        "issue_date": None if issued is None else issued.isoformat(),
        "number": invoice.number,
    }


def as_sent_then(invoice: Invoice, sent_as: Any) -> Invoice:
    """``invoice`` with what its row says the create sent of ``sent_as``'s fields."""
    if not isinstance(sent_as, dict):
        return invoice
    changes: dict[str, Any] = {"number": sent_as.get("number")}
    issued = sent_as.get("issue_date")
    changes["issue_date"] = date.fromisoformat(issued) if isinstance(issued, str) else None
    customer = sent_as.get("customer")
    if customer is None:
        changes["customer"] = None
    elif invoice.customer is not None:
        changes["customer"] = invoice.customer.model_copy(update={"id": customer})
    else:
        changes["customer"] = Customer(id=customer)
    return invoice.model_copy(update=changes)


def invoice_sent(kept: Any) -> Invoice | None:
    """The invoice a create with no room for a marker sent, as its row keeps it (``sent``);
    None where the row keeps none (written by an earlier version) or it no longer reads."""
    if not isinstance(kept, dict):
        return None
    try:
        return Invoice.model_validate(kept)
    except ValidationError:
        return None
