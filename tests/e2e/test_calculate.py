"""POST /v1/invoices/calculate over real HTTP: vectors, and a precise answer for bad input."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.config import Settings
from gateway.http.app import create_app
from gateway.http.auth import PUBLIC, scope_of
from tests.vectors.load import reproduced, request_body, vectors

VECTORS = vectors()
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
async def test_vector_over_http(gateway: TestClient, vector: dict[str, Any]) -> None:
    response = await gateway.post(
        "/v1/invoices/calculate", data=json.dumps(request_body(vector)), headers=JSON
    )
    assert response.status == 200
    body = await response.json()
    assert reproduced(body, vector) == vector["expected"]
    assert body["object"] == "invoice"
    assert body["currency"] == vector["invoice"]["currency"]


async def test_answer_echoes_the_invoice_and_derives_payment_status(gateway: TestClient) -> None:
    body = {
        "currency": "EUR",
        "number": "INV-7",
        "customer": {"id": 10},
        "lines": [
            {
                "name": "Work",
                "quantity": "2",
                "unit_price": "50",
                "taxes": [{"rate": "19", "name": "VAT"}],
            }
        ],
        "payments": [{"amount": "20.00", "date": "2026-07-02", "method": "card"}],
    }
    response = await gateway.post("/v1/invoices/calculate", json=body)
    answer = await response.json()
    assert answer["number"] == "INV-7"
    assert answer["customer"] == {"id": "10", "name": None}
    assert answer["lines"][0]["name"] == "Work"
    assert answer["lines"][0]["unit_price"] == "50"
    assert answer["totals"]["total"] == "119.00"
    assert answer["totals"]["due"] == "99.00"
    assert answer["payment_status"] == "partially_paid"
    assert answer["totals"]["tax_breakdown"] == [
        {"rate": "19", "name": "VAT", "taxable": "100.00", "tax": "19.00"}
    ]


LINE = {"quantity": "1", "unit_price": "10.00"}


@pytest.mark.parametrize(
    ("raw", "pointer", "detail"),
    [
        (
            '{"currency": "USD", "lines": [{"quantity": 1, "unit_price": 0.12345678901234567890}]}',
            "/lines/0/unit_price",
            "must have at most 4 decimal places",
        ),
        (
            '{"currency": "USD", "lines": [{"quantity": 1.00000000000000000001, "unit_price": 1}]}',
            "/lines/0/quantity",
            "must have at most 6 decimal places",
        ),
        (
            '{"currency": "USD", "lines": [{"quantity": 1, "unit_price": -5}]}',
            "/lines/0/unit_price",
            "must not be negative",
        ),
        (
            '{"currency": "USD", "lines": [{"quantity": 1, "unit_price": 5}], "colour": "red"}',
            "/colour",
            "is not a field of this object",
        ),
        (
            '{"currency": "USD", "lines": [{"quantity": 1, "unit_price": 5, "discount": {"type": "percent", "value": 150}}]}',
            "/lines/0/discount/value",
            "must be a percentage between 0 and 100",
        ),
        (
            '{"currency": "XYZ", "lines": [{"quantity": 1, "unit_price": 5}]}',
            "/currency",
            'must be an ISO 4217 currency code such as "USD"',
        ),
        (
            '{"currency": "USD", "lines": [{"quantity": 2, "unit_price": 5, "discount": {"type": "amount", "value": "10.01"}}]}',
            "/lines/0/discount/value",
            "amount discount 10.01 is larger than the line subtotal 10.00",
        ),
        (
            '{"currency": "USD", "lines": [], "policy": {"mode": "bankers"}}',
            "/policy/mode",
            "must be one of 'half_up' or 'half_even'",
        ),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    gateway: TestClient, raw: str, pointer: str, detail: str
) -> None:
    response = await gateway.post("/v1/invoices/calculate", data=raw, headers=JSON)
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["code"] == "validation_error"
    assert problem["type"] == "/problems/validation_error"
    assert problem["errors"] == [{"pointer": pointer, "detail": detail}]
    assert problem["detail"].endswith(detail)
    assert problem["request_id"] == response.headers["X-Request-ID"]
    assert problem["retryable"] is False


async def test_every_bad_field_is_listed_at_once(gateway: TestClient) -> None:
    raw = '{"currency": "usd", "lines": [{"quantity": -1, "unit_price": "x"}], "extra": 1}'
    problem = await (await gateway.post("/v1/invoices/calculate", data=raw, headers=JSON)).json()
    assert sorted(e["pointer"] for e in problem["errors"]) == [
        "/currency",
        "/extra",
        "/lines/0/quantity",
        "/lines/0/unit_price",
    ]
    assert problem["detail"].endswith("(and 3 more)")


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (
            '{"currency": ',
            "The request body is not valid JSON: Expecting value (line 1, column 14).",
        ),
        ("", "The request body is empty; send a JSON object."),
        ("[1, 2]", "The request body must be a JSON object."),
        (
            '{"currency": "USD", "shipping": NaN}',
            "The request body is not valid JSON: NaN is not a JSON number.",
        ),
    ],
)
async def test_malformed_body_is_a_400(gateway: TestClient, raw: str, detail: str) -> None:
    response = await gateway.post("/v1/invoices/calculate", data=raw, headers=JSON)
    assert response.status == 400
    problem = await response.json()
    assert (problem["code"], problem["detail"]) == ("bad_request", detail)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
async def test_a_body_in_another_unicode_encoding_is_a_400(
    gateway: TestClient, encoding: str
) -> None:
    """JSON between systems is UTF-8 (RFC 8259): a Latin-1 body was refused as not UTF-8, and
    a UTF-16 or UTF-32 one was read (Python's json reads them from bytes)."""
    body = '{"currency": "USD", "lines": []}'.encode(encoding)
    response = await gateway.post("/v1/invoices/calculate", data=body, headers=JSON)
    assert response.status == 400
    problem = await response.json()
    shown = encoding.upper().removesuffix("-LE").removesuffix("-BE")
    assert problem["detail"] == f"The request body is {shown} text; send it as UTF-8."
    with_bom = b"\xef\xbb\xbf" + b'{"currency": "USD", "lines": []}'
    taken = await gateway.post("/v1/invoices/calculate", data=with_bom, headers=JSON)
    assert taken.status == 200, await taken.text()


async def test_body_over_the_limit_is_a_413(gateway: TestClient) -> None:
    response = await gateway.post(
        "/v1/invoices/calculate", data=b"{" + b" " * 70_000 + b"}", headers=JSON
    )
    assert response.status == 413
    assert (await response.json())["code"] == "payload_too_large"


async def test_unknown_route_and_wrong_method_are_problems(gateway: TestClient) -> None:
    missing = await gateway.get("/v1/nothing-here")
    assert missing.status == 404
    assert (await missing.json())["code"] == "not_found"
    wrong = await gateway.get("/v1/invoices/calculate")
    assert wrong.status == 405
    assert wrong.headers["Allow"] == "POST"
    assert (await wrong.json())["code"] == "method_not_allowed"


async def test_request_id_is_kept_when_sane_and_replaced_when_not(gateway: TestClient) -> None:
    kept = await gateway.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert kept.headers["X-Request-ID"] == "abc-123"
    replaced = await gateway.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert replaced.headers["X-Request-ID"] != "bad id\twith spaces"
    assert len(replaced.headers["X-Request-ID"]) == 32


async def test_healthz(gateway: TestClient) -> None:
    response = await gateway.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


def test_the_auth_docs_name_every_route_that_needs_no_key() -> None:
    facade = (Path(__file__).resolve().parents[2] / "docs/facade.md").read_text()
    auth = facade.split("## Auth", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(?:(?:GET|POST) )?(/[^`\s]*)`", auth))
    public = {
        route.resource.canonical
        for route in create_app(Settings()).router.routes()
        if route.method != "HEAD" and route.resource is not None
        if scope_of(route.handler) == PUBLIC
    }
    assert "/v1/invoices/calculate" in public
    # The docs page's own assets go with /docs.
    assert public - {"/docs/assets/{name}"} <= named, sorted(public - named)
    assert "POST /v1/invoices/calculate" in auth.replace("\n", " ")


async def test_calculate_answers_without_a_key(gateway: TestClient) -> None:
    body = json.dumps(request_body(VECTORS[0]))
    answer = await gateway.post("/v1/invoices/calculate", data=body, headers=JSON)
    assert answer.status == 200
    assert (await gateway.get("/v1/connections")).status == 401  # where a key is needed


async def test_too_many_lines_and_a_nameless_parameter_are_said_in_words(
    gateway: TestClient,
) -> None:
    """pydantic's "List should have at most 1000 items after validation", and "Unknown query
    parameter(s): ." for ``?=x``."""
    line = {"quantity": "1", "unit_price": "1.00"}
    body = {"currency": "USD", "lines": [line] * 1001}
    response = await gateway.post("/v1/invoices/calculate", json=body)
    problem = await response.json()
    assert response.status == 422, problem
    assert [(e["pointer"], e["detail"]) for e in problem["errors"]] == [
        ("/lines", "must hold at most 1000 items, not 1001")
    ]
    nameless = await gateway.post("/v1/invoices/calculate?=x", json={"currency": "USD"})
    said = await nameless.json()
    assert nameless.status == 400, said
    assert said["detail"] == "Unknown query parameter(s): (one with no name)."
