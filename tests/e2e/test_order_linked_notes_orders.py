"""order_linked's notes and invoices made from orders, over the sandbox (real HTTP to the
gateway and the emulator). What the provider kept is read from the emulator: its own notes
state (``/_emulator/invoices/{id}/notes``; the provider documents no read), its request log
and its orders (``GET /orders/{id}``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import jsonschema
import pytest

from gateway.http.openapi import openapi_document
from gateway.sandbox.serve import Sandbox
from tests.e2e.conftest_sandbox import Answer, call, provider_writes
from tests.e2e.sandbox import sandbox_in_thread

BASE = "/v1/connections/order_linked"
INVOICE = "INV-00002"
EMULATOR_AUTH = {"Authorization": "Bearer sandbox-order_linked"}
RECEIPT = ("receipt.pdf", "application/pdf", b"%PDF-1.4 signed delivery receipt")
PHOTO = ("dock.jpg", "image/jpeg", b"\xff\xd8\xff\xe0 dock photo")
SHEET = ("weights.csv", "text/csv", b"pallet,kg\n1,412.5\n")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=5) as running:
        yield running


async def _multipart(
    sandbox: Sandbox,
    path: str,
    parts: list[tuple[str, Any]],
    headers: dict[str, str] | None = None,
) -> Answer:
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in parts:
        if isinstance(value, tuple):
            filename, kind, content = value
            form.add_field(name, content, filename=filename, content_type=kind)
        else:
            form.add_field(name, value)
    send = {"Authorization": "Bearer sk_sandbox", **(headers or {})}
    async with (
        aiohttp.ClientSession() as session,
        session.post(sandbox.gateway_url + path, data=form, headers=send) as response,
    ):
        text = await response.text()
        body = json.loads(text) if "json" in response.content_type else text
        return Answer(response.status, response.headers.copy(), body)  # type: ignore[arg-type]


async def _emulator(sandbox: Sandbox, path: str) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.get(sandbox.emulator_urls["order_linked"] + path, headers=EMULATOR_AUTH) as r,
    ):
        return await r.json(content_type=None)


async def _kept(sandbox: Sandbox, invoice_id: str, note_id: str) -> tuple[str, list[Any]]:
    """The note as the emulator keeps it: its text and its files (name, type, bytes)."""
    state = await _emulator(sandbox, f"/_emulator/invoices/{invoice_id}/notes")
    (note,) = [n for n in state["notes"] if n["uuid"] == note_id]
    for f in note["files"]:  # as docs/providers/order_linked.md lists them
        assert f["sha256"] == hashlib.sha256(base64.b64decode(f["content_base64"])).hexdigest()
    files = [
        (f["name"], f["content_type"], base64.b64decode(f["content_base64"])) for f in note["files"]
    ]
    return note["content"], files


async def _note_posts(sandbox: Sandbox) -> int:
    log = await _emulator(sandbox, "/_emulator/requests")
    return sum(1 for r in log["requests"] if "/notes" in r["path"] and r["method"] == "POST")


# -- notes --------------------------------------------------------------------------------------


async def test_a_note_keeps_every_file_sent_with_it_and_added_to_it(sandbox: Sandbox) -> None:
    created = await _multipart(
        sandbox, f"{BASE}/invoices/{INVOICE}/notes", [("note", "Delivered"), ("file", RECEIPT)]
    )
    assert created.status == 201, created.body
    note_id = created.body["note"]["id"]
    assert created.body["note"]["files"] == [{"name": "receipt.pdf"}]

    added = await _multipart(
        sandbox,
        f"{BASE}/invoices/{INVOICE}/notes/{note_id}/files",
        [("file", PHOTO), ("file", SHEET)],
    )
    assert added.status == 200, added.body
    assert added.body["note"] == {
        "id": note_id,
        "content": "Delivered",
        "files": [{"name": "receipt.pdf"}, {"name": "dock.jpg"}, {"name": "weights.csv"}],
    }
    # Read back from the provider's side: every file, its type and its bytes, in order.
    assert await _kept(sandbox, INVOICE, note_id) == ("Delivered", [RECEIPT, PHOTO, SHEET])
    # Both answers are what the document declares, every member of them: a typed client built
    # from it read `{"object": "note"}` alone, without the note's id its files route needs.
    for path, answer in (
        ("/notes", created),
        ("/notes/{note_id}/files", added),
    ):
        route = "/v1/connections/{connection}/invoices/{invoice_id}" + path
        declared = _documented(route, str(answer.status))
        jsonschema.validate(answer.body, declared)
        note = declared["components"]["schemas"]["Note"]
        content = declared["components"]["schemas"]["NoteContent"]
        assert set(answer.body) == set(note["properties"]) == set(note["required"])
        assert set(answer.body["note"]) == set(content["properties"]) == set(content["required"])


def _documented(path: str, status: str) -> dict[str, Any]:
    """The schema /openapi.json declares for a POST's answer, with the components it refers to."""
    document = openapi_document()
    answer = document["paths"][path]["post"]["responses"][status]["content"]["application/json"]
    return {**answer["schema"], "components": document["components"]}


async def test_attaching_can_replace_the_note_text(sandbox: Sandbox) -> None:
    created = await _multipart(sandbox, f"{BASE}/invoices/{INVOICE}/notes", [("note", "Draft")])
    note_id = created.body["note"]["id"]
    added = await _multipart(
        sandbox,
        f"{BASE}/invoices/{INVOICE}/notes/{note_id}/files",
        [("note", "Signed off"), ("file", RECEIPT)],
    )
    assert added.status == 200, added.body
    assert await _kept(sandbox, INVOICE, note_id) == ("Signed off", [RECEIPT])


async def test_more_files_than_a_new_note_takes_is_a_422_and_nothing_is_sent(
    sandbox: Sandbox,
) -> None:
    before = await _note_posts(sandbox)
    answer = await _multipart(
        sandbox,
        f"{BASE}/invoices/{INVOICE}/notes",
        [("note", "Two receipts"), ("file", RECEIPT), ("file", PHOTO)],
    )
    assert answer.status == 422, answer.body
    assert answer.body["errors"][0]["pointer"] == "/file"
    assert (
        "order_linked takes at most 1 file(s) when a note is created, not 2"
        in (answer.body["detail"])
    )
    assert "POST …/notes/{note_id}/files" in answer.body["detail"]
    assert await _note_posts(sandbox) == before


async def _new_note(sandbox: Sandbox, parts: list[Any]) -> str:
    created = await _multipart(sandbox, f"{BASE}/invoices/{INVOICE}/notes", parts)
    assert created.status == 201, created.body
    return str(created.body["note"]["id"])


async def test_a_note_text_alone_replaces_the_text_and_keeps_the_files(sandbox: Sandbox) -> None:
    """order_linked takes new text without a file (its doc: the file is optional); sent again
    under the same key, it replays, and the note holds the text once."""
    note_id = await _new_note(sandbox, [("note", "Draft"), ("file", RECEIPT)])
    path = f"{BASE}/invoices/{INVOICE}/notes/{note_id}/files"
    key = {"Idempotency-Key": f"note-text-{note_id}"}
    changed = await _multipart(sandbox, path, [("note", "Signed off")], key)
    assert changed.status == 200, changed.body
    assert changed.body["note"] == {
        "id": note_id,
        "content": "Signed off",
        "files": [{"name": "receipt.pdf"}],
    }
    posts = await _note_posts(sandbox)
    again = await _multipart(sandbox, path, [("note", "Signed off")], key)
    assert (again.status, again.body) == (200, changed.body)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert await _note_posts(sandbox) == posts
    assert await _kept(sandbox, INVOICE, note_id) == ("Signed off", [RECEIPT])


async def _faults(sandbox: Sandbox, **config: Any) -> None:
    url = sandbox.emulator_urls["order_linked"] + "/_emulator/faults"
    async with aiohttp.ClientSession() as session:
        if config:
            async with session.post(url, json=config) as response:
                assert response.status == 200, await response.text()
        else:
            async with session.delete(url):
                pass


async def _answer_lost(
    sandbox: Sandbox, note_id: str, parts: list[Any], key: dict[str, str]
) -> Answer:
    """``parts`` posted to the note, the provider's every answer lost after it took them."""
    await _faults(
        sandbox, error_rate=1, error_status=503, after_commit=True, path_regex=f"/notes/{note_id}$"
    )
    try:
        path = f"{BASE}/invoices/{INVOICE}/notes/{note_id}/files"
        return await _multipart(sandbox, path, parts, key)
    finally:
        await _faults(sandbox)


async def test_new_note_text_whose_answer_was_lost_is_sent_again_by_the_key(
    sandbox: Sandbox,
) -> None:
    """The provider replaced the text and its answer was lost: the key's retry sends the text
    again (the same text twice is the same note) and answers the note, with no file added."""
    note_id = await _new_note(sandbox, [("note", "Draft"), ("file", RECEIPT)])
    path = f"{BASE}/invoices/{INVOICE}/notes/{note_id}/files"
    key = {"Idempotency-Key": f"lost-note-text-{note_id}"}
    lost = await _answer_lost(sandbox, note_id, [("note", "Approved")], key)
    assert (lost.status, lost.body["retryable"]) == (502, True), lost.body
    assert await _kept(sandbox, INVOICE, note_id) == ("Approved", [RECEIPT])  # it landed
    retried = await _multipart(sandbox, path, [("note", "Approved")], key)
    assert retried.status == 200, retried.body
    assert retried.body["note"]["content"] == "Approved"
    assert retried.body["note"]["files"] == [{"name": "receipt.pdf"}]
    assert await _kept(sandbox, INVOICE, note_id) == ("Approved", [RECEIPT])


async def test_files_added_whose_answer_was_lost_are_not_retryable(sandbox: Sandbox) -> None:
    """order_linked cannot read a note back, so no look can tell whether the files were added:
    the 502 says to check, not to retry (a retry under the key would only ask in vain)."""
    note_id = await _new_note(sandbox, [("note", "Proof")])
    path = f"{BASE}/invoices/{INVOICE}/notes/{note_id}/files"
    key = {"Idempotency-Key": f"lost-note-files-{note_id}"}
    lost = await _answer_lost(sandbox, note_id, [("file", RECEIPT)], key)
    assert lost.status == 502, lost.body
    assert (lost.body["outcome"], lost.body["retryable"]) == ("uncertain", False)
    assert "offers no way to read note" in lost.body["detail"]
    assert "check the provider before sending the write again" in lost.body["detail"]
    posts = await _note_posts(sandbox)
    again = await _multipart(sandbox, path, [("file", RECEIPT)], key)
    assert (again.status, again.body["retryable"]) == (502, False), again.body
    assert await _note_posts(sandbox) == posts  # nothing sent again blind
    assert await _kept(sandbox, INVOICE, note_id) == ("Proof", [RECEIPT])  # added once


@pytest.mark.parametrize("parts", [[], [("note", "   ")]])
async def test_attaching_needs_a_file_or_text(sandbox: Sandbox, parts: list[Any]) -> None:
    posts = await _note_posts(sandbox)
    answer = await _multipart(sandbox, f"{BASE}/invoices/{INVOICE}/notes/some-note/files", parts)
    assert answer.status == 422, answer.body
    assert answer.body["errors"] == [
        {
            "pointer": "/file",
            "detail": "is required: at least one file to add, or a note's new text",
        }
    ]
    assert await _note_posts(sandbox) == posts


@pytest.mark.parametrize("parts", [[("file", RECEIPT)], [("note", "text only")]])
async def test_attaching_needs_an_existing_note(sandbox: Sandbox, parts: list[Any]) -> None:
    unknown = await _multipart(
        sandbox, f"{BASE}/invoices/{INVOICE}/notes/no-such-note/files", parts
    )
    assert unknown.status == 404, unknown.body


@pytest.mark.parametrize("path", ["/notes", "/notes/any-note"])
async def test_notes_cannot_be_read_back_from_order_linked(sandbox: Sandbox, path: str) -> None:
    answer = await call(sandbox, "GET", f"{BASE}/invoices/{INVOICE}{path}")
    assert answer.status == 501, answer.body
    assert "order_linked cannot read notes back" in answer.body["detail"]


async def test_attaching_is_501_where_the_provider_has_no_notes(sandbox: Sandbox) -> None:
    answer = await _multipart(
        sandbox, "/v1/connections/crm_v1/invoices/1/notes/n/files", [("file", RECEIPT)]
    )
    assert answer.status == 501, answer.body
    assert answer.body["code"] == "not_supported" and answer.body["provider"] == "crm_v1"


# -- invoices made from orders -------------------------------------------------------------------


async def _order(sandbox: Sandbox, order_id: str) -> dict[str, Any]:
    order: dict[str, Any] = (await _emulator(sandbox, f"/orders/{order_id}"))["order"]
    return order


def _order_lines(order: dict[str, Any]) -> list[tuple[str, Decimal, Decimal]]:
    return [
        (
            line["item_id"],
            Decimal(line["item_order_quantity"]),
            Decimal(line["item_price_snapshot"]["pricing_rule"]["price"]),
        )
        for line in order["lines"]
    ]


def _invoice_lines(invoice: dict[str, Any]) -> list[tuple[str, Decimal, Decimal]]:
    return [
        (line["item_id"], Decimal(line["quantity"]), Decimal(line["unit_price"]))
        for line in invoice["lines"]
    ]


@pytest.mark.parametrize(
    ("order_id", "body", "currency"),
    [("SO-1003", {}, "NZD"), ("SO-1006", {"notes": "Ship in one crate"}, "JPY")],
)
async def test_an_order_invoice_takes_the_orders_currency_lines_and_customer(
    sandbox: Sandbox, order_id: str, body: dict[str, Any], currency: str
) -> None:
    order = await _order(sandbox, order_id)
    answer = await call(sandbox, "POST", f"{BASE}/orders/{order_id}/invoices", body=body)
    assert answer.status == 201, answer.body
    invoice = answer.body
    assert invoice["currency"] == currency
    assert invoice["customer"] == {"id": order["account_id"], "name": order["account_name"]}
    assert _invoice_lines(invoice) == _order_lines(order)
    assert Decimal(invoice["shipping"]) == Decimal(order["shipping_cost"])
    assert invoice["order_id"] == order_id
    assert invoice["notes"] == body.get("notes")
    assert invoice.get("warnings", []) == []


async def test_the_orders_own_values_pass(sandbox: Sandbox) -> None:
    body = {"currency": "EUR", "customer": {"id": "ACC-1005"}, "notes": "As ordered"}
    answer = await call(sandbox, "POST", f"{BASE}/orders/SO-1008/invoices", body=body)
    assert answer.status == 201, answer.body
    assert (answer.body["currency"], answer.body["notes"]) == ("EUR", "As ordered")


async def test_another_currency_is_refused_strict_and_dropped_lenient(sandbox: Sandbox) -> None:
    body = {"currency": "USD", "notes": "Please bill in dollars"}
    path = f"{BASE}/orders/SO-1001/invoices"
    strict = await call(sandbox, "POST", path, body=body)
    assert strict.status == 422, strict.body
    assert strict.body["errors"] == [
        {"pointer": "/currency", "detail": "is USD, but order SO-1001 is in AUD"}
    ]
    lenient = await call(sandbox, "POST", path, body=body, headers={"Prefer": "handling=lenient"})
    assert lenient.status == 201, lenient.body
    assert lenient.headers["Preference-Applied"] == "handling=lenient"
    assert lenient.body["currency"] == "AUD"
    assert lenient.body["notes"] == "Please bill in dollars"
    assert lenient.body["warnings"] == [
        {
            "field": "/currency",
            "reason": "dropped: is USD, but order SO-1001 is in AUD; the order's value is used",
        }
    ]


@pytest.mark.parametrize("handling", ["strict", "lenient"])
async def test_a_credit_note_body_is_refused_lenient_too_and_nothing_is_sent(
    sandbox: Sandbox, handling: str
) -> None:
    """Lenient handling dropped `document_type: credit_note` with a warning and made an open
    invoice of it: money meant to be given back, owed instead. As on every other create, it is
    refused whatever the handling, and the strict answer no longer suggests lenient."""
    writes = await provider_writes(sandbox, "order_linked")
    answer = await call(
        sandbox,
        "POST",
        f"{BASE}/orders/SO-1005/invoices",
        body={"document_type": "credit_note", "notes": "Refund"},
        headers={"Prefer": "handling=lenient"} if handling == "lenient" else None,
    )
    assert answer.status == 422, answer.body
    assert answer.body["code"] == "unsupported_field"
    assert [e["pointer"] for e in answer.body["errors"]] == ["/document_type"]
    assert "lenient" not in answer.body["detail"]
    assert await provider_writes(sandbox, "order_linked") == writes


async def test_other_lines_or_customer_are_refused_naming_the_orders(sandbox: Sandbox) -> None:
    body = {
        "customer": {"id": "ACC-1003"},
        "lines": [{"item_id": "ITM-1006", "quantity": "4", "unit_price": "40.00"}],
    }
    answer = await call(sandbox, "POST", f"{BASE}/orders/SO-1002/invoices", body=body)
    assert answer.status == 422, answer.body
    assert answer.body["errors"] == [
        {
            "pointer": "/customer/id",
            "detail": "is ACC-1003, but order SO-1002 is for account ACC-1001",
        },
        {
            "pointer": "/lines",
            "detail": "differ from the lines of order SO-1002: "
            "ITM-1006 × 4 @ 45.00, ITM-1010 × 3 @ 43.89",
        },
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"notes": "A valid body"},
        {},
        {"currency": "ZZZ", "notes": 5},  # invalid: still the unknown order's 404
        {"currency": "USD"},  # against any order: still a 404
    ],
)
async def test_an_unknown_order_is_404_whatever_the_body(
    sandbox: Sandbox, body: dict[str, Any]
) -> None:
    answer = await call(sandbox, "POST", f"{BASE}/orders/SO-9999/invoices", body=body)
    assert answer.status == 404, answer.body
    assert "SO-9999" in answer.body["detail"]


async def test_an_unknown_order_is_404_even_with_a_malformed_body(sandbox: Sandbox) -> None:
    answer = await call(sandbox, "POST", f"{BASE}/orders/SO-9999/invoices", raw=b"{not json")
    assert answer.status == 404, answer.body
    known = await call(sandbox, "POST", f"{BASE}/orders/SO-1004/invoices", raw=b"{not json")
    assert known.status == 400, known.body


async def _raw_note(sandbox: Sandbox, kind: str, body: bytes) -> Answer:
    headers = {"Authorization": "Bearer sk_sandbox", "Content-Type": kind}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{sandbox.gateway_url}{BASE}/invoices/{INVOICE}/notes", data=body, headers=headers
        ) as response,
    ):
        text = await response.text()
        parsed = json.loads(text) if "json" in response.content_type else text
        return Answer(response.status, response.headers.copy(), parsed)  # type: ignore[arg-type]


def _part(headers: bytes, content: bytes) -> bytes:
    return b"--B\r\n" + headers + b"\r\n\r\n" + content + b"\r\n"


@pytest.mark.parametrize(
    ("kind", "parts", "status", "said"),
    [
        (
            "multipart/mixed; boundary=B",
            [_part(b'Content-Disposition: form-data; name="note"', b"Delivered")],
            415,
            "multipart/form-data",
        ),
        (
            "multipart/form-data; boundary=B",
            [
                _part(b'Content-Disposition: form-data; name="note"', b"Delivered"),
                _part(
                    b'Content-Disposition: form-data; name="file"; filename="\xff\xfe.txt"', b"x"
                ),
            ],
            422,
            "file has a name that is not UTF-8 text",
        ),
        (
            "multipart/form-data; boundary=B",
            [_part(b'Content-Disposition: form-data; name="note"', b"n" * 10_001)],
            422,
            "at most 10000 characters",
        ),
        (
            "multipart/form-data; boundary=B",
            [
                _part(b'Content-Disposition: form-data; name="note"', b"Delivered"),
                _part(
                    b'Content-Disposition: form-data; name="file"; '
                    b"filename*=UTF-8''a%0D%0AContent-Type%3A%20text%2Fhtml.pdf",
                    b"x",
                ),
            ],
            422,
            "file has the name 'a\\\\r\\\\nContent-Type: text/html.pdf', which must be a name alone",
        ),
        (
            "multipart/form-data; boundary=B",
            [
                _part(b'Content-Disposition: form-data; name="note"', b"Delivered"),
                _part(
                    b'Content-Disposition: form-data; name="file"; filename="scans/r.pdf"',
                    b"x",
                ),
            ],
            422,
            "file has the name 'scans/r.pdf', which must be a name alone: no folder",
        ),
        (
            "multipart/form-data; boundary=B",
            [
                _part(b'Content-Disposition: form-data; name="note"', b"Delivered"),
                _part(
                    b'Content-Disposition: form-data; name="file"; filename="scan.pdf"\r\n'
                    b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64",
                    base64.b64encode(bytes(range(256))),
                ),
            ],
            422,
            "file has Content-Transfer-Encoding: base64, which is not taken",
        ),
        (
            "multipart/form-data; boundary=B",
            [
                _part(
                    b'Content-Disposition: form-data; name="note"\r\nContent-Encoding: gzip',
                    b"\x1f\x8b",
                ),
            ],
            422,
            "note has Content-Encoding: gzip, which is not taken",
        ),
        (
            "multipart/form-data; boundary=B",
            [
                _part(b'Content-Disposition: form-data; name="note"', b"Delivered"),
                _part(
                    b'Content-Disposition: form-data; name="file"; filename="scan.pdf"\r\n'
                    b"Content-Transfer-Encoding: binary\r\nContent-Transfer-Encoding: base64",
                    b"QUJD",
                ),
            ],
            422,
            "file has Content-Transfer-Encoding: base64, which is not taken",
        ),
        (
            "multipart/form-data; boundary=B",
            [
                _part(
                    b'Content-Disposition: form-data; name="note"\r\nContent-Encoding: g\xffzip',
                    b"Delivered",
                ),
            ],
            422,
            "note has Content-Encoding that is not UTF-8 text, which is not taken",
        ),
        (
            "multipart/form-data; boundary=B",
            [
                _part(
                    b'Content-Disposition: form-data; name="note"\r\n'
                    b'Content-Disposition: form-data; name="zz"',
                    b"Delivered",
                ),
            ],
            422,
            "a part gives Content-Disposition twice",
        ),
        (
            "multipart/form-data; boundary=B",
            [_part(b'Content-Disposition: form-data; name="n\xffote"', b"Delivered")],
            422,
            "a part has a name that is not UTF-8 text",
        ),
    ],
    ids=[
        "not-form-data",
        "file-name-not-utf8",
        "note-too-long",
        "file-name-line-break",
        "file-name-with-folder",
        "file-base64-encoded",
        "note-gzipped",
        "file-encoding-given-twice",
        "note-encoding-not-utf8",
        "disposition-twice",
        "part-name-not-utf8",
    ],
)
async def test_a_note_body_the_gateway_cannot_take_is_a_4xx_naming_it(
    sandbox: Sandbox, kind: str, parts: list[bytes], status: int, said: str
) -> None:
    before = await _note_posts(sandbox)
    answer = await _raw_note(sandbox, kind, b"".join(parts) + b"--B--\r\n")
    assert answer.status == status, answer.body
    assert said in json.dumps(answer.body), answer.body
    assert await _note_posts(sandbox) == before


@pytest.mark.parametrize(
    "name",
    ["delivery receipt.pdf", "r\u00e9sum\u00e9 \u2013 sign\u00e9.pdf", "100%.pdf", "a+b=c.pdf"],
)
async def test_a_file_reaches_the_provider_under_the_name_it_was_sent_with(
    sandbox: Sandbox, name: str
) -> None:
    """As curl and browsers send a file name (UTF-8, RFC 7578). It was sent on percent-encoded
    (``delivery%20receipt.pdf``), which the provider keeps as the name, while the gateway's
    answer showed the name as sent."""
    disposition = f'Content-Disposition: form-data; name="file"; filename="{name}"'
    body = (
        _part(b'Content-Disposition: form-data; name="note"', b"Delivered")
        + _part(disposition.encode() + b"\r\nContent-Type: application/pdf", b"%PDF-1.4")
        + b"--B--\r\n"
    )
    created = await _raw_note(sandbox, "multipart/form-data; boundary=B", body)
    assert created.status == 201, created.body
    note_id = created.body["note"]["id"]
    assert created.body["note"]["files"] == [{"name": name}]
    assert await _kept(sandbox, INVOICE, note_id) == (
        "Delivered",
        [(name, "application/pdf", b"%PDF-1.4")],
    )
    more = ("more " + name, "application/pdf", b"%PDF-1.4 more")
    added = await _multipart_utf8(sandbox, f"{BASE}/invoices/{INVOICE}/notes/{note_id}/files", more)
    assert added.status == 200, added.body
    assert added.body["note"]["files"] == [{"name": name}, {"name": more[0]}]


async def _multipart_utf8(sandbox: Sandbox, path: str, file: tuple[str, str, bytes]) -> Answer:
    """One file part whose name is written in UTF-8, as curl writes it."""
    form = aiohttp.FormData(default_to_multipart=True, quote_fields=False)
    form.add_field("file", file[2], filename=file[0], content_type=file[1])
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            sandbox.gateway_url + path, data=form, headers={"Authorization": "Bearer sk_sandbox"}
        ) as response,
    ):
        return Answer(response.status, response.headers.copy(), await response.json())


@pytest.mark.parametrize(
    ("disposition", "said"),
    [
        (
            b"Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''r%E9sum%E9.txt",
            "has a file name that cannot be read: give it as UTF-8 text",
        ),
        (b'Content-Disposition: form-data; name="file"', "needs its file name"),
        # An empty name was sent on as a text field: the provider's 422 used up the key.
        (b'Content-Disposition: form-data; name="file"; filename=""', "needs its file name"),
    ],
)
async def test_a_file_whose_name_cannot_be_read_is_a_422_and_nothing_is_sent(
    sandbox: Sandbox, disposition: bytes, said: str
) -> None:
    """A name given in bytes that are not UTF-8 (``%E9``, Latin-1's é), or none at all: the
    provider would have been sent the file as "attachment"."""
    before = await _note_posts(sandbox)
    body = _part(disposition + b"\r\nContent-Type: text/plain", b"hello") + b"--B--\r\n"
    answer = await _raw_note(sandbox, "multipart/form-data; boundary=B", body)
    assert answer.status == 422, answer.body
    [error] = answer.body["errors"]
    assert error["pointer"] == "/file" and said in error["detail"], error
    assert await _note_posts(sandbox) == before


@pytest.mark.parametrize(
    ("disposition", "kind", "status", "said"),
    [
        # aiohttp took the "/" off the front and the file went on renamed "abs.txt"
        (
            b'Content-Disposition: form-data; name="file"; filename="/abs.txt"',
            b"text/plain",
            422,
            "file has the name '/abs.txt', which must be a name alone",
        ),
        (
            b'Content-Disposition: form-data; name="file"; filename="\\\\srv\\x.txt"',
            b"text/plain",
            422,
            "which must be a name alone",
        ),
        # a path with raw backslashes, as old browsers send it: the reading took them for
        # escapes, and the provider was sent "C:scansr.pdf"
        (
            b'Content-Disposition: form-data; name="file"; filename="C:\\scans\\r.pdf"',
            b"application/pdf",
            422,
            "which must be a name alone",
        ),
        # not a well-formed quoted string (a raw '"' within): the folder in front is still seen
        (
            b'Content-Disposition: form-data; name="file"; filename="/My "best".txt"',
            b"text/plain",
            422,
            "which must be a name alone",
        ),
        # the part's name unreadable: the error named neither the part nor what was wrong
        (
            b'Content-Disposition: form-data; name="file"; filename="a.txt"; filename="b.txt"',
            b"text/plain",
            422,
            "a part has no name that can be read from its Content-Disposition",
        ),
        # a control character aiohttp refuses in a part's header: its own words, quoting it
        (
            b'Content-Disposition: form-data; name="file"; filename="a\x00b.txt"',
            b"text/plain",
            400,
            "a part's headers cannot be read",
        ),
        (
            b'Content-Disposition: form-data; name="file"; filename="ok.txt"',
            b'text/plain; charset="\x01"',
            400,
            "a part's headers cannot be read",
        ),
    ],
    ids=[
        "leading-slash",
        "leading-backslashes",
        "windows-path",
        "leading-slash-raw-quote",
        "filename-twice",
        "nul-in-name",
        "ctl-in-type",
    ],
)
async def test_a_file_part_the_gateway_cannot_take_as_sent_is_refused_saying_so(
    sandbox: Sandbox, disposition: bytes, kind: bytes, status: int, said: str
) -> None:
    before = await _note_posts(sandbox)
    body = (
        _part(b'Content-Disposition: form-data; name="note"', b"Delivered")
        + _part(disposition + b"\r\nContent-Type: " + kind, b"data")
        + b"--B--\r\n"
    )
    answer = await _raw_note(sandbox, "multipart/form-data; boundary=B", body)
    assert answer.status == status, answer.body
    assert answer.body["detail"].startswith(("The multipart body", "file has", "a part has"))
    assert said in answer.body["detail"], answer.body
    assert "message:" not in answer.body["detail"] and "b'" not in answer.body["detail"]
    assert await _note_posts(sandbox) == before


async def test_a_file_name_given_as_filename_star_is_the_one_taken_beside_a_fallback(
    sandbox: Sandbox,
) -> None:
    """RFC 6266's name and fallback: the fallback (here with a folder in front) is not the
    name used, and does not refuse the part."""
    disposition = (
        b'Content-Disposition: form-data; name="file"; '
        b"filename*=UTF-8''r%C3%A9sum%C3%A9.txt; filename=\"/resume.txt\""
    )
    body = (
        _part(b'Content-Disposition: form-data; name="note"', b"CV")
        + _part(disposition + b"\r\nContent-Type: text/plain", b"hello")
        + b"--B--\r\n"
    )
    created = await _raw_note(sandbox, "multipart/form-data; boundary=B", body)
    assert created.status == 201, created.body
    assert created.body["note"]["files"] == [{"name": "r\u00e9sum\u00e9.txt"}]


async def test_notes_written_as_the_dedupe_marker_are_refused_on_an_order_invoice(
    sandbox: Sandbox,
) -> None:
    """As on a create: notes of the marker's form read back empty (every read hides them), so
    they are refused by name, before anything is sent."""
    body = {"notes": "ig-00112233445566778899aabb"}
    answer = await call(sandbox, "POST", f"{BASE}/orders/SO-1002/invoices", body=body)
    assert answer.status == 422, answer.body
    assert [e["pointer"] for e in answer.body["errors"]] == ["/notes"]
    assert "the gateway's own dedupe marker" in answer.body["errors"][0]["detail"]


async def test_a_file_the_provider_finds_too_large_is_a_422_naming_the_file(
    sandbox: Sandbox,
) -> None:
    """A file of 10 MiB passes the gateway's own limit (10 MiB a file) and makes a body over
    the emulated provider's (10 MiB a body): its 413 was a 422 with no pointer. It names /file
    and what to do."""
    big = ("scan.pdf", "application/pdf", b"%" * (10 * 1024 * 1024))
    answer = await _multipart(
        sandbox, f"{BASE}/invoices/{INVOICE}/notes", [("note", "Scan"), ("file", big)]
    )
    assert answer.status == 422, answer.body
    [error] = answer.body["errors"]
    assert error["pointer"] == "/file"
    assert error["detail"].startswith("made the request larger than order_linked takes (")
    assert error["detail"].endswith("): send less")
