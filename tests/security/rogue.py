"""A provider gone hostile, on 127.0.0.1: until it is armed it passes every request to the real
emulator of its provider; armed, it answers one hostile case instead (a 50 MB or endless body,
broken or mislabelled JSON, a redirect, an HTML page, or the emulator's own answer with a field
of the wrong type or missing). Every hostile answer carries ``SECRET`` (and echoes the
credential the gateway sent), so a test can check that nothing of it reaches a caller.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import hdrs, web

from gateway import jsonwire
from gateway.sandbox import sandbox_connection

MiB = 1024 * 1024
SECRET = "rogue-secret-5e1f0c9a7b3d"
HUGE = 50 * 1000 * 1000  # the 50 MB body
STOP_AT = 1024 * MiB  # an endless body ends here, should the gateway never hang up

STREAMED = ("huge_declared", "huge_chunked", "endless")
PLAIN = ("malformed_json", "json_as_html", "json_untyped", "redirect_302", "redirect_307")
PAGES = ("html_500", "html_200")
MANGLED = (
    "id_object",
    "number_array",
    "date_number",
    "amount_text",
    "no_id",
    "no_lines",
    "no_totals",
)
CASES = STREAMED + PLAIN + PAGES + MANGLED


@dataclass(frozen=True)
class Shape:
    """Where one provider keeps an invoice's fields: ``anchor`` is a key only invoice objects
    have; the others are dotted paths inside such an object."""

    anchor: str
    id: str
    number: str
    date: str
    amount: str
    lines: str
    totals: tuple[str, ...]


SHAPES = {
    "crm_v1": Shape(
        "inv_id", "inv_id", "inv_number", "transaction_date", "total", "items",
        ("sub_total", "discount_total", "tax_total", "total", "amount_paid", "amount_due"),
    ),
    "draft_publish": Shape(
        "items", "id", "number", "issue_date", "total", "items",
        ("subtotal", "discount_amount", "tax_amount", "total", "amount_paid", "balance_due"),
    ),
    "bill_crm": Shape(
        "line_items", "id", "notes", "dates.date", "totals.final_amount", "line_items",
        ("totals",),
    ),
    "item_envelope": Shape(
        "Invoice", "Invoice.id", "Invoice.no", "Invoice.date", "Invoice.summary_total",
        "InvoiceItem",
        tuple(f"Invoice.summary_{name}" for name in ("subtotal", "discount", "tax1", "tax2",
                                                    "total", "paid", "unpaid")),
    ),
    "order_linked": Shape(
        "lines", "id", "customer_purchase_order_id", "issue_date", "total", "lines",
        ("subtotal", "tax", "tax_total", "total", "paid", "due"),
    ),
}  # fmt: skip


def mangle(case: str, shape: Shape, invoice: dict[str, Any]) -> None:
    """Spoil one invoice object as ``case`` says, in place."""
    if case == "id_object":
        _put(invoice, shape.id, {"$oid": SECRET})
    elif case == "number_array":
        _put(invoice, shape.number, [SECRET, 1])
    elif case == "date_number":
        _put(invoice, shape.date, 20260112)
    elif case == "amount_text":
        _put(invoice, shape.amount, "abc")
    else:
        gone = {"no_id": (shape.id,), "no_lines": (shape.lines,), "no_totals": shape.totals}
        for path in gone[case]:
            _drop(invoice, path)


def _parent(data: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    *heads, last = path.split(".")
    for head in heads:
        data = data[head]
    return data, last


def _put(data: dict[str, Any], path: str, value: Any) -> None:
    parent, key = _parent(data, path)
    parent[key] = value


def _drop(data: dict[str, Any], path: str) -> None:
    parent, key = _parent(data, path)
    parent.pop(key, None)


def _invoices(body: Any, anchor: str) -> list[dict[str, Any]]:
    """Every invoice object in an answer, at any depth."""
    found: list[dict[str, Any]] = []
    if isinstance(body, dict):
        if anchor in body:
            found.append(body)
        for value in body.values():
            found += _invoices(value, anchor)
    elif isinstance(body, list):
        for item in body:
            found += _invoices(item, anchor)
    return found


class _Untyped(web.StreamResponse):
    """An answer with no Content-Type at all (aiohttp adds one to any body it sends)."""

    async def _write_headers(self) -> None:
        self.headers.popall(hdrs.CONTENT_TYPE, None)
        await super()._write_headers()


@dataclass
class Target:
    """Where the redirects point: it must never be asked anything."""

    requests: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(f"{request.method} {request.path_qs} {dict(request.headers)}")
        return web.json_response({"success": True, "data": {}})


class Rogue:
    """The hostile provider. ``arm(case)``: every answer from then on is hostile; with
    ``from_write=True`` only once the first write (anything but GET) has arrived."""

    def __init__(self, provider: str, emulator_url: str, target_url: str) -> None:
        self.provider = provider
        self.shape = SHAPES[provider]
        self.emulator_url = emulator_url
        self.target_url = target_url
        auth = sandbox_connection(provider, emulator_url).auth
        header = auth.sent_in
        value = f"Bearer {auth.secret()}" if auth.type == "bearer" else auth.secret()
        self.upstream_auth = {header: value}
        self.auth_header = header
        self.case: str | None = None
        self.from_write = False
        self.hostile = 0  # answers spoiled (for the mangled cases: invoice objects spoiled)
        self.sent = 0  # bytes of streamed bodies sent
        self.session: aiohttp.ClientSession | None = None

    def arm(self, case: str, *, from_write: bool = False) -> None:
        assert case in CASES, case
        self.case, self.from_write, self.hostile, self.sent = case, from_write, 0, 0

    def disarm(self) -> None:
        self.case = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.from_write and request.method != "GET":
            self.from_write = False  # armed from this write on
        case = None if self.from_write else self.case
        echoed = request.headers.get(self.auth_header, "")
        if case in STREAMED:
            return await self._stream(request, case)
        if case in ("redirect_302", "redirect_307"):
            self.hostile += 1
            where = f"{self.target_url}{request.path_qs}?token={SECRET}"
            return web.Response(status=int(case[-3:]), headers={"Location": where})
        if case in PAGES:
            self.hostile += 1
            page = f"<html><body><h1>Oops</h1><pre>{SECRET} {echoed}</pre></body></html>"
            return web.Response(status=int(case[-3:]), text=page, content_type="text/html")
        if case == "malformed_json":
            self.hostile += 1
            text = f'{{"success": true, "data": {{"id": 1, "note": "{SECRET} {echoed}",'
            return web.Response(text=text, content_type="application/json")
        status, content_type, content = await self._forward(request)
        if case in ("json_as_html", "json_untyped"):
            self.hostile += 1
            if case == "json_as_html":
                return web.Response(status=status, body=content, content_type="text/html")
            untyped = _Untyped(status=status)
            untyped.content_length = len(content)
            await untyped.prepare(request)
            await untyped.write(content)
            return untyped
        if case in MANGLED and 200 <= status < 300 and content:
            body = jsonwire.loads(content)
            for invoice in _invoices(body, self.shape.anchor):
                mangle(case, self.shape, invoice)
                self.hostile += 1
            content = jsonwire.dumps(body).encode()
        return web.Response(status=status, body=content, content_type=content_type)

    async def _forward(self, request: web.Request) -> tuple[int, str, bytes]:
        """The emulator's answer to the same request."""
        if self.session is None:
            self.session = aiohttp.ClientSession()
        headers = {**self.upstream_auth}
        for name in ("Content-Type", "Idempotency-Key", "Accept"):
            if name in request.headers:
                headers[name] = request.headers[name]
        async with self.session.request(
            request.method,
            self.emulator_url + request.path_qs,
            data=await request.read(),
            headers=headers,
            allow_redirects=False,
        ) as answer:
            return answer.status, answer.content_type, await answer.read()

    async def _stream(self, request: web.Request, case: str) -> web.StreamResponse:
        """50 MB (declared, or chunked), or no end at all, until the gateway hangs up."""
        self.hostile += 1
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if case == "huge_declared":
            response.content_length = HUGE
        else:
            response.enable_chunked_encoding()
        limit = STOP_AT if case == "endless" else HUGE
        chunk = b"[" + f'"{SECRET}",'.encode() * (MiB // 32)
        try:
            await response.prepare(request)
            while self.sent < limit:
                piece = chunk[: limit - self.sent]
                await response.write(piece)
                self.sent += len(piece)
                await asyncio.sleep(0)
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass  # the gateway hung up, as it should
        return response

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
