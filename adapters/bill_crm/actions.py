"""bill_crm's state changes and clones: which status each action sets, from which statuses, and
what a clone is made with.

The CRM's status endpoint (``POST …/status``) sets any invoicestatus_id from any other ("Set
manually; it sticks"), so every status is reachable; each action names one target status. The
only changes the doc forbids are publishing an invoice that is not a draft and emailing a draft
(409): they are refused here, after reading the invoice and before anything is sent, and so is
an action with nothing to do (the invoice already has that status). docs/providers/bill_crm.md,
"Status" and "Clone".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from adapters.base import Conflict, DuplicateInputs, InvalidRequest, UpstreamError
from adapters.bill_crm import wire
from gateway.canonical.errors import FieldError, pointer_to_path
from gateway.canonical.model import Customer, Invoice

PROVIDER = "bill_crm"
DRAFT, DUE, OVERDUE, PART_PAID, PAID, CANCELLED = "1", "2", "3", "4", "5", "20"
TITLES = {
    DRAFT: "Draft",
    DUE: "Due",
    OVERDUE: "Overdue",
    PART_PAID: "Part Paid",
    PAID: "Paid",
    CANCELLED: "Cancelled",
}


@dataclass(frozen=True)
class StatusAction:
    """An action through the status endpoint: the status id it sets, the ids it starts from
    (None: any other), and what to use instead from the others."""

    target: str
    starts: frozenset[str] | None = None
    instead: tuple[tuple[str, str], ...] = ()  # (status id, the action that reaches it from there)


STATUS_ACTIONS: dict[str, StatusAction] = {
    "unpublish": StatusAction(DRAFT),
    "void": StatusAction(CANCELLED),
    "reactivate": StatusAction(
        DUE,
        frozenset({CANCELLED}),
        (
            (DRAFT, "issue"),
            (OVERDUE, "mark_unpaid"),
            (PART_PAID, "mark_unpaid"),
            (PAID, "mark_unpaid"),
        ),
    ),
    "mark_unpaid": StatusAction(
        DUE,
        frozenset({OVERDUE, PART_PAID, PAID}),
        ((DRAFT, "issue"), (CANCELLED, "reactivate")),
    ),
    "mark_overdue": StatusAction(OVERDUE),
    "mark_partially_paid": StatusAction(PART_PAID),
    "mark_paid": StatusAction(PAID),
}
# Actions with their own endpoint, and the statuses the doc refuses each from (its 409s).
ENDPOINT_ACTIONS: dict[str, tuple[str, frozenset[str], str]] = {
    "issue": (
        "publish",
        frozenset({DUE, OVERDUE, PART_PAID, PAID, CANCELLED}),
        "publishes only a draft (409 if already published)",
    ),
    "send": ("email", frozenset({DRAFT}), "emails only a published invoice (409 on a draft)"),
}


def label(status: str) -> str:
    title = TITLES.get(status)
    return f"{status} {title}" if title else f"status {status}"


def status_of(current: dict[str, Any]) -> str:
    return str(wire.status_id(current))


def check_endpoint_action(invoice_id: str, action: str, current: dict[str, Any]) -> str:
    """The endpoint to post to; ``Conflict`` when the doc forbids it from the current status."""
    endpoint, refused, rule = ENDPOINT_ACTIONS[action]
    status = status_of(current)
    if status in refused:
        raise Conflict(
            f"{PROVIDER} invoice {invoice_id} is {label(status)}: {action} ({endpoint}) {rule}",
            provider=PROVIDER,
        )
    return endpoint


def status_change(invoice_id: str, action: str, current: dict[str, Any]) -> dict[str, Any]:
    """The status endpoint's body for ``action``; ``Conflict`` when there is nothing to do or
    the action does not start from the current status (the message names the one that does).
    A status the doc does not list is left to the CRM."""
    rule = STATUS_ACTIONS[action]
    status = status_of(current)
    name = action.replace("_", " ")
    if status == rule.target:
        raise Conflict(
            f"{PROVIDER} invoice {invoice_id} is already {label(status)}: nothing to {name}",
            provider=PROVIDER,
        )
    if status in TITLES and rule.starts is not None and status not in rule.starts:
        starts = " or ".join(label(s) for s in sorted(rule.starts, key=int))
        instead = dict(rule.instead).get(status)
        hint = f"; from {label(status)} use {instead}" if instead else ""
        raise Conflict(
            f"{PROVIDER} invoice {invoice_id} is {label(status)}: {action} sets "
            f"{label(rule.target)} from {starts} only{hint}",
            provider=PROVIDER,
        )
    return wire.status_body(int(rule.target))


# -- clone ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clone:
    """What a clone is made with: the CRM's body, and the client and dates the copy gets."""

    body: dict[str, Any]
    client_id: str
    issue_date: date
    due_date: date


def clone_request(source: dict[str, Any], inputs: DuplicateInputs) -> Clone:
    """The clone's client, dates and project: the inputs where given, else the source's.

    A new issue date without a due date keeps the source's payment term (its due date as many
    days after the new issue date); a new client without a project gets none (the source's
    belongs to its own client). Every problem is a 422 with its pointer, before anything is
    sent."""
    errors: list[FieldError] = []
    try:
        source_client = str(source["client"]["id"])
        source_issue = date.fromisoformat(source["dates"]["date"])
        source_due_text = source["dates"].get("due_date")
        source_due = date.fromisoformat(source_due_text) if source_due_text else source_issue
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UpstreamError(
            f"{PROVIDER} answered invoice {source.get('id')} without a readable client and "
            f"dates ({type(exc).__name__}); it cannot be cloned",
            provider=PROVIDER,
        ) from None
    client = source_client
    if inputs.customer_id is not None:
        if not (inputs.customer_id.isascii() and inputs.customer_id.isdigit()):
            errors.append(
                FieldError("/customer/id", f"must be a {PROVIDER} client id (a whole number)")
            )
        client = inputs.customer_id
    issue = inputs.issue_date or source_issue
    due = inputs.due_date or issue + (source_due - source_issue)
    if due < issue:
        pointer = "/due_date" if inputs.due_date is not None else "/issue_date"
        errors.append(
            FieldError(
                pointer,
                f"the copy's due date ({due.isoformat()}) is before its issue date "
                f"({issue.isoformat()}); {PROVIDER} takes a due date on or after it",
            )
        )
    body: dict[str, Any] = {
        "bill_clientid": int(client) if client.isdigit() else client,
        "bill_date": issue.isoformat(),
        "bill_due_date": due.isoformat(),
    }
    if "bill_projectid" in inputs.provider_fields:
        project = inputs.provider_fields["bill_projectid"]
        if project is not None and (type(project) is not int or project < 1):
            errors.append(
                FieldError(
                    "/provider_fields/bill_projectid",
                    "must be a project id (a whole number above 0) or null for none",
                )
            )
        elif project is not None:
            body["bill_projectid"] = project
    elif source.get("project_id") is not None and client == source_client:
        body["bill_projectid"] = source["project_id"]
    if errors:
        raise InvalidRequest(
            f"{pointer_to_path(errors[0].pointer)} {errors[0].detail}",
            errors,
            provider=PROVIDER,
        )
    return Clone(body, client, issue, due)


def expected_clone(source: Invoice, clone: Clone) -> Invoice:
    """``source`` as the clone reads: its client and dates (what finding a lost clone compares;
    the id stays the source's, which a clone never has)."""
    customer = Customer(id=clone.client_id, name=None)
    return source.model_copy(
        update={"customer": customer, "issue_date": clone.issue_date, "due_date": clone.due_date}
    )
