"""The worked totals examples: the spec's published set and the hand-worked extras."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
LINE_FIELDS = ("subtotal", "discount_amount", "net_amount", "tax_amount", "total")
TOTAL_FIELDS = ("subtotal", "discount", "tax", "shipping", "adjustment", "total", "paid", "due")


def vectors() -> list[dict[str, Any]]:
    found = []
    for name in ("published.json", "extra.json"):
        found += json.loads((HERE / name).read_text())["vectors"]
    return found


def request_body(vector: dict[str, Any]) -> dict[str, Any]:
    """The body ``POST /v1/invoices/calculate`` takes for a vector."""
    return {**vector["invoice"], "policy": vector["policy"]}


def reproduced(answer: dict[str, Any], vector: dict[str, Any]) -> dict[str, Any]:
    """What ``calculate`` answered for ``vector``, in the shape of its ``expected``: the line
    fields it computes (a line the vector leaves unchecked, ``None``), the totals and, where the
    vector gives one, the tax breakdown."""
    expected = vector["expected"]
    lines = [
        None if exp is None else {f: line[f] for f in LINE_FIELDS}
        for line, exp in zip(answer["lines"], expected["lines"], strict=True)
    ]
    got: dict[str, Any] = {
        "lines": lines,
        "totals": {f: answer["totals"][f] for f in TOTAL_FIELDS},
    }
    if "tax_breakdown" in expected:
        got["tax_breakdown"] = answer["totals"]["tax_breakdown"]
    return got
