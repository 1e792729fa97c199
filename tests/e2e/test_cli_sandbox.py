"""``invoice-gateway serve --sandbox``: the README's run command, as a newcomer runs it."""

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.e2e.test_cli_serve import free_port


def test_sandbox_prints_url_key_and_a_first_request_that_works() -> None:
    port = free_port()
    script = str(Path(sys.executable).with_name("invoice-gateway"))
    process = subprocess.Popen(
        [script, "serve", "--sandbox", "--port", str(port), "--seed-invoices", "4"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            printed.append(line)
            if line.startswith("  curl -s") and "invoices?limit=2" in line:
                break
        text = "".join(printed)
        assert f"http://127.0.0.1:{port}" in text
        assert "API key: sk_sandbox" in text
        first = next(
            line.strip()
            for line in printed
            if line.strip().startswith("curl -s") and "/v1/connections " in line
        )
        url = first.split()[2]
        request = urllib.request.Request(url, headers={"Authorization": "Bearer sk_sandbox"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read())
        assert [c["name"] for c in body["data"]] == [
            "crm_v1",
            "draft_publish",
            "bill_crm",
            "item_envelope",
            "order_linked",
        ]
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == 0  # SIGTERM stops it cleanly
