"""Golden wire payloads: the exact requests each operation sends, reviewed like code.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest tests/contract/test_golden.py``
and review the diff of ``tests/golden/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gateway import jsonwire
from tests.contract.conftest import Pair
from tests.contract.profiles.load import PROVIDERS, profile

GOLDEN = Path(__file__).parents[1] / "golden"
CASES = [(provider, operation) for provider in PROVIDERS for operation in profile(provider).golden]


async def sent_since(pair: Pair, start: int) -> list[dict[str, Any]]:
    async with pair.session.get(f"{pair.base_url}/_emulator/requests") as response:
        log = jsonwire.loads(await response.text())["requests"]
    return [
        {"method": r["method"], "path": r["path"], "query": r["query"], "body": r["body"]}
        for r in log[start:]
    ]


@pytest.mark.parametrize(
    ("pair", "operation"), CASES, indirect=["pair"], ids=[f"{p}-{o}" for p, o in CASES]
)
async def test_wire_payload_is_the_golden_one(pair: Pair, operation: str) -> None:
    start = len(await pair.wire_log())
    await pair.profile.golden[operation](pair.adapter)
    sent = await sent_since(pair, start)
    assert sent, f"{operation} sent nothing"
    path = GOLDEN / pair.provider / f"{operation}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(jsonwire.dumps(sent, indent=2) + "\n")
    assert path.exists(), f"no golden file {path}; run with UPDATE_GOLDEN=1 and review it"
    assert sent == jsonwire.loads(path.read_text())


def test_every_golden_file_belongs_to_an_operation() -> None:
    files = {(p.parent.name, p.stem) for p in GOLDEN.glob("*/*.json")}
    assert files == set(CASES)
