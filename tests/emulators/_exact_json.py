"""JSON as the emulator tests read and write it: every number kept exact, never a float."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def loads(text: str | bytes) -> Any:
    """JSON with every number kept exactly: integers as int, the rest as Decimal."""
    return json.loads(text, parse_float=Decimal)


def dumps(value: Any) -> str:
    """JSON in which a Decimal is written as a number literal, as a client sending money would."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    return json.dumps(value)
