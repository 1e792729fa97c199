"""The optional JSON body of ``POST …/invoices/{id}/{action}``: a duplicate's inputs.

``{"customer": {"id": …}, "issue_date": "YYYY-MM-DD", "due_date": "YYYY-MM-DD",
"provider_fields": {…}}``, every key optional; an empty body (or ``{}``) is a plain action.
Other actions take no inputs: a body with keys is a 422, never ignored. Which inputs a
connection's provider takes is the service's check (``capabilities.duplicate_inputs``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from adapters.base import DuplicateInputs
from gateway.canonical.dates import WRITTEN_AS, iso_date
from gateway.canonical.errors import FieldError
from gateway.http.body import read_body, read_json_object
from gateway.http.validation import validation_problem

KEYS = ("customer", "issue_date", "due_date", "provider_fields")


async def action_inputs(
    request: web.Request, action: str, takes: frozenset[str] = frozenset()
) -> DuplicateInputs | None:
    """The inputs of a duplicate; None when the body is empty (or ``{}``). ``takes``: the
    connection's ``capabilities.duplicate_inputs``, named to a caller who sent a key that is
    no input (what it may send instead, not what the body's form has room for)."""
    if not (await read_body(request)).strip():
        return None
    data = await read_json_object(request)
    if not data:
        return None
    if action != "duplicate":
        raise validation_problem(
            [
                FieldError(f"/{_escape(key)}", f"is not an input of {action}: it takes no body")
                for key in sorted(data)
            ]
        )
    offered = (
        f"this connection's duplicate takes {_as_body(takes)}"
        if takes
        else "this connection's duplicate takes none: it copies the invoice as it is"
    )
    errors: list[FieldError] = [
        FieldError(f"/{_escape(key)}", f"is not an input of duplicate ({offered})")
        for key in sorted(set(data) - set(KEYS))
    ]
    customer_id = _customer_id(data.get("customer"), "customer" in data, errors)
    issue_date = _date(data, "issue_date", errors)
    due_date = _date(data, "due_date", errors)
    fields = data.get("provider_fields", {})
    if not isinstance(fields, dict):
        errors.append(FieldError("/provider_fields", "must be an object of provider fields"))
        fields = {}
    if errors:
        raise validation_problem(errors)
    return DuplicateInputs(
        customer_id=customer_id, issue_date=issue_date, due_date=due_date, provider_fields=fields
    )


def _as_body(takes: frozenset[str]) -> str:
    """The inputs ``takes`` names (``customer.id``, ``provider_fields.bill_projectid``) as the
    body writes them: ``customer {"id"}``, ``provider_fields {"bill_projectid"}``."""
    prefix = "provider_fields."
    fields = sorted(name.removeprefix(prefix) for name in takes if name.startswith(prefix))
    said = ['customer {"id": …}'] if "customer.id" in takes else []
    said += [name for name in ("issue_date", "due_date") if name in takes]
    if fields:
        said.append("provider_fields {" + ", ".join(f'"{name}": …' for name in fields) + "}")
    return ", ".join(said)


def _customer_id(value: Any, given: bool, errors: list[FieldError]) -> str | None:
    if not given:
        return None
    if not isinstance(value, dict):
        errors.append(FieldError("/customer", 'must be an object such as {"id": "5"}'))
        return None
    for key in sorted(set(value) - {"id"}):
        errors.append(
            FieldError(f"/customer/{_escape(key)}", "is not an input of duplicate (only id is)")
        )
    raw = value.get("id")
    if isinstance(raw, bool) or not isinstance(raw, str | int) or str(raw).strip() == "":
        errors.append(FieldError("/customer/id", "must be the provider's customer id"))
        return None
    return str(raw)


def _date(data: dict[str, Any], name: str, errors: list[FieldError]) -> date | None:
    value = data.get(name)
    if value is None:
        if name in data:
            errors.append(FieldError(f"/{name}", WRITTEN_AS))
        return None
    try:
        if isinstance(value, str):
            return iso_date(value)
    except ValueError as wrong:
        errors.append(FieldError(f"/{name}", str(wrong)))
        return None
    errors.append(FieldError(f"/{name}", WRITTEN_AS))
    return None


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")[:100]
