"""A provider's own values that reach a response header (its record version in ``ETag``, its
invoice id in ``Location``) cannot break the header: a quote or a line break in a version
gives the content's digest instead, an id is percent-encoded."""

from __future__ import annotations

import re

from aiohttp.test_utils import make_mocked_request

from gateway.canonical.model import Invoice, with_fields
from gateway.http.views.common import invoice_response
from gateway.service.versions import version_tag


def _invoice(**fields: object) -> Invoice:
    line = {"name": "n", "quantity": "1", "unit_price": "5.00"}
    invoice = Invoice.model_validate({"currency": "USD", "lines": [line]})
    return with_fields(invoice, dict(fields))


def test_a_version_an_entity_tag_can_hold_is_the_tag() -> None:
    assert version_tag(_invoice(version="7")) == '"7"'


def test_a_version_that_would_break_the_header_gives_the_digest() -> None:
    for version in ('1"\r\nX-Injected: y', '1" , W/"2', "a b", "v\x00"):
        assert re.fullmatch(r'W/"[0-9a-f]{20}"', version_tag(_invoice(version=version)))


def test_a_new_invoices_location_holds_its_id_percent_encoded() -> None:
    request = make_mocked_request(
        "POST", "/v1/connections/shop/invoices", match_info={"connection": "shop"}
    )
    response = invoice_response(_invoice(id="../INV 1\r\nX: y"), request, status=201)
    assert response.headers["Location"] == (
        "/v1/connections/shop/invoices/..%2FINV%201%0D%0AX%3A%20y"
    )
