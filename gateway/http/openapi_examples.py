"""The request bodies the OpenAPI document offers as examples (``openapi_examples.json``): what
the docs page's "Try it out" fills in, where the schema alone gives nulls that a write refuses.
Each invoice is one the sandbox's connection of its provider takes
(tests/e2e/test_openapi_examples.py sends every one)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def with_examples(body: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    """``body`` (a request body object) offering ``examples`` (name → {summary, value})."""
    (media,) = body["content"]
    content = {media: {**body["content"][media], "examples": examples}}
    return {**body, "content": content}


def request_examples() -> dict[str, Any]:
    """``calculate``: a calculation; ``invoices``: an invoice for each sandbox connection (read
    once, with the document: ``openapi.openapi_document`` is built once)."""
    text = resources.files("gateway.http").joinpath("openapi_examples.json").read_text("utf-8")
    data = json.loads(text)
    invoices = {
        provider: {
            "summary": f"An invoice for {provider} (the sandbox's connection {provider})",
            "value": body,
        }
        for provider, body in data["invoices"].items()
    }
    calculate = {"two_rates": {"summary": "Two lines, two tax rates", "value": data["calculate"]}}
    return {"invoices": invoices, "calculate": calculate}
