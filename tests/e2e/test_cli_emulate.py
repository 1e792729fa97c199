"""``invoice-gateway emulate <provider>`` as a user runs it: a real process on a real port."""

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_cli_serve import free_port, wait_until_up

SCRIPT = str(Path(sys.executable).with_name("invoice-gateway"))


def call(
    url: str, token: str, body: bytes | None = None, content_type: str = ""
) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(
        url, data=body, headers=headers, method="POST" if body else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def item_envelope() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            SCRIPT,
            "emulate",
            "item_envelope",
            "--port",
            str(port),
            "--token",
            "t-123",
            "--seed-invoices",
            "3",
        ],
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/_emulator/requests", process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_emulator_serves_its_seed_with_the_given_token(item_envelope: str) -> None:
    status, body = call(f"{item_envelope}/api2/api2/invoices.json", "t-123")
    assert status == 200
    assert body["pagination"]["total"] == 3  # type: ignore[index]
    status, body = call(f"{item_envelope}/api2/api2/invoices.json", "sandbox-item_envelope")
    assert (status, body["code"], body["result"]) == (401, 401, "failed")


def test_documented_example_as_text_plain(item_envelope: str) -> None:
    example = Path(__file__).parents[2] / "docs" / "provider-api" / "item_envelope.txt"
    text = example.read_text()
    start = text.index("Example Request\n") + len("Example Request\n")
    body = text[start : text.index("\nResponse\n", start)]
    status, answer = call(
        f"{item_envelope}/api2/api2/invoices.json", "t-123", body.encode(), "text/plain"
    )
    assert status == 202
    assert answer == {"code": 202, "result": "successful", "id": 124}


def test_unknown_provider_is_a_usage_error() -> None:
    result = subprocess.run([SCRIPT, "emulate", "nope"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "invalid choice: 'nope'" in result.stderr
