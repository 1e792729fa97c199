"""What a copy carries of its source's status and payments, and what it says where it cannot:
the warnings of the run's steps (``Copier._carry``) and of a dry run's forecast of them."""

from __future__ import annotations

from decimal import Decimal

from adapters.base import Adapter, WriteWarning
from gateway.canonical.model import Invoice, Payment

ISSUED = ("open", "paid", "void")  # statuses an issued invoice goes on to


def not_marked_paid(source: Invoice, copy: Invoice, target: Adapter) -> WriteWarning | None:
    """Why the copy of a paid source, not paid by its payments, is not marked paid (the target
    cannot, or it would overstate what was paid: ``_paid_overstated``), or None: marked."""
    if "mark_paid" not in target.capabilities.actions:
        return WriteWarning("/status", f"{target.provider} cannot mark it paid")
    overstated = _paid_overstated(source, copy)
    return None if overstated is None else WriteWarning("/status", f"not marked paid: {overstated}")


def _paid_overstated(source: Invoice, copy: Invoice) -> str | None:
    """Why marking ``copy`` paid would state a payment the source never had, or None. Marking
    an invoice paid settles what it has due (draft_publish records a payment of it, dated
    today), so the copy then shows its whole total paid: right only where the source was paid
    exactly that. A copy whose total differs (a discount left out under ``--lenient``, another
    rounding) is left as its payments make it, with this said."""
    if source.totals is None or copy.totals is None:
        return None  # nothing to compare: the status is the record, as the source's is
    if copy.totals.total == source.totals.paid:
        return None
    return (
        f"the source was paid {source.totals.paid} and the copy's total is "
        f"{copy.totals.total}: marked paid, the copy would show {copy.totals.total} paid, "
        f"not {source.totals.paid}"
    )


def recorded_as(payment: Payment, copy: Invoice, n: int) -> bool:
    """Whether the copy's payment ``n`` is the source's ``payment`` (its amount, date and, where
    the target keeps one, reference): a step's key names its place, not the payment."""
    if n >= len(copy.payments):
        return False
    theirs = copy.payments[n]
    return (
        theirs.amount == payment.amount
        and theirs.date == payment.date
        and theirs.reference in (None, payment.reference)
    )


def beyond_due(payment: Payment, copy: Invoice) -> str | None:
    """Why ``payment`` is not recorded on ``copy``, or None: it is more than the copy has due.
    A copy whose total came out below what the source was paid (a discount or a line left out
    under ``--lenient``, another rounding) cannot take every payment: a target refuses a
    payment over the balance (draft_publish), and one that took it would show a credit the
    source never had. Left out and said, the copy is finished (its verification differs)
    instead of failing the same step on every run."""
    if copy.totals is None or payment.amount <= copy.totals.due:
        return None
    return (
        f"not recorded: {payment.amount} is more than the copy has due ({copy.totals.due} of "
        f"its total {copy.totals.total})"
    )


def carried_forecast(source: Invoice, copy: Invoice, target: Adapter) -> list[WriteWarning]:
    """For a dry run: the warnings the run's carrying of the source's payments and status
    (``Copier._carry``) would give the previewed ``copy`` (nothing paid yet), each payment
    taken as the target would take it, by the same rules: a payment beyond what the copy has
    due left out, a paid source's copy not marked paid where that would overstate what was
    paid, what the target cannot do said. Where the copy's total differs from what the source
    was paid (another rounding), the dry run says so before anything is copied."""
    caps, provider = target.capabilities, target.provider
    if copy.totals is None:
        return []
    warnings: list[WriteWarning] = []
    drafts = _keeps_drafts(target)
    paid = copy.totals.paid  # nothing yet, written as the target writes its amounts
    issues = caps.create_issued or any(a in caps.actions for a in ("issue", "mark_sent"))
    if source.status in ISSUED and drafts and not issues:
        warnings.append(WriteWarning("/status", f"{provider} cannot issue an invoice"))
    if source.payments and "create" in caps.payments:
        for n, payment in enumerate(source.payments):
            beyond = beyond_due(payment, _paid_so_far(copy, paid))
            if beyond is not None:
                warnings.append(WriteWarning(f"/payments/{n}", beyond))
                continue
            paid += payment.amount
    elif source.payments:
        warnings.append(
            WriteWarning("/payments", f"{provider} cannot record payments; not carried")
        )
    current = _paid_so_far(copy, paid)
    paid_said = False
    if source.status == "paid" and paid < copy.totals.total:
        paid_said = True
        unmarked = not_marked_paid(source, current, target)
        if unmarked is not None:
            warnings.append(unmarked)
    if source.status == "void" and "void" not in caps.actions:
        warnings.append(WriteWarning("/status", f"{provider} cannot void an invoice"))
    if source.status == "draft" and not drafts:
        made = "paid" if copy.totals.due <= 0 else "open"  # issued at once: nothing due is paid
        warnings.append(WriteWarning("/status", f"{provider} keeps no drafts: the copy is {made}"))
    if not paid_said and not source.payments:
        warnings += paid_not_carried(source, current)
    return warnings


def _keeps_drafts(target: Adapter) -> bool:
    """Whether the target has drafts (one of its statuses reads as one): a create there makes
    a draft, where a target without them makes the invoice issued at once."""
    return any(meaning.status == "draft" for meaning in target.mapping.status_read.values())


def _paid_so_far(copy: Invoice, paid: Decimal) -> Invoice:
    """The previewed ``copy`` as it would read with ``paid`` recorded."""
    assert copy.totals is not None
    totals = copy.totals.model_copy(update={"paid": paid, "due": copy.totals.total - paid})
    return copy.model_copy(update={"totals": totals})


def due_date_added(sent: Invoice, copy: Invoice, target: str) -> list[WriteWarning]:
    """A warning where the target gave the copy a due date of its own default (bill_crm's
    "client/system due days") though none was sent: the source has none, and the copy can
    read as overdue where the source never did."""
    if sent.due_date is not None or copy.due_date is None:
        return []
    overdue = ", so it reads as overdue" if copy.overdue else ""
    return [
        WriteWarning(
            "/due_date",
            f"the source has none; {target} gave the copy {copy.due_date} by its own "
            f"default{overdue} (the map's due_days sets one of your choosing)",
        )
    ]


def due_date_forecast(sent: Invoice, target: Adapter) -> list[WriteWarning]:
    """For a dry run: ``due_date_added``'s warning before the copy exists, where the target's
    create gives an invoice sent without a due date one of its own default
    (``capabilities.due_date_default``); the date itself is the target's to choose."""
    if sent.due_date is not None or not target.capabilities.due_date_default:
        return []
    return [
        WriteWarning(
            "/due_date",
            f"the source has none; {target.provider} will give the copy one by its own default "
            "(the map's due_days sets one of your choosing)",
        )
    ]


def paid_not_carried(source: Invoice, copy: Invoice) -> list[WriteWarning]:
    """A warning where the source shows an amount paid without payment records (the provider's
    own figure) that the copy does not show: there is nothing to record it from. Where its
    provider says it is partly paid and gives no amount (bill_crm's Part Paid), the copy shows
    it owing everything, and is said so too: nothing else tells the customer paid part."""
    if source.totals is None or copy.totals is None:
        return []
    if source.totals.paid > copy.totals.paid:
        return [
            WriteWarning(
                "/totals/paid",
                f"the source shows {source.totals.paid} paid, with no payment records to carry; "
                f"the copy shows {copy.totals.paid} paid",
            )
        ]
    if source.payment_status == "partially_paid" and copy.payment_status == "unpaid":
        return [
            WriteWarning(
                "/payment_status",
                "the source is partially paid by its provider's word, with no amount or payment "
                "records to carry; the copy shows nothing paid: record at the target what was "
                "paid",
            )
        ]
    return []
