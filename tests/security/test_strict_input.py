"""Strict input, against the running sandbox: JSON bodies labelled as JSON (415 otherwise), one
depth limit for every body (400, never a 500), and query integers that are digits only, every
query error pointing at its parameter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from gateway.canonical.model import Invoice
from gateway.jsonwire import MAX_DEPTH
from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import profile
from tests.e2e.sandbox import sandbox_in_thread

KEY = {"Authorization": "Bearer sk_sandbox"}
CALCULATE = "/v1/invoices/calculate"
BODY = {
    "currency": "EUR",
    "lines": [{"quantity": "10", "unit_price": "500.00", "taxes": [{"rate": "19"}]}],
}
INVOICE_PATH = "/v1/connections/draft_publish/invoices/00000000-0000-4000-8000-000000000000"
# Every route that reads a JSON body, with a body each would take (or, at worst, validate) were
# it labelled as JSON.
JSON_ROUTES = [
    ("POST", CALCULATE),
    ("POST", "/v1/connections/draft_publish/invoices"),
    ("POST", "/v1/connections/draft_publish/invoices/preview"),
    ("PUT", INVOICE_PATH),
    ("POST", INVOICE_PATH + "/payments"),
    ("POST", "/v1/connections/order_linked/orders/SO-1001/invoices"),
]
NOT_JSON = [
    "application/xml",
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "text/json",
    "application/jsonl",
    "application/+json",
]
# What ``curl -d`` labels a body with, and no label at all.
CURL_LABELS = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    None,
    "",
]
TOO_DEEP = f"The request body is nested deeper than {MAX_DEPTH} levels."


@dataclass
class Answer:
    status: int
    body: Any


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=3) as running:
        yield running


async def send(
    sandbox: Sandbox,
    method: str,
    path: str,
    *,
    data: bytes | None = None,
    content_type: str | None = None,
    key: bool = True,
) -> Answer:
    """The request exactly as given: no Content-Type unless ``content_type`` says one."""
    headers = dict(KEY) if key else {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    async with (
        aiohttp.ClientSession(skip_auto_headers=("Content-Type",)) as session,
        session.request(method, sandbox.gateway_url + path, data=data, headers=headers) as r,
    ):
        text = await r.text()
        return Answer(r.status, json.loads(text) if "json" in r.content_type else text)


def deep_object(levels: int) -> dict[str, Any]:
    """``{"a": {"a": … {"a": "x"}}}``: ``levels`` objects, one inside the other."""
    value: Any = "x"
    for _ in range(levels):
        value = {"a": value}
    return value  # type: ignore[no-any-return]


def deep_text(levels: int) -> bytes:
    """The same as JSON text, built without recursion (``json.dumps`` would give up)."""
    return (b'{"a": ' * levels) + b'"x"' + (b"}" * levels)


def with_line_fields(fields: bytes) -> bytes:
    """A calculable invoice whose one line carries ``fields`` as provider_fields (level 4)."""
    return (
        b'{"currency": "EUR", "lines": [{"quantity": "1", "unit_price": "1.00", '
        b'"provider_fields": ' + fields + b"}]}"
    )


def unsupported(answer: Answer, sent: str | None) -> None:
    assert answer.status == 415, answer.body
    assert answer.body["code"] == "unsupported_media_type"
    assert answer.body["type"] == "/problems/unsupported_media_type"
    received = "has no Content-Type" if sent is None else f"is sent as {sent.split(';')[0]}"
    assert answer.body["detail"] == (
        f"The request body {received}; send it as application/json (or application/*+json)."
    )


# -- media type --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        (method, path, content_type)
        for method, path in JSON_ROUTES
        for content_type in [*NOT_JSON, None]
        # calculate reads what curl -d sends as JSON (the next test)
        if not (path == CALCULATE and content_type in CURL_LABELS)
    ],
)
async def test_a_json_body_not_labelled_json_is_a_415_on_every_json_route(
    sandbox: Sandbox, method: str, path: str, content_type: str | None
) -> None:
    answer = await send(
        sandbox, method, path, data=json.dumps(BODY).encode(), content_type=content_type
    )
    unsupported(answer, content_type)


@pytest.mark.parametrize("content_type", CURL_LABELS)
async def test_calculate_reads_what_curl_d_sends_as_json(
    sandbox: Sandbox, content_type: str | None
) -> None:
    """Issue 2's ``curl -s -X POST …/calculate -d @vector``: curl labels the body as a form.
    calculate writes nothing, so it reads that label (or none) as JSON; a write route does not
    (the test above). What is not JSON is still said to be so."""
    answer = await send(
        sandbox, "POST", CALCULATE, data=json.dumps(BODY).encode(), content_type=content_type
    )
    assert answer.status == 200, answer.body
    assert answer.body["totals"]["total"] == "5950.00"
    answer = await send(sandbox, "POST", CALCULATE, data=b"currency=EUR", content_type=content_type)
    assert (answer.status, answer.body["code"]) == (400, "bad_request")
    assert answer.body["detail"].startswith("The request body is not valid JSON"), answer.body


async def test_a_415_sends_nothing_to_the_provider(sandbox: Sandbox) -> None:
    log = sandbox.emulator_urls["draft_publish"] + "/_emulator/requests"
    async with aiohttp.ClientSession() as session:
        async with session.get(log) as response:
            before = len((await response.json())["requests"])
        sample = profile("draft_publish").sample(0).model_dump(mode="json", exclude_none=True)
        answer = await send(
            sandbox,
            "POST",
            "/v1/connections/draft_publish/invoices",
            data=json.dumps(sample).encode(),
            content_type="application/x-www-form-urlencoded",  # what curl -d sends
        )
        unsupported(answer, "application/x-www-form-urlencoded")
        async with session.get(log) as response:
            assert len((await response.json())["requests"]) == before


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        "application/merge-patch+json",
        "application/vnd.api+json; charset=utf-8",
    ],
)
async def test_json_and_any_json_suffix_with_any_charset_are_taken(
    sandbox: Sandbox, content_type: str
) -> None:
    answer = await send(
        sandbox, "POST", CALCULATE, data=json.dumps(BODY).encode(), content_type=content_type
    )
    assert answer.status == 200, answer.body
    assert answer.body["totals"]["total"] == "5950.00"


async def test_an_empty_body_is_still_a_400_saying_it_is_empty(sandbox: Sandbox) -> None:
    answer = await send(sandbox, "POST", CALCULATE, data=b"", content_type="text/plain")
    assert (answer.status, answer.body["code"]) == (400, "bad_request")
    assert answer.body["detail"] == "The request body is empty; send a JSON object."


async def test_optional_bodies_may_be_left_out_with_no_content_type(sandbox: Sandbox) -> None:
    sample = profile("draft_publish").sample(0).model_dump(mode="json", exclude_none=True)
    created = await send(
        sandbox,
        "POST",
        "/v1/connections/draft_publish/invoices",
        data=json.dumps(sample).encode(),
        content_type="application/json",
    )
    assert created.status == 201, created.body
    path = f"/v1/connections/draft_publish/invoices/{created.body['id']}/issue"
    issued = await send(sandbox, "POST", path)  # an action: no body, no Content-Type
    assert (issued.status, issued.body["status"]) == (200, "open"), issued.body
    ordered = await send(sandbox, "POST", "/v1/connections/order_linked/orders/SO-1002/invoices")
    assert ordered.status == 201, ordered.body
    assert ordered.body["order_id"] == "SO-1002"


async def test_a_note_keeps_its_multipart_rule(sandbox: Sandbox) -> None:
    path = "/v1/connections/order_linked/invoices/INV-00001/notes"
    answer = await send(
        sandbox, "POST", path, data=b'{"note": "hello"}', content_type="application/json"
    )
    assert (answer.status, answer.body["code"]) == (415, "unsupported_media_type")
    assert answer.body["detail"] == "Send the note as multipart/form-data."


# -- depth -------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [MAX_DEPTH - 2, 252, 255, 256, 1_000, 100_000])
@pytest.mark.parametrize(
    ("method", "path", "key"),
    [
        ("POST", CALCULATE, False),  # needs no key: anyone could send it
        ("POST", "/v1/connections/draft_publish/invoices/preview", True),
        ("POST", "/v1/connections/draft_publish/invoices", True),
        ("PUT", INVOICE_PATH, True),
    ],
)
async def test_provider_fields_nested_too_deep_are_a_400_not_a_500(
    sandbox: Sandbox, method: str, path: str, key: bool, levels: int
) -> None:
    # provider_fields of a line is level 4; its objects make it 3 + levels deep in all
    body = with_line_fields(deep_text(levels))
    answer = await send(sandbox, method, path, data=body, content_type="application/json", key=key)
    assert (answer.status, answer.body["code"]) == (400, "bad_request"), answer.body
    assert answer.body["detail"] == TOO_DEEP
    assert "errors" not in answer.body


async def test_depth_is_refused_before_validation(sandbox: Sandbox) -> None:
    # currency as arrays 100 deep: a 422 were it shallower, a 400 as it is too deep
    arrays = b'{"currency": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}"
    answer = await send(sandbox, "POST", CALCULATE, data=arrays, content_type="application/json")
    assert (answer.status, answer.body["detail"]) == (400, TOO_DEEP)
    shallower = b'{"currency": ' + b"[" * 3 + b"]" * 3 + b"}"
    answer = await send(sandbox, "POST", CALCULATE, data=shallower, content_type="application/json")
    assert (answer.status, answer.body["code"]) == (422, "validation_error")


async def test_the_deepest_body_taken_is_echoed_back_whole(sandbox: Sandbox) -> None:
    line_fields = deep_object(MAX_DEPTH - 3)  # line provider_fields: level 4 to 100
    invoice_fields = deep_object(MAX_DEPTH - 1)  # invoice provider_fields: level 2 to 100
    body = {**BODY, "provider_fields": invoice_fields}
    body["lines"] = [{**BODY["lines"][0], "provider_fields": line_fields}]
    answer = await send(
        sandbox, "POST", CALCULATE, data=json.dumps(body).encode(), content_type="application/json"
    )
    assert answer.status == 200, answer.body
    assert answer.body["provider_fields"] == invoice_fields
    assert answer.body["lines"][0]["provider_fields"] == line_fields
    one_more = {**body, "provider_fields": {"a": invoice_fields}}
    answer = await send(
        sandbox,
        "POST",
        CALCULATE,
        data=json.dumps(one_more).encode(),
        content_type="application/json",
    )
    assert (answer.status, answer.body["detail"]) == (400, TOO_DEEP)


def test_the_deepest_provider_payload_an_invoice_can_carry_serializes() -> None:
    # A provider answer is refused past the same limit (gateway/upstream_answers.py); what an
    # adapter keeps of it sits a level or two deeper in the invoice, and must still serialize.
    deepest = deep_object(MAX_DEPTH)
    invoice = Invoice.model_validate(
        {**BODY, "provider_fields": deep_object(MAX_DEPTH - 1), "remote_data": {"raw": deepest}}
    )
    dumped = json.loads(invoice.model_dump_json())
    assert dumped["remote_data"] == {"raw": deepest}
    assert json.loads(json.dumps(invoice.model_dump(mode="json")))["remote_data"]["raw"] == deepest


# -- query parameters --------------------------------------------------------------------------

LIST = "/v1/connections/crm_v1/invoices"


@pytest.mark.parametrize(
    "raw",
    [
        "1_0",
        quote(" 10"),
        "%2B5",  # +5 (a bare + in a query string is a space)
        "+5",
        quote("10 "),
        quote("١٠"),  # Arabic-Indic digits: int() reads 10
        quote("１０"),  # fullwidth digits
        "-1",
        "0",
        "101",
        "1e1",
        "10.0",
        "0x10",
        "",
        "9" * 5000,  # int() refuses this many digits with a ValueError of its own
    ],
)
async def test_limit_is_digits_only_and_its_error_points_at_it(sandbox: Sandbox, raw: str) -> None:
    answer = await send(sandbox, "GET", f"{LIST}?limit={raw}")
    assert (answer.status, answer.body["code"]) == (400, "bad_request"), answer.body
    assert answer.body["detail"] == "limit must be a whole number from 1 to 100."
    assert answer.body["errors"] == [
        {"pointer": "#/query/limit", "detail": "must be a whole number from 1 to 100"}
    ]


@pytest.mark.parametrize("raw", ["1", "25", "100", "007"])
async def test_limit_in_plain_digits_is_taken(sandbox: Sandbox, raw: str) -> None:
    answer = await send(sandbox, "GET", f"{LIST}?limit={raw}")
    assert answer.status == 200, answer.body
    assert len(answer.body["data"]) <= int(raw)


@pytest.mark.parametrize(
    ("query", "detail", "errors"),
    [
        (
            "colour=red&size=2",
            "Unknown query parameter(s): colour, size.",
            [
                {"pointer": "#/query/colour", "detail": "is not a query parameter of this route"},
                {"pointer": "#/query/size", "detail": "is not a query parameter of this route"},
            ],
        ),
        (
            "a%2Fb~c=1",
            "Unknown query parameter(s): a/b~c.",
            [{"pointer": "#/query/a~1b~0c", "detail": "is not a query parameter of this route"}],
        ),
        (
            "status=late",
            "status must be one of draft, open, paid, void, unknown.",
            [
                {
                    "pointer": "#/query/status",
                    "detail": "must be one of draft, open, paid, void, unknown",
                }
            ],
        ),
        (
            "issued_from=2026-W49-5",  # an ISO week date: date.fromisoformat takes it
            "issued_from must be a date written as YYYY-MM-DD.",
            [{"pointer": "#/query/issued_from", "detail": "must be a date written as YYYY-MM-DD"}],
        ),
        (
            "issued_to=2026-06-31",  # written as asked, but no such day: told so
            "issued_to names no day of the calendar: 2026-06 has 30 days.",
            [
                {
                    "pointer": "#/query/issued_to",
                    "detail": "names no day of the calendar: 2026-06 has 30 days",
                }
            ],
        ),
        (
            "issued_to=" + quote("２０２６-12-04"),
            "issued_to must be a date written as YYYY-MM-DD.",
            [{"pointer": "#/query/issued_to", "detail": "must be a date written as YYYY-MM-DD"}],
        ),
        (
            # One value is kept by no rule the caller could know: neither is.
            "status=open&status=paid&limit=5&limit=5&customer_id=7",
            "limit, status: given more than once; give each parameter once.",
            [
                {"pointer": "#/query/limit", "detail": "is given more than once; give it once"},
                {"pointer": "#/query/status", "detail": "is given more than once; give it once"},
            ],
        ),
        (
            "expand=everything",
            "expand: everything cannot be expanded (remote_data can).",
            [
                {
                    "pointer": "#/query/expand",
                    "detail": "everything cannot be expanded (remote_data can)",
                }
            ],
        ),
    ],
)
async def test_every_query_error_points_at_its_parameter(
    sandbox: Sandbox, query: str, detail: str, errors: list[dict[str, str]]
) -> None:
    answer = await send(sandbox, "GET", f"{LIST}?{query}")
    assert (answer.status, answer.body["code"]) == (400, "bad_request"), answer.body
    assert answer.body["detail"] == detail
    assert answer.body["errors"] == errors


async def test_a_bad_cursor_and_a_bad_expand_on_one_invoice_point_at_their_parameter(
    sandbox: Sandbox,
) -> None:
    answer = await send(sandbox, "GET", f"{LIST}?cursor=abc.def")
    assert (answer.status, answer.body["code"]) == (400, "bad_request")
    assert answer.body["detail"].startswith("cursor: ")
    assert [e["pointer"] for e in answer.body["errors"]] == ["#/query/cursor"]
    answer = await send(sandbox, "GET", "/v1/connections/crm_v1/invoices/1?expand=null")
    assert (answer.status, answer.body["code"]) == (400, "bad_request")
    assert answer.body["errors"] == [
        {"pointer": "#/query/expand", "detail": "null cannot be expanded (remote_data can)"}
    ]


async def test_an_unknown_connection_name_is_shown_back_short_and_escaped(
    sandbox: Sandbox,
) -> None:
    """A name the caller made up comes back cut to 100 characters, what does not print
    escaped: a bidi override or a control character cannot rewrite what shows it."""
    name = "\u202eevil\x07" + "x" * 300
    answer = await send(sandbox, "GET", f"/v1/connections/{quote(name)}/invoices")
    assert (answer.status, answer.body["code"]) == (404, "not_found")
    shown = answer.body["connection"]
    assert shown.startswith("\\u202eevil\\x07xxx") and shown.endswith("…")
    assert len(shown) < 120 and "\u202e" not in answer.body["detail"]
    assert shown in answer.body["detail"]
