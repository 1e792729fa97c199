"""The adapter contract: what every provider adapter offers, declares and raises.

Errors, classified by what the caller should do next (the facade maps each to its HTTP answer in
one place, ``gateway/http/errors.py``)::

    AdapterError
    ├── NotFound              the invoice (or order, payment) does not exist: don't retry
    ├── Conflict              the provider's lifecycle refuses it now (edit a sent invoice)
    ├── PreconditionFailed    the version given with If-Match is not the current one
    ├── InvalidRequest        the provider (or a pre-check) rejected fields: fix them, see errors
    ├── UnsupportedFields     fields this provider cannot carry: drop them or go lenient
    ├── NotSupported          an operation this provider cannot do at all
    └── UpstreamError         the provider failed; retrying later may work
        ├── UpstreamAuthFailed    the provider rejected the gateway's credentials: fix config
        ├── UpstreamUnavailable   unreachable, or rate-limiting us (Retry-After when known)
        ├── UpstreamTimeout       no answer in time, and nothing was written (reads, retries)
        └── OutcomeUncertain      a write was sent and its outcome is unknown: reconcile first
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from gateway.canonical.errors import FieldError
from gateway.canonical.model import Invoice, Payment, RoundingPolicy
from gateway.canonical.reconcile import reconcile

if TYPE_CHECKING:
    from adapters.mapping import Mapping
    from gateway.config import Connection
    from gateway.upstream import UpstreamClient


class AdapterError(Exception):
    """Base of every error an adapter raises; ``message`` is safe to show a caller."""

    def __init__(self, message: str, *, provider: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider


class NotFound(AdapterError):
    pass


class Conflict(AdapterError):
    pass


class PreconditionFailed(AdapterError):
    pass


class InvalidRequest(AdapterError):
    """Rejected fields, each with a canonical pointer where the mapping knows one."""

    def __init__(
        self, message: str, errors: Sequence[FieldError] = (), *, provider: str | None = None
    ) -> None:
        super().__init__(message, provider=provider)
        self.errors = list(errors)


class UnsupportedFields(InvalidRequest):
    """Fields the provider cannot represent (``Prefer: handling=strict``)."""


class NotSupported(AdapterError):
    def __init__(self, operation: str, *, provider: str) -> None:
        super().__init__(f"{provider} cannot {operation}", provider=provider)
        self.operation = operation


class UpstreamError(AdapterError):
    """The provider failed; ``status`` is its HTTP status where it answered."""

    retryable: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider)
        self.status = status
        self.retry_after = retry_after


class UpstreamAuthFailed(UpstreamError):
    retryable = False


class UpstreamUnavailable(UpstreamError):
    pass


class UpstreamTimeout(UpstreamError):
    pass


class OutcomeUncertain(UpstreamError):
    """A write reached the provider (or may have) and no answer says whether it took effect."""


# -- what a provider can do --------------------------------------------------------------------

OPERATIONS = ("list", "get", "create", "update", "delete")
ACTIONS = (
    "issue",
    "send",
    "mark_sent",
    "unpublish",
    "void",
    "reactivate",
    "mark_paid",
    "duplicate",
    "credit_note",
)
FILTERS = ("status", "customer_id", "issued_from", "issued_to", "number")
PAYMENT_OPERATIONS = ("list", "create", "delete")

Handling = Literal["strict", "lenient"]


@dataclass(frozen=True)
class Capabilities:
    """What one provider can do and carry; loaded from ``mappings/<provider>.yaml``."""

    operations: frozenset[str]
    actions: frozenset[str]
    payments: frozenset[str]
    notes: bool
    create_from_order: bool
    filters: frozenset[str]
    fields: frozenset[str]  # writable canonical field paths, see adapters/representable.py
    tax_modes: frozenset[str]
    max_line_taxes: int
    compound_taxes: bool
    max_page_size: int
    versioned: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "operations": sorted(self.operations, key=OPERATIONS.index),
            "actions": sorted(self.actions, key=ACTIONS.index),
            "payments": sorted(self.payments, key=PAYMENT_OPERATIONS.index),
            "notes": self.notes,
            "create_from_order": self.create_from_order,
            "filters": sorted(self.filters, key=FILTERS.index),
            "fields": sorted(self.fields),
            "tax_modes": sorted(self.tax_modes),
            "max_line_taxes": self.max_line_taxes,
            "compound_taxes": self.compound_taxes,
            "max_page_size": self.max_page_size,
            "versioned": self.versioned,
        }


@dataclass(frozen=True)
class ListQuery:
    """Canonical list filters; an adapter applies those its provider supports."""

    status: str | None = None
    customer_id: str | None = None
    issued_from: date | None = None
    issued_to: date | None = None
    number: str | None = None

    def given(self) -> frozenset[str]:
        return frozenset(name for name in FILTERS if getattr(self, name) is not None)


@dataclass(frozen=True)
class Page:
    """One provider page. ``next_page`` is the adapter's own token for the next one, or None."""

    invoices: list[Invoice]
    next_page: str | None


@dataclass(frozen=True)
class WriteWarning:
    """A field dropped under ``Prefer: handling=lenient``, and why."""

    field: str  # JSON pointer into the request body
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


@dataclass(frozen=True)
class WriteResult:
    invoice: Invoice
    warnings: list[WriteWarning] = field(default_factory=list)


@dataclass(frozen=True)
class NoteFile:
    filename: str
    content_type: str
    content: bytes


# -- pagination --------------------------------------------------------------------------------


class PageNumbers:
    """Numbered pages: ``first`` is the first page's number (0 for zero-based providers).

    The token handed out is the next page's number as text; the end is reached when the provider
    says so (total pages or total records), or when a page comes back short or empty.
    """

    def __init__(self, first: int = 1) -> None:
        self.first = first

    def number(self, token: str | None) -> int:
        if token is None:
            return self.first
        try:
            value = int(token)
        except ValueError:
            raise InvalidRequest(f"page token {token!r} is not a page number") from None
        if value < self.first:
            raise InvalidRequest(f"page token {token!r} is before the first page")
        return value

    def next_token(
        self,
        current: int,
        *,
        count: int,
        page_size: int,
        total_pages: int | None = None,
        total: int | None = None,
    ) -> str | None:
        if count == 0 or count < page_size:
            return None
        position = current - self.first + 1  # pages read so far, this one included
        if total_pages is not None and position >= total_pages:
            return None
        if total is not None and position * page_size >= total:
            return None
        return str(current + 1)


class PaginationLoop(UpstreamError):
    """The provider handed back a page already seen: walking on would never end."""

    retryable = False


async def walk(
    adapter: Adapter, query: ListQuery, page_size: int, *, max_pages: int = 100_000
) -> AsyncIterator[Page]:
    """Every page of a listing, in order, stopping at a repeated token or a repeated page."""
    seen_tokens: set[str | None] = set()
    previous_ids: tuple[str | None, ...] | None = None
    token: str | None = None
    for _ in range(max_pages):
        seen_tokens.add(token)
        page = await adapter.list_page(query, token, page_size)
        ids = tuple(invoice.id for invoice in page.invoices)
        if ids and ids == previous_ids:
            raise PaginationLoop(
                f"{adapter.provider} returned the same page twice", provider=adapter.provider
            )
        previous_ids = ids
        yield page
        if page.next_page is None:
            return
        if page.next_page in seen_tokens:
            raise PaginationLoop(
                f"{adapter.provider} pointed back to page {page.next_page}",
                provider=adapter.provider,
            )
        token = page.next_page
    raise PaginationLoop(f"{adapter.provider} has more than {max_pages} pages")


# -- the contract ------------------------------------------------------------------------------


class Adapter:
    """Translates canonical ⇄ one provider and calls it through the injected upstream client.

    Every operation a provider lacks raises ``NotSupported``; subclasses override what their
    provider can do and declare it in ``mappings/<provider>.yaml``. Adapters open no sockets.
    """

    provider: ClassVar[str]

    def __init__(
        self,
        client: UpstreamClient,
        connection: Connection,
        mapping: Mapping,
        *,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.client = client
        self.connection = connection
        self.mapping = mapping
        self.today = today

    @property
    def capabilities(self) -> Capabilities:
        return self.mapping.capabilities

    @property
    def rounding(self) -> RoundingPolicy:
        """The connection's declared policy, else the provider's own."""
        return self.connection.rounding or self.mapping.rounding

    def _unsupported(self, operation: str) -> NotSupported:
        return NotSupported(operation, provider=self.provider)

    def policy_for(self, invoice: Invoice) -> RoundingPolicy:
        """The rounding this invoice follows; providers whose policy varies by invoice override."""
        return self.rounding

    def finish_read(self, invoice: Invoice) -> Invoice:
        """Every invoice an adapter returns passes here: stamped, recomputed, checked."""
        stamped = invoice.model_copy(
            update={"connection": self.connection.name, "provider": self.provider}
        )
        return reconcile(stamped, self.policy_for(stamped), self.today())

    async def list_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        raise self._unsupported("list invoices")

    async def get(self, invoice_id: str) -> Invoice:
        raise self._unsupported("read an invoice")

    async def create(self, invoice: Invoice, *, handling: Handling = "strict") -> WriteResult:
        raise self._unsupported("create invoices")

    async def update(
        self,
        invoice_id: str,
        invoice: Invoice,
        *,
        handling: Handling = "strict",
    ) -> WriteResult:
        raise self._unsupported("update invoices")

    async def delete(self, invoice_id: str) -> None:
        raise self._unsupported("delete invoices")

    async def act(self, invoice_id: str, action: str) -> Invoice:
        """Run a state change (``issue``, ``void``…).

        ``duplicate`` and ``credit_note`` answer the new document; the others the invoice itself.
        """
        raise self._unsupported(action.replace("_", " ") + " invoices")

    async def list_payments(self, invoice_id: str) -> list[Payment]:
        raise self._unsupported("list payments")

    async def record_payment(self, invoice_id: str, payment: Payment) -> Invoice:
        raise self._unsupported("record payments")

    async def delete_payment(self, invoice_id: str, payment_id: str) -> Invoice:
        raise self._unsupported("delete payments")

    async def add_note(self, invoice_id: str, note: str, file: NoteFile | None = None) -> Any:
        raise self._unsupported("add notes")

    async def create_from_order(
        self, order_id: str, invoice: Invoice | None = None, *, handling: Handling = "strict"
    ) -> WriteResult:
        raise self._unsupported("create invoices from orders")
