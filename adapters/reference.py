"""Reference data from the connection's configuration: tax ids, provider-only fields."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.base import InvalidRequest
from adapters.mapping import Mapping, ProviderField
from gateway.canonical.errors import FieldError
from gateway.canonical.model import Invoice, Tax
from gateway.config import Connection, TaxSetting


def configured_taxes(invoice: Invoice, connection: Connection) -> list[list[TaxSetting]]:
    """For each line, the configured provider tax of each of its taxes.

    A tax matches by its ``id`` when it has one, else by rate (and name where rates repeat).
    A rate with no configured id is a 422 that names the line, the rate and the fix.
    """
    errors: list[FieldError] = []
    found: list[list[TaxSetting]] = []
    for i, line in enumerate(invoice.lines):
        line_taxes = []
        for j, tax in enumerate(line.taxes):
            setting = configured_tax(tax, connection)
            if setting is None:
                errors.append(
                    FieldError(
                        f"/lines/{i}/taxes/{j}/rate",
                        f"no {connection.provider} tax with rate {tax.rate}"
                        + (f" and id {tax.id}" if tax.id else "")
                        + f" is configured for connection {connection.name}; "
                        "add it to the connection's taxes",
                    )
                )
            else:
                line_taxes.append(setting)
        found.append(line_taxes)
    if errors:
        raise InvalidRequest(errors[0].detail, errors, provider=connection.provider)
    return found


def configured_tax(tax: Tax, connection: Connection) -> TaxSetting | None:
    """The connection's tax for a canonical one: by id (at the same rate), else by rate."""
    if tax.id is not None:
        setting = connection.tax_by_id(tax.id)
        return setting if setting is not None and setting.rate == tax.rate else None
    return connection.tax_for_rate(tax.rate, tax.name)


def rates_from_tax_ids(data: Any, connection: Connection) -> tuple[Any, list[FieldError]]:
    """A caller's invoice (JSON, before validation) whose line taxes given by ``id`` alone take
    the rate and name of the connection's tax with that id, as crm_v1 itself fills
    ``tax_rate`` from a ``tax_id`` sent alone. A tax so given whose id the connection does not
    configure is an error naming it, rather than a bare "rate is required". Anything that is
    not such a tax is left for validation to judge."""
    if not isinstance(data, dict) or not isinstance(data.get("lines"), list):
        return data, []
    errors: list[FieldError] = []
    lines = [
        {
            **line,
            "taxes": [
                _rate_from_id(tax, connection, errors, f"/lines/{i}/taxes/{j}")
                for j, tax in enumerate(line["taxes"])
            ],
        }
        if isinstance(line, dict) and isinstance(line.get("taxes"), list)
        else line
        for i, line in enumerate(data["lines"])
    ]
    return {**data, "lines": lines}, errors


def _rate_from_id(tax: Any, connection: Connection, errors: list[FieldError], at: str) -> Any:
    """``tax`` with the configured rate and name where it is given by its id alone (no ``rate``
    key: a null rate is refused, not filled); an id not configured is added to ``errors``."""
    tax_id = tax.get("id") if isinstance(tax, dict) and "rate" not in tax else None
    if isinstance(tax_id, int) and not isinstance(tax_id, bool):
        tax_id = str(tax_id)  # as the configuration reads a numeric id
    if not isinstance(tax_id, str) or not tax_id:
        return tax
    setting = connection.tax_by_id(tax_id)
    if setting is None:
        errors.append(
            FieldError(
                f"{at}/rate",
                f"is required: connection {connection.name} configures no tax with id {tax_id} "
                "to take it from (give the rate, or add the tax to the connection's taxes)",
            )
        )
        return tax
    name = {"name": setting.name} if setting.name and tax.get("name") is None else {}
    return {**tax, "id": setting.id, **name, "rate": str(setting.rate)}


def canonical_tax(connection: Connection, tax_id: Any, rate: Any = None) -> Tax:
    """The canonical tax for a provider tax id (its configured rate, else the rate given, which
    the model validates: a rate that is no number is a ``ValidationError`` for the read to name)."""
    setting = connection.tax_by_id(str(tax_id))
    if setting is not None:
        return Tax(id=setting.id, name=setting.name, rate=setting.rate)
    return Tax(id=str(tax_id), name=None, rate=rate if rate is not None else Decimal(0))


def provider_field_values(
    invoice: Invoice, mapping: Mapping, connection: Connection
) -> dict[str, Any]:
    """The invoice-level provider fields to send: the caller's, else the connection's defaults.

    Unknown names, wrong types and missing required fields are a 422 naming each one.
    """
    fields = {name: spec for name, spec in mapping.provider_fields.items() if not spec.per_line}
    line_fields = {name: spec for name, spec in mapping.provider_fields.items() if spec.per_line}
    errors = _check(invoice.provider_fields, fields, "/provider_fields", mapping.provider)
    for i, line in enumerate(invoice.lines):
        errors += _check(
            line.provider_fields, line_fields, f"/lines/{i}/provider_fields", mapping.provider
        )
    values = {
        name: connection.defaults[name]
        for name in fields
        if name in connection.defaults and name not in invoice.provider_fields
    }
    values.update(invoice.provider_fields)
    errors += [
        FieldError(
            f"/provider_fields/{name}",
            f"is required by {mapping.provider}; set it here or in the connection's defaults",
        )
        for name, spec in fields.items()
        if spec.required and values.get(name) is None
    ]
    if errors:
        raise InvalidRequest(errors[0].detail, errors, provider=mapping.provider)
    return values


def _check(
    given: dict[str, Any], known: dict[str, ProviderField], at: str, provider: str
) -> list[FieldError]:
    errors = []
    for name, value in given.items():
        spec = known.get(name)
        if spec is None:
            names = ", ".join(sorted(known)) or "none"
            errors.append(
                FieldError(f"{at}/{name}", f"is not a {provider} field here (known: {names})")
            )
        elif (problem := spec.problem(value, provider)) is not None:
            errors.append(FieldError(f"{at}/{name}", problem))
    return errors
