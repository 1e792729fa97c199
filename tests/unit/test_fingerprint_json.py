"""A write's fingerprint is taken of the same bytes as before it was written by orjson: a key
stored by an earlier version of the gateway still matches its own request."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.jsonwire import sorted_compact
from gateway.service.invoices import _body
from gateway.service.write_request import WriteRequest
from tests.unit.test_hot_path import invoice


def stdlib(value: Any) -> bytes:
    """What the fingerprint was taken of before."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return text.encode()


# JSON values as the JSON-mode dumps of the canonical models hold them: no floats.
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)


@given(values)
def test_the_bytes_are_the_standard_writers(value: Any) -> None:
    assert sorted_compact(value) == stdlib(value)


def test_what_orjson_refuses_is_written_by_the_standard_writer() -> None:
    for value in ({"big": 2**70}, {1: "a non-string key"}, {"date": object}, ["\t\x1f\u2028é"]):
        assert sorted_compact(value) == stdlib(value)


def test_a_create_s_fingerprint_is_what_it_was() -> None:
    request = WriteRequest("client", "shop", "POST /v1/invoices", "/v1/invoices", "key-1")
    body = _body(invoice(notes='Zoë "quoted" \\ \n', tags=["b", "a"]))
    before = hashlib.sha256(
        stdlib(
            {
                "operation": request.operation,
                "target": request.target,
                "body": body,
                "prefer": "lenient",
            }
        )
    ).hexdigest()
    assert request.fingerprint(body, "lenient") == before
    assert request.fingerprint(body, "strict") != before
