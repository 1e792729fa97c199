"""Answers holding a provider's figures conform to the OpenAPI document.

Reading is lenient (spec, Money: "a provider's figure never makes a read or a list page fail"):
an invoice made at the provider with a six-place unit price and a line of 10^18 is read as it
is. The document declared the request's schema, with its bounds, for the answers too, so a
client that checks answers against it refused the invoice, the page, the summary page and the
list across connections that held it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import jsonschema
import pydantic
import pytest

from gateway.canonical.model import Adjustment, Discount, Invoice, Line, Payment
from gateway.http.openapi import openapi_document
from gateway.sandbox.serve import Sandbox
from tests.e2e.conftest_sandbox import call
from tests.e2e.sandbox import sandbox_in_thread

INVOICE = "/v1/connections/{connection}/invoices/{invoice_id}"
LIST = "/v1/connections/{connection}/invoices"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=2) as running:
        yield running


async def _made_at_the_provider(sandbox: Sandbox) -> str:
    """An invoice crm_v1 takes and the gateway would not: a price of six places, and a line
    whose total is past the canonical 10^15."""
    body = {
        "customer_id": 10,
        "template_id": 1,
        "items": [
            {"type": "item", "item_id": 12, "item_name": "fine", "quantity": 3, "price": 0.123457},
            {
                "type": "item",
                "item_id": 6,
                "item_name": "large",
                "quantity": 999999,
                "price": 999999999999.99,
            },
        ],
    }
    headers = {"Authorization": "Bearer sandbox-crm_v1", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            sandbox.emulator_urls["crm_v1"] + "/v1/invoices",
            data=json.dumps(body),
            headers=headers,
        ) as response,
    ):
        assert response.status in (200, 201), await response.text()
        answer = await response.json()
    return str(answer["data"]["inv_id"])


def _declared(path: str, status: str) -> dict[str, Any]:
    document = openapi_document()
    schema = document["paths"][path]["get"]["responses"][status]["content"]["application/json"]
    return {**schema["schema"], "components": document["components"]}


def _request_schema(name: str) -> dict[str, Any]:
    document = openapi_document()
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


async def test_answers_holding_provider_figures_conform_to_the_document(
    sandbox: Sandbox,
) -> None:
    invoice_id = await _made_at_the_provider(sandbox)
    read = await call(sandbox, "GET", f"/v1/connections/crm_v1/invoices/{invoice_id}")
    assert read.status == 200, read.body
    assert read.body["lines"][0]["unit_price"] == "0.123457"
    assert Decimal(read.body["totals"]["total"]) > Decimal(10) ** 15
    jsonschema.validate(read.body, _declared(INVOICE, "200"))
    # The same body as a request is refused by the request's schema: the two differ.
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(read.body, _request_schema("Invoice"))

    listed = await call(sandbox, "GET", "/v1/connections/crm_v1/invoices?limit=100")
    assert invoice_id in [row["id"] for row in listed.body["data"]]
    jsonschema.validate(listed.body, _declared(LIST, "200"))
    summary = await call(sandbox, "GET", "/v1/connections/crm_v1/invoices?limit=100&view=summary")
    assert invoice_id in [row["id"] for row in summary.body["data"]]
    jsonschema.validate(summary.body, _declared(LIST, "200"))
    across = await call(sandbox, "GET", "/v1/invoices?connection=crm_v1&limit=100")
    assert invoice_id in [row["id"] for row in across.body["data"]]
    jsonschema.validate(across.body, _declared("/v1/invoices", "200"))


def test_a_request_is_still_held_to_the_canonical_bounds() -> None:
    """The answer form is the answers' alone: a body declared for a create keeps its bounds."""
    document = openapi_document()
    create = document["paths"][LIST]["post"]["requestBody"]["content"]["application/json"]
    assert create["schema"] == {"$ref": "#/components/schemas/Invoice"}
    schema = _request_schema("Invoice")
    line = {"name": "x", "quantity": "1", "unit_price": "0.123457"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"currency": "USD", "lines": [line]}, schema)
    jsonschema.validate({"currency": "USD", "lines": [{**line, "unit_price": "0.1234"}]}, schema)


# Decimal strings written every way a caller might: leading and trailing zeros (which change no
# value and are taken), -0 (zero), places past each type's, the integer bound, and what the
# grammar refuses (other digits, exponents, signs, spaces). Not "12.50\n": the patterns are
# ECMA-262's, whose $ ends the text, and the jsonschema package matches them with Python's re,
# whose $ also takes a final newline (docs/decisions.md, "A ninth round").
WRITTEN = [
    "0000000000000001",
    "00000000000000012.5",
    "19.99490",
    "1.0000000",
    "1.00000000000",
    "1.00001",
    "1.0000001",
    "1.00000000001",
    "-0",
    "-00.000",
    "-0.0001",
    "-5",
    "-5.25",
    "999999999999999",
    "999999999999999.9999",
    "1000000000000000",
    "0001000000000000000",
    "١٢",
    "1e2",
    "+1",
    " 1",
    "1.",
    ".5",
    "",
    "\n12.50",
    10**15 - 1,
    10**15,
    -(10**15) + 1,
    -(10**15),
    10**20,
    -5,
    0,
]


@pytest.mark.parametrize(
    ("schema", "field", "values"),
    [
        ("Payment", "amount", ["0", "0.00", "000", 0, -5, "-5", "0.01", "12.5", 7]),
        ("Invoice", "exchange_rate", ["0", "0.0000000000", 0, -1, "1.0825", 2]),
        ("Line", "quantity", ["0", "-1", -1, 0, "1.5", 3]),
        *(
            (schema, field, WRITTEN)
            for schema, field in [
                ("Line", "unit_price"),
                ("Line", "quantity"),
                ("Adjustment", "amount"),
                ("Payment", "amount"),
                ("Invoice", "exchange_rate"),
                ("Discount", "value"),
            ]
        ),
    ],
)
def test_the_document_takes_a_figure_exactly_when_the_gateway_does(
    schema: str, field: str, values: list[Any]
) -> None:
    """A client that checks its requests against the document sent a payment of 0, which the
    document allowed and the gateway always refused ("must be greater than zero")."""
    declared = _request_schema(schema)
    field_schema = {
        **openapi_document()["components"]["schemas"][schema]["properties"][field],
        "components": declared["components"],
    }
    model = {
        "Payment": Payment,
        "Invoice": Invoice,
        "Line": Line,
        "Adjustment": Adjustment,
        "Discount": Discount,
    }[schema]
    for value in values:
        document_takes = jsonschema.Draft202012Validator(field_schema).is_valid(value)
        errors = []
        try:
            model.__pydantic_validator__.validate_assignment(model.model_construct(), field, value)
        except pydantic.ValidationError as exc:  # the field's own (not the whole line's)
            errors = [e for e in exc.errors() if e["loc"][:1] == (field,)]
        assert document_takes == (not errors), (value, errors)


def test_every_schema_has_a_title_of_its_own() -> None:
    """A read form titled as its write form (``InvoiceRead`` titled "Invoice") made a code
    generator that names models by title drop one of the two, and every typed answer with it."""
    schemas = openapi_document()["components"]["schemas"]
    titles = [schema["title"] for schema in schemas.values() if "title" in schema]
    assert len(titles) == len(set(titles)), sorted(t for t in titles if titles.count(t) > 1)
    assert schemas["InvoiceRead"]["title"] == "InvoiceRead"
