"""Any invoice read from any connection can be written back unchanged (issue 12, item 5).

Over the whole sandbox with its default seed, through the gateway as a client calls it: every
seeded invoice of every connection is read, sent back as read (``PUT``), and read again; the
writable fields must be what they were. Where the provider refuses the edit in the invoice's
state (paid, cancelled, overdue, with payments: a 409 each provider documents) or has no update
at all (order_linked), the invoice is created anew from what was read, under
``Prefer: handling=lenient``, and what may be dropped is only what the provider owns, as its page
in ``docs/providers/`` lists under "Writing back what was read".
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.canonical.model import writable
from gateway.sandbox.serve import Sandbox
from tests.e2e.conftest_sandbox import call
from tests.e2e.sandbox import sandbox_in_thread

SEEDED = 56  # the sandbox's default seed, per connection
# What a provider owns and a new invoice cannot take from its caller (JSON pointers, any line
# as ``*``): its own number, the customer's and items' names from its records, payments (the
# payments resource records them), and at order_linked what the order fixes.
OWNED_BY_PROVIDER: dict[str, set[str]] = {
    "crm_v1": {"/number", "/payments"},
    "draft_publish": {"/number", "/customer/name", "/payments"},
    "bill_crm": set(),  # every seeded invoice takes its update
    "item_envelope": {"/number", "/lines/*/name"},
    "order_linked": {
        "/number",
        "/customer/name",
        "/lines/*/name",
        "/lines/*/unit",
        "/shipping",
        "/discount",
    },
}
_LINE = re.compile(r"^/lines/[0-9]+/")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread() as running:
        yield running


async def seeded_ids(sandbox: Sandbox, connection: str) -> list[str]:
    ids: list[str] = []
    cursor = ""
    while True:
        page = await call(
            sandbox, "GET", f"/v1/connections/{connection}/invoices?limit=100{cursor}"
        )
        assert page.status == 200, page.body
        ids += [invoice["id"] for invoice in page.body["data"]]
        if not page.body["has_more"]:
            return ids
        cursor = f"&cursor={page.body['next_cursor']}"


def view(invoice: dict[str, Any], dropped: set[str]) -> dict[str, Any]:
    """The writable fields, without line ids (a replacement may renumber lines) or ``dropped``."""
    fields: dict[str, Any] = writable(invoice)
    for line in fields.get("lines", []):
        line.pop("id", None)
    for pointer in dropped:
        parts = pointer.strip("/").split("/")
        targets = fields["lines"] if parts[0] == "lines" else [fields]
        parts = parts[2:] if parts[0] == "lines" else parts
        for target in targets:
            for part in parts[:-1]:
                target = target.get(part) or {}
            target.pop(parts[-1], None)
    return fields


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [
        f"{key}: {before.get(key)!r} → {after.get(key)!r}"
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


async def write_back(sandbox: Sandbox, connection: str, invoice_id: str) -> list[str]:
    """What was lost or changed writing this invoice back (empty when nothing was)."""
    base = f"/v1/connections/{connection}/invoices"
    read = await call(sandbox, "GET", f"{base}/{invoice_id}")
    assert read.status == 200, read.body
    body = writable(read.body)
    put = await call(sandbox, "PUT", f"{base}/{invoice_id}", body=body)
    if put.status == 200:
        again = await call(sandbox, "GET", f"{base}/{invoice_id}")
        return differences(view(read.body, set()), view(again.body, set()))
    if put.status not in (409, 501):  # locked in its state, or no update at this provider
        return [f"PUT: {put.status} {put.body}"]
    lenient = {"Prefer": "handling=lenient"}
    made = await call(sandbox, "POST", base, body=body, headers=lenient)
    if made.status == 409 and connection == "order_linked":
        # One active invoice per order: the original is cancelled first, as order_linked asks.
        voided = await call(sandbox, "POST", f"{base}/{invoice_id}/void")
        assert voided.status == 200, voided.body
        made = await call(sandbox, "POST", base, body=body, headers=lenient)
    if made.status != 201:
        return [f"create anew after PUT {put.status}: {made.status} {made.body}"]
    dropped = {w["field"] for w in made.body["warnings"]}
    owned = OWNED_BY_PROVIDER[connection]
    problems = [f"dropped {p}" for p in sorted(dropped) if _LINE.sub("/lines/*/", p) not in owned]
    again = await call(sandbox, "GET", f"{base}/{made.body['id']}")
    after = view(again.body, dropped | {"/number"})
    return problems + differences(view(read.body, dropped | {"/number"}), after)


@pytest.mark.parametrize("connection", sorted(OWNED_BY_PROVIDER))
def test_every_seeded_invoice_writes_back_unchanged(sandbox: Sandbox, connection: str) -> None:
    async def walk() -> dict[str, list[str]]:
        ids = await seeded_ids(sandbox, connection)
        assert len(ids) == SEEDED
        found = {}
        for invoice_id in ids:
            lost = await write_back(sandbox, connection, invoice_id)
            if lost:
                found[invoice_id] = lost
        return found

    assert asyncio.run(walk()) == {}
