"""The canonical invoice: one JSON shape for every provider (see docs/canonical-invoice.md).

One model serves both directions. Read-only fields (what the gateway computes or the provider
owns) are ignored when a caller writes (``invoice_from_input``), so an invoice read from the API
can be sent back as it is; unknown fields are refused either way.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gateway.canonical.dates import WRITTEN_AS, iso_date
from gateway.canonical.decimals import (
    DISCOUNT_VALUE_SCHEMA,
    ExchangeRate,
    Money,
    NonNegativeMoney,
    PositiveMoney,
    Quantity,
    Rate,
    UnitPrice,
    check_non_negative,
    check_percent,
    check_places,
    to_decimal,
)
from gateway.canonical.money import MINOR_UNITS, RoundingMode

InvoiceStatus = Literal["draft", "open", "paid", "void", "unknown"]
PaymentStatus = Literal["unpaid", "partially_paid", "paid"]
TaxMode = Literal["exclusive", "inclusive"]
TaxScope = Literal["per_line", "per_rate"]
LineKind = Literal["item", "section"]
DiscountType = Literal["percent", "amount"]
# What a document is. A credit note reduces what its customer owes; its amounts are shown as
# the provider shows them (positive at draft_publish), so a sum of what is owed counts them
# negative (docs/canonical-invoice.md, "Credit notes"). unknown: a provider value not mapped.
DocumentType = Literal["invoice", "credit_note", "unknown"]
DOCUMENT_TYPES: tuple[DocumentType, ...] = get_args(DocumentType)

DOCUMENT_TYPE_DESCRIPTION = (
    "What the document is: invoice (the default), or credit_note (money the seller gives back "
    "or takes off what the customer owes), or unknown (a provider type the gateway does not "
    "map; remote_data has it). Amounts are as the provider shows them: a credit note's totals "
    "are positive, like an invoice's. What a consumer sums: a credit note counts negative "
    "toward what is owed (owed = Σ totals.due of invoices − Σ totals.due of credit notes); "
    "an unknown document is not summed blindly. Set by the provider: a create cannot make a "
    "credit note (use the credit_note action on the invoice it credits, where the connection "
    "has it), and a replace cannot change it."
)
CREDITED_INVOICE_DESCRIPTION = (
    "On a credit note: the provider's id of the invoice it credits, where the provider links "
    "them; null on an invoice. Set by the provider, like document_type."
)


def _iso_date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return iso_date(value)
        except ValueError as wrong:
            raise PydanticCustomError("date_format", str(wrong)) from None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise PydanticCustomError("date_format", WRITTEN_AS)
    return value


# Providers use numeric ids; the canonical id is always their text.
Identifier = Annotated[
    str,
    Field(min_length=1, max_length=255, coerce_numbers_to_str=True),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 255}, {"type": "number"}]},
        mode="validation",
    ),
]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Text = Annotated[str, Field(max_length=10_000)]
ShortText = Annotated[str, Field(max_length=1_000)]


class CanonicalModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, validate_default=False)


class Discount(CanonicalModel):
    """A percent of the amount, or a fixed amount (for a line: for the whole line)."""

    type: DiscountType
    value: Annotated[Decimal, BeforeValidator(to_decimal), DISCOUNT_VALUE_SCHEMA]

    @field_validator("value")
    @classmethod
    def _value_fits_type(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        value = check_places(check_non_negative(value), 4)
        return check_percent(value) if info.data.get("type") == "percent" else value


class Tax(CanonicalModel):
    id: Identifier | None = None
    name: ShortText | None = None
    rate: Rate
    # true or false as JSON writes them: "yes", "on" or 1 would change the tax charged unseen
    compound: StrictBool = False


class Customer(CanonicalModel):
    id: Identifier | None = None
    name: ShortText | None = None


class Adjustment(CanonicalModel):
    """An amount added after tax (negative to round a total down), as bill_crm has it."""

    amount: Money
    description: ShortText | None = None


class Payment(CanonicalModel):
    id: Identifier | None = None
    amount: PositiveMoney
    date: IsoDate
    method: ShortText | None = None
    reference: ShortText | None = None


class RoundingPolicy(CanonicalModel):
    mode: RoundingMode = "half_up"
    tax_scope: TaxScope = "per_line"


LINE_COMPUTED = frozenset({"subtotal", "discount_amount", "net_amount", "tax_amount", "total"})


class Line(CanonicalModel):
    """One line; a section line is a heading with no amounts. Amounts are computed."""

    read_only_keys: ClassVar[frozenset[str]] = LINE_COMPUTED

    id: Identifier | None = None
    kind: LineKind = "item"
    item_id: Identifier | None = None
    name: ShortText | None = None
    description: Text | None = None
    quantity: Quantity | None = None
    unit: ShortText | None = None
    unit_price: UnitPrice | None = None
    discount: Discount | None = None
    taxes: list[Tax] = Field(default_factory=list, max_length=10)
    provider_fields: dict[str, Any] = Field(default_factory=dict)  # provider-only line inputs
    subtotal: Money | None = None
    discount_amount: Money | None = None
    net_amount: Money | None = None
    tax_amount: Money | None = None
    total: Money | None = None

    @model_validator(mode="after")
    def _amounts_fit_kind(self) -> Line:
        # ``at``: the fields the error is about, so that its pointers name them
        # (``errors.InvalidInvoice.from_pydantic``), not only the line.
        if self.kind == "item":
            missing = [name for name in ("quantity", "unit_price") if getattr(self, name) is None]
            if missing:
                raise PydanticCustomError(
                    "line_amounts",
                    "is required: an item line has a quantity and a unit_price",
                    {"at": tuple(missing)},
                )
        else:
            given = [n for n in ("quantity", "unit_price") if getattr(self, n) is not None]
            given += [n for n in ("discount", "taxes") if getattr(self, n)]
            if given:
                raise PydanticCustomError(
                    "section_amounts",
                    "a section line is a heading: it has no quantity, unit_price, discount or "
                    "taxes",
                    {"at": tuple(given)},
                )
        return self


class TaxBreakdownRow(CanonicalModel):
    rate: Rate
    name: ShortText | None = None
    taxable: Money
    tax: Money


PaidSource = Literal["payments", "provider", "status"]
PAID_SOURCE_DESCRIPTION = (
    "Where totals.paid (and so due) comes from: payments (the sum of the invoice's payment "
    "records), provider (the provider's own paid figure; it lists no payments), status (the "
    "provider records no payment, but its status says paid: paid is the total and nothing is "
    "due, and totals_check lists the provider's own paid and due figures)."
)


class Totals(CanonicalModel):
    subtotal: Money
    discount: Money
    tax: Money
    shipping: Money
    adjustment: Money
    total: Money
    paid: Money
    due: Money
    tax_breakdown: list[TaxBreakdownRow] = Field(default_factory=list)
    paid_source: PaidSource | None = Field(default=None, description=PAID_SOURCE_DESCRIPTION)


class TotalsDifference(CanonicalModel):
    """A field where the provider's figure and the gateway's recomputation disagree."""

    field: str  # "total", "lines[0].tax_amount", "payment_status"
    provider: str | None
    computed: str | None


class TotalsCheck(CanonicalModel):
    consistent: bool
    differences: list[TotalsDifference] = Field(default_factory=list)


INVOICE_READ_ONLY = frozenset(
    {
        "object",
        "id",
        "connection",
        "provider",
        "status",
        "payment_status",
        "overdue",
        "provider_status",
        "totals",
        "totals_check",
        "public_url",
        "created_at",
        "updated_at",
        "version",
        "remote_data",
        "warnings",
    }
)


class Invoice(CanonicalModel):
    """An invoice, as written by a caller or returned by the gateway."""

    read_only_keys: ClassVar[frozenset[str]] = INVOICE_READ_ONLY
    object: Literal["invoice"] = "invoice"
    id: Identifier | None = None
    connection: str | None = None
    provider: str | None = None
    status: InvoiceStatus | None = None
    payment_status: PaymentStatus | None = None
    overdue: bool = False
    provider_status: dict[str, Any] | None = None
    document_type: DocumentType = Field(default="invoice", description=DOCUMENT_TYPE_DESCRIPTION)
    credited_invoice_id: Identifier | None = Field(
        default=None, description=CREDITED_INVOICE_DESCRIPTION
    )
    number: ShortText | None = None
    customer: Customer | None = None
    issue_date: IsoDate | None = None
    due_date: IsoDate | None = None
    currency: str = Field(json_schema_extra={"enum": list(sorted(MINOR_UNITS))})
    exchange_rate: ExchangeRate | None = None
    tax_mode: TaxMode = "exclusive"
    discount: Discount | None = None
    shipping: NonNegativeMoney = Decimal(0)
    adjustment: Adjustment | None = None
    payments: list[Payment] = Field(default_factory=list, max_length=1_000)
    reference: ShortText | None = None
    notes: Text | None = None
    terms: Text | None = None
    billing_address: Text | None = None
    shipping_address: Text | None = None
    tags: list[ShortText] = Field(default_factory=list, max_length=100)
    order_id: Identifier | None = None
    provider_fields: dict[str, Any] = Field(default_factory=dict)
    lines: list[Line] = Field(default_factory=list, max_length=1_000)
    totals: Totals | None = None
    totals_check: TotalsCheck | None = None
    public_url: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: str | None = None
    remote_data: Any = None

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in MINOR_UNITS:
            raise PydanticCustomError(
                "currency_code", 'must be an ISO 4217 currency code such as "USD"'
            )
        return value

    @field_validator("credited_invoice_id")
    @classmethod
    def _only_a_credit_note_credits(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("document_type", "invoice") == "invoice":
            raise PydanticCustomError(
                "credited_invoice",
                "only a credit note credits an invoice (document_type credit_note)",
            )
        return value


_set = object.__setattr__
ModelT = TypeVar("ModelT", bound=CanonicalModel)


def with_fields(model: ModelT, changes: dict[str, Any]) -> ModelT:
    """A shallow copy of ``model`` with ``changes``, not validated: ``model_copy(update=…)``
    without its general bookkeeping (these models keep no private or extra attributes). The
    calculation copies every line of every invoice it computes, so this path is a hot one."""
    copied = type(model).__new__(type(model))
    _set(copied, "__dict__", {**model.__dict__, **changes})
    _set(copied, "__pydantic_extra__", None)
    _set(copied, "__pydantic_fields_set__", model.__pydantic_fields_set__ | changes.keys())
    _set(copied, "__pydantic_private__", None)
    return copied


def constructed(model: type[ModelT], fields: dict[str, Any]) -> ModelT:
    """``model.model_construct(**fields)`` for ``fields`` that name every field of ``model`` in
    its order, without pydantic's per-field walk (these models have no aliases, private
    attributes or post-init): what the calculation builds its results with."""
    built = model.__new__(model)
    _set(built, "__dict__", fields)
    _set(built, "__pydantic_fields_set__", set(fields))
    _set(built, "__pydantic_extra__", None)
    _set(built, "__pydantic_private__", None)
    return built


def writable(data: Any) -> Any:
    """A caller's invoice without its read-only keys (which are not the caller's to set)."""
    if not isinstance(data, dict):
        return data
    fields = {k: v for k, v in data.items() if k not in Invoice.read_only_keys}
    lines = fields.get("lines")
    if isinstance(lines, list):
        fields["lines"] = [
            {k: v for k, v in line.items() if k not in Line.read_only_keys}
            if isinstance(line, dict) and not Line.read_only_keys.isdisjoint(line)
            else line
            for line in lines
        ]
    return fields


def invoice_from_input(data: Any) -> Invoice:
    """Validate a caller's invoice: unknown fields refused, read-only ones ignored."""
    return Invoice.model_validate(writable(data))
