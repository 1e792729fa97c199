"""``If-Match`` on every write to one invoice, over the sandbox (docs/facade.md, "Headers").

A payment recorded or deleted, a note added or files added to one: each checks the invoice's
``ETag`` as ``PUT``, ``DELETE`` and the actions do, so a stale tag sends nothing (412) and the
current one goes through. A write with no one invoice's ETag to compare (a create, a batch,
the trash's restore) refuses the header with a 400, sending nothing: a caller who sent it
believes the write guarded, and it is never passed over.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import profile
from tests.e2e.conftest_sandbox import Answer, call, created, provider_writes
from tests.e2e.sandbox import sandbox_in_thread

STALE = 'W/"stale"'
DRAFT_PUBLISH = "/v1/connections/draft_publish/invoices"
PAYMENT = {"amount": "1.00", "date": "2026-04-02", "method": "cash", "reference": "p1"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=5) as running:
        yield running


def _refused(answer: Answer, status: int, code: str) -> dict[str, Any]:
    assert answer.status == status, answer.body
    assert answer.body["code"] == code, answer.body
    return answer.body  # type: ignore[no-any-return]


async def _issued(sandbox: Sandbox) -> str:
    location = await created(sandbox, "draft_publish")
    issued = await call(sandbox, "POST", location + "/issue")
    assert issued.status == 200, issued.body
    return location


async def _payments(sandbox: Sandbox, location: str) -> list[Any]:
    listed = await call(sandbox, "GET", location + "/payments")
    assert listed.status == 200, listed.body
    return listed.body["data"]  # type: ignore[no-any-return]


async def test_a_payment_recorded_with_a_stale_etag_is_not_recorded(sandbox: Sandbox) -> None:
    location = await _issued(sandbox)
    current = await call(sandbox, "GET", location)
    writes = len(await provider_writes(sandbox, "draft_publish"))
    stale = await call(
        sandbox, "POST", location + "/payments", body=PAYMENT, headers={"If-Match": STALE}
    )
    body = _refused(stale, 412, "precondition_failed")
    assert current.headers["ETag"] in body["detail"]
    assert len(await provider_writes(sandbox, "draft_publish")) == writes
    assert await _payments(sandbox, location) == []

    paid = await call(
        sandbox,
        "POST",
        location + "/payments",
        body=PAYMENT,
        headers={"If-Match": current.headers["ETag"]},
    )
    assert paid.status == 201, paid.body
    assert [p["amount"] for p in await _payments(sandbox, location)] == ["1.00"]
    # The payment moved the ETag: the tag read before it is stale now.
    again = await call(
        sandbox,
        "POST",
        location + "/payments",
        body={**PAYMENT, "reference": "p2"},
        headers={"If-Match": current.headers["ETag"]},
    )
    assert paid.headers["ETag"] in _refused(again, 412, "precondition_failed")["detail"]
    assert len(await _payments(sandbox, location)) == 1


async def test_a_payment_deleted_with_a_stale_etag_stays(sandbox: Sandbox) -> None:
    location = await _issued(sandbox)
    before = await call(sandbox, "GET", location)
    paid = await call(sandbox, "POST", location + "/payments", body=PAYMENT)
    assert paid.status == 201, paid.body
    (payment,) = await _payments(sandbox, location)
    path = f"{location}/payments/{payment['id']}"

    stale = await call(sandbox, "DELETE", path, headers={"If-Match": before.headers["ETag"]})
    assert paid.headers["ETag"] in _refused(stale, 412, "precondition_failed")["detail"]
    assert [p["id"] for p in await _payments(sandbox, location)] == [payment["id"]]

    deleted = await call(sandbox, "DELETE", path, headers={"If-Match": paid.headers["ETag"]})
    assert deleted.status == 200, deleted.body
    assert await _payments(sandbox, location) == []


async def _note(sandbox: Sandbox, path: str, text: str, headers: dict[str, str]) -> tuple[int, Any]:
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("note", text)
    form.add_field("file", b"%PDF-1.4 receipt", filename="r.pdf", content_type="application/pdf")
    send = {"Authorization": "Bearer sk_sandbox", **headers}
    async with (
        aiohttp.ClientSession() as session,
        session.post(sandbox.gateway_url + path, data=form, headers=send) as response,
    ):
        return response.status, await response.json(content_type=None)


async def test_a_note_or_a_file_added_with_a_stale_etag_is_not_sent(sandbox: Sandbox) -> None:
    location = "/v1/connections/order_linked/invoices/INV-00003"
    tag = (await call(sandbox, "GET", location)).headers["ETag"]
    writes = len(await provider_writes(sandbox, "order_linked"))
    status, body = await _note(sandbox, location + "/notes", "Delivered", {"If-Match": STALE})
    assert (status, body["code"]) == (412, "precondition_failed"), body
    assert tag in body["detail"]
    assert len(await provider_writes(sandbox, "order_linked")) == writes

    status, body = await _note(sandbox, location + "/notes", "Delivered", {"If-Match": tag})
    assert status == 201, body
    note_files = f"{location}/notes/{body['note']['id']}/files"
    writes = len(await provider_writes(sandbox, "order_linked"))
    status, body = await _note(sandbox, note_files, "Signed", {"If-Match": STALE})
    assert (status, body["code"]) == (412, "precondition_failed"), body
    assert len(await provider_writes(sandbox, "order_linked")) == writes
    status, body = await _note(sandbox, note_files, "Signed", {"If-Match": tag})
    assert status == 200, body
    assert len(await provider_writes(sandbox, "order_linked")) > writes


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", DRAFT_PUBLISH, "sample"),
        ("POST", DRAFT_PUBLISH + "/batch", {"action": "void", "ids": ["x"]}),
        ("POST", DRAFT_PUBLISH + "/{id}/restore", None),
        ("DELETE", "/v1/connections/draft_publish/trash/invoices/{id}", None),
    ],
)
async def test_a_write_with_no_etag_to_check_refuses_if_match(
    sandbox: Sandbox, method: str, path: str, body: Any
) -> None:
    location = await created(sandbox, "draft_publish")
    invoice_id = location.rsplit("/", 1)[1]
    if body == "sample":
        body = profile("draft_publish").sample(0).model_dump(mode="json", exclude_none=True)
    writes = len(await provider_writes(sandbox, "draft_publish"))
    answer = await call(
        sandbox, method, path.format(id=invoice_id), body=body, headers={"If-Match": "*"}
    )
    detail = _refused(answer, 400, "bad_request")["detail"]
    assert "If-Match" in detail and "send it without If-Match" in detail
    assert len(await provider_writes(sandbox, "draft_publish")) == writes


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/{id}", "read"),
        ("DELETE", "/{id}", None),
        ("POST", "/{id}/issue", None),
        ("POST", "/{id}/payments", PAYMENT),
        ("POST", "", "sample"),
    ],
)
async def test_a_write_refuses_if_none_match_and_sends_nothing(
    sandbox: Sandbox, method: str, path: str, body: Any
) -> None:
    """``PUT`` with ``If-None-Match: *`` asks that nothing be overwritten: it was passed over,
    and the invoice was replaced. No write can honour it (a replace, an action or a payment
    acts on an invoice that exists; a create has none to compare), so each refuses it."""
    location = await created(sandbox, "draft_publish")
    invoice_id = location.rsplit("/", 1)[1]
    if body == "read":
        body = (await call(sandbox, "GET", location)).body
    elif body == "sample":
        body = profile("draft_publish").sample(0).model_dump(mode="json", exclude_none=True)
    before = await call(sandbox, "GET", location)
    writes = len(await provider_writes(sandbox, "draft_publish"))
    answer = await call(
        sandbox,
        method,
        DRAFT_PUBLISH + path.format(id=invoice_id),
        body=body,
        headers={"If-None-Match": "*", "Idempotency-Key": f"inm-{method}-{path}-{invoice_id}"},
    )
    detail = _refused(answer, 400, "bad_request")["detail"]
    assert detail.startswith("If-None-Match is not checked on ")
    assert "send If-Match with the ETag" in detail
    assert len(await provider_writes(sandbox, "draft_publish")) == writes
    after = await call(sandbox, "GET", location)
    assert after.headers["ETag"] == before.headers["ETag"]


@pytest.mark.parametrize("connection", ["crm_v1", "draft_publish", "order_linked"])
async def test_a_read_with_the_etag_held_is_304_without_a_body(
    sandbox: Sandbox, connection: str
) -> None:
    location = await created(sandbox, connection, _due_later(connection))
    first = await call(sandbox, "GET", location)
    assert first.body["overdue"] is False  # an overdue one is always answered whole (below)
    tag = first.headers["ETag"]
    weak, strong = f"W/{tag.removeprefix('W/')}", tag.removeprefix("W/")
    for held in (tag, weak, strong, f'"other", {tag}', "*"):
        again = await call(sandbox, "GET", location, headers={"If-None-Match": held})
        assert again.status == 304, (held, again.body)
        assert again.body == ""
        assert again.headers["ETag"] == tag
    other = await call(sandbox, "GET", location, headers={"If-None-Match": '"other"'})
    assert other.status == 200 and other.body == first.body


async def test_an_overdue_invoice_is_answered_whole_whatever_etag_is_held(
    sandbox: Sandbox,
) -> None:
    """``overdue`` turns true with the clock, not with the invoice: its ETag (the invoice's
    version, or a digest of what the invoice holds) stays as it was, so a copy held from before
    the due date was told by a 304 that it was current, and a client polling with
    If-None-Match never saw the invoice fall overdue. An overdue invoice is answered whole;
    one that is not is still a 304."""
    past = {**_due_later("crm_v1"), "issue_date": "2025-01-02", "due_date": "2025-02-01"}
    for dates, overdue, status in ((past, True, 200), (_due_later("crm_v1"), False, 304)):
        location = await created(sandbox, "crm_v1", dates)
        first = await call(sandbox, "GET", location)
        assert first.body["overdue"] is overdue, first.body
        again = await call(
            sandbox, "GET", location, headers={"If-None-Match": first.headers["ETag"]}
        )
        assert again.status == status
        if status == 200:
            assert again.body == first.body and again.headers["ETag"] == first.headers["ETag"]


def _due_later(connection: str) -> dict[str, Any]:
    """The profile's first sample, due long after today: never overdue."""
    body = profile(connection).sample(0).model_dump(mode="json", exclude_none=True)
    return {**body, "due_date": "2099-12-31"}
