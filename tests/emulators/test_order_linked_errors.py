"""order_linked errors outside validation: credentials, unknown paths and ids, malformed JSON,
unsupported methods, and the control layer's faults, all in ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from emulators import registry
from emulators.order_linked import create_app
from tests.emulators._order_linked_support import AUTH, JSON_HEADERS, Client
from tests.emulators._order_linked_support import client as client  # pytest fixture, used by name


async def envelope(response: Any) -> dict[str, str]:
    """The error object, after checking the envelope holds exactly ``code`` and ``message``."""
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert all(isinstance(v, str) and v for v in body["error"].values())
    error: dict[str, str] = body["error"]
    return error


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer sandbox-crm_v1"},
        {"Authorization": "Basic c2FuZGJveC1vcmRlcl9saW5rZWQ="},
        {"Authorization": "sandbox-order_linked"},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "wrong-token", "basic", "no-scheme", "empty"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/invoices"), ("GET", "/invoices/INV-00001"), ("POST", "/invoices/INV-00001/cancel")],
)
async def test_bad_credentials_are_401(
    client: Client, headers: dict[str, str], method: str, path: str
) -> None:
    response = await client.request(method, path, headers=headers)
    assert response.status == 401
    assert (await envelope(response))["code"] == "UNAUTHORIZED"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_401_changes_nothing(client: Client) -> None:
    await client.post("/invoices/INV-00001/cancel")
    response = await client.get("/invoices/INV-00001", headers=AUTH)
    assert (await response.json())["invoice"]["status"] == "ACTIVE"


async def test_a_custom_token_replaces_the_default(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(create_app(token="s3cret"))
    assert (await client.get("/invoices", headers=AUTH)).status == 401
    response = await client.get("/invoices", headers={"Authorization": "Bearer s3cret"})
    assert response.status == 200


async def test_the_registry_builds_it_with_the_sandbox_token(aiohttp_client: AiohttpClient) -> None:
    assert registry.default_token("order_linked") == "sandbox-order_linked"
    client = await aiohttp_client(registry.create_app("order_linked", seed_invoices=3))
    response = await client.get("/invoices", headers=AUTH)
    assert (await response.json())["pagination"]["total"] == 3


async def test_control_paths_need_no_credentials(client: Client) -> None:
    await client.get("/invoices/INV-00001", headers=AUTH)
    response = await client.get("/_emulator/requests")
    assert response.status == 200
    logged = (await response.json())["requests"]
    assert [(r["method"], r["path"]) for r in logged] == [("GET", "/invoices/INV-00001")]
    assert "sandbox-order_linked" not in str(logged)


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/invoices/INV-99999", "invoice 'INV-99999' not found"),
        ("GET", "/invoices/inv-00001", "invoice 'inv-00001' not found"),
        ("GET", "/api/invoices", "no resource at /api/invoices"),
        ("GET", "/orders", "no resource at /orders"),
        ("GET", "/orders/SO-9999", "order 'SO-9999' not found"),
        ("POST", "/invoices/INV-00001/void", "no resource at /invoices/INV-00001/void"),
        ("POST", "/orders/SO-9999/invoices", "order 'SO-9999' not found"),
    ],
)
async def test_unknown_paths_and_ids_are_404(
    client: Client, method: str, path: str, message: str
) -> None:
    response = await client.request(method, path, headers=AUTH)
    assert response.status == 404
    assert await envelope(response) == {"code": "NOT_FOUND", "message": message}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/invoices/INV-00001", {"GET", "HEAD"}),
        ("PATCH", "/invoices/INV-00001", {"GET", "HEAD"}),
        ("DELETE", "/invoices/INV-00001", {"GET", "HEAD"}),
        ("DELETE", "/invoices", {"GET", "HEAD", "POST"}),
        ("GET", "/invoices/INV-00001/cancel", {"POST"}),
    ],
)
async def test_no_update_no_delete(
    client: Client, method: str, path: str, allowed: set[str]
) -> None:
    response = await client.request(method, path, headers=AUTH, json={"invoice": {}})
    assert response.status == 405
    error = await envelope(response)
    assert error == {
        "code": "METHOD_NOT_ALLOWED",
        "message": f"{method} is not supported on {path}",
    }
    assert set(response.headers["Allow"].split(",")) == allowed
    invoice = await client.get("/invoices/INV-00001", headers=AUTH)
    assert (await invoice.json())["invoice"]["version"] == "1"


@pytest.mark.parametrize("path", ["/invoices", "/orders/SO-1001/invoices"])
@pytest.mark.parametrize("raw", [b'{"invoice": {', b"invoice=1", b"{'invoice': {}}"])
async def test_malformed_json_is_400(client: Client, path: str, raw: bytes) -> None:
    response = await client.post(path, data=raw, headers=JSON_HEADERS)
    assert response.status == 400
    error = await envelope(response)
    assert error["code"] == "MALFORMED_JSON"
    assert error["message"].startswith("malformed JSON")


async def test_an_empty_create_body_is_400(client: Client) -> None:
    response = await client.post("/invoices", data=b"", headers=AUTH)
    assert response.status == 400
    assert await envelope(response) == {
        "code": "MALFORMED_JSON",
        "message": "request body is empty",
    }


async def test_injected_errors_use_the_provider_envelope(client: Client) -> None:
    faults = {"error_rate": 1, "error_status": 503, "methods": ["GET"]}
    assert (await client.post("/_emulator/faults", json=faults)).status == 200
    response = await client.get("/invoices", headers=AUTH)
    assert response.status == 503
    assert (await envelope(response))["code"] == "SERVICE_UNAVAILABLE"


async def test_injected_rate_limits_use_the_provider_envelope(client: Client) -> None:
    await client.post("/_emulator/faults", json={"rate_limit_rate": 1, "retry_after": 7})
    response = await client.get("/invoices/INV-00001", headers=AUTH)
    assert response.status == 429
    assert response.headers["Retry-After"] == "7"
    assert (await envelope(response))["code"] == "RATE_LIMITED"


async def test_an_after_commit_fault_still_stores_the_write(client: Client) -> None:
    await client.post("/_emulator/faults", json={"error_rate": 1, "after_commit": True})
    response = await client.post("/invoices/INV-00001/cancel", headers=AUTH)
    assert response.status == 500
    assert (await envelope(response))["code"] == "INTERNAL_ERROR"
    await client.delete("/_emulator/faults")
    invoice = await client.get("/invoices/INV-00001", headers=AUTH)
    assert (await invoice.json())["invoice"]["status"] == "INACTIVE"


async def test_the_emulators_own_failure_is_a_500_in_the_providers_envelope(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug of the emulator's (here, made to happen) is answered as the provider answers its
    errors, not with aiohttp's plain text, which no client of the provider could read."""
    from emulators.order_linked import app as emulator

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(emulator, "_invoice_response", broken)
    listed = await client.get("/invoices", headers=AUTH)
    some = (await listed.json())["invoices"][0]
    response = await client.get(f"/invoices/{some['id']}", headers=AUTH)
    assert response.status == 500
    assert await response.json() == {
        "error": {"code": "INTERNAL_ERROR", "message": "internal server error"}
    }
