"""Validation of bill_crm request bodies, with the CRM's field-keyed messages.

Keys an endpoint does not take are ignored, as the CRM's forms ignore them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from emulators.bill_crm.fields import (
    MONEY_PLACES,
    Errors,
    present,
    read_choice,
    read_date,
    read_integer,
    read_numeric,
    read_reference,
    read_string,
    to_integer,
    to_numeric,
)
from emulators.bill_crm.model import (
    DISCOUNT_FIXED,
    DISCOUNT_NONE,
    DISCOUNT_PERCENTAGE,
    DISCOUNT_TYPES,
    INLINE,
    SUMMARY,
    TAX_TYPES,
    ZERO,
    Invoice,
    LineItem,
)
from emulators.bill_crm.store import (
    CATEGORIES,
    CLIENTS,
    PROJECTS,
    STATUSES,
    TAX_RATES,
    due_date_for,
)
from emulators.bill_crm.totals import HUNDRED, compute, line_amount, line_discount


def _check_project(errors: Errors, project_id: int | None, client_id: int | None) -> None:
    if project_id is None or client_id is None:
        return
    if PROJECTS[project_id].client_id != client_id:
        errors.add("bill_projectid", "The selected bill_projectid belongs to another client.")


def _check_due(errors: Errors, bill_date: date | None, due_date: date | None) -> None:
    if bill_date is not None and due_date is not None and due_date < bill_date:
        errors.add("bill_due_date", "The bill_due_date must be a date after or equal to bill_date.")


@dataclass
class NewInvoice:
    client_id: int
    category_id: int
    bill_date: date
    due_date: date
    project_id: int | None
    tax_type: str
    notes: str | None
    terms: str | None


def parse_create(body: Mapping[str, Any]) -> NewInvoice:
    errors = Errors()
    client_id = read_reference(errors, body, "bill_clientid", CLIENTS, True)
    category_id = read_reference(errors, body, "bill_categoryid", CATEGORIES, True)
    bill_date = read_date(errors, body, "bill_date", True)
    due_date = read_date(errors, body, "bill_due_date", False)
    project_id = read_reference(errors, body, "bill_projectid", PROJECTS, False)
    tax_type = read_choice(errors, body, "bill_tax_type", TAX_TYPES) or SUMMARY
    notes = read_string(errors, body, "bill_notes")
    terms = read_string(errors, body, "bill_terms")
    _check_project(errors, project_id, client_id)
    _check_due(errors, bill_date, due_date)
    errors.check()
    assert client_id is not None and category_id is not None and bill_date is not None
    return NewInvoice(
        client_id=client_id,
        category_id=category_id,
        bill_date=bill_date,
        due_date=due_date or due_date_for(client_id, bill_date),
        project_id=project_id,
        tax_type=tax_type,
        notes=notes,
        terms=terms,
    )


@dataclass
class CloneRequest:
    client_id: int
    bill_date: date
    due_date: date
    project_id: int | None


def parse_clone(body: Mapping[str, Any]) -> CloneRequest:
    errors = Errors()
    client_id = read_reference(errors, body, "bill_clientid", CLIENTS, True)
    bill_date = read_date(errors, body, "bill_date", True)
    due_date = read_date(errors, body, "bill_due_date", True)
    project_id = read_reference(errors, body, "bill_projectid", PROJECTS, False)
    _check_project(errors, project_id, client_id)
    _check_due(errors, bill_date, due_date)
    errors.check()
    assert client_id is not None and bill_date is not None and due_date is not None
    return CloneRequest(client_id, bill_date, due_date, project_id)


def parse_update(body: Mapping[str, Any], invoice: Invoice) -> dict[str, Any]:
    """The header fields to change; absent optional fields keep their current value."""
    errors = Errors()
    changes: dict[str, Any] = {}
    changes["category_id"] = read_reference(errors, body, "bill_categoryid", CATEGORIES, True)
    changes["bill_date"] = read_date(errors, body, "bill_date", True)
    due_date = read_date(errors, body, "bill_due_date", False)
    if due_date is not None:
        changes["due_date"] = due_date
    if "bill_projectid" in body:
        changes["project_id"] = read_reference(errors, body, "bill_projectid", PROJECTS, False)
        _check_project(errors, changes["project_id"], invoice.client_id)
    for name, attribute in (("bill_notes", "notes"), ("bill_terms", "terms")):
        if name in body:
            changes[attribute] = read_string(errors, body, name)
    tax_type = read_choice(errors, body, "bill_tax_type", TAX_TYPES)
    if tax_type is not None:
        changes["tax_type"] = tax_type
    _check_due(errors, changes["bill_date"], due_date or invoice.due_date)

    # A tax type switch drops line discounts, so a fixed discount is checked against that subtotal.
    if tax_type is not None and tax_type != invoice.tax_type:
        subtotal = sum((line_amount(item) for item in invoice.line_items), ZERO)
    else:
        subtotal = compute(invoice).totals.subtotal
    changes.update(_parse_discount(errors, body, invoice, subtotal))

    if "bill_adjustment_description" in body:
        changes["adjustment_description"] = read_string(errors, body, "bill_adjustment_description")
    if "bill_adjustment_amount" in body:
        amount = read_numeric(errors, body, "bill_adjustment_amount", places=MONEY_PLACES)
        changes["adjustment_amount"] = amount if amount is not None else ZERO
    errors.check()
    return changes


def _parse_discount(
    errors: Errors, body: Mapping[str, Any], invoice: Invoice, subtotal: Decimal
) -> dict[str, Any]:
    kind = read_choice(errors, body, "bill_discount_type", DISCOUNT_TYPES)
    if "bill_discount_type" in errors:
        return {}
    kind = kind or invoice.discount_type
    if kind == DISCOUNT_PERCENTAGE:
        name = "bill_discount_percentage"
        value = read_numeric(errors, body, name, minimum=ZERO, maximum=HUNDRED)
        if value is None and name not in errors:
            if invoice.discount_type != DISCOUNT_PERCENTAGE:
                errors.add(name, f"The {name} field is required when bill_discount_type is {kind}.")
                return {}
            value = invoice.discount_percentage
        return {"discount_type": kind, "discount_percentage": value, "discount_amount": ZERO}
    if kind == DISCOUNT_FIXED:
        name = "bill_discount_amount"
        value = read_numeric(errors, body, name, minimum=ZERO, places=MONEY_PLACES)
        if value is None and name not in errors:
            if invoice.discount_type != DISCOUNT_FIXED:
                errors.add(name, f"The {name} field is required when bill_discount_type is {kind}.")
                return {}
            value = invoice.discount_amount
        if value is not None and value > subtotal:
            errors.add(name, f"The {name} may not be greater than the subtotal ({subtotal}).")
        return {"discount_type": kind, "discount_percentage": ZERO, "discount_amount": value}
    return {"discount_type": DISCOUNT_NONE, "discount_percentage": ZERO, "discount_amount": ZERO}


def parse_line_items(body: Mapping[str, Any], invoice: Invoice) -> tuple[list[LineItem], list[int]]:
    errors = Errors()
    raw_items = body.get("items")
    items: list[LineItem] = []
    if raw_items is None:
        errors.add("items", "The items field is required.")
    elif not isinstance(raw_items, list):
        errors.add("items", "The items must be an array.")
    elif not raw_items:
        errors.add("items", "The items must have at least 1 items.")
    else:
        for index, raw in enumerate(raw_items):
            item = _parse_item(errors, f"items.{index}", raw, invoice.tax_type)
            if item is not None:
                items.append(item)
    tax_rate_ids = _parse_tax_rate_ids(errors, body, invoice.tax_type)
    errors.check()
    if invoice.discount_type == DISCOUNT_FIXED:
        subtotal = sum(
            (line_amount(item) - line_discount(item, line_amount(item)) for item in items), ZERO
        )
        if invoice.discount_amount > subtotal:
            errors.add(
                "items",
                f"The invoice's fixed discount ({invoice.discount_amount}) may not be greater "
                f"than the new subtotal ({subtotal}); change bill_discount_amount first.",
            )
            errors.check()
    return items, tax_rate_ids


def _parse_item(errors: Errors, prefix: str, raw: Any, tax_type: str) -> LineItem | None:
    if not isinstance(raw, dict):
        errors.add(prefix, f"The {prefix} must be an object.")
        return None
    before = errors.count()
    description = raw.get("description")
    if description is None or (isinstance(description, str) and not description.strip()):
        errors.add(f"{prefix}.description", f"The {prefix}.description field is required.")
    elif not isinstance(description, str):
        errors.add(f"{prefix}.description", f"The {prefix}.description must be a string.")
    quantity = read_numeric(errors, raw, "quantity", label=f"{prefix}.quantity")
    rate = read_numeric(errors, raw, "rate", label=f"{prefix}.rate", minimum=ZERO)
    for name in ("quantity", "rate"):
        if not present(raw, name):
            errors.add(f"{prefix}.{name}", f"The {prefix}.{name} field is required.")
    if quantity is not None and quantity <= 0:
        errors.add(f"{prefix}.quantity", f"The {prefix}.quantity must be greater than 0.")
    unit = read_string(errors, raw, "unit", label=f"{prefix}.unit")
    long_description = read_string(
        errors, raw, "long_description", label=f"{prefix}.long_description"
    )

    tax_rate_id: int | None = None
    discount_type = DISCOUNT_NONE
    discount_value: Decimal | None = ZERO
    if tax_type == SUMMARY:
        # The neutral values a summary line reads back with are accepted, so a read writes back.
        if present(raw, "tax_rate_id"):
            errors.add(
                f"{prefix}.tax_rate_id",
                f"The {prefix}.tax_rate_id is only accepted on inline-tax invoices; "
                "summary invoices take tax_rate_ids.",
            )
        if raw.get("discount_type") not in (None, DISCOUNT_NONE):
            errors.add(
                f"{prefix}.discount_type",
                f"The {prefix}.discount_type is only accepted on inline-tax invoices.",
            )
        if present(raw, "discount_value") and to_numeric(raw["discount_value"]) != 0:
            errors.add(
                f"{prefix}.discount_value",
                f"The {prefix}.discount_value is only accepted on inline-tax invoices.",
            )
    else:
        tax_rate_id = read_reference(
            errors, raw, "tax_rate_id", TAX_RATES, False, f"{prefix}.tax_rate_id"
        )
        discount_type, discount_value = _parse_item_discount(errors, prefix, raw, quantity, rate)
    if errors.count() != before:
        return None
    assert isinstance(description, str) and quantity is not None and rate is not None
    assert discount_value is not None
    return LineItem(
        id=0,
        description=description,
        quantity=quantity,
        rate=rate,
        unit=unit,
        long_description=long_description,
        tax_rate_id=tax_rate_id,
        discount_type=discount_type,
        discount_value=discount_value,
    )


def _parse_item_discount(
    errors: Errors,
    prefix: str,
    raw: Mapping[str, Any],
    quantity: Decimal | None,
    rate: Decimal | None,
) -> tuple[str, Decimal | None]:
    type_name, value_name = f"{prefix}.discount_type", f"{prefix}.discount_value"
    kind = raw.get("discount_type") or DISCOUNT_NONE
    if kind not in DISCOUNT_TYPES:
        errors.add(type_name, f"The selected {type_name} is invalid.")
        return DISCOUNT_NONE, None
    if kind == DISCOUNT_NONE:
        if present(raw, "discount_value") and to_numeric(raw["discount_value"]) != 0:
            errors.add(type_name, f"The {type_name} field is required when discount_value is set.")
        return DISCOUNT_NONE, ZERO
    if not present(raw, "discount_value"):
        errors.add(value_name, f"The {value_name} field is required when discount_type is {kind}.")
        return kind, None
    if kind == DISCOUNT_PERCENTAGE:
        return kind, read_numeric(
            errors, raw, "discount_value", label=value_name, minimum=ZERO, maximum=HUNDRED
        )
    value = read_numeric(
        errors, raw, "discount_value", label=value_name, minimum=ZERO, places=MONEY_PLACES
    )
    if value is not None and quantity is not None and rate is not None:
        amount = line_amount(LineItem(id=0, description="", quantity=quantity, rate=rate))
        if value > amount:
            errors.add(
                value_name, f"The {value_name} may not be greater than the line amount ({amount})."
            )
    return kind, value


def _parse_tax_rate_ids(errors: Errors, body: Mapping[str, Any], tax_type: str) -> list[int]:
    raw = body.get("tax_rate_ids")
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.add("tax_rate_ids", "The tax_rate_ids must be an array.")
        return []
    if raw and tax_type == INLINE:
        errors.add(
            "tax_rate_ids",
            "The tax_rate_ids are only accepted on summary-tax invoices; "
            "inline invoices take items[].tax_rate_id.",
        )
        return []
    ids: list[int] = []
    for index, value in enumerate(raw):
        name = f"tax_rate_ids.{index}"
        taxrate_id = to_integer(value)
        if taxrate_id is None:
            errors.add(name, f"The {name} must be an integer.")
        elif taxrate_id not in TAX_RATES:
            errors.add(name, f"The selected {name} is invalid.")
        elif taxrate_id in ids:
            errors.add(name, f"The {name} field has a duplicate value.")
        else:
            ids.append(taxrate_id)
    return ids


def parse_status(body: Mapping[str, Any]) -> int:
    errors = Errors()
    status_id = read_integer(errors, body, "status", True)
    if status_id is not None and status_id not in STATUSES:
        errors.add("status", "The selected status is invalid.")
    errors.check()
    assert status_id is not None
    return status_id


def parse_tags(body: Mapping[str, Any]) -> list[str]:
    errors = Errors()
    raw = body.get("tags")
    tags: list[str] = []
    if raw is None:
        errors.add("tags", "The tags field is required.")
    elif not isinstance(raw, list):
        errors.add("tags", "The tags must be an array.")
    else:
        for index, value in enumerate(raw):
            if not isinstance(value, str) or not value.strip():
                errors.add(f"tags.{index}", f"The tags.{index} must be a non-empty string.")
            elif value.strip() not in tags:
                tags.append(value.strip())
    errors.check()
    return tags
