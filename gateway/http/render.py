"""Invoice answers written once, by pydantic-core's serializer, as bytes.

An invoice's body is its content (``content_json``: every field but the volatile ones, which is
also what its digest tag is taken from) followed by the volatile fields, and ``remote_data``
when ``?expand=remote_data`` asks for it: one rendering serves the body and the ``ETag``.
Decimals are written as exact strings (the canonical types keep them fixed-point); the
provider's payload in ``remote_data`` keeps its numbers as numbers, written as they were read.

A value pydantic-core cannot write (a string with a lone surrogate, read from a provider) falls
back to the general writer, ``gateway.jsonwire``, which escapes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from aiohttp import web

from gateway import jsonwire
from gateway.canonical.model import Invoice
from gateway.service.versions import answer_json, tag_of

JSON_TYPE = "application/json; charset=utf-8"


class Rendered:
    """One invoice's JSON body and its tag."""

    __slots__ = ("body", "tag")

    def __init__(self, body: bytes, tag: str) -> None:
        self.body = body
        self.tag = tag


def render(invoice: Invoice, *, remote_data: bool, extra: dict[str, Any] | None = None) -> Rendered:
    """``invoice`` as the API writes it; ``extra`` members (``warnings``) are appended."""
    content, body = answer_json(invoice)
    if remote_data:
        body = jsonwire.with_payload(body, "remote_data", invoice.remote_data)
    if extra:
        body = body[:-1] + b"," + jsonwire.payload_bytes(extra)[1:]
    return Rendered(body, tag_of(invoice, content))


def list_body(bodies: Iterable[bytes], *, has_more: bool, next_cursor: str | None) -> bytes:
    """The list envelope around invoice bodies already rendered."""
    return orjson.dumps(
        {
            "object": "list",
            "data": [orjson.Fragment(body) for body in bodies],
            "has_more": has_more,
            "next_cursor": next_cursor,
        }
    )


def json_bytes_response(body: bytes, *, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, headers={"Content-Type": JSON_TYPE})
