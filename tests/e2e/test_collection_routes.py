"""Next number, CSV export, batches and the trash over the sandbox (views/collection.py): each
route against draft_publish's emulator, and 501 where a connection's provider has none."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import jsonschema
import pytest

from adapters.mapping import load_mapping
from emulators.registry import PROVIDERS
from gateway.http.app import create_app
from gateway.http.openapi import openapi_document
from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import profile
from tests.e2e.conftest_sandbox import call
from tests.e2e.migrating import requests_log
from tests.e2e.sandbox import sandbox_in_thread

DP = "/v1/connections/draft_publish"
SEEDED = 12


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=SEEDED) as running:
        yield running


async def _create(sandbox: Sandbox, index: int = 0) -> dict[str, Any]:
    sample = profile("draft_publish").sample(index).model_dump(mode="json", exclude_none=True)
    created = await call(sandbox, "POST", f"{DP}/invoices", body=sample)
    assert created.status == 201, created.body
    body: dict[str, Any] = created.body
    return body


async def _every(sandbox: Sandbox, path: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    url = f"{path}?limit=100&expand=remote_data"
    while True:
        page = await call(sandbox, "GET", url)
        assert page.status == 200, page.body
        found += page.body["data"]
        if not page.body["has_more"]:
            return found
        url = f"{path}?limit=100&expand=remote_data&cursor={page.body['next_cursor']}"


async def test_next_number_is_the_number_the_following_create_gets(sandbox: Sandbox) -> None:
    answer = await call(sandbox, "GET", f"{DP}/invoices/next-number")
    assert answer.status == 200, answer.body
    assert answer.body["object"] == "next_number"
    assert answer.body["number"].startswith("INV-")
    again = await call(sandbox, "GET", f"{DP}/invoices/next-number")
    assert again.body == answer.body  # reading it reserves nothing
    created = await _create(sandbox)
    assert created["number"] == answer.body["number"]
    after = await call(sandbox, "GET", f"{DP}/invoices/next-number")
    assert after.body["number"] != created["number"]


async def _csv(sandbox: Sandbox, query: str = "") -> tuple[aiohttp.ClientResponse, str]:
    url = f"{sandbox.gateway_url}{DP}/invoices/export.csv{query}"
    headers = {"Authorization": "Bearer sk_sandbox", "X-Request-ID": "csv-export-1"}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response, await response.text()


async def test_csv_export_streams_the_providers_rows_for_every_invoice(sandbox: Sandbox) -> None:
    invoices = {invoice["id"]: invoice for invoice in await _every(sandbox, f"{DP}/invoices")}
    response, text = await _csv(sandbox)
    assert response.status == 200, text
    assert response.content_type == "text/csv"
    assert response.headers.get("Transfer-Encoding") == "chunked"  # passed through, not held
    assert 'filename="invoices.csv"' in response.headers["Content-Disposition"]
    assert response.headers.get("X-Request-ID") == "csv-export-1"  # as on every answer
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["id"] for row in rows} == set(invoices)
    for row in rows:
        invoice = invoices[row["id"]]
        assert row["number"] == invoice["number"]
        assert Decimal(row["total"]) == Decimal(invoice["totals"]["total"])
        assert row["currency"] == invoice["currency"]
        assert row["customer_id"] == invoice["customer"]["id"]


async def test_csv_export_takes_the_list_filters(sandbox: Sandbox) -> None:
    invoices = await _every(sandbox, f"{DP}/invoices")
    customer = next(i["customer"]["id"] for i in invoices if i["status"] == "open")
    response, text = await _csv(sandbox, f"?customer_id={customer}&status=open")
    assert response.status == 200, text
    rows = list(csv.DictReader(io.StringIO(text)))
    expected = {
        i["id"] for i in invoices if i["customer"]["id"] == customer and i["status"] == "open"
    }
    assert expected and len(expected) < len(invoices)  # the filters select some, not all
    assert {row["id"] for row in rows} == expected
    assert all(row["status"] in ("sent", "overdue") for row in rows)
    assert text.count("id,number,") == 1  # open is two provider exports under one header
    bad, problem = await _csv(sandbox, "?status=unknown")
    assert bad.status == 400, problem
    # Empty, as a script building status=${s} sends it: a 400 as on the list, not every status.
    empty, problem = await _csv(sandbox, "?status=")
    assert empty.status == 400 and "status" in problem, problem
    wrong, problem = await _csv(sandbox, "?number=INV")
    assert wrong.status == 400 and "number" in problem


async def test_an_open_export_of_two_provider_parts_completes_with_one_provider_connection(
    sandbox: Sandbox, aiohttp_client: Any
) -> None:
    """status=open is two provider exports. Each holds one of the connection's
    max_connections while it is open, and the first was kept open while the second was asked
    for: with one connection, the second waited for it for ever."""
    connection = sandbox.settings.connection("draft_publish").model_copy(
        update={"max_connections": 1}
    )
    settings = sandbox.settings.model_copy(update={"connections": [connection]})
    gateway = await aiohttp_client(create_app(settings))
    whole = await call(sandbox, "GET", f"{DP}/invoices?status=open&limit=100")
    assert whole.status == 200, whole.body
    async with gateway.get(
        f"{DP}/invoices/export.csv?status=open", headers={"Authorization": "Bearer sk_sandbox"}
    ) as response:
        text = await asyncio.wait_for(response.text(), 20)
    assert response.status == 200, text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["id"] for row in rows} == {i["id"] for i in whole.body["data"]}
    assert text.count("id,number,") == 1


async def test_batch_acts_once_under_a_repeated_idempotency_key(sandbox: Sandbox) -> None:
    drafts = [await _create(sandbox, i) for i in range(2)]
    ids = [d["id"] for d in drafts] + ["no-such-invoice"]
    headers = {"Idempotency-Key": "batch-mark-sent-1"}
    body = {"action": "mark_sent", "ids": ids}
    first = await call(sandbox, "POST", f"{DP}/invoices/batch", body=body, headers=headers)
    assert first.status == 200, first.body
    assert first.body["object"] == "batch" and first.body["action"] == "mark_sent"
    assert (first.body["succeeded"], first.body["failed"]) == (2, 1)
    results = first.body["results"]
    assert [r["id"] for r in results] == ids
    assert [r["outcome"] for r in results] == ["done", "done", "failed"]
    assert results[2]["code"] == "not_found"
    for draft in drafts:
        read = await call(sandbox, "GET", f"{DP}/invoices/{draft['id']}")
        assert read.body["status"] == "open"
    log_before = await requests_log(sandbox, "draft_publish")
    again = await call(sandbox, "POST", f"{DP}/invoices/batch", body=body, headers=headers)
    assert again.status == 200 and again.body == first.body
    assert again.headers["Idempotent-Replayed"] == "true"
    log_after = await requests_log(sandbox, "draft_publish")
    batches = [e for e in log_after[len(log_before) :] if e["path"].endswith("/batch")]
    assert batches == []  # the provider was not asked again
    # Without the replay, the same batch now fails for each id: mark-sent is for drafts only.
    fresh = await call(sandbox, "POST", f"{DP}/invoices/batch", body=body)
    assert [r["code"] for r in fresh.body["results"][:2]] == ["conflict", "conflict"]


async def test_batch_refuses_what_it_cannot_do(sandbox: Sandbox) -> None:
    path = f"{DP}/invoices/batch"
    for body, pointer in (
        ({"action": "issue", "ids": ["x"]}, "/action"),
        ({"action": "void", "ids": []}, "/ids"),
        ({"action": "void", "ids": ["x", 3]}, "/ids/1"),
        ({"action": "void", "ids": ["x"], "force": True}, "/force"),
    ):
        answer = await call(sandbox, "POST", path, body=body)
        assert answer.status == 422, answer.body
        assert pointer in [e["pointer"] for e in answer.body["errors"]]


async def test_a_batch_id_that_cannot_name_a_record_fails_alone(sandbox: Sandbox) -> None:
    """One id a script got wrong ("trash", a route's own word; "../x") made the whole batch a
    400 with no pointer, the good ids left undone. It fails as it would alone, named; the
    others are done."""
    draft = await _create(sandbox)
    answer = await call(
        sandbox,
        "POST",
        f"{DP}/invoices/batch",
        body={"action": "mark_sent", "ids": [draft["id"], "trash", "../x"]},
        headers={"Idempotency-Key": f"batch-bad-ids-{draft['id']}"},
    )
    assert answer.status == 200, answer.body
    results = {r["id"]: r for r in answer.body["results"]}
    assert results[draft["id"]]["outcome"] == "done"
    for bad in ("trash", "../x"):
        assert (results[bad]["outcome"], results[bad]["code"]) == ("failed", "bad_request")
        assert "cannot name a record" in results[bad]["detail"]
    assert (answer.body["succeeded"], answer.body["failed"]) == (1, 2)
    # As the document declares it: a typed client reads the answer (its code was no value of
    # the document's enum).
    document = openapi_document()
    declared = document["paths"]["/v1/connections/{connection}/invoices/batch"]["post"]
    schema = declared["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(answer.body, {**schema, "components": document["components"]})
    read = await call(sandbox, "GET", f"{DP}/invoices/{draft['id']}")
    assert read.body["status"] == "open"
    alone = await call(
        sandbox, "POST", f"{DP}/invoices/batch", body={"action": "void", "ids": ["trash"]}
    )
    assert alone.status == 200 and alone.body["results"][0]["code"] == "bad_request"


async def test_delete_trash_restore_purge(sandbox: Sandbox) -> None:
    draft = await _create(sandbox)
    invoice = f"{DP}/invoices/{draft['id']}"
    assert (await call(sandbox, "DELETE", invoice)).status == 204
    assert (await call(sandbox, "GET", invoice)).status == 404
    trashed = await _every(sandbox, "/v1/connections/draft_publish/trash/invoices")
    found = [i for i in trashed if i["id"] == draft["id"]]
    assert len(found) == 1 and found[0]["remote_data"]["deleted_at"]
    assert found[0]["totals"]["total"] == draft["totals"]["total"]
    # A restore takes no body, as an action other than duplicate: one with keys was ignored.
    refused = await call(sandbox, "POST", f"{invoice}/restore", body={"status": "open"})
    assert refused.status == 422, refused.body
    assert refused.body["errors"] == [
        {"pointer": "/status", "detail": "is not an input of restore: it takes no body"}
    ]
    assert draft["id"] in {
        i["id"] for i in await _every(sandbox, "/v1/connections/draft_publish/trash/invoices")
    }
    restored = await call(sandbox, "POST", f"{invoice}/restore", body={})
    assert restored.status == 200, restored.body
    assert restored.body["id"] == draft["id"] and restored.body["status"] == "draft"
    read = await call(sandbox, "GET", invoice)
    assert read.status == 200 and read.body["number"] == draft["number"]
    assert draft["id"] not in {
        i["id"] for i in await _every(sandbox, "/v1/connections/draft_publish/trash/invoices")
    }
    again = await call(sandbox, "POST", f"{invoice}/restore")
    assert again.status == 404, again.body  # not in the trash any more
    # Purge: deleted again, then gone for good.
    assert (await call(sandbox, "DELETE", invoice)).status == 204
    purge = f"/v1/connections/draft_publish/trash/invoices/{draft['id']}"
    assert (await call(sandbox, "DELETE", purge)).status == 204
    trash = await _every(sandbox, "/v1/connections/draft_publish/trash/invoices")
    assert draft["id"] not in {i["id"] for i in trash}
    assert (await call(sandbox, "POST", f"{invoice}/restore")).status == 404
    assert (await call(sandbox, "DELETE", purge)).status == 404


async def test_batch_delete_then_restore_through_the_trash(sandbox: Sandbox) -> None:
    drafts = [(await _create(sandbox, i))["id"] for i in range(2)]
    deleted = await call(
        sandbox, "POST", f"{DP}/invoices/batch", body={"action": "delete", "ids": drafts}
    )
    assert deleted.body["succeeded"] == 2, deleted.body
    trash = {i["id"] for i in await _every(sandbox, "/v1/connections/draft_publish/trash/invoices")}
    assert set(drafts) <= trash
    restored = await call(
        sandbox, "POST", f"{DP}/invoices/batch", body={"action": "restore", "ids": drafts}
    )
    assert restored.body["succeeded"] == 2, restored.body
    for invoice_id in drafts:
        assert (await call(sandbox, "GET", f"{DP}/invoices/{invoice_id}")).status == 200


async def test_trash_cursors_page_through_and_belong_to_the_trash(sandbox: Sandbox) -> None:
    for _ in range(3):
        draft = await _create(sandbox)
        assert (await call(sandbox, "DELETE", f"{DP}/invoices/{draft['id']}")).status == 204
    trash = "/v1/connections/draft_publish/trash/invoices"
    whole = await _every(sandbox, trash)
    first = await call(sandbox, "GET", f"{trash}?limit=2")
    assert first.body["has_more"] is True and len(first.body["data"]) == 2
    second = await call(sandbox, "GET", f"{trash}?limit=2&cursor={first.body['next_cursor']}")
    ids = [i["id"] for i in first.body["data"] + second.body["data"]]
    assert ids == [i["id"] for i in whole][: len(ids)]
    foreign = await call(
        sandbox, "GET", f"{DP}/invoices?limit=2&cursor={first.body['next_cursor']}"
    )
    assert foreign.status == 400, foreign.body


@pytest.mark.parametrize("connection", [p for p in PROVIDERS if p != "draft_publish"])
async def test_providers_without_them_answer_501(sandbox: Sandbox, connection: str) -> None:
    caps = load_mapping(connection).capabilities
    assert not (caps.next_number or caps.export_csv or caps.batch_actions or caps.trash)
    base = f"/v1/connections/{connection}"
    for method, path, body in (
        ("GET", f"{base}/invoices/next-number", None),
        ("GET", f"{base}/invoices/export.csv", None),
        ("POST", f"{base}/invoices/batch", {"action": "void", "ids": ["1"]}),
        ("GET", f"{base}/trash/invoices", None),
        ("POST", f"{base}/invoices/1/restore", None),
        ("DELETE", f"{base}/trash/invoices/1", None),
    ):
        answer = await call(sandbox, method, path, body=body)
        assert answer.status == 501, (method, path, answer.body)
        assert answer.body["code"] == "not_supported"
        assert answer.body["provider"] == connection


async def test_a_later_provider_export_refused_mid_transfer_cuts_it_off(sandbox: Sandbox) -> None:
    """status=open is two provider exports (sent, then overdue). The second answered 404: its
    problem answer, a whole HTTP response, was written into the 200's body, and a final chunk
    after it made the transfer look whole. It is cut off, without the final chunk."""
    issued = await _create(sandbox)
    assert (await call(sandbox, "POST", f"{DP}/invoices/{issued['id']}/issue")).status == 200
    faults = sandbox.emulator_urls["draft_publish"] + "/_emulator/faults"
    # Seed 10 at a rate of 0.5: the first export call passes, the second is refused.
    config = {"error_rate": 0.5, "error_status": 404, "path_regex": "export/csv", "seed": 10}
    host, port = sandbox.gateway_url.removeprefix("http://").split(":")
    async with aiohttp.ClientSession() as session:
        async with session.post(faults, json=config) as set_up:
            assert set_up.status == 200, await set_up.text()
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                f"GET {DP}/invoices/export.csv?status=open HTTP/1.1\r\nHost: {host}\r\n"
                "Authorization: Bearer sk_sandbox\r\nConnection: close\r\n\r\n".encode()
            )
            raw = await asyncio.wait_for(reader.read(), timeout=10)
            writer.close()
        finally:
            async with session.delete(faults) as cleared:
                assert cleared.status == 200
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK"), head
    assert b"id,number," in body  # the first export's rows came
    assert b"HTTP/1.1" not in body and b"not_found" not in body
    assert not body.endswith(b"0\r\n\r\n")  # no final chunk: the client knows it is cut off
