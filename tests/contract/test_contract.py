"""One contract, every provider: each adapter against its emulator, for what it declares."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import SecretStr

from adapters.base import (
    ACTIONS,
    AdapterError,
    InvalidRequest,
    ListQuery,
    NotFound,
    NotSupported,
    UnsupportedFields,
    UpstreamAuthFailed,
    walk,
)
from adapters.line_limits import Bound
from adapters.representable import LABELS
from gateway.canonical.model import Invoice, Payment, Tax
from gateway.canonical.money import exponent
from gateway.canonical.totals import calculate
from tests.contract.compare import differences
from tests.contract.conftest import Pair, providers

TOTALS = ("subtotal", "discount", "tax", "shipping", "adjustment", "total")


ALL = providers()
EXTRA_FIELDS = ("shipping", "tags", "terms", "reference", "due_date", "adjustment")


def parametrize(chosen: list[str]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("pair", chosen, indirect=True)


async def all_invoices(pair: Pair, page_size: int, query: ListQuery | None = None) -> list[Invoice]:
    found: list[Invoice] = []
    async for page in walk(pair.adapter, query or ListQuery(), page_size):
        assert len(page.invoices) <= page_size
        found += page.invoices
    return found


@pytest.mark.parametrize("page_size", [1, 7, 100])
@parametrize(ALL)
async def test_listing_returns_every_seeded_invoice_once(pair: Pair, page_size: int) -> None:
    invoices = await all_invoices(pair, min(page_size, pair.adapter.capabilities.max_page_size))
    ids = [invoice.id for invoice in invoices]
    assert len(ids) == pair.profile.seed_invoices
    assert len(set(ids)) == len(ids)
    assert all(
        invoice.connection == pair.provider and invoice.provider == pair.provider
        for invoice in invoices
    )


@parametrize(ALL)
async def test_every_seeded_invoice_reads_back_consistent(pair: Pair) -> None:
    listed = await all_invoices(pair, pair.adapter.capabilities.max_page_size)
    for summary in listed:
        assert summary.id is not None
        invoice = await pair.adapter.get(summary.id)
        assert invoice.id == summary.id
        assert invoice.totals_check is not None
        assert invoice.totals_check.differences == [], f"{pair.provider} invoice {invoice.id}"
        assert invoice.totals_check.consistent is True
        assert invoice.status in ("draft", "open", "paid", "void")
        assert invoice.payment_status in ("unpaid", "partially_paid", "paid")
        assert invoice.provider_status, "the provider's own status is kept"
        assert invoice.remote_data is not None


@parametrize(ALL)
async def test_unknown_invoice_is_not_found(pair: Pair) -> None:
    with pytest.raises(NotFound):
        await pair.adapter.get("999999999")


@parametrize(ALL)
async def test_wrong_credentials_are_an_upstream_auth_failure(pair: Pair) -> None:
    auth = pair.adapter.connection.auth.model_copy(update={"token": SecretStr("wrong-token")})
    with pytest.raises(UpstreamAuthFailed) as info:
        await pair.adapter_with(auth=auth).get("1")
    assert "wrong-token" not in str(info.value)
    assert info.value.retryable is False


@parametrize(providers(operations=("create",)))
async def test_the_checks_before_a_create_pass_what_it_takes_and_refuse_what_it_refuses(
    pair: Pair,
) -> None:
    """``check_create`` (what a migration's dry run asks) answers as the create does before
    sending: the profile's samples pass it; an invoice naming a tax the connection does not
    have is refused by the check with the create's own error, where the create refuses it
    before sending (all but crm_v1, which sends tax ids as they are)."""
    for n in range(3):
        pair.adapter.check_create(pair.profile.sample(n), "strict")
    sample = pair.profile.sample(0)
    line = sample.lines[0].model_copy(
        update={"taxes": [Tax(id="no-such-tax", rate=Decimal("3.3"))]}
    )
    unknown = sample.model_copy(update={"lines": [line, *sample.lines[1:]]})
    if pair.provider == "crm_v1":  # its tax ids go to the provider as they are: not checked
        pair.adapter.check_create(unknown, "strict")
        return
    with pytest.raises(AdapterError) as checked:
        pair.adapter.check_create(unknown, "strict")
    with pytest.raises(AdapterError) as created:
        await pair.adapter.create(unknown)
    assert (type(checked.value), checked.value.message) == (
        type(created.value),
        created.value.message,
    )


@parametrize(providers(operations=("create", "get")))
async def test_created_invoice_reads_back_as_written(pair: Pair) -> None:
    for n in range(3):
        sample = pair.profile.sample(n)
        created = await pair.adapter.create(sample)
        assert created.warnings == []
        assert created.invoice.id is not None
        read = await pair.adapter.get(created.invoice.id)
        assert differences(sample, read, pair.adapter.capabilities) == []
        engine = calculate(sample, pair.adapter.policy_for(sample)).totals
        assert read.totals is not None
        assert {f: getattr(read.totals, f) for f in TOTALS} == {
            f: getattr(engine, f) for f in TOTALS
        }
        assert read.totals_check is not None and read.totals_check.consistent


@parametrize(providers(operations=("create", "update", "get")))
async def test_update_replaces_the_writable_fields(pair: Pair) -> None:
    created = await pair.adapter.create(pair.profile.sample(0))
    assert created.invoice.id is not None
    replacement = pair.profile.sample(1)
    updated = await pair.adapter.update(created.invoice.id, replacement)
    assert updated.invoice.id == created.invoice.id
    read = await pair.adapter.get(created.invoice.id)
    assert differences(replacement, read, pair.adapter.capabilities) == []


@parametrize(providers(operations=("create", "delete", "get")))
async def test_deleted_invoice_is_gone(pair: Pair) -> None:
    created = await pair.adapter.create(pair.profile.sample(2))
    assert created.invoice.id is not None
    await pair.adapter.delete(created.invoice.id)
    with pytest.raises(NotFound):
        await pair.adapter.get(created.invoice.id)


@parametrize(providers(when=lambda caps, _: bool(caps.actions)))
async def test_declared_actions_move_the_status(pair: Pair) -> None:
    declared = pair.adapter.capabilities.actions
    covered = {action for path in pair.profile.action_paths for action, _ in path}
    assert declared <= covered, f"actions without a path: {sorted(declared - covered)}"
    for path in pair.profile.action_paths:
        created = await pair.adapter.create(pair.profile.sample(0))
        invoice_id = created.invoice.id
        assert invoice_id is not None
        for action, expected in path:
            result = await pair.adapter.act(invoice_id, action)
            if action in ("duplicate", "credit_note"):
                assert result.id != invoice_id
                assert result.status == expected
            else:
                assert result.id == invoice_id
                assert (action, result.status) == (action, expected)
                assert (await pair.adapter.get(invoice_id)).status == expected


@parametrize(ALL)
async def test_undeclared_operations_never_reach_the_provider(pair: Pair) -> None:
    caps = pair.adapter.capabilities
    sample = pair.profile.sample(0)
    calls = []
    if "update" not in caps.operations:
        calls.append(pair.adapter.update("1", sample))
    if "delete" not in caps.operations:
        calls.append(pair.adapter.delete("1"))
    calls += [pair.adapter.act("1", action) for action in ACTIONS if action not in caps.actions]
    if "list" not in caps.payments:
        calls.append(pair.adapter.list_payments("1"))
    if "create" not in caps.payments:
        calls.append(
            pair.adapter.record_payment("1", Payment(amount=Decimal("1.00"), date="2026-07-01"))
        )  # type: ignore[arg-type]
    if not caps.notes:
        calls.append(pair.adapter.add_note("1", "a note"))
    if not caps.create_from_order:
        calls.append(pair.adapter.create_from_order("1"))
    before = len(await pair.wire_log())
    for call in calls:
        with pytest.raises(NotSupported) as info:
            await call
        assert pair.provider in info.value.message
    assert len(await pair.wire_log()) == before


@parametrize(
    providers(
        operations=("create",), when=lambda caps, _: any(f not in caps.fields for f in EXTRA_FIELDS)
    )
)
async def test_a_field_the_provider_cannot_carry_is_refused_or_dropped(pair: Pair) -> None:
    caps = pair.adapter.capabilities
    sample = pair.profile.sample(0)
    extras = {  # a value for each of EXTRA_FIELDS
        "shipping": {"shipping": Decimal("5.00")},
        "tags": {"tags": ["migrated"]},
        "terms": {"terms": "Net 30"},
        "reference": {"reference": "PO-77"},
        "due_date": {"due_date": sample.issue_date},
        "adjustment": {"adjustment": {"amount": Decimal("-0.01"), "description": "rounding"}},
    }
    path = next(path for path in EXTRA_FIELDS if path not in caps.fields)
    invoice = Invoice.model_validate({**sample.model_dump(), **extras[path]})
    before = len(await pair.wire_log())
    with pytest.raises(UnsupportedFields) as info:
        await pair.adapter.create(invoice)
    assert [e.pointer for e in info.value.errors] == [f"/{path}"]
    assert info.value.errors[0].detail == f"{pair.provider} cannot carry {LABELS[path]}"
    assert len(await pair.wire_log()) == before
    lenient = await pair.adapter.create(invoice, handling="lenient")
    assert [w.as_dict() for w in lenient.warnings] == [
        {"field": f"/{path}", "reason": info.value.errors[0].detail}
    ]
    assert lenient.invoice.id is not None


@parametrize(providers(operations=("create",), when=lambda caps, _: "lines.taxes" in caps.fields))
async def test_a_rate_with_no_configured_tax_is_refused_before_sending(pair: Pair) -> None:
    sample = pair.profile.sample(0)
    item = next(i for i, line in enumerate(sample.lines) if line.kind == "item")
    data = sample.model_dump()
    data["lines"][item]["taxes"] = [{"rate": Decimal("12.3456"), "name": "Odd"}]
    before = len(await pair.wire_log())
    with pytest.raises(InvalidRequest) as info:
        await pair.adapter.create(Invoice.model_validate(data))
    assert info.value.errors[0].pointer == f"/lines/{item}/taxes/0/rate"
    assert "add it to the connection's taxes" in info.value.errors[0].detail
    assert len(await pair.wire_log()) == before


@parametrize(providers(when=lambda _, prof: prof.rejected is not None))
async def test_a_provider_rejection_names_the_canonical_field(pair: Pair) -> None:
    assert pair.profile.rejected is not None
    invoice, pointer = pair.profile.rejected
    with pytest.raises(InvalidRequest) as info:
        await pair.adapter.create(invoice)
    assert pointer in [e.pointer for e in info.value.errors]
    assert info.value.provider == pair.provider


@parametrize(providers(when=lambda caps, _: bool(caps.filters)))
async def test_declared_filters_select_exactly_the_matching_invoices(pair: Pair) -> None:
    caps = pair.adapter.capabilities
    everything = await all_invoices(pair, caps.max_page_size)
    some = everything[len(everything) // 2]
    queries = {
        "status": ListQuery(status=some.status),
        "customer_id": ListQuery(customer_id=some.customer.id if some.customer else None),
        "issued_from": ListQuery(issued_from=some.issue_date),
        "issued_to": ListQuery(issued_to=some.issue_date),
        "number": ListQuery(number=some.number),
    }
    for name in sorted(caps.filters):
        query = queries[name]
        got = {invoice.id for invoice in await all_invoices(pair, caps.max_page_size, query)}
        want = {invoice.id for invoice in everything if _matches(invoice, name, query)}
        assert some.id in got, name
        assert got == want, name


def _matches(invoice: Invoice, name: str, query: ListQuery) -> bool:
    if name == "status":
        return invoice.status == query.status
    if name == "customer_id":
        return invoice.customer is not None and invoice.customer.id == query.customer_id
    if name == "issued_from":
        return (
            invoice.issue_date is not None
            and query.issued_from is not None
            and invoice.issue_date >= query.issued_from
        )
    if name == "issued_to":
        return (
            invoice.issue_date is not None
            and query.issued_to is not None
            and invoice.issue_date <= query.issued_to
        )
    return (
        query.number is not None
        and invoice.number is not None
        and query.number.lower() in invoice.number.lower()
    )


@parametrize(providers(payments=("create",)))
async def test_payments_when_declared(pair: Pair) -> None:
    caps = pair.adapter.capabilities
    created = await pair.adapter.create(pair.profile.sample(0))
    invoice_id = created.invoice.id
    assert invoice_id is not None
    for action, _ in next((p for p in pair.profile.action_paths if p and p[0][0] == "issue"), []):
        await pair.adapter.act(invoice_id, action)
        break
    payment = Payment(
        amount=Decimal("1.00"), date="2026-07-02", method="bank_transfer", reference="T-1"
    )  # type: ignore[arg-type]
    recorded = await pair.adapter.record_payment(invoice_id, payment)
    after = recorded.invoice
    assert [p.id for p in after.payments] == [recorded.payment_id]
    assert after.totals is not None and after.totals.paid == Decimal("1.00")
    assert after.payment_status == "partially_paid"
    if "list" in caps.payments:
        payments = await pair.adapter.list_payments(invoice_id)
        assert [(p.amount, p.reference) for p in payments] == [(Decimal("1.00"), "T-1")]
        if "delete" in caps.payments:
            assert payments[0].id is not None
            cleared = await pair.adapter.delete_payment(invoice_id, payments[0].id)
            assert cleared.totals is not None and cleared.totals.paid == 0


def _beyond_and_within(bound: Bound) -> list[tuple[Decimal, Decimal]]:
    """For each side of ``bound``: a value just beyond it, and one just within."""
    step = Decimal("0.0001")
    pairs = []
    if bound.above is not None:
        pairs.append((bound.above, bound.above + step))
    if bound.below is not None:
        pairs.append((bound.below, bound.below - 1))
    if bound.at_most is not None:
        pairs.append((bound.at_most + 1, bound.at_most))
    return pairs


@parametrize(providers(operations=("create",)))
async def test_a_line_figure_the_provider_refuses_is_refused_before_sending(pair: Pair) -> None:
    """``capabilities.line_limits``: a quantity of 0 (or a figure past the provider's bound) was
    a 200 preview on three connections and the provider's 422 at create. The check a preview
    and a dry run make (``check_create``) and the create refuse it alike, at its pointer,
    before sending; a figure just within passes the check."""
    limits = pair.adapter.capabilities.line_limits
    assert "quantity" in limits.bounds  # every provider refuses a line of nothing
    sample = pair.profile.sample(0)
    item = next(i for i, line in enumerate(sample.lines) if line.kind == "item")
    figures = {"quantity": "quantity", "unit_price": "unit_price"}
    for name, bound in limits.bounds.items():
        if name not in figures:
            continue
        for beyond, within in _beyond_and_within(bound):
            data = sample.model_dump()
            data["lines"][item][figures[name]] = beyond
            invoice = Invoice.model_validate(data)
            before = len(await pair.wire_log())
            with pytest.raises(InvalidRequest) as checked:
                pair.adapter.check_create(invoice, "strict")
            with pytest.raises(InvalidRequest) as created:
                await pair.adapter.create(invoice)
            pointer = f"/lines/{item}/{name}"
            assert pointer in [e.pointer for e in checked.value.errors], checked.value.errors
            assert [e.pointer for e in created.value.errors] == [
                e.pointer for e in checked.value.errors
            ]
            assert pair.provider in next(
                e.detail for e in created.value.errors if e.pointer == pointer
            )
            assert len(await pair.wire_log()) == before  # nothing sent
            data["lines"][item][figures[name]] = within
            data["lines"][item]["quantity"] = within if name == "quantity" else Decimal("0.0001")
            data["lines"][item]["unit_price"] = within if name == "unit_price" else Decimal(1)
            pair.adapter.check_create(Invoice.model_validate(data), "strict")
    if limits.max_lines is not None:
        data = sample.model_dump()
        data["lines"] = [data["lines"][item]] * (limits.max_lines + 1)
        with pytest.raises(InvalidRequest) as many:
            pair.adapter.check_create(Invoice.model_validate(data), "strict")
        assert "/lines" in [e.pointer for e in many.value.errors]
        data["lines"] = data["lines"][: limits.max_lines]
        pair.adapter.check_create(Invoice.model_validate(data), "strict")


@parametrize(providers(operations=("create",)))
async def test_an_exchange_rate_finer_than_the_provider_takes_is_refused_before_sending(
    pair: Pair,
) -> None:
    """The canonical exchange rate takes 10 places; crm_v1 takes 6 in every number. A rate of
    7 was a 200 preview and crm_v1's 422 at create. Where the mapping bounds the rate
    (``line_limits.exchange_rate``), the check and the create refuse it at ``/exchange_rate``,
    before sending; a rate of as many places as the provider takes passes the check."""
    bound = pair.adapter.capabilities.line_limits.bounds.get("exchange_rate")
    if (
        bound is None
        or bound.places is None
        or "exchange_rate" not in pair.adapter.capabilities.fields
    ):
        assert pair.provider != "crm_v1"  # the one whose numbers take 6 places
        return
    fine = Decimal(1) + Decimal(1).scaleb(-(bound.places + 1))
    invoice = pair.profile.sample(0).model_copy(update={"exchange_rate": fine})
    before = len(await pair.wire_log())
    with pytest.raises(InvalidRequest) as checked:
        pair.adapter.check_create(invoice, "strict")
    assert [e.pointer for e in checked.value.errors] == ["/exchange_rate"]
    with pytest.raises(InvalidRequest) as created:
        await pair.adapter.create(invoice)
    [error] = created.value.errors
    assert (error.pointer, error.detail) == (
        "/exchange_rate",
        f"must have at most {bound.places} decimal places for {pair.provider}",
    )
    assert len(await pair.wire_log()) == before  # nothing sent
    within = Decimal(1) + Decimal(1).scaleb(-bound.places)
    pair.adapter.check_create(invoice.model_copy(update={"exchange_rate": within}), "strict")
    # Trailing zeros are not places: crm_v1 writes back a rate of 1.50000000 it was given.
    padded = Decimal("1.5").quantize(Decimal(1).scaleb(-(bound.places + 2)))
    pair.adapter.check_create(invoice.model_copy(update={"exchange_rate": padded}), "strict")


@parametrize(providers(operations=("create", "get")))
async def test_an_invoices_own_amounts_read_at_the_currencys_minor_units(pair: Pair) -> None:
    """``shipping`` left out read ``"0"`` on four connections and ``"0.00"`` on the fifth (and a
    bill_crm adjustment of 0 ``"0"``), where ``totals.shipping`` is ``"0.00"`` on every one: an
    app comparing amounts as strings across connections saw a difference that is not there."""
    sample = pair.profile.sample(0)
    made = (await pair.adapter.create(sample.model_copy(update={"shipping": Decimal(0)}))).invoice
    read = (await pair.adapter.get(made.id or "")).model_dump(mode="json")
    places = exponent(read["currency"])
    for written in (read["shipping"], read["totals"]["shipping"]):
        assert written == f"{Decimal(0):.{places}f}", read["shipping"]
    if read.get("adjustment") is not None:
        amount = read["adjustment"]["amount"]
        assert len(amount.partition(".")[2]) >= places, amount
