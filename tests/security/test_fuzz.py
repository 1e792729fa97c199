"""Fuzzing the invoice routes over HTTP, against the sandbox: generated canonical invoices, valid
(tests/security/fuzz_bodies.py) and broken one way each (tests/security/fuzz_mutations.py).

Never a 5xx; every 4xx an RFC 9457 problem whose code matches its status, and whose ``errors``
(a 422 always has them) point into the body sent (or name a required or computed field there);
a broken body gets the answer its breakage calls for, at the path broken. Valid bodies:
``POST /v1/invoices/calculate`` answers exactly what the engine (``calculated_invoice``) makes
of them, with totals that add up, whether amounts are sent as strings or JSON numbers; a preview
on any connection agrees with calculate under the connection's rounding, and what a strict
preview refuses the lenient one drops and names, leaving an invoice the strict one takes; on
crm_v1, a create gets the totals its preview promised, and malformed text never reaches it.

Bounded and deterministic for CI (derandomized: 735 examples and 7 fixed cases, ~15 s). For a
longer, random run: ``GATEWAY_FUZZ_SCALE=20 .venv/bin/python -m pytest tests/security/test_fuzz.py``
(20 times the examples, a new draw each run; a failure prints the body to replay).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from adapters.mapping import load_mapping
from gateway.canonical.calculated import calculated_invoice
from gateway.canonical.model import LINE_COMPUTED, RoundingPolicy, Totals, invoice_from_input
from gateway.canonical.money import MINOR_UNITS
from gateway.http.problems import PROBLEMS, shown_pointer
from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import profile
from tests.e2e.sandbox import sandbox_in_thread
from tests.security.fuzz_bodies import (
    Mutant,
    Raw,
    policies,
    resolves,
    to_json,
    uncut,
    valid_bodies,
    view,
)
from tests.security.fuzz_mutations import CURRENCY_FINE, mutants

SCALE = int(os.environ.get("GATEWAY_FUZZ_SCALE", "1"))
CALCULATE = "/v1/invoices/calculate"
CONNECTIONS = ["crm_v1", "draft_publish", "bill_crm", "item_envelope", "order_linked"]
AMOUNTS = ("subtotal", "discount", "tax", "shipping", "adjustment", "total", "paid", "due")
TOTALS_FIELDS = frozenset(Totals.model_fields)


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        derandomize=SCALE == 1,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.function_scoped_fixture,
        ],
    )


class Reply:
    def __init__(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body: Any = json.loads(data) if "json" in headers.get("content-type", "") else data


class Http:
    """One keep-alive connection to the gateway (or an emulator), from the test's thread."""

    def __init__(self, base: str) -> None:
        where = urlsplit(base)
        self.host, self.port = where.hostname or "127.0.0.1", where.port or 80
        self.connection: http.client.HTTPConnection | None = None

    def send(self, method: str, path: str, payload: bytes | None = None, **headers: str) -> Reply:
        head = {"Authorization": "Bearer sk_sandbox", **headers}
        if payload is not None:
            head.setdefault("Content-Type", "application/json")
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.connection.request(method, path, body=payload, headers=head)
                response = self.connection.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise
                continue
            found = {k.lower(): v for k, v in response.getheaders()}
            return Reply(response.status, found, data)
        raise AssertionError("unreachable")

    def post(self, path: str, body: Any, **headers: str) -> Reply:
        payload = body if isinstance(body, bytes) else to_json(body).encode()
        return self.send("POST", path, payload, **headers)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=3) as running:
        yield running


@pytest.fixture(scope="module")
def gateway(sandbox: Sandbox) -> Http:
    return Http(sandbox.gateway_url)


def preview(connection: str) -> str:
    return f"/v1/connections/{connection}/invoices/preview"


# -- what every answer must be ------------------------------------------------------------------


def pointer_fits(body: Any, pointer: str, detail: str) -> bool:
    """A pointer into the body sent; or a field it lacks and needs (``is required``: under an
    object that is there, null or absent); or, one level below something there, a computed
    amount (a write's bounds name those)."""
    if resolves(body, pointer):
        return True
    parent, _, last = pointer.rpartition("/")
    if parent == "" and isinstance(body, dict):
        return True  # a field of the invoice it lacks and a provider needs ("/lines")
    if parent == "/totals":
        return last in TOTALS_FIELDS
    if detail.startswith("is required"):
        while not resolves(body, parent):
            parent = parent.rpartition("/")[0]
        return isinstance(view_at(body, parent), dict | None)
    resolved = resolves(body, parent) and isinstance(view_at(body, parent), dict)
    return resolved and parent.count("/") == 2 and last in LINE_COMPUTED


def view_at(body: Any, pointer: str) -> Any:
    for token in pointer[1:].split("/") if pointer else []:
        token = uncut(body, token.replace("~1", "/").replace("~0", "~"))
        body = body[int(token)] if isinstance(body, list) else body[token]
    return body


def check_answer(reply: Reply, sent: Any) -> None:
    """No 5xx; a 4xx is a problem (RFC 9457) whose errors point into ``sent`` (parsed)."""
    assert reply.status < 500, reply.body
    if reply.status < 400:
        return
    problem = reply.body
    assert reply.headers["content-type"].startswith("application/problem+json"), problem
    code = problem["code"]
    assert PROBLEMS[code][0] == reply.status == problem["status"], problem
    assert problem["type"] == f"/problems/{code}" and problem["title"] == PROBLEMS[code][1]
    assert isinstance(problem["detail"], str) and problem["detail"], problem
    assert "Traceback" not in problem["detail"]
    errors = problem.get("errors", [])
    assert errors or reply.status != 422, problem
    for error in errors:
        assert set(error) == {"pointer", "detail"} and error["detail"], error
        if sent is not None:
            assert pointer_fits(sent, error["pointer"], error["detail"]), (error, problem)


def related(pointer: str, path: str) -> bool:
    return pointer == path or pointer.startswith(path + "/") or path.startswith(pointer + "/")


def check_mutant(reply: Reply, mutant: Mutant) -> None:
    note(f"{mutant.kind} at {mutant.path!r}: {mutant.payload[:2000]!r}")
    check_answer(reply, mutant.body)
    if mutant.status == 400:
        assert (reply.status, reply.body["code"]) == (400, "bad_request"), reply.body
        if mutant.kind == "lone_surrogate":
            assert [e["pointer"] for e in reply.body["errors"]] == [mutant.path], reply.body
    elif mutant.status == 422:
        assert reply.status == 422, reply.body
        if reply.body["code"] == "unsupported_field":  # checked before the engine's rules
            assert mutant.kind == CURRENCY_FINE, reply.body
            return
        pointers = [e["pointer"] for e in reply.body["errors"]]
        shown = shown_pointer(mutant.path)  # a name over 100 characters is cut there
        assert any(related(p, shown) for p in pointers), (mutant.path, reply.body)


def check_totals(invoice: dict[str, Any]) -> None:
    """The totals add up, in the currency's minor unit; lines and payments sum to them."""
    places = MINOR_UNITS[invoice["currency"]]
    totals = {name: Decimal(invoice["totals"][name]) for name in AMOUNTS}
    assert all(v.as_tuple().exponent == -places for v in totals.values()), invoice["totals"]
    expected_total = totals["subtotal"] - totals["discount"] + totals["tax"] + totals["shipping"]
    assert expected_total + totals["adjustment"] == totals["total"]
    assert totals["total"] - totals["paid"] == totals["due"]
    rows = invoice["totals"]["tax_breakdown"]
    assert sum((Decimal(row["tax"]) for row in rows), Decimal(0)) == totals["tax"]
    nets = sum((Decimal(line["net_amount"]) for line in computed_lines(invoice)), Decimal(0))
    inclusive = invoice["tax_mode"] == "inclusive"
    assert (nets - totals["tax"] if inclusive else nets) == totals["subtotal"]
    paid = sum((Decimal(payment["amount"]) for payment in invoice["payments"]), Decimal(0))
    assert paid == totals["paid"]


def computed_lines(invoice: dict[str, Any]) -> list[dict[str, Any]]:
    return [line for line in invoice["lines"] if line["kind"] == "item"]


def amounts(invoice: dict[str, Any], *, names: bool = True) -> dict[str, Any]:
    """What a calculation computes; with ``names=False``, the tax breakdown summed by rate (a
    provider names the taxes it is sent, so rows split by name may come back split otherwise)."""
    totals = {k: v for k, v in invoice["totals"].items() if k != "paid_source"}
    if not names:
        by_rate: dict[Decimal, list[Decimal]] = {}
        for row in totals["tax_breakdown"]:
            sums = by_rate.setdefault(Decimal(row["rate"]), [Decimal(0), Decimal(0)])
            sums[0] += Decimal(row["taxable"])
            sums[1] += Decimal(row["tax"])
        totals["tax_breakdown"] = by_rate
    return {
        "totals": totals,
        "lines": [{k: line.get(k) for k in sorted(LINE_COMPUTED)} for line in invoice["lines"]],
        "payment_status": invoice["payment_status"],
    }


def by_value(value: Any) -> Any:
    """Amounts as numbers: ``"0"`` and ``"0.00"`` alike (a provider's figures are read as they
    are, so their trailing zeros are the provider's)."""
    if isinstance(value, dict):
        return {k: by_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [by_value(v) for v in value]
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value):
        return Decimal(value)
    return value


def engine(body: Any, policy: Any) -> dict[str, Any]:
    calculated = calculated_invoice(invoice_from_input(body), RoundingPolicy.model_validate(policy))
    answer: dict[str, Any] = json.loads(calculated.model_dump_json())
    return answer


def as_strings(value: Any) -> Any:
    """The same body with every JSON number written as a decimal string."""
    if isinstance(value, Raw):
        return format(Decimal(value), "f")
    if isinstance(value, dict):
        return {k: as_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_strings(v) for v in value]
    return value


# -- calculate ----------------------------------------------------------------------------------


@fuzz(80)
@given(body=valid_bodies(), policy=policies(), explicit=st.booleans())
def test_valid_bodies_calculate_as_the_engine_does(
    gateway: Http, body: dict[str, Any], policy: dict[str, str] | None, explicit: bool
) -> None:
    sent = {**body, "policy": policy} if policy is not None or explicit else body
    note(to_json(sent))
    reply = gateway.post(CALCULATE, sent)
    assert reply.status == 200, reply.body
    assert reply.body == engine(view(body), policy or {})
    check_totals(reply.body)
    as_text = gateway.post(CALCULATE, as_strings(sent))
    assert as_text.status == 200, as_text.body
    assert amounts(as_text.body) == amounts(reply.body)


@fuzz(250)
@given(
    st.tuples(valid_bodies(), policies()).flatmap(lambda bp: mutants({**bp[0], "policy": bp[1]}))
)
def test_broken_bodies_to_calculate(gateway: Http, mutant: Mutant) -> None:
    check_mutant(gateway.post(CALCULATE, mutant.payload), mutant)


# What the fuzzing found (a 500, or taken silently), kept as fixed examples.
FOUND = [
    (b'{"currency": "USD", "provider_fields": {"memo": "a\\ud800"}}', "/provider_fields/memo"),
    (
        b'{"currency": "USD", "lines": [{"kind": "section", "name": "\xed\xa0\x80"}]}',
        "/lines/0/name",
    ),
    (b'{"currency": "USD", "tags": [], "currency": "EUR"}', None),
]


@pytest.mark.parametrize("path", [CALCULATE, preview("crm_v1")])
@pytest.mark.parametrize(("payload", "pointer"), FOUND)
def test_what_fuzzing_found_is_a_400(
    gateway: Http, path: str, payload: bytes, pointer: Any
) -> None:
    reply = gateway.send("POST", path, payload)
    check_answer(reply, None)
    assert (reply.status, reply.body["code"]) == (400, "bad_request"), reply.body
    assert [e["pointer"] for e in reply.body.get("errors", [])] == ([pointer] if pointer else [])
    assert pointer or 'the member "currency" twice' in reply.body["detail"]


def test_what_schemathesis_found(gateway: Http) -> None:
    """A method a route lacks is its 405 whatever the key; an empty sort is no sort at all."""
    bad_key = gateway.send("PUT", CALCULATE, b"{}", **{"Idempotency-Key": "a key"})
    assert (bad_key.status, bad_key.body["code"]) == (405, "method_not_allowed"), bad_key.body
    empty = gateway.send("GET", "/v1/connections/crm_v1/invoices?sort=")
    assert (empty.status, [e["pointer"] for e in empty.body["errors"]]) == (400, ["#/query/sort"])


# -- preview, on every connection ---------------------------------------------------------------


@pytest.fixture(scope="module")
def roundings(gateway: Http) -> dict[str, list[dict[str, str]]]:
    """The policies a connection's previews may follow: its own; bill_crm's tax scope depends
    on the invoice (adapters/bill_crm), so either scope with its mode."""
    found = {}
    for connection in CONNECTIONS:
        reply = gateway.send("GET", f"/v1/connections/{connection}")
        assert reply.status == 200, reply.body
        own = reply.body["rounding"]
        scopes = ["per_line", "per_rate"] if connection == "bill_crm" else [own["tax_scope"]]
        found[connection] = [{"mode": own["mode"], "tax_scope": scope} for scope in scopes]
    return found


def item_taxes_unseen(connection: str, body: Any) -> set[str]:
    """Where the provider taxes each line by its item, a preview warns on each item line."""
    if not load_mapping(connection).capabilities.taxes_by_item:
        return set()
    lines = body.get("lines") or []
    return {f"/lines/{i}/taxes" for i, line in enumerate(lines) if line.get("kind") != "section"}


@pytest.mark.parametrize("connection", CONNECTIONS)
@fuzz(30)
@given(body=valid_bodies())
def test_previews_agree_with_calculate(
    gateway: Http, roundings: dict[str, list[dict[str, str]]], connection: str, body: Any
) -> None:
    note(to_json(body))
    strict = gateway.post(preview(connection), body)
    check_answer(strict, view(body))
    unseen = item_taxes_unseen(connection, body)
    if strict.status == 200:
        assert strict.body["connection"] == connection
        assert {w["field"] for w in strict.body.get("warnings", [])} == unseen
        check_totals(strict.body)
        calculated = [
            gateway.post(CALCULATE, {**body, "policy": policy}) for policy in roundings[connection]
        ]
        assert all(reply.status == 200 for reply in calculated), calculated[0].body
        assert amounts(strict.body) in [amounts(reply.body) for reply in calculated]
        return
    if (strict.status, strict.body["code"]) == (422, "validation_error"):
        return  # the create's own checks refuse it (a field the provider needs): so does this
    assert (strict.status, strict.body["code"]) == (422, "unsupported_field"), strict.body
    refused = {error["pointer"] for error in strict.body["errors"]}
    lenient = gateway.post(preview(connection), body, Prefer="handling=lenient")
    check_answer(lenient, view(body))
    if "/tax_mode" in refused:  # prices mean something else in the other mode: never dropped
        assert (lenient.status, lenient.body["code"]) == (422, "unsupported_field")
        return
    if lenient.status == 422 and lenient.body["code"] == "validation_error":
        return  # what lenient handling keeps, the create still refuses (no line left, say)
    assert lenient.status == 200, lenient.body
    assert {warning["field"] for warning in lenient.body["warnings"]} == refused | unseen
    check_totals(lenient.body)
    again = gateway.post(preview(connection), lenient.body)  # what lenient kept, strict takes
    assert again.status == 200, again.body
    assert amounts(again.body) == amounts(lenient.body)


@pytest.mark.parametrize("connection", CONNECTIONS)
@fuzz(40)
@given(mutant=valid_bodies().flatmap(mutants))
def test_broken_bodies_to_preview(gateway: Http, connection: str, mutant: Mutant) -> None:
    check_mutant(gateway.post(preview(connection), mutant.payload), mutant)


# -- create, on crm_v1 (each example writes to its emulator) ------------------------------------

CREATE = "/v1/connections/crm_v1/invoices"


def crm_v1_bodies() -> st.SearchStrategy[dict[str, Any]]:
    return profile("crm_v1").invoices().map(lambda i: i.model_dump(mode="json", exclude_none=True))


@fuzz(15)
@given(body=crm_v1_bodies())
def test_creates_get_the_totals_their_preview_promised(gateway: Http, body: Any) -> None:
    note(to_json(body))
    promised = gateway.post(preview("crm_v1"), body)
    assert promised.status == 200, promised.body
    created = gateway.post(CREATE, body, **{"Idempotency-Key": uuid.uuid4().hex})
    assert created.status == 201, created.body
    assert created.body["totals_check"] == {"consistent": True, "differences": []}
    # The provider's figures as they are ("0" where it has no shipping) and its tax names.
    made, promise = amounts(created.body, names=False), amounts(promised.body, names=False)
    assert by_value(made) == by_value(promise)


@fuzz(40)
@given(mutant=crm_v1_bodies().flatmap(mutants))
def test_broken_bodies_to_create(sandbox: Sandbox, gateway: Http, mutant: Mutant) -> None:
    emulator = Http(sandbox.emulator_urls["crm_v1"])
    before = len(emulator.send("GET", "/_emulator/requests").body["requests"])
    reply = gateway.post(CREATE, mutant.payload, **{"Idempotency-Key": uuid.uuid4().hex})
    check_mutant(reply, mutant)
    if reply.status in (400, 415):  # malformed: nothing reaches the provider
        after = len(emulator.send("GET", "/_emulator/requests").body["requests"])
        assert after == before
