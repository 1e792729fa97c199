"""Every POST the OpenAPI document describes lists the statuses any body can be answered with:
a body too large is a 413, one of a type the route does not take a 415, whatever the route. An
action, a restore and a batch answered them without saying so (a client generated from the
document, or a status-code check, met answers it was never told about)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from gateway.sandbox.serve import Sandbox
from tests.e2e.conftest_sandbox import call, created
from tests.e2e.sandbox import sandbox_in_thread

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=3) as running:
        yield running


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b'{"x": "' + b"a" * (MIB + 10) + b'"}', "application/json", 413),
        (b"void it, please", "text/plain", 415),
    ],
    ids=["too-large", "text"],
)
async def test_every_post_lists_what_a_body_it_cannot_take_is_answered(
    sandbox: Sandbox, raw: bytes, content_type: str, status: int
) -> None:
    document = (await call(sandbox, "GET", "/openapi.json", key=None)).body
    location = await created(sandbox, "draft_publish")
    invoice_id = location.rsplit("/", 1)[1]
    values = {
        "connection": "draft_publish",
        "invoice_id": invoice_id,
        "action": "duplicate",
        "payment_id": "p-1",
        "note_id": "n-1",
        "order_id": "ORD-1",
    }
    answered: dict[str, int] = {}
    for template, operations in document["paths"].items():
        if "post" not in operations:
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)
        answer = await call(sandbox, "POST", path, raw=raw, headers={"Content-Type": content_type})
        answered[template] = answer.status
        documented = operations["post"]["responses"]
        assert str(answer.status) in documented, (template, answer.status, sorted(documented))
    assert status in answered.values(), answered  # the body was refused as such somewhere
    assert len(answered) >= 10, answered
