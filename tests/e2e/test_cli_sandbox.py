"""``invoice-gateway serve --sandbox``: the README's run command, as a newcomer runs it."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest


def _sandbox(seed_invoices: int, scratch: Path | None = None) -> subprocess.Popen[str]:
    """The README's run command, on port 0: every server takes a free port, so the test never
    races others for fixed ones. ``scratch``: its temporary folder's parent (``TMPDIR``)."""
    script = str(Path(sys.executable).with_name("invoice-gateway"))
    command = [script, "serve", "--sandbox", "--port", "0", "--seed-invoices", str(seed_invoices)]
    env = None if scratch is None else {**os.environ, "TMPDIR": str(scratch)}
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)


def test_sandbox_prints_url_key_and_a_first_request_that_works() -> None:
    process = _sandbox(4)
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
        gateway = next(line.split()[1] for line in printed if line.strip().startswith("gateway"))
        assert gateway.startswith("http://127.0.0.1:") and not gateway.endswith(":0"), text
        assert "API key: sk_sandbox" in text
        first = next(
            line.strip()
            for line in printed
            if line.strip().startswith("curl -s") and "/v1/connections " in line
        )
        url = first.split()[2]
        assert url == f"{gateway}/v1/connections"
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


def test_the_readme_run_command_shows_the_port_its_urls_use() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    run_it = readme.split("## Run it", 1)[1].split("## ", 1)[0]
    command = run_it.split("```sh\n", 1)[1].split("```", 1)[0].strip()
    assert command.endswith("invoice-gateway serve --sandbox --port 8080"), command
    urls = [word for word in run_it.split() if "localhost:" in word]
    assert urls and all("localhost:8080/" in url for url in urls), urls
    tour = readme.split("## A five-minute tour", 1)[1].split("```", 1)[0]
    assert "port 8080" in tour and "--port" in tour  # which port it assumes, how to change it


def _until_the_provider_has_it(emulator: str) -> None:
    for _ in range(200):
        with urllib.request.urlopen(emulator + "/_emulator/requests", timeout=10) as answer:
            log = json.load(answer)["requests"]
        if any(entry["path"].endswith("/invoices/1") for entry in log):
            return
        time.sleep(0.02)
    raise AssertionError("the read never reached the provider")


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT], ids=str)
def test_the_sandbox_stops_on_a_hangup_as_on_sigterm(sig: signal.Signals, tmp_path: Path) -> None:
    """The terminal running the README's command closes (SIGHUP): the sandbox was killed by
    it, the request in flight cut off and its scratch store left in the temporary folder. (Its
    temporary folder is the test's own: another sandbox on the machine makes one of its own.)"""
    process = _sandbox(2, scratch=tmp_path)
    try:
        assert process.stdout is not None
        urls: dict[str, str] = {}
        while "order_linked" not in urls:
            words = process.stdout.readline().split()
            if len(words) >= 2 and words[1].startswith("http://"):
                urls[words[0]] = words[1]
        faults = urllib.request.Request(
            urls["crm_v1"] + "/_emulator/faults", data=b'{"latency_ms": 1500}', method="POST"
        )
        urllib.request.urlopen(faults, timeout=10).close()
        answered: list[int] = []

        def read() -> None:
            request = urllib.request.Request(
                urls["gateway"] + "/v1/connections/crm_v1/invoices/1",
                headers={"Authorization": "Bearer sk_sandbox"},
            )
            with urllib.request.urlopen(request, timeout=20) as response:
                answered.append(response.status)

        reader = threading.Thread(target=read)
        reader.start()
        _until_the_provider_has_it(urls["crm_v1"])  # in flight, the provider taking its time
        process.send_signal(sig)
        reader.join(20)
        assert process.wait(20) == 0
    finally:
        process.kill()
        process.wait()
    assert answered == [200]
    assert list(tmp_path.iterdir()) == []  # its store went with it
