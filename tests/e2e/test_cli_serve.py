"""``invoice-gateway serve --port N`` as a user runs it: a real process on a real port."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vectors.load import reproduced, request_body, vectors


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {seconds}s")


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    port = free_port()
    script = Path(sys.executable).with_name("invoice-gateway")
    process = subprocess.Popen(
        [str(script), "serve", "--port", str(port)], stdout=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/healthz", process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def post(url: str, body: bytes) -> tuple[int, dict[str, object]]:
    headers = {"Content-Type": "application/json"}  # as the docs' curl commands send it
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_served_gateway_reproduces_every_vector(served: str) -> None:
    for vector in vectors():
        status, body = post(
            f"{served}/v1/invoices/calculate", json.dumps(request_body(vector)).encode()
        )
        assert status == 200, vector["name"]
        totals = body["totals"]
        assert isinstance(totals, dict)
        assert {k: totals[k] for k in vector["expected"]["totals"]} == vector["expected"]["totals"]


@pytest.mark.parametrize("vector", vectors(), ids=[v["name"] for v in vectors()])
def test_curl_d_at_a_vector_file_reproduces_it(
    served: str, vector: dict[str, object], tmp_path: Path
) -> None:
    """Issue 2's own command, run as written: ``curl -d`` labels the body as a form."""
    body = tmp_path / "vector.json"
    body.write_text(json.dumps(request_body(vector), indent=2))
    command = ["curl", "-s", "-X", "POST", f"{served}/v1/invoices/calculate", "-d", f"@{body}"]
    answer = json.loads(subprocess.run(command, capture_output=True, check=True).stdout)
    assert reproduced(answer, vector) == vector["expected"]


def test_served_gateway_answers_problems(served: str) -> None:
    status, body = post(
        f"{served}/v1/invoices/calculate",
        b'{"currency": "USD", "lines": [{"quantity": 1, "unit_price": -1}]}',
    )
    assert status == 422
    assert body["errors"] == [{"pointer": "/lines/0/unit_price", "detail": "must not be negative"}]


def test_serve_with_no_configuration_says_so_and_still_calculates(tmp_path: Path) -> None:
    port = free_port()
    script = Path(sys.executable).with_name("invoice-gateway")
    with (tmp_path / "stderr.txt").open("w") as stderr:
        # An empty directory: no config.yaml to read, and no --config
        process = subprocess.Popen(
            [str(script), "serve", "--port", str(port)],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(f"{base}/healthz", process)
            said = (tmp_path / "stderr.txt").read_text()
            vector = vectors()[0]
            status, body = post(
                f"{base}/v1/invoices/calculate", json.dumps(request_body(vector)).encode()
            )
            keyed = urllib.request.Request(
                f"{base}/v1/connections", headers={"Authorization": "Bearer sk_sandbox"}
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(keyed, timeout=10)
            problem = json.loads(refused.value.read())
        finally:
            process.terminate()
            process.wait(timeout=10)
    # A key sent to a gateway that has none is told why, not only to send one.
    assert (refused.value.code, problem["code"]) == (401, "unauthenticated")
    assert problem["detail"].startswith("This gateway has no API keys: it was started without")
    assert said.startswith("invoice-gateway serve: no configuration"), said
    for hint in (
        "serving POST /v1/invoices/calculate alone, with no connections and no API keys",
        "invoice-gateway serve --sandbox",
        "--write-config",
        "config.yaml",
    ):
        assert hint in said, hint
    assert status == 200, body
    # It keeps nothing, so it writes nothing where it was started (a read-only directory
    # serves as well): the directory holds only what the test put there.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stderr.txt"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["serve", "--sandbox", "--port", "65533"], "--port 65533: the sandbox listens on it"),
        (["serve", "--sandbox", "--port", "99999"], "argument --port: a port number from 0"),
        (["serve", "--port", "-1"], "argument --port: a port number from 0 to 65535"),
        (["serve", "--sandbox", "--seed-invoices", "-5"], "argument --seed-invoices: a number"),
        (["serve", "--workers", "0"], "argument --workers: a number of processes from 1 to 64"),
        (["serve", "--workers", "500"], "argument --workers: a number of processes from 1 to 64"),
        (["emulate", "crm_v1", "--port", "99999"], "argument --port: a port number from 0"),
    ],
)
def test_an_out_of_range_option_is_a_usage_error_that_names_it(args: list[str], said: str) -> None:
    """A port past 65535 was a bind() traceback, exit 1; --workers 0 said only "1 validation
    error for ServerSettings"."""
    script = str(Path(sys.executable).with_name("invoice-gateway"))
    result = subprocess.run([script, *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("key", ["sk_sandbox ", " sk_sandbox", "sk_sand box", "sk_sandbox\n"])
def test_a_sandbox_key_no_request_could_present_is_refused(key: str, tmp_path: Path) -> None:
    """HTTP takes the spaces off a header's ends and a line break ends it: a sandbox started
    with such a key (taken, printed) answered every request 401."""
    script = str(Path(sys.executable).with_name("invoice-gateway"))
    result = subprocess.run(
        [script, "serve", "--sandbox", "--port", "0", "--api-key", key],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "invoice-gateway serve: --api-key has a space or a control character at an end or "
        "within; no request could present it (give it without)"
    )
    assert result.stdout == ""


def test_an_emulator_on_a_port_in_use_says_so_in_one_line() -> None:
    script = str(Path(sys.executable).with_name("invoice-gateway"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [script, "emulate", "bill_crm", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"invoice-gateway emulate: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert result.stdout == ""  # it did not say it was running


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["serve", "--sandbox", "--workers", "2"], "--workers cannot be given with --sandbox"),
        (["serve", "--sandbox", "--config", "c.yaml"], "--config cannot be given with --sandbox"),
        (["serve", "--write-config", "s.yaml"], "--write-config only goes with --sandbox"),
        (["serve", "--seed-invoices", "3"], "--seed-invoices only goes with --sandbox"),
    ],
)
def test_an_option_of_the_other_form_of_serve_is_refused_not_passed_over(
    args: list[str], said: str, tmp_path: Path
) -> None:
    """``serve --sandbox --workers 2`` served one process and said nothing of --workers."""
    script = str(Path(sys.executable).with_name("invoice-gateway"))
    result = subprocess.run(
        [script, *args], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert said in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing started


@pytest.mark.parametrize("exists", [False, True], ids=["missing-folder", "folder"])
def test_a_prometheus_folder_left_in_the_environment_is_not_a_single_gateways(
    tmp_path: Path, exists: bool
) -> None:
    """``PROMETHEUS_MULTIPROC_DIR``, left set by another deployment: a single gateway stopped
    at start with a traceback where the folder did not exist, and otherwise wrote its metrics
    there and left the files behind. It keeps them in memory (``--workers`` names its own)."""
    folder = tmp_path / "prometheus"
    if exists:
        folder.mkdir()
    port = free_port()
    script = Path(sys.executable).with_name("invoice-gateway")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    process = subprocess.Popen(
        [str(script), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/healthz", process)
        status, body = post(
            f"{base}/v1/invoices/calculate",
            b'{"currency": "USD", "lines": [{"quantity": "2", "unit_price": "1.50"}]}',
        )
        assert (status, body["totals"]["total"]) == (200, "3.00"), body  # type: ignore[index]
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert b"Traceback" not in err
    assert (list(folder.iterdir()) if exists else folder.exists()) in ([], False)


@pytest.mark.parametrize(
    ("command", "host"),
    [
        (["serve"], "::1"),
        (["serve"], "[::1]"),
        (["emulate", "crm_v1"], "[::1]"),
    ],
)
def test_an_ipv6_host_is_listened_on_and_said_as_a_url(command: list[str], host: str) -> None:
    """``[::1]``, as a URL writes it, passed check-config and serve could not listen on it;
    ``::1`` was said as ``http://::1:8080``, which is no URL a script can use."""
    port = free_port()
    script = Path(sys.executable).with_name("invoice-gateway")
    process = subprocess.Popen(
        [str(script), *command, "--host", host, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        said = process.stdout.readline().decode().strip()
        assert f"http://[::1]:{port}" in said.split(), said
        url = f"http://[::1]:{port}"
        try:  # it answers there (an emulator asks for its credential first)
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
                status = response.status
        except urllib.error.HTTPError as refused:
            status = refused.code
        assert status == (200 if command == ["serve"] else 401)
    finally:
        process.terminate()
        process.wait(timeout=10)
