"""The API's own description: a valid OpenAPI 3.1 document, and a docs page that renders it."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
from importlib import metadata

import jsonschema
import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from gateway.http.app import create_app
from gateway.http.openapi import openapi_document


async def test_openapi_document_is_valid_and_served(gateway: TestClient) -> None:  # type: ignore[type-arg]
    response = await gateway.get("/openapi.json")
    assert response.status == 200
    document = await response.json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    invoice = document["components"]["schemas"]["Invoice"]["properties"]
    assert invoice["totals"]["readOnly"] is True and invoice["status"]["readOnly"] is True
    assert "readOnly" not in invoice["currency"]


async def test_root_points_at_the_docs_and_the_version_without_a_key(gateway: TestClient) -> None:  # type: ignore[type-arg]
    response = await gateway.get("/")  # no Authorization header
    assert response.status == 200
    assert response.content_type == "application/json"
    body = await response.json()
    assert body == {
        "name": "invoice-gateway",
        "version": metadata.version("invoice-gateway"),
        "docs": "/docs",
        "openapi": "/openapi.json",
        "health": "/healthz",
    }
    jsonschema.validate(body, openapi_document()["components"]["schemas"]["Index"])
    for link in ("docs", "openapi", "health"):
        assert (await gateway.get(body[link])).status == 200, link
    assert openapi_document()["paths"]["/"]["get"]["security"] == []


def test_every_route_is_documented_and_nothing_else() -> None:
    from gateway.config import Settings

    app = create_app(Settings())
    served = {
        (route.method.lower(), re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", route.resource.canonical))
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    undocumented = {
        ("get", "/docs"),
        ("get", "/docs/assets/{name}"),
        ("get", "/openapi.json"),
    }
    documented = {
        (method, path) for path, item in openapi_document()["paths"].items() for method in item
    }
    assert served - undocumented == documented


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed (.ci/run installs Debian's chromium package)")
    return found


async def test_docs_page_lists_the_invoice_operations_in_a_real_browser(
    gateway: TestClient,
) -> None:  # type: ignore[type-arg]
    url = str(gateway.make_url("/docs"))
    with tempfile.TemporaryDirectory() as profile:
        command = [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ]
        process = await asyncio.create_subprocess_exec(
            *command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        dom, _ = await asyncio.wait_for(process.communicate(), timeout=90)
    page = dom.decode()
    for summary in (
        "List invoices",
        "Create an invoice",
        "Get an invoice",
        "Change an invoice's state",
    ):
        assert summary in page, summary
    assert "swagger-ui" in page


async def test_every_answer_declares_the_request_id_it_carries(gateway: TestClient) -> None:  # type: ignore[type-arg]
    """``X-Request-ID`` is on every answer (a problem included, with or without a name given)
    and was declared on none: a client generated from the document had no way to read it."""
    document = openapi_document()
    declared = document["components"]["headers"]["X-Request-ID"]
    named = {"X-Request-ID": "trace-7.a:b_c-d"}
    asked = [
        ("/healthz", "get", "200", named),
        ("/", "get", "200", {}),
        ("/v1/connections", "get", "401", named),  # no key: a problem
        ("/v1/connections", "get", "401", {"X-Request-ID": "not kept: spaces"}),
    ]
    for path, method, status, headers in asked:
        response = await gateway.request(method, path, headers=headers)
        assert str(response.status) == status, (path, await response.text())
        answer = document["paths"][path][method]["responses"][status]
        assert answer["headers"]["X-Request-ID"] == {"$ref": "#/components/headers/X-Request-ID"}
        sent = response.headers["X-Request-ID"]
        jsonschema.validate(sent, declared["schema"])
        if headers == named:
            assert sent == named["X-Request-ID"]
        else:
            assert sent != headers.get("X-Request-ID")
    for item in document["paths"].values():
        for operation in item.values():
            for status, answer in operation["responses"].items():
                assert "X-Request-ID" in answer["headers"], (operation["operationId"], status)
    assert "`X-Request-ID`" in document["info"]["description"]


async def test_calculate_and_preview_declare_the_key_they_check(gateway: TestClient) -> None:  # type: ignore[type-arg]
    """A key given to calculate or preview is checked for its form (a 400), and neither
    operation declared the header."""
    document = openapi_document()
    unkept = {"$ref": "#/components/parameters/idempotency_key_unkept"}
    pattern = document["components"]["parameters"]["idempotency_key_unkept"]["schema"]["pattern"]
    for path in ("/v1/invoices/calculate", "/v1/connections/{connection}/invoices/preview"):
        assert unkept in document["paths"][path]["post"]["parameters"], path
    body = {"currency": "USD", "lines": [{"name": "x", "quantity": "1", "unit_price": "2.50"}]}
    for key, status in (("k-1", 200), ("a key with spaces", 400)):
        answer = await gateway.post(
            "/v1/invoices/calculate", json=body, headers={"Idempotency-Key": key}
        )
        assert answer.status == status, await answer.text()
        assert (re.fullmatch(pattern, key) is not None) == (status == 200)


@pytest.mark.parametrize(
    "line",
    [
        {"kind": "item", "quantity": None, "unit_price": None},
        {"quantity": "1"},
        {"name": "no amounts"},
        {"kind": "section", "name": "Heading", "quantity": "1"},
        {"kind": "section", "name": "Heading", "taxes": [{"rate": "5"}]},
        {"kind": "section", "name": "Heading"},
        {"quantity": "2", "unit_price": "3.50"},
        {"kind": "item", "quantity": 2, "unit_price": "3.50", "taxes": []},
    ],
)
async def test_a_line_the_description_allows_is_one_the_gateway_takes(
    gateway: TestClient,  # type: ignore[type-arg]
    line: dict[str, object],
) -> None:
    """An item line with a null quantity and unit_price passed the description's schema and
    was refused (422): a client generated from the description, or Schemathesis, sent it. The
    schema says what each kind of line takes; its verdict and the gateway's agree."""
    components = openapi_document()["components"]
    schema = {"$ref": "#/components/schemas/CalculateRequest", "components": components}
    body = {"currency": "EUR", "lines": [line]}
    allowed = jsonschema.Draft202012Validator(schema).is_valid(body)
    answer = await gateway.post("/v1/invoices/calculate", json=body)
    assert answer.status == (200 if allowed else 422), (allowed, await answer.text())
