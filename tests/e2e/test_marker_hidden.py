"""An invoice reads as it was written: the dedupe marker a create writes into the empty
``notes`` (so that a lost answer can be found again: docs/decisions.md, "The marker") reads as
nothing, in the create's answer, in a read and in a list; the provider's own payload keeps it,
and a create whose answer was lost is still found by it (tests/adapters/test_*_lost_answers.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from adapters.mapping import load_mapping
from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import PROVIDERS, profile
from tests.e2e.conftest_sandbox import call, provider_writes
from tests.e2e.sandbox import sandbox_in_thread

_MARKER = re.compile(r'"ig-[0-9a-f]{24}"')


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=2) as running:
        yield running


@pytest.mark.parametrize("notes", [None, "", "   "], ids=["absent", "empty", "spaces"])
@pytest.mark.parametrize("connection", PROVIDERS)
async def test_notes_left_empty_read_back_empty_and_the_provider_holds_the_marker(
    sandbox: Sandbox, connection: str, notes: str | None
) -> None:
    """Blank notes say what none say (docs/canonical-invoice.md, "A blank text is no text"):
    notes of spaces alone got no marker (a lost answer's create could not be found by it) and
    read back as the spaces."""
    body = profile(connection).sample(0).model_dump(mode="json", exclude_none=True)
    body.pop("notes", None)
    if notes is not None:
        body["notes"] = notes
    invoices = f"/v1/connections/{connection}/invoices"
    key = {"Idempotency-Key": f"{connection}-{len(notes) if notes is not None else 'absent'}"}
    made = await call(sandbox, "POST", invoices, body=body, headers=key)
    assert made.status == 201, made.body
    assert made.body["notes"] is None
    one = f"{invoices}/{made.body['id']}"
    read = await call(sandbox, "GET", one)
    assert read.body["notes"] is None
    assert read.headers["ETag"] == made.headers["ETag"]  # the answer is the invoice as read
    raw = await call(sandbox, "GET", f"{one}?expand=remote_data")
    assert len(_MARKER.findall(json.dumps(raw.body["remote_data"]))) == 1
    assert _MARKER.search(json.dumps(read.body)) is None
    listed = await call(sandbox, "GET", f"{invoices}?limit=100")
    mine = [i for i in listed.body["data"] if i["id"] == made.body["id"]]
    assert [i["notes"] for i in mine] in ([None], [])  # listed (or past the first page)


@pytest.mark.parametrize("connection", PROVIDERS)
async def test_the_callers_own_notes_are_kept_as_they_were_written(
    sandbox: Sandbox, connection: str
) -> None:
    body = profile(connection).sample(0).model_dump(mode="json", exclude_none=True)
    body["notes"] = "Thank you for your order."
    made = await call(sandbox, "POST", f"/v1/connections/{connection}/invoices", body=body)
    assert made.status == 201, made.body
    read = await call(sandbox, "GET", f"/v1/connections/{connection}/invoices/{made.body['id']}")
    assert read.body["notes"] == made.body["notes"] == "Thank you for your order."


@pytest.mark.parametrize("connection", PROVIDERS)
async def test_notes_written_as_a_marker_are_refused_by_name_not_hidden_on_read(
    sandbox: Sandbox, connection: str
) -> None:
    """A caller's notes of the marker's form were taken (201) and read back empty, and the
    usual edit (read, change, replace) then removed them at the provider: refused by name,
    before anything is sent, on create, preview and replace alike."""
    body = profile(connection).sample(0).model_dump(mode="json", exclude_none=True)
    invoices = f"/v1/connections/{connection}/invoices"
    made = await call(sandbox, "POST", invoices, body=body)
    assert made.status == 201, made.body
    body["notes"] = "ig-0123456789abcdef01234567"
    sent_before = await provider_writes(sandbox, connection)
    writes = [("POST", invoices), ("POST", f"{invoices}/preview")]
    if "update" in load_mapping(connection).capabilities.operations:
        writes.append(("PUT", f"{invoices}/{made.body['id']}"))
    for method, path in writes:
        refused = await call(sandbox, method, path, body=body)
        assert refused.status == 422, (method, path, refused.body)
        [error] = refused.body["errors"]
        assert error["pointer"] == "/notes"
        assert "written as the gateway's own dedupe marker" in error["detail"]
    assert await provider_writes(sandbox, connection) == sent_before  # nothing sent
    body["notes"] = "ig-0123456789abcdef01234567 (our order)"  # more text: kept as written
    kept = await call(sandbox, "POST", invoices, body=body)
    assert kept.status == 201, kept.body
    assert kept.body["notes"] == "ig-0123456789abcdef01234567 (our order)"
