"""Reserved words are never invoice ids: every literal segment the router has after
``/invoices/`` is reserved, and none of them (nor a provider's own path names) reaches a
provider as an id, whatever the method."""

from __future__ import annotations

import re
from collections.abc import Iterator

import jsonschema
import pytest

from emulators.registry import PROVIDERS
from gateway.config import Settings
from gateway.http.app import create_app
from gateway.http.openapi import openapi_document
from gateway.http.reserved import RESERVED
from gateway.sandbox.serve import Sandbox
from tests.e2e.conftest_sandbox import call
from tests.e2e.migrating import requests_log
from tests.e2e.sandbox import sandbox_in_thread

INVOICES = "/v1/connections/{connection}/invoices/"


def _literal_segments() -> set[str]:
    """Every literal segment right after ``/invoices/`` in the route table."""
    app = create_app(Settings())
    found = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith(INVOICES):
            first = path.removeprefix(INVOICES).split("/", 1)[0]
            if not first.startswith("{"):
                found.add(first)
    return found


def test_every_literal_segment_after_invoices_is_reserved() -> None:
    literal = _literal_segments()
    assert {"preview", "next-number", "export.csv", "batch"} <= literal
    assert literal == set(RESERVED)


def test_the_invoice_id_pattern_refuses_every_reserved_word() -> None:
    app = create_app(Settings())
    patterns = [
        re.compile(route.resource.get_info()["pattern"].pattern)
        for route in app.router.routes()
        if route.resource is not None
        and "{invoice_id" in route.resource.canonical
        and route.resource.canonical.startswith(INVOICES)
    ]
    assert patterns
    for word in RESERVED:
        path = f"/v1/connections/draft_publish/invoices/{word}"
        for pattern in patterns:
            for suffix in ("", "/payments", "/notes", "/issue", "/restore"):
                assert pattern.fullmatch(path + suffix) is None, (word, pattern.pattern)
    ok = "/v1/connections/draft_publish/invoices/preview-2"
    assert any(pattern.fullmatch(ok) for pattern in patterns)


def test_the_api_description_says_no_reserved_word_is_an_invoice_id() -> None:
    """The 405 a reserved word answers on GET, PUT or DELETE of ``{invoice_id}`` was in no
    operation's answers: the description let the word be an id, and a client generated from it
    met a status it did not list."""
    document = openapi_document()
    schema = document["components"]["parameters"]["invoice_id"]["schema"]
    assert schema["not"] == {"enum": list(RESERVED)}
    validator = jsonschema.Draft202012Validator(schema)
    assert [word for word in RESERVED if validator.is_valid(word)] == []
    assert validator.is_valid("preview-2") and validator.is_valid("7")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=2) as running:
        yield running


async def _provider_paths(sandbox: Sandbox) -> dict[str, list[str]]:
    return {
        provider: [entry["path"] for entry in await requests_log(sandbox, provider)]
        for provider in PROVIDERS
    }


def _new(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    return [path for name, paths in after.items() for path in paths[len(before[name]) :]]


@pytest.mark.parametrize("word", RESERVED)
async def test_no_reserved_word_reaches_a_provider_as_an_id(sandbox: Sandbox, word: str) -> None:
    before = await _provider_paths(sandbox)
    base = "/v1/connections/draft_publish/invoices"
    for method, path in (
        ("GET", f"{base}/{word}"),
        ("PUT", f"{base}/{word}"),
        ("DELETE", f"{base}/{word}"),
        ("GET", f"{base}/{word}/payments"),
        ("POST", f"{base}/{word}/issue"),
        ("POST", f"{base}/{word}/restore"),
    ):
        body = {"currency": "USD"} if method == "PUT" else None
        answer = await call(sandbox, method, path, body=body)
        if (method, path) == ("GET", f"{base}/{word}") and word in ("next-number", "export.csv"):
            assert answer.status == 200  # the gateway's own route, not an invoice
        else:
            assert answer.status in (404, 405), (method, path, answer.status, answer.body)
    # Only the gateway's own routes called the provider (its next-number and export/csv).
    own = {"/api/v1/invoices/next-number", "/api/v1/invoices/export/csv"}
    assert [p for p in _new(before, await _provider_paths(sandbox)) if p not in own] == []


@pytest.mark.parametrize("word", RESERVED)
async def test_a_reserved_words_answers_are_ones_the_api_description_lists(
    sandbox: Sandbox, word: str
) -> None:
    """Its 405 on GET, PUT and DELETE of ``{invoice_id}`` was in none of those operations'
    answers: a client generated from the description met a status it did not list."""
    operations = openapi_document()["paths"]["/v1/connections/{connection}/invoices/{invoice_id}"]
    base = "/v1/connections/draft_publish/invoices"
    for method in ("GET", "PUT", "DELETE"):
        body = {"currency": "USD"} if method == "PUT" else None
        answer = await call(sandbox, method, f"{base}/{word}", body=body)
        if method == "GET" and word in ("next-number", "export.csv"):
            continue  # the gateway's own route, with an operation of its own
        assert answer.status == 405, (method, word, answer.status)
        assert str(answer.status) in operations[method.lower()]["responses"], (method, word)


@pytest.mark.parametrize("segment", ["NEXT-NUMBER", "Batch", "trash", "export", "next%252Dnumber"])
async def test_the_providers_own_paths_are_refused_as_ids(sandbox: Sandbox, segment: str) -> None:
    """Ids the router passes on (another case, another encoding, the provider's own names for
    its routes) are refused by the draft_publish adapter before any call."""
    before = await _provider_paths(sandbox)
    answer = await call(sandbox, "GET", f"/v1/connections/draft_publish/invoices/{segment}")
    assert answer.status == 400, answer.body
    assert answer.body["code"] == "bad_request"
    assert "not an id" in answer.body["detail"]
    assert _new(before, await _provider_paths(sandbox)) == []


@pytest.mark.parametrize("segment", ["trash", "Export", "next-number", "batch"])
async def test_the_trash_and_batch_routes_refuse_the_providers_own_paths_as_ids(
    sandbox: Sandbox, segment: str
) -> None:
    """Restore, purge and batch send their ids in a body, but an id is an id there too: the
    provider's own path names were sent to it as ids (and answered "not found")."""
    before = await _provider_paths(sandbox)
    base = "/v1/connections/draft_publish"
    answers = [
        await call(sandbox, "POST", f"{base}/invoices/{segment}/restore"),
        await call(sandbox, "DELETE", f"{base}/trash/invoices/{segment}"),
        await call(
            sandbox, "POST", f"{base}/invoices/batch", body={"action": "void", "ids": [segment]}
        ),
    ]
    for answer in answers[:2]:  # the gateway's own words are no route here: a 404
        assert answer.status in (400, 404), answer.body
        if answer.status == 400:
            assert "not an id" in answer.body["detail"]
    # In a batch body no router decides: the id fails alone, as it would alone (a 400).
    batch = answers[2]
    assert batch.status == 200, batch.body
    [result] = batch.body["results"]
    assert (result["outcome"], result["code"]) == ("failed", "bad_request")
    assert "not an id" in result["detail"]
    assert _new(before, await _provider_paths(sandbox)) == []
