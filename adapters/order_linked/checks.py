"""order_linked's checks of a write: what must hold before sending, and what the provider did
differently from what was asked (line taxes, an order's currency and prices).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from adapters.base import WriteWarning
from gateway.canonical.errors import FieldError
from gateway.canonical.model import Invoice, Tax
from gateway.config import Connection, TaxSetting

CUSTOM_ATTRIBUTE_KEYS = frozenset({"name", "value"})


# -- before sending ------------------------------------------------------------------------------


def required(invoice: Invoice, provider: str, connection: Connection) -> list[FieldError]:
    """What the provider requires and the canonical invoice may leave out."""
    errors: list[FieldError] = []
    if invoice.customer is None or invoice.customer.id is None:
        errors.append(FieldError("/customer/id", f"is required by {provider} (its account_id)"))
    errors += [
        FieldError(f"/{name}", f"is required by {provider}")
        for name in ("issue_date", "due_date")
        if getattr(invoice, name) is None
    ]
    errors += date_errors(invoice, provider)
    if invoice.currency not in connection.currencies:
        # Reads name the currency by the provider's id only: without it, the invoice could be
        # created and then not read back.
        errors.append(
            FieldError(
                "/currency",
                f"connection {connection.name} knows no {provider} currency id for "
                f"{invoice.currency}; add it to the connection's currencies",
            )
        )
    for i, line in enumerate(invoice.lines):
        if line.item_id is None:
            errors.append(
                FieldError(
                    f"/lines/{i}/item_id", f"is required by {provider}: a line sells an item"
                )
            )
    return errors


def date_errors(invoice: Invoice, provider: str) -> list[FieldError]:
    if invoice.issue_date and invoice.due_date and invoice.due_date < invoice.issue_date:
        return [
            FieldError(
                "/due_date", f"must not be before issue_date {invoice.issue_date} for {provider}"
            )
        ]
    return []


def custom_attributes(attributes: Any, provider: str) -> list[FieldError]:
    """The provider ignores keys it does not know: refuse them rather than lose them."""
    if not isinstance(attributes, list):
        return []
    errors: list[FieldError] = []
    for i, entry in enumerate(attributes):
        at = f"/provider_fields/custom_attributes/{i}"
        if not isinstance(entry, dict):
            errors.append(FieldError(at, "must be an object with name and value"))
            continue
        errors += [
            FieldError(f"{at}/{key}", f"is not a key of {provider} custom attributes (name, value)")
            for key in sorted(set(entry) - CUSTOM_ATTRIBUTE_KEYS)
        ]
        name, value = entry.get("name"), entry.get("value")
        if not isinstance(name, str) or not name.strip():
            errors.append(FieldError(f"{at}/name", "is required: a non-empty string"))
        if value is not None and not isinstance(value, str):
            errors.append(FieldError(f"{at}/value", "must be a string or null"))
    return errors


# -- after the provider answered -----------------------------------------------------------------


def tax_warnings(
    provider: str,
    asked: Invoice,
    settings: list[list[TaxSetting]],
    created: Invoice,
    lines: Collection[int] | None = None,
) -> list[WriteWarning]:
    """Line taxes come from each item's tax code: a requested tax the provider did not apply,
    and a non-zero tax it applied to a line sent without one, are reported (for ``lines`` only,
    where given)."""
    warnings: list[WriteWarning] = []
    for i, (line, wanted, got) in enumerate(
        zip(asked.lines, settings, created.lines, strict=False)
    ):
        if lines is not None and i not in lines:
            continue
        applied = got.taxes[0] if got.taxes else None
        # One setting per tax asked (``configured_taxes``).
        for j, (asked_tax, setting) in enumerate(zip(line.taxes, wanted, strict=False)):
            if applied is None or applied.id != setting.id or applied.rate != setting.rate:
                warnings.append(
                    WriteWarning(
                        f"/lines/{i}/taxes/{j}",
                        f"{provider} did not apply this tax: it taxes item "
                        f"{line.item_id} by the item's tax code, {_label(applied)}",
                    )
                )
                continue
            if asked_tax.name not in (None, applied.name) and applied.name is not None:
                # The tax applied, under the provider's own name, not the caller's.
                warnings.append(
                    WriteWarning(
                        f"/lines/{i}/taxes/{j}/name",
                        f"{provider} names this tax {applied.name!r}, not {asked_tax.name!r}: "
                        "it taxes "
                        f"item {line.item_id} by the item's tax code",
                    )
                )
        if not wanted and applied is not None and applied.rate != 0:
            warnings.append(
                WriteWarning(
                    f"/lines/{i}/taxes",
                    f"{provider} applied {_label(applied)}, the tax code of item "
                    f"{line.item_id}, to a line sent without taxes",
                )
            )
    return warnings


def _label(tax: Tax | None) -> str:
    if tax is None:
        return "no tax"
    rate = format(tax.rate.normalize(), "f") if tax.rate else "0"
    return f"{tax.name or tax.id} ({rate}%)"
