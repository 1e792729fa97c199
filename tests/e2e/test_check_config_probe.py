"""``check-config --probe`` against the sandbox's emulators: one read per connection, each
failure named, no secret printed, exit 0 only when every connection answers."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from emulators.registry import PROVIDERS
from gateway.probe import probe as run_probe
from gateway.sandbox.serve import Sandbox, config_yaml
from gateway.settings_file import load_settings
from tests.e2e.sandbox import sandbox_in_thread

WRONG_TOKEN = "tok-wrong-5f1d2c9e8b7a"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=2) as running:
        yield running


def probe(path: Path, data: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    script = str(Path(sys.executable).with_name("invoice-gateway"))
    return subprocess.run(
        [script, "check-config", "--probe", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


def lines_about(result: subprocess.CompletedProcess[str], name: str) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if f" {name} (" in line]


def test_every_sandbox_connection_answers(sandbox: Sandbox, tmp_path: Path) -> None:
    result = probe(tmp_path / "sandbox.yaml", yaml.safe_load(config_yaml(sandbox)))
    assert result.returncode == 0, result.stdout + result.stderr
    for provider in PROVIDERS:
        [line] = lines_about(result, provider)
        assert line.startswith(
            f"  probe {provider} ({provider}, {sandbox.emulator_urls[provider]})"
        )
        assert ": OK: listed 1 invoice (" in line
    assert result.stdout.splitlines()[-1] == "probe: 5 of 5 connection(s) OK"
    assert result.stderr == ""


def test_each_failure_is_named_and_no_secret_is_printed(sandbox: Sandbox, tmp_path: Path) -> None:
    data = yaml.safe_load(config_yaml(sandbox))
    connections = {c["name"]: c for c in data["connections"]}
    connections["draft_publish"]["auth"]["token"] = WRONG_TOKEN
    port = closed_port()
    connections["bill_crm"]["base_url"] = f"http://127.0.0.1:{port}/"  # (a query: refused first)
    connections["item_envelope"]["base_url"] += "/not-the-api"
    result = probe(tmp_path / "broken.yaml", data)
    assert result.returncode == 1
    everything = result.stdout + result.stderr
    for secret in (WRONG_TOKEN, "sandbox-bill_crm", "sandbox-crm_v1"):
        assert secret not in everything
    [wrong] = lines_about(result, "draft_publish")
    assert wrong.endswith(
        "FAILED: wrong credentials: the provider answered 401 to the configured bearer "
        "credential (auth)"
    )
    [unreachable] = lines_about(result, "bill_crm")
    assert unreachable == (
        f"  probe bill_crm (bill_crm, http://127.0.0.1:{port}/): FAILED: unreachable: bill_crm "
        "(connection bill_crm) could not be reached: the connection was refused"
    )
    [not_found] = lines_about(result, "item_envelope")
    assert "FAILED: not found (404) at the base path: is base_url the API's root?" in not_found
    for fine in ("crm_v1", "order_linked"):
        [line] = lines_about(result, fine)
        assert ": OK: " in line
    # The failures go to stderr, the rest and the summary to stdout.
    assert len(result.stderr.splitlines()) == 3
    assert result.stdout.splitlines()[-1] == "probe: 2 of 5 connection(s) OK"


def test_a_read_the_configuration_cannot_make_is_named(sandbox: Sandbox, tmp_path: Path) -> None:
    """The probe reads an invoice as serve would: a currency missing from the table shows."""
    data = yaml.safe_load(config_yaml(sandbox))
    data["connections"] = [c for c in data["connections"] if c["name"] == "order_linked"]
    data["connections"][0]["currencies"] = {"JPY": "ed06d6d4-a8fb-573e-a1a0-7dc9307f5adb"}
    result = probe(tmp_path / "currencies.yaml", data)
    assert result.returncode == 1
    [line] = lines_about(result, "order_linked")
    assert "FAILED" in line and "is not in the currencies of connection order_linked" in line


def test_without_probe_nothing_is_called(sandbox: Sandbox, tmp_path: Path) -> None:
    data = yaml.safe_load(config_yaml(sandbox))
    data["connections"][0]["base_url"] = f"http://127.0.0.1:{closed_port()}"
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    script = str(Path(sys.executable).with_name("invoice-gateway"))
    result = subprocess.run(
        [script, "check-config", "--config", str(path)], capture_output=True, text=True
    )
    assert (result.returncode, result.stdout.strip()) == (
        0,
        f"{path}: OK (5 connection(s), 1 client(s))",
    )


def test_a_base_url_holding_a_user_or_password_is_refused_without_showing_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The HTTP client will not send a URL's credentials beside the connection's own, so such a
    connection failed every call; and the URL is shown to admins. Refused, the password unseen."""
    data = yaml.safe_load(config_yaml(sandbox))
    data["connections"][1]["base_url"] = "http://probe:pw-9a8b7c@127.0.0.1:9/api"
    result = probe(tmp_path / "userinfo.yaml", data)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "pw-9a8b7c" not in result.stdout + result.stderr
    assert (
        "connections[1].base_url: must not hold a user or password (the credential goes in "
        "auth, which sends it as the provider expects; the URL is not shown)"
    ) in result.stderr


def test_a_providers_own_504_is_named_as_its_answer_not_our_timeout(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A provider's gateway answering 504 at once is read as a timeout (the 504 the facade
    gives); the probe said "no answer within timeout_s", pointing at a setting that cannot
    help. It names the answer."""
    data = yaml.safe_load(config_yaml(sandbox))
    data["connections"] = [c for c in data["connections"] if c["name"] == "crm_v1"]
    url = f"{sandbox.emulator_urls['crm_v1']}/_emulator/faults"
    fault = {"error_rate": 1, "error_status": 504, "methods": ["GET"], "path_regex": "invoices"}
    with urllib.request.urlopen(urllib.request.Request(url, json.dumps(fault).encode())):
        pass
    try:
        result = probe(tmp_path / "gateway-timeout.yaml", data)
    finally:
        with urllib.request.urlopen(urllib.request.Request(url, method="DELETE")):
            pass
    assert result.returncode == 1
    [line] = lines_about(result, "crm_v1")
    assert "FAILED: the provider answered 504: crm_v1 (connection crm_v1) failed with 504" in line
    assert "timeout_s" not in line


async def test_a_providers_cookie_is_not_sent_with_another_connections_calls(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Two accounts of one provider on one host name: the probe's one client session kept the
    first account's session cookie and sent it with the second's calls (cookies are kept by
    host, not port). The serving sessions keep none (docs/security.md); the probe neither."""
    target = sandbox.emulator_urls["crm_v1"]
    seen: list[str | None] = []

    def forwarding(cookie: str | None) -> web.Application:
        async def forward(request: web.Request) -> web.Response:
            if cookie is None:
                seen.append(request.headers.get("Cookie"))
                await asyncio.sleep(0.3)  # the other account's answer, with its cookie, first
            headers = {"Authorization": request.headers.get("Authorization", "")}
            async with (
                aiohttp.ClientSession() as session,
                session.get(target + request.path_qs, headers=headers) as answer,
            ):
                body = await answer.read()
            response = web.Response(status=answer.status, body=body)
            response.content_type = "application/json"
            if cookie is not None:
                response.set_cookie("session", cookie)
            return response

        app = web.Application()
        app.router.add_get("/{tail:.*}", forward)
        return app

    data = yaml.safe_load(config_yaml(sandbox))
    [crm] = [c for c in data["connections"] if c["name"] == "crm_v1"]
    async with TestServer(forwarding("ACCOUNT-A")) as a, TestServer(forwarding(None)) as b:
        data["connections"] = [
            {**crm, "name": "acct-a", "base_url": f"http://localhost:{a.port}"},
            {**crm, "name": "acct-b", "base_url": f"http://localhost:{b.port}"},
        ]
        path = tmp_path / "accounts.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        results = await run_probe(load_settings(path))
    assert [r.ok for r in results] == [True, True], [r.line() for r in results]
    assert len(seen) >= 2  # a list, then one invoice read
    assert seen == [None] * len(seen)
