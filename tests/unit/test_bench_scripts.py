"""The short benchmarks run as their docstrings show, print their JSON, and refuse a bad
argument with a usage line (exit 2) instead of a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulators.registry import PROVIDERS

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _run(script: str, *args: str, scratch: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The bench run as a user runs it (``scratch``: its temporary folder, TMPDIR)."""
    env = None if scratch is None else {**os.environ, "TMPDIR": str(scratch)}
    return subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_create_bench_replays_every_providers_create(provider: str, tmp_path: Path) -> None:
    """Each provider's create, whatever calls it makes (a POST, then reads or writes),
    replayed in order; no scratch store left behind (in a temporary folder of its own: another
    bench run on the machine has its own scratch stores in /tmp meanwhile)."""
    ran = _run(
        "create.py", "--provider", provider, "--creates", "20", "--rounds", "1", scratch=tmp_path
    )
    assert ran.returncode == 0, ran.stderr
    figures = json.loads(ran.stdout)
    assert figures["provider"] == provider and figures["provider_calls_per_create"] >= 1
    # Both timed; which costs more is the bench's to report: 20 creates on a machine loaded by
    # the full suite put the keyed below the unkeyed once (1,260 against 1,634 µs).
    assert figures["us_per_create"]["keyed"] > 0 and figures["us_per_create"]["unkeyed"] > 0
    assert list(tmp_path.iterdir()) == []


def test_the_hot_path_bench_times_a_new_invoices_answer_not_a_kept_one() -> None:
    ran = _run("hotpath.py", "--providers", "draft_publish", "--rounds", "1")
    assert ran.returncode == 0, ran.stderr
    steps = json.loads(ran.stdout)["draft_publish"]["steps_us"]
    # Writing a new invoice's answer costs a serialization; the same object again, a lookup
    # (about a tenth of it, unloaded). Only the order is asserted: a ratio of timings is the
    # bench's to report, and a loaded machine (the full suite beside it) moved it below 5.
    new, again = steps["answer body"]["after"], steps["answer body (the same invoice again)"]
    assert new > again["after"] > 0


def test_the_blanking_bench_blanks_the_credential_and_nothing_else() -> None:
    ran = _run("blanking.py", "--kb", "20", "--rounds", "1")
    assert ran.returncode == 0, ran.stderr
    figures = json.loads(ran.stdout)
    blanked = {name: shape["blanked"] for name, shape in figures.items() if isinstance(shape, dict)}
    assert blanked == {
        "compact_invoice": False,
        "pretty_list": False,
        "attachment_one_line": False,
        "attachment_one_line_php": False,
        "attachment_in_lines": False,
        "credential_in_lines": True,
    }
    assert all(figures[name]["us"] > 0 for name in blanked)


@pytest.mark.parametrize(
    ("script", "args", "said"),
    [
        ("calc.py", ["--rounds", "0"], "argument --rounds: 0 is less than 1"),
        ("calc.py", ["--seconds", "0"], "argument --seconds: 0.0 is not above 0"),
        ("create.py", ["--creates", "x"], "argument --creates: 'x' is not a whole number"),
        ("create.py", ["--provider", "nope"], "argument --provider: invalid choice: 'nope'"),
        ("hotpath.py", ["--rounds", "-1"], "argument --rounds: -1 is less than 1"),
        ("fanout.py", ["--limit", "101"], "argument --limit: 101 is more than 100"),
        ("fanout.py", ["--calls", "0"], "argument --calls: 0 is less than 1"),
        ("blanking.py", ["--kb", "0"], "argument --kb: 0 is less than 1"),
    ],
)
def test_a_bad_argument_is_a_usage_error(script: str, args: list[str], said: str) -> None:
    ran = _run(script, *args)
    assert ran.returncode == 2, ran.stderr
    assert said in ran.stderr and "Traceback" not in ran.stderr
