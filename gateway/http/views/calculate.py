"""POST /v1/invoices/calculate: the calculation engine over HTTP; nothing leaves the gateway."""

from __future__ import annotations

from aiohttp import web

from gateway.canonical.calculated import calculated_invoice
from gateway.canonical.errors import FieldError, InvalidInvoice
from gateway.canonical.model import Invoice, RoundingPolicy, writable
from gateway.canonical.unchecked_amounts import invoice_wide_problems
from gateway.http.auth import public
from gateway.http.body import read_json_object
from gateway.http.validation import parse, validation_problem


# Public on purpose: a pure computation over the request body that reads and writes no data.
# For the same reason it takes the body ``curl -d @vector.json`` sends (labelled as a form) as
# JSON: issue 2's contract, with no side effect a cross-site form could trigger.
@public
async def calculate(request: web.Request) -> web.Response:
    body = await read_json_object(request, curl_label=True)
    errors: list[FieldError] = []
    given = body.pop("policy", None)
    policy = parse(RoundingPolicy, {} if given is None else given, errors, at="/policy")
    data = writable(body)
    invoice = parse(Invoice, data, errors)
    if errors or policy is None or invoice is None:
        raise validation_problem(errors + invoice_wide_problems(data, errors))
    try:
        result = calculated_invoice(invoice, policy)
    except InvalidInvoice as exc:
        raise validation_problem(exc.errors) from None
    return web.Response(body=result.model_dump_json(), content_type="application/json")
