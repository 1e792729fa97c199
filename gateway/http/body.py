"""Reading request bodies exactly: JSON numbers become ``Decimal``, never a binary float."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from gateway.http.problems import Problem
from gateway.jsonwire import exact_int


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, or a 400 ``bad_request`` that says what is wrong with it."""
    raw = await request.read()
    if not raw.strip():
        raise Problem("bad_request", "The request body is empty; send a JSON object.")
    try:
        data = json.loads(
            raw, parse_float=Decimal, parse_int=exact_int, parse_constant=_reject_constant
        )
    except UnicodeDecodeError:
        raise Problem("bad_request", "The request body is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise Problem(
            "bad_request",
            f"The request body is not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno}).",
        ) from None
    except RecursionError:
        raise Problem("bad_request", "The request body is nested too deeply.") from None
    except ValueError as exc:
        raise Problem("bad_request", f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise Problem("bad_request", "The request body must be a JSON object.")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
