"""The request bodies the OpenAPI document offers as examples (``openapi_examples.json``): what
the docs page's "Try it out" fills in, where the schema alone gives nulls that a write refuses.
Each invoice is one the sandbox's connection of its provider takes
(tests/e2e/test_openapi_examples.py sends every one)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from importlib import resources
from typing import Any


def with_examples(body: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    """``body`` (a request body object) offering ``examples`` (name → {summary, value})."""
    (media,) = body["content"]
    content = {media: {**body["content"][media], "examples": examples}}
    return {**body, "content": content}


def request_examples(today: date) -> dict[str, Any]:
    """``calculate``: a calculation; ``invoices``: an invoice for each sandbox connection, issued
    ``today`` and due as many days after as in the file (read with the document, which is built
    once a day: ``openapi.openapi_document``): a fixed date goes by, and an example issued once
    it had was overdue at once. ``payment``, ``order`` and ``action``: bodies for those routes,
    where Swagger UI would fill the schema's every field and be refused."""
    text = resources.files("gateway.http").joinpath("openapi_examples.json").read_text("utf-8")
    data = json.loads(text)
    invoices = {
        provider: {
            "summary": f"An invoice for {provider} (the sandbox's connection {provider})",
            "value": _dated(body, today),
        }
        for provider, body in data["invoices"].items()
    }
    calculate = {"two_rates": {"summary": "Two lines, two tax rates", "value": data["calculate"]}}
    payment = {
        "bank_transfer": {
            "summary": "A payment by bank transfer, today",
            "value": {**data["payment"], "date": today.isoformat()},
        }
    }
    order = {
        "as_ordered": {"summary": "The invoice as the order has it", "value": {}},
        "with_a_note": {"summary": "With a note of its own", "value": data["order_note"]},
    }
    action = {
        "none": {"summary": "No body: every action but duplicate takes none", "value": {}},
        "duplicate_dated": {
            "summary": "duplicate on bill_crm (whose copies take dates): issued today, due in 30",
            "value": {
                "issue_date": today.isoformat(),
                "due_date": (today + timedelta(days=30)).isoformat(),
            },
        },
    }
    return {
        "invoices": invoices,
        "calculate": calculate,
        "payment": payment,
        "order": order,
        "action": action,
    }


def _dated(body: dict[str, Any], today: date) -> dict[str, Any]:
    if "issue_date" not in body:
        return body
    dated = {**body, "issue_date": today.isoformat()}
    if "due_date" in body:
        term = date.fromisoformat(body["due_date"]) - date.fromisoformat(body["issue_date"])
        dated["due_date"] = (today + term).isoformat()
    return dated
