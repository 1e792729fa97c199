"""Small pieces every emulator shares: reading bodies, checking credentials, rounding money."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

from aiohttp import web

CONTROL_PREFIX = "/_emulator/"


class MalformedBody(ValueError):
    """The request body is not valid JSON (or not the JSON object the endpoint needs)."""


async def read_json(request: web.Request) -> Any:
    """Parse a JSON body whatever its Content-Type (some providers' own examples send text/plain).

    Numbers with a fraction are read as ``Decimal`` so no amount passes through a binary float.
    """
    raw = await request.text()
    if not raw.strip():
        raise MalformedBody("request body is empty")
    try:
        return json.loads(raw, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise MalformedBody(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc


def is_control_path(request: web.Request) -> bool:
    return request.path.startswith(CONTROL_PREFIX)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def round_money(value: Decimal, places: int, *, half_even: bool = False) -> Decimal:
    """Round to ``places`` decimals, half-up away from zero unless ``half_even``."""
    quantum = Decimal(1).scaleb(-places)
    return value.quantize(quantum, rounding=ROUND_HALF_EVEN if half_even else ROUND_HALF_UP)
