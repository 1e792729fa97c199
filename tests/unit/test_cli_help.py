"""What ``--help`` tells a newcomer, and what the image is built from."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import cli

REPO = Path(__file__).parents[2]


def test_emulate_help_gives_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """`--host` and `--port` had no help: two emulators started without `--port` collide on
    8081, and nothing said so."""
    with pytest.raises(SystemExit) as done:
        cli.main(["emulate", "--help"])
    assert done.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "address to listen on (default 127.0.0.1)" in shown
    assert "(default 8081, for every provider: give each emulator its own)" in shown


def test_the_image_is_built_from_what_it_copies_alone() -> None:
    """The build context holds what the Dockerfile copies and nothing else (it held .venv,
    .git, the store file and a written sandbox.yaml with its tokens); a folder copied but
    ignored would fail the build."""
    copied = {
        name.rstrip("/")
        for line in (REPO / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
        for name in line.split()[1:-1]
    }
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    rules = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    assert rules[0] == "*"  # everything out, then what is copied back in
    admitted = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert admitted == copied
    assert all(re.fullmatch(r"\*\*/\w+", rule) for rule in rules[1:] if not rule.startswith("!"))


@pytest.mark.parametrize(
    "argv",
    [["serve", "--sandbox", "--port", "0"], ["serve", "--workers", "2", "--port", "0"]],
    ids=["sandbox", "workers"],
)
def test_serve_with_no_writable_temporary_directory_says_so_in_one_line(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A container run with ``--read-only`` has no writable /tmp: the sandbox (its store) and
    workers (their metrics) need one, and serve ended in tempfile's traceback, exit 1."""
    import tempfile

    def none_writable() -> str:
        raise FileNotFoundError(2, "No usable temporary directory found in ['/tmp', '/app']")

    monkeypatch.chdir(tmp_path)  # no config.yaml here: serve's calculation endpoint alone
    monkeypatch.setattr(tempfile, "gettempdir", none_writable)
    assert cli.main(argv) == 2
    said = capsys.readouterr().err.strip().splitlines()
    assert said[-1] == (
        "invoice-gateway serve: no directory for temporary files can be written (TMPDIR, /tmp, "
        "/var/tmp, /usr/tmp, the working directory): set TMPDIR to a writable directory, or "
        "give a container one (docker run --tmpfs /tmp)"
    )
    assert not any("Traceback" in line for line in said)


def test_the_command_lines_reading_loads_no_web_framework() -> None:
    """``serve`` records its stop signals from its first step; the parser before it loaded the
    emulators' registry, and with it aiohttp (a quarter of a second in which a SIGTERM killed
    the gateway, status 143). It lists the providers without it."""
    check = (
        "import sys; from gateway.cli import _parser; _parser(); print('aiohttp' in sys.modules)"
    )
    ran = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert ran.stdout.strip() == "False", ran.stderr
