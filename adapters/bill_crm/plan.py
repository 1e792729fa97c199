"""Everything checked before bill_crm is sent a write, and the tax type the invoice takes.

A canonical write is several provider calls, so a request the CRM would refuse half-way must
be refused here, before the first call: every problem is collected and raised at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from adapters.base import InvalidRequest, UnsupportedFields, WriteWarning
from adapters.bill_crm.wire import INLINE, SUMMARY, TAX_TYPES, TaxType
from adapters.line_limits import line_limit_errors
from adapters.mapping import Mapping
from adapters.reference import configured_taxes, provider_field_values
from gateway.canonical.errors import FieldError, InvalidInvoice, pointer_to_path
from gateway.canonical.model import Invoice, Line, RoundingPolicy, Tax
from gateway.canonical.totals import calculate
from gateway.config import Connection, TaxSetting

PROVIDER = "bill_crm"
# The CRM's ceiling for any number it is sent.
LARGEST = Decimal("999999999999")
_TAX_TYPE_FIELD = "bill_tax_type"
_DIGITS = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class Plan:
    """A write bill_crm can take: the invoice, its provider fields, tax type and tax records."""

    invoice: Invoice
    fields: dict[str, Any]
    tax_type: TaxType
    taxes: list[list[TaxSetting]]
    positions: list[int]  # line i of ``invoice`` is line positions[i] of the caller's request


def line_positions(original: Invoice, fitted: Invoice) -> list[int]:
    """Where each line sent stands in the caller's request (lenient handling drops sections)."""
    if len(fitted.lines) == len(original.lines):
        return list(range(len(original.lines)))
    return [i for i, line in enumerate(original.lines) if line.kind != "section"]


def remap(errors: Sequence[FieldError], positions: Sequence[int]) -> list[FieldError]:
    """Pointers into the lines sent, turned into pointers into the caller's request."""
    out = []
    for error in errors:
        parts = error.pointer.split("/")
        if len(parts) > 2 and parts[1] == "lines" and parts[2].isdigit():
            index = int(parts[2])
            if index < len(positions):
                parts[2] = str(positions[index])
        out.append(FieldError("/".join(parts), error.detail))
    return out


def plan(original: Invoice, fitted: Invoice, mapping: Mapping, connection: Connection) -> Plan:
    """Check ``fitted`` (``original`` after strict/lenient fitting) against what bill_crm takes."""
    errors: list[FieldError] = []
    unsupported: list[FieldError] = []
    positions = line_positions(original, fitted)

    if fitted.currency != connection.currency:
        errors.append(
            FieldError(
                "/currency",
                f"{PROVIDER} invoices are in the account's currency ({connection.currency}) "
                f"only, not {fitted.currency}",
            )
        )
    customer_id = fitted.customer.id if fitted.customer else None
    if customer_id is None:
        errors.append(FieldError("/customer/id", f"is required by {PROVIDER}"))
    elif not _DIGITS.fullmatch(customer_id):
        errors.append(FieldError("/customer/id", f"must be a {PROVIDER} client id (an integer)"))
    if fitted.issue_date is None:
        errors.append(FieldError("/issue_date", f"is required by {PROVIDER}"))
    errors += _number_errors(fitted)
    errors += _tag_errors(fitted.tags)

    fields: dict[str, Any] = {}
    try:
        fields = provider_field_values(fitted, mapping, connection)
    except InvalidRequest as exc:
        errors += exc.errors
    explicit = fields.get(_TAX_TYPE_FIELD)
    if explicit is not None and explicit not in TAX_TYPES:
        errors.append(
            FieldError(f"/provider_fields/{_TAX_TYPE_FIELD}", "must be summary or inline")
        )
        explicit = None

    taxes: list[list[TaxSetting]] = []
    try:
        taxes = configured_taxes(fitted, connection)
    except InvalidRequest as exc:
        errors += exc.errors
    errors += _line_errors(fitted, taxes)
    errors += line_limit_errors(fitted, mapping.capabilities.line_limits, PROVIDER)

    tax_type: TaxType = explicit or SUMMARY
    if taxes:
        tax_type = explicit or choose_tax_type(fitted.lines, [_ids(t) for t in taxes])
        unsupported += _tax_type_problems(fitted, taxes, tax_type, explicit is not None)
    if not errors and not unsupported:
        errors += _engine_errors(fitted, tax_type)

    if errors:
        every = remap(errors + unsupported, positions)
        raise InvalidRequest(_summary(every), every, provider=PROVIDER)
    if unsupported:
        every = remap(unsupported, positions)
        raise UnsupportedFields(_summary(every), every, provider=PROVIDER)
    return Plan(fitted, fields, tax_type, taxes, positions)


def _summary(errors: Sequence[FieldError]) -> str:
    """The first problem as one line that names its field."""
    first = errors[0]
    if first.detail.startswith(PROVIDER) or not first.pointer:
        return first.detail
    return f"{pointer_to_path(first.pointer)} {first.detail}"


def choose_tax_type(lines: Sequence[Line], tax_sets: Sequence[frozenset[Any]]) -> TaxType:
    """Summary when every item line has the same taxes and none has a discount, else inline.

    ``tax_sets`` holds each line's taxes as a set of keys (configured tax ids).
    """
    items = [(line, keys) for line, keys in zip(lines, tax_sets, strict=True)]
    items = [(line, keys) for line, keys in items if line.kind == "item"]
    if any(line.discount is not None for line, _ in items):
        return INLINE
    return SUMMARY if len({keys for _, keys in items}) <= 1 else INLINE


def tax_type_of(invoice: Invoice, connection: Connection) -> TaxType:
    """The tax type an invoice has (read) or will be written with; never raises."""
    given = invoice.provider_fields.get(_TAX_TYPE_FIELD)
    if given in TAX_TYPES:
        return SUMMARY if given == SUMMARY else INLINE
    keys = [frozenset(_tax_key(tax, connection) for tax in line.taxes) for line in invoice.lines]
    return choose_tax_type(invoice.lines, keys)


def policy(tax_type: TaxType, base: RoundingPolicy) -> RoundingPolicy:
    """Summary tax is rounded once per rate, inline tax once per line; the mode is the base's."""
    scope = "per_rate" if tax_type == SUMMARY else "per_line"
    return RoundingPolicy(mode=base.mode, tax_scope=scope)


def _tax_key(tax: Tax, connection: Connection) -> Any:
    # As adapters.reference matches taxes: by id when given, else by rate (and name).
    setting = connection.tax_by_id(tax.id) if tax.id is not None else None
    if setting is None or setting.rate != tax.rate:
        setting = connection.tax_for_rate(tax.rate, tax.name)
    return setting.id if setting is not None else ("rate", tax.rate)


def _ids(settings: Sequence[TaxSetting]) -> frozenset[str]:
    return frozenset(setting.id for setting in settings)


def lenient_taxes(
    original: Invoice, fitted: Invoice, connection: Connection
) -> tuple[Invoice, list[WriteWarning]]:
    """What lenient handling drops so that bill_crm's tax types can carry ``fitted``, with a
    warning each (strict handling refuses the same in ``plan``): a ``bill_tax_type: summary``
    that the lines' taxes or a line discount rule out (the invoice goes inline), then every tax
    but a line's first on an inline-tax invoice. A rate with no configured tax is left to
    ``plan`` to name."""
    try:
        taxes = configured_taxes(fitted, connection)
    except InvalidRequest:
        return fitted, []
    positions = line_positions(original, fitted)
    warnings: list[WriteWarning] = []
    fields = fitted.provider_fields
    explicit = fields.get(_TAX_TYPE_FIELD)
    if explicit == SUMMARY and _tax_type_problems(fitted, taxes, SUMMARY, explicit=True):
        kept = {name: value for name, value in fields.items() if name != _TAX_TYPE_FIELD}
        fitted = fitted.model_copy(update={"provider_fields": kept})
        warnings.append(
            WriteWarning(
                f"/provider_fields/{_TAX_TYPE_FIELD}",
                f"dropped: {PROVIDER} summary tax applies the same taxes to every line and "
                "carries no line discount; the invoice is written with inline tax",
            )
        )
        explicit = None
    inline = explicit == INLINE or (
        explicit is None and choose_tax_type(fitted.lines, [_ids(t) for t in taxes]) == INLINE
    )
    if not inline or all(len(line_taxes) <= 1 for line_taxes in taxes):
        return fitted, warnings
    lines = list(fitted.lines)
    for i, line in enumerate(lines):
        if len(taxes[i]) > 1:
            lines[i] = line.model_copy(update={"taxes": line.taxes[:1]})
            dropped = ", ".join(_label(tax) for tax in line.taxes[1:])
            warnings.append(
                WriteWarning(
                    f"/lines/{positions[i]}/taxes",
                    f"dropped {dropped}: {PROVIDER} carries one tax per line on an inline-tax "
                    "invoice (lines with different taxes or a line discount)",
                )
            )
    return fitted.model_copy(update={"lines": lines}), warnings


def _label(tax: Tax) -> str:
    rate = format(tax.rate.normalize(), "f")
    return f"{tax.name} ({rate}%)" if tax.name else f"the {rate}% tax"


def _tax_type_problems(
    invoice: Invoice, taxes: Sequence[Sequence[TaxSetting]], tax_type: TaxType, explicit: bool
) -> list[FieldError]:
    """What the chosen tax type cannot carry (lenient handling has dropped it first:
    ``lenient_taxes``)."""
    found: list[FieldError] = []
    items = [(i, line, t) for i, (line, t) in enumerate(zip(invoice.lines, taxes, strict=True))]
    if tax_type == INLINE:
        why = (
            "an inline-tax invoice (chosen by provider_fields.bill_tax_type)"
            if explicit
            else "an invoice whose lines have different taxes or a line discount (inline tax)"
        )
        found += [
            FieldError(f"/lines/{i}/taxes", f"{PROVIDER} carries one tax per line on {why}")
            for i, _, line_taxes in items
            if len(line_taxes) > 1
        ]
        return found
    first = _ids(items[0][2]) if items else frozenset()
    for i, line, line_taxes in items:
        if line.discount is not None:
            found.append(
                FieldError(
                    f"/lines/{i}/discount",
                    f"{PROVIDER} carries line discounts on inline-tax invoices only, "
                    "and provider_fields.bill_tax_type asks for summary tax",
                )
            )
        if _ids(line_taxes) != first:
            found.append(
                FieldError(
                    f"/lines/{i}/taxes",
                    f"{PROVIDER} summary tax applies the same taxes to every line, "
                    "and provider_fields.bill_tax_type asks for summary tax",
                )
            )
    return found


def _line_errors(invoice: Invoice, taxes: Sequence[Sequence[TaxSetting]]) -> list[FieldError]:
    errors: list[FieldError] = []
    for i, line in enumerate(invoice.lines):
        at = f"/lines/{i}"
        if line.name is None or not line.name.strip():
            errors.append(
                FieldError(f"{at}/name", f"is required by {PROVIDER} (its line description)")
            )
        line_taxes = taxes[i] if i < len(taxes) else []
        seen: set[str] = set()
        for j, setting in enumerate(line_taxes):
            if not _DIGITS.fullmatch(setting.id):
                errors.append(
                    FieldError(
                        f"{at}/taxes/{j}",
                        f"the connection's tax id {setting.id!r} is not a {PROVIDER} tax rate id "
                        "(an integer); fix the connection's taxes",
                    )
                )
            elif setting.id in seen:
                errors.append(
                    FieldError(f"{at}/taxes/{j}", f"{PROVIDER} applies each tax rate once per line")
                )
            seen.add(setting.id)
    return errors


def _number_errors(invoice: Invoice) -> list[FieldError]:
    numbers: list[tuple[str, Decimal | None]] = []
    if invoice.discount is not None:
        numbers.append(("/discount/value", invoice.discount.value))
    if invoice.adjustment is not None:
        numbers.append(("/adjustment/amount", invoice.adjustment.amount))
    for i, line in enumerate(invoice.lines):
        numbers += [(f"/lines/{i}/quantity", line.quantity)]
        numbers += [(f"/lines/{i}/unit_price", line.unit_price)]
        if line.discount is not None:
            numbers.append((f"/lines/{i}/discount/value", line.discount.value))
    return [
        FieldError(where, f"{PROVIDER} takes numbers up to {LARGEST}")
        for where, value in numbers
        if value is not None and abs(value) > LARGEST
    ]


def _tag_errors(tags: Sequence[str]) -> list[FieldError]:
    # The CRM trims tags, drops blank ones and keeps each once: refuse what it would change.
    errors = []
    seen: set[str] = set()
    for i, tag in enumerate(tags):
        if not tag.strip():
            errors.append(FieldError(f"/tags/{i}", f"{PROVIDER} takes no blank tags"))
        elif tag != tag.strip():
            errors.append(
                FieldError(f"/tags/{i}", f"{PROVIDER} trims tags: send it without outer spaces")
            )
        elif tag in seen:
            errors.append(FieldError(f"/tags/{i}", f"{PROVIDER} keeps each tag once"))
        seen.add(tag)
    return errors


def _engine_errors(invoice: Invoice, tax_type: TaxType) -> list[FieldError]:
    """Amounts that cannot be computed (a discount above its line), as the CRM would refuse."""
    try:
        calculate(invoice, policy(tax_type, RoundingPolicy()))
    except InvalidInvoice as exc:
        return list(exc.errors)
    return []
