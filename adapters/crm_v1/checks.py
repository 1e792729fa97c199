"""What crm_v1 needs of a canonical invoice, checked before anything is sent.

Every problem is reported at once with a canonical pointer, so a bad request never reaches the
provider: provider fields, named taxes and configured currencies, the ids crm_v1 keeps as
integers, the names it requires, and amounts the calculation engine refuses (an amount discount
larger than its line, money finer than the currency).
"""

from __future__ import annotations

from adapters.base import InvalidRequest
from adapters.crm_v1.wire import PROVIDER, LineTax, Resolved, whole_number
from adapters.line_limits import line_limit_errors
from adapters.mapping import Mapping
from adapters.reference import configured_tax, provider_field_values
from adapters.representable import line_count_errors
from gateway.canonical.errors import FieldError, InvalidInvoice, pointer_to_path
from gateway.canonical.model import Invoice, Line, RoundingPolicy
from gateway.canonical.totals import calculate
from gateway.config import Connection


def resolve(
    invoice: Invoice, mapping: Mapping, connection: Connection, policy: RoundingPolicy
) -> Resolved:
    """The provider ids and values for ``invoice``; ``InvalidRequest`` naming every problem."""
    errors: list[FieldError] = []
    values: dict[str, object] = {}
    try:
        values = provider_field_values(invoice, mapping, connection)
    except InvalidRequest as exc:
        errors += exc.errors
    # Checked even when other provider fields failed, so every problem is named at once.
    errors += _tag_ids(values.get("tag_ids", invoice.provider_fields.get("tag_ids")))
    line_taxes = [_line_taxes(i, line, connection, errors) for i, line in enumerate(invoice.lines)]
    configured = connection.currencies.get(invoice.currency)
    # org_currency_id is an integer record id: anything else in the table cannot be sent.
    currency_id = configured if isinstance(configured, int) else None
    if currency_id is None:
        errors.append(
            FieldError(
                "/currency",
                f"no {PROVIDER} currency id (a whole number) is configured for "
                f"{invoice.currency} on connection {connection.name}; "
                "add it to the connection's currencies",
            )
        )
    customer_id = whole_number(invoice.customer.id if invoice.customer else None)
    if customer_id is None:
        errors.append(_customer_error(invoice))
    errors += _line_errors(invoice)
    errors += line_count_errors(invoice, mapping.capabilities, PROVIDER)
    errors += line_limit_errors(invoice, mapping.capabilities.line_limits, PROVIDER)
    try:
        calculate(invoice, policy)
    except InvalidInvoice as exc:
        errors += exc.errors
    if errors:
        raise InvalidRequest(_summary(errors[0]), errors, provider=PROVIDER)
    assert currency_id is not None and customer_id is not None
    return Resolved(
        customer_id=customer_id,
        org_currency_id=currency_id,
        line_taxes=line_taxes,
        provider_values=values,
    )


def _line_taxes(
    i: int, line: Line, connection: Connection, errors: list[FieldError]
) -> list[LineTax]:
    """How each tax of a line is sent (docs/providers/crm_v1.md, "Writing").

    A tax with an id goes as ``tax_id`` and ``tax_rate`` (crm_v1 checks one against the other:
    an id the connection configures at another rate is a 422 here, as crm_v1 would answer, so
    that a preview does not price what a create is refused); one with neither id nor name is a
    bare ``tax_rate``, as crm_v1 keeps it; one with a name but no id is the connection's tax of
    that rate and name, and a 422 when there is none.
    """
    found: list[LineTax] = []
    for j, tax in enumerate(line.taxes):
        configured = connection.tax_by_id(tax.id) if tax.id is not None else None
        if configured is not None and configured.rate != tax.rate:
            errors.append(
                FieldError(
                    f"/lines/{i}/taxes/{j}/rate",
                    f"{tax.rate} is not the rate of {PROVIDER} tax {tax.id} ({configured.rate}) "
                    f"configured for connection {connection.name}: send its rate, or leave the "
                    "rate out to take it",
                )
            )
            continue
        if tax.id is not None or tax.name is None:
            found.append(LineTax(rate=tax.rate, tax_id=tax.id))
            continue
        setting = configured_tax(tax, connection)
        if setting is None:
            errors.append(
                FieldError(
                    f"/lines/{i}/taxes/{j}/rate",
                    f"no {PROVIDER} tax with rate {tax.rate} (for name {tax.name!r}) is "
                    f"configured for connection {connection.name}; add it to the connection's "
                    "taxes, or leave the name out to send the bare rate",
                )
            )
        else:
            found.append(LineTax(rate=setting.rate, tax_id=setting.id))
    return found


def _customer_error(invoice: Invoice) -> FieldError:
    if invoice.customer is None or invoice.customer.id is None:
        return FieldError("/customer/id", f"is required by {PROVIDER} (its customer_id)")
    return FieldError("/customer/id", f"must be a {PROVIDER} contact id (a whole number)")


def _tag_ids(value: object) -> list[FieldError]:
    if not isinstance(value, list):
        return []  # absent, or a wrong type provider_field_values already reported
    return [
        FieldError(f"/provider_fields/tag_ids/{i}", f"must be a {PROVIDER} tag id (an integer)")
        for i, tag in enumerate(value)
        if isinstance(tag, bool) or not isinstance(tag, int)
    ]


def _line_errors(invoice: Invoice) -> list[FieldError]:
    errors: list[FieldError] = []
    for i, line in enumerate(invoice.lines):
        if line.name is None or not line.name.strip():
            errors.append(FieldError(f"/lines/{i}/name", f"is required by {PROVIDER} (item_name)"))
        if line.item_id is not None and whole_number(line.item_id) is None:
            errors.append(
                FieldError(f"/lines/{i}/item_id", f"must be a {PROVIDER} item id (a whole number)")
            )
        elif line.item_id is None and line.kind == "item":
            errors.append(
                FieldError(f"/lines/{i}/item_id", f"is required by {PROVIDER} on item lines")
            )
    return errors


def _summary(first: FieldError) -> str:
    return f"{pointer_to_path(first.pointer)}: {first.detail}"
