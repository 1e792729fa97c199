"""Finding out what a write did when its answer was lost.

A create that timed out, was reset or got a 5xx after it was sent may or may not exist at the
provider. Sending it again blindly could make a second invoice; giving up could lose the first.
So before anything is sent again, the provider is asked:

- **A dedupe marker.** Each mapping names a field the provider stores and lists
  (``dedupe.marker``). When the caller left that field empty, the create carries a marker made
  from the write's ``Idempotency-Key`` record (``ig-`` and 24 hex digits), and finding the
  invoice again means listing the candidates (``dedupe.lookup`` filters, at most
  ``dedupe.max_pages`` pages) and looking for the marker.
- **A natural key or a look-alike.** When there is no room for a marker (the provider has no
  such field, or the caller used it), the candidates are matched on what the caller sent:
  number, customer, dates, currency, notes, reference, lines and total. Invoices that already
  looked like it before the create was sent (``existing``, listed then) are never taken for it.

The answer is a ``Resolution``: ``done`` (here is what the write made), ``not_done`` (safe to send
again) or ``unknown`` (the caller is told the outcome is uncertain, and a retry with the same key
asks again; where the provider offers no way to tell at all, ``untellable``, the caller is told
to check for itself, not to retry). A lookup only reads, with one exception: a create made of
several calls whose first call's answer was lost may have left a half-made invoice, which its
adapter finishes (bill_crm) rather than leave or duplicate.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from gateway.canonical.errors import FieldError
from gateway.canonical.model import Discount, Invoice, Line, Payment, with_fields
from gateway.canonical.order_invoice import OrderInvoice

if TYPE_CHECKING:
    from adapters.base import Adapter, ListQuery, Page

ResolutionState = Literal["done", "not_done", "unknown"]
MARKER_PREFIX = "ig-"
# Lookups by date cover the day before and after: the provider's "today" may not be ours.
_DATE_SLACK = timedelta(days=1)
# A provider's created_at may run behind the gateway's clock by this much.
_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Resolution:
    """What a look at the provider says about a write whose answer was lost."""

    state: ResolutionState
    detail: str  # what was looked at and found, for the caller and the log
    result: Any = None  # the write's answer when done: a WriteResult, an Invoice, a note
    # False: no look at this provider can ever tell (it offers no way to read the write back),
    # so asking again is no use and the caller must check for itself.
    tellable: bool = True
    # When asking again can tell more: the wait a failed look was told (an open circuit's, the
    # provider's Retry-After), in seconds; None when it was told none.
    retry_after: float | None = None
    # Several candidates (``judge``): their ids, and the same judgement made without those
    # of them that the store knows another write made (``LostAnswers.find``).
    among: tuple[str, ...] = ()
    without: Callable[[frozenset[str]], Awaitable[Resolution]] | None = field(
        default=None, compare=False, repr=False
    )

    @classmethod
    def done(cls, result: Any, detail: str) -> Resolution:
        return cls("done", detail, result)

    @classmethod
    def not_done(cls, detail: str) -> Resolution:
        return cls("not_done", detail)

    @classmethod
    def unknown(cls, detail: str) -> Resolution:
        return cls("unknown", detail)

    @classmethod
    def failed(cls, what: str, error: Exception) -> Resolution:
        """Unknown, since ``what`` (the look) failed with ``error``: its message, and the wait it
        was told, if any."""
        message = getattr(error, "message", str(error))
        wait = getattr(error, "retry_after", None)
        return cls("unknown", f"{what} failed: {message}", retry_after=wait)

    @classmethod
    def untellable(cls, detail: str) -> Resolution:
        """Unknown for good: the provider offers no way to tell (a retry would ask in vain)."""
        return cls("unknown", detail, tellable=False)


@dataclass(frozen=True)
class DedupePlan:
    """``dedupe`` in ``mappings/<provider>.yaml``: how a create is found again."""

    marker: str | None  # canonical path of the marker's field (reference, notes, tags…), or None
    lookup: frozenset[str] = field(default_factory=frozenset)  # list filters used to narrow
    max_pages: int = 5
    # Days either side of the invoice's own issue date that the lookup asks for
    # (``dedupe.date_slack_days``); an invoice without one is always looked up ±_DATE_SLACK.
    date_slack_days: int = 1


_MARKER = re.compile(re.escape(MARKER_PREFIX) + "[0-9a-f]{24}")
_MARKER_LENGTH = len(MARKER_PREFIX) + 24


def is_marker(text: str) -> bool:
    """Whether ``text`` (trimmed) is a dedupe marker and nothing else."""
    return len(text) >= _MARKER_LENGTH and _MARKER.fullmatch(text.strip()) is not None


def new_marker() -> str:
    return MARKER_PREFIX + secrets.token_hex(12)


def marker_of(name: str) -> str:
    """A marker that ``name`` always gives (a write whose caller must be able to look for it
    after its key is forgotten: a migration's create, named by its key)."""
    return MARKER_PREFIX + hashlib.sha256(name.encode()).hexdigest()[:24]


def marker_lookalikes(invoice: Invoice | OrderInvoice, path: str | None) -> list[FieldError]:
    """Where the caller's own value at the marker's ``path`` is written as a marker is: every
    read hides such a value (``hide_marker``), so it would read back empty, and the next
    replace of what was read would remove it at the provider. Refused by name instead."""
    if path is None or path.startswith("provider_fields."):
        return []
    value = getattr(invoice, path, None)
    said = (
        f"is written as the gateway's own dedupe marker is ({MARKER_PREFIX} and 24 hex "
        "digits), which every read hides: write it another way (another prefix, or more text)"
    )
    if isinstance(value, str) and is_marker(value):
        return [FieldError(f"/{path}", said)]
    if isinstance(value, list):
        return [
            FieldError(f"/{path}/{n}", said)
            for n, item in enumerate(value)
            if isinstance(item, str) and is_marker(item)
        ]
    return []


# -- the marker in a canonical invoice ------------------------------------------------------


def marker_room(invoice: Invoice, path: str | None) -> bool:
    """Whether ``path`` is free to carry a marker (the caller left it empty, or blank: a blank
    text says what none says, docs/canonical-invoice.md)."""
    if path is None:
        return False
    value = _value(invoice, path)
    if isinstance(value, list):
        return True  # a list (tags) takes the marker beside the caller's values
    return value is None or (isinstance(value, str) and not value.strip())


def with_marker(invoice: Invoice, path: str, marker: str) -> Invoice:
    """``invoice`` with ``marker`` written at ``path`` (which ``marker_room`` said was free)."""
    if path.startswith("provider_fields."):
        name = path.removeprefix("provider_fields.")
        return invoice.model_copy(
            update={"provider_fields": {**invoice.provider_fields, name: marker}}
        )
    value = getattr(invoice, path)
    if isinstance(value, list):
        return with_fields(invoice, {path: [*value, marker]})
    return with_fields(invoice, {path: marker})


def carries_marker(invoice: Invoice, path: str, marker: str) -> bool:
    """Whether ``invoice`` carries ``marker`` at ``path``, or, where a read hid it there
    (``hide_marker``), in the provider's own payload."""
    value = _value(invoice, path)
    if isinstance(value, list) and marker in value:
        return True
    if isinstance(value, str) and value.strip() == marker:
        return True
    # hidden by the read (a field of nothing but the marker reads empty; a list, without it)
    return (value is None or isinstance(value, list)) and _holds(invoice.remote_data, marker)


def hide_marker(invoice: Invoice, path: str | None) -> Invoice:
    """``invoice`` as its creator wrote it: a field that holds nothing but a marker (the
    gateway wrote it there, since the caller left the field empty) reads empty, and a list
    field without its marker. The provider's payload (``remote_data``) keeps it as it is,
    and a lost create's lookup still finds it there (``carries_marker``)."""
    if path is None or path.startswith("provider_fields."):
        return invoice
    value = getattr(invoice, path, None)
    if isinstance(value, str):
        return with_fields(invoice, {path: None}) if is_marker(value) else invoice
    if isinstance(value, list):
        kept = [v for v in value if not (isinstance(v, str) and is_marker(v))]
        return with_fields(invoice, {path: kept}) if len(kept) < len(value) else invoice
    return invoice


def _holds(data: Any, marker: str) -> bool:
    """Whether the JSON value ``data`` holds the string ``marker`` (trimmed) anywhere."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if item.strip() == marker:
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def without_marker(invoice: Invoice, path: str | None, marker: str) -> Invoice:
    """``invoice`` as the caller would see it had no marker been added to a list field."""
    if path is None or path.startswith("provider_fields."):
        return invoice
    value = getattr(invoice, path, None)
    if isinstance(value, list) and marker in value:
        return invoice.model_copy(update={path: [v for v in value if v != marker]})
    return invoice


def _value(invoice: Invoice, path: str) -> Any:
    if path.startswith("provider_fields."):
        return invoice.provider_fields.get(path.removeprefix("provider_fields."))
    return getattr(invoice, path, None)


# -- candidates -----------------------------------------------------------------------------


def shifted(day: date, by: timedelta) -> date:
    """``day + by``, held to the dates there are: a lookup around 9999-12-31 or 0001-01-01
    (dates an invoice may carry) asks from or to the last or first one, where the sum would
    raise ``OverflowError``."""
    try:
        return day + by
    except OverflowError:
        return date.max if by > timedelta(0) else date.min


def lookup_query(invoice: Invoice, plan: DedupePlan, today: date) -> ListQuery:
    """The narrowest list query the provider can run for invoices that may be this one."""
    from adapters.base import ListQuery

    customer = invoice.customer.id if invoice.customer is not None else None
    day = invoice.issue_date or today
    # A date the caller gave is kept as given; a missing one is the provider's today, which
    # may be a day off ours. A candidate must have the sent date anyway (``looks_like``): the
    # slack only widens what the provider is asked, where its filter may not be the date read.
    slack = timedelta(days=plan.date_slack_days) if invoice.issue_date else _DATE_SLACK
    return ListQuery(
        customer_id=str(customer)
        if customer is not None and "customer_id" in plan.lookup
        else None,
        issued_from=shifted(day, -slack) if "issued_from" in plan.lookup else None,
        issued_to=shifted(day, slack) if "issued_to" in plan.lookup else None,
        number=invoice.number if invoice.number and "number" in plan.lookup else None,
    )


@dataclass
class Walk:
    """Candidates from a bounded walk; ``complete`` once the provider's last page was read."""

    complete: bool = False
    pages: int = 0


async def candidates(
    adapter: Adapter,
    query: ListQuery,
    plan: DedupePlan,
    walk: Walk,
    *,
    since: float | None = None,
) -> AsyncIterator[Invoice]:
    """Every invoice the query lists, page by page, at most ``plan.max_pages`` pages.

    Each invoice once: a write during the walk can push one onto the next page as well, and
    seen twice it would read as two invoices.

    ``since`` (a write's start, epoch seconds) is for a lookup that lists the most recently
    created invoices first (``Adapter.lookup_newest_first``): the walk ends, complete, at the
    first invoice ``created_since`` says was made before it, as every later one is older still.
    """
    token: str | None = None
    page_size = adapter.capabilities.max_page_size
    seen: set[str] = set()
    while walk.pages < plan.max_pages:
        page: Page = await adapter.lookup_page(query, token, page_size)
        walk.pages += 1
        for invoice in page.invoices:
            if invoice.id is not None:
                if invoice.id in seen:
                    continue
                seen.add(invoice.id)
            if since is not None and not created_since(invoice, since):
                walk.complete = True
                return
            yield invoice
        if page.next_page is None or page.next_page == token:
            walk.complete = True
            return
        token = page.next_page


def several(
    found: str,
    matches: Sequence[Invoice],
    without: Callable[[frozenset[str]], Awaitable[Resolution]],
) -> Resolution:
    """Several candidates (``found`` says for what): ``untellable``, naming them, with the same
    judgement to be made again ``without`` those the store knows another write made."""
    ids = [str(match.id) for match in matches]
    return replace(
        Resolution.untellable(
            f"{found}: {', '.join(ids)}; another request may have made one of them, and "
            "nothing tells which, if any, is this write's"
        ),
        among=tuple(ids),
        without=without,
    )


def judge(
    provider: str,
    matches: list[Invoice],
    walk: Walk,
    *,
    looked_for: str,
    sure: bool,
    result: Callable[[Invoice], Any] | None = None,
) -> Resolution:
    """The rule every lookup ends with. One match is ``done`` when ``sure`` (a marker is unique;
    a look-alike only counts when every look-alike that existed before was listed then);
    several are ``unknown``; none after reading every page is ``not_done``; anything else (the
    lookup's page limit reached) is ``unknown``: never a guess. Several stay several however
    often the provider is asked (the lookup only ever finds more), so they are ``untellable``:
    the caller is told to check them, not to retry a question no retry can answer."""
    if len(matches) == 1 and sure:
        found = matches[0]
        answer = result(found) if result is not None else found
        return Resolution.done(answer, f"{provider} has {looked_for}: invoice {found.id}")
    if len(matches) > 1:

        async def without(others: frozenset[str]) -> Resolution:
            left = [match for match in matches if str(match.id) not in others]
            return judge(provider, left, walk, looked_for=looked_for, sure=sure, result=result)

        return several(f"{provider} has several candidates for {looked_for}", matches, without)
    if len(matches) == 1 and walk.complete:  # a look-alike; those there before not all known

        async def not_it(others: frozenset[str]) -> Resolution:
            left = [match for match in matches if str(match.id) not in others]
            return judge(provider, left, walk, looked_for=looked_for, sure=sure, result=result)

        # As several are: no retry can tell (those there before stay unlisted), but judged
        # again without it where the store knows another write made it.
        unsure = Resolution.untellable(
            f"{provider} has {looked_for}: invoice {matches[0].id}, and nothing tells whether "
            "it is this write's (the invoices like it there before the write could not all be "
            "listed)"
        )
        return replace(unsure, among=(str(matches[0].id),), without=not_it)
    if not matches and walk.complete:
        return Resolution.not_done(
            f"{provider} does not list {looked_for} ({walk.pages} page(s) read)"
        )
    return Resolution.unknown(
        f"{provider} could not be searched to the end for {looked_for} "
        f"({walk.pages} page(s) read, the lookup's limit)"
    )


# -- look-alikes ------------------------------------------------------------------------------


def looks_like(sent: Invoice, candidate: Invoice) -> bool:
    """Whether ``candidate`` carries everything the caller sent that identifies an invoice."""
    if candidate.document_type != sent.document_type:
        return False  # a credit note copies its invoice's lines: never taken for an invoice
    if sent.number and candidate.number != sent.number:
        return False
    wanted_customer = sent.customer.id if sent.customer is not None else None
    if wanted_customer is not None and (
        candidate.customer is None or str(candidate.customer.id) != str(wanted_customer)
    ):
        return False
    for name in ("issue_date", "due_date", "order_id"):
        wanted = getattr(sent, name)
        if wanted is not None and getattr(candidate, name) != wanted:
            return False
    if sent.currency and candidate.currency and candidate.currency != sent.currency:
        return False
    for name in ("notes", "reference"):
        if not same_text(getattr(sent, name), getattr(candidate, name)):
            return False
    # A discount the caller did not send is no provider's own (none adds one), so such a
    # candidate is another request's, where it is as it was made: one changed since (a person
    # discounting the new draft before the retry) may be this one.
    unchanged = _unchanged_since_made(candidate)
    if unchanged and _discounted(candidate.discount) and not _discounted(sent.discount):
        return False
    sent_lines = [line for line in sent.lines if line.kind != "section"]
    their_lines = [line for line in candidate.lines if line.kind != "section"]
    if len(sent_lines) != len(their_lines):
        return False
    pairs = zip(sent_lines, their_lines, strict=True)
    return all(_same_line(a, b, unchanged=unchanged) for a, b in pairs)


def _unchanged_since_made(candidate: Invoice) -> bool:
    """Whether the provider says the candidate was not changed after it was made: its
    ``updated_at`` is its ``created_at`` (a provider stamps both alike at a create, and any
    change moves the first; even one a moment later, such as an automation discounting a new
    draft); False where it does not say."""
    made, changed = candidate.created_at, candidate.updated_at
    if made is None or changed is None or (made.tzinfo is None) != (changed.tzinfo is None):
        return False
    return changed <= made


def _same_line(sent: Line, candidate: Line, *, unchanged: bool) -> bool:
    if unchanged and _discounted(candidate.discount) and not _discounted(sent.discount):
        return False
    if not _same_number(sent.quantity, candidate.quantity):
        return False
    if not _same_number(sent.unit_price, candidate.unit_price):
        return False
    for name in ("item_id", "name", "description"):
        wanted = getattr(sent, name)
        if wanted is not None and getattr(candidate, name) not in (wanted, str(wanted)):
            return False
    return True


def _discounted(discount: Discount | None) -> bool:
    """Whether a discount takes anything off (a provider may list "no discount" as a zero)."""
    return discount is not None and discount.value != 0


# A candidate's text shorter than the one sent, and its start, is the sent one cut short by a
# provider's limit only from this length on: "Job 1" is no cut-short "Job 12".
_CUT_SHORT_FROM = 32


def same_text(sent: str | None, candidate: str | None) -> bool:
    """Whether a free text the caller sent (the notes, a reference) can be the candidate's:
    the same but for blanks (a provider may trim or reflow what it keeps), or the sent text cut
    short at a provider's limit. Where either has none, it tells nothing."""
    if not sent or not candidate:
        return True  # not sent, or not listed
    ours, theirs = " ".join(sent.split()), " ".join(candidate.split())
    if ours == theirs:
        return True
    return len(theirs) >= _CUT_SHORT_FROM and ours.startswith(theirs)


def _same_number(sent: Decimal | None, candidate: Decimal | None) -> bool:
    return sent is None or (candidate is not None and sent == candidate)


def created_since(candidate: Invoice, started_at: float | None) -> bool:
    """False only when the provider says the candidate was made before the write began."""
    if started_at is None or candidate.created_at is None:
        return True
    created = candidate.created_at
    if created.tzinfo is None:
        return True  # a provider's local time: not comparable, so not evidence either way
    began = datetime.fromtimestamp(started_at, tz=created.tzinfo)
    return created >= began - _CLOCK_SKEW


# -- payments ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedPayment:
    """A payment recorded: the invoice as it then reads, and the provider's id for the payment
    (None where its answer names none)."""

    invoice: Invoice
    payment_id: str | None


def payment_made(record: str, payment_id: str) -> str:
    """How the store names a payment a write made (its ``made``), beside the invoices creates
    made: its invoice by its record key (``Adapter.record_key``: one name however the id is
    written), and no invoice id holds a ``/``."""
    return f"payment/{record}/{payment_id}"


def _alike(payments: list[Payment], sent: Payment) -> list[Payment]:
    return [
        payment
        for payment in payments
        if payment.amount == sent.amount
        and payment.date == sent.date
        and (sent.reference is None or payment.reference in (None, sent.reference))
    ]


def matching_payments(payments: list[Payment], sent: Payment) -> int:
    """How many of ``payments`` carry what the caller sent (amount, date, reference)."""
    return len(_alike(payments, sent))


def matching_payment_ids(payments: list[Payment], sent: Payment) -> list[str] | None:
    """The provider's ids of the payments that carry what the caller sent; None where one of
    them has no id (they can then only be counted)."""
    ids = [payment.id for payment in _alike(payments, sent)]
    return None if any(found is None for found in ids) else [str(found) for found in ids]


def action_recovery(current: Invoice, action: str) -> dict[str, Any]:
    """What a state change keeps before it is sent: the status it starts from; for
    ``mark_paid``, which records a payment where the provider keeps them, the ids of the
    payments there already (``new_payment``), where each has one."""
    recovery: dict[str, Any] = {"before": current.status}
    ids = [payment.id for payment in current.payments]
    if action == "mark_paid" and None not in ids:
        recovery["payments"] = [str(found) for found in ids]
    return recovery


def new_payment(invoice: Invoice, recovery: dict[str, Any]) -> str | None:
    """The id of the one payment ``invoice`` has that was not there when ``recovery`` was
    kept (``action_recovery``); None where there is not exactly one, or nothing was kept."""
    before = recovery.get("payments")
    if not isinstance(before, list):
        return None
    new = [str(p.id) for p in invoice.payments if p.id is not None and str(p.id) not in before]
    return new[0] if len(new) == 1 else None


def judge_new_payments(
    invoice_id: str, invoice: Invoice, new: list[str], *, record: str
) -> Resolution:
    """A payment's lost answer, from the payments alike that are new since it was sent
    (``new``, the provider's ids): one is the write's, none is not done, several are unknown.
    Each is offered (``among``, named by ``payment_made`` of the invoice's ``record`` key) to
    be taken out where the store keeps it as another write's (``LostAnswers.find``): a
    payment alike that another key recorded while this one's outcome was uncertain is that
    key's, whenever this one is retried."""
    if len(new) == 1:
        found = Resolution.done(
            RecordedPayment(invoice, new[0]), f"invoice {invoice_id} has the payment ({new[0]})"
        )
    elif not new:
        found = Resolution.not_done(f"invoice {invoice_id} has no new payment like it")
    else:
        found = Resolution.unknown(
            f"invoice {invoice_id} has {len(new)} new payments like it ({', '.join(new)}), not one"
        )
    if not new:
        return found

    async def without(others: frozenset[str]) -> Resolution:
        left = [made for made in new if payment_made(record, made) not in others]
        return judge_new_payments(invoice_id, invoice, left, record=record)

    return replace(found, among=tuple(payment_made(record, made) for made in new), without=without)
