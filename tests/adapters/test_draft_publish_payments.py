"""draft_publish payments: to the balance is paid, refusals with pointers, every page listed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from adapters.base import Conflict, InvalidRequest, NotFound, ReadBackFailed
from gateway.canonical.model import Payment
from gateway.config import RetrySettings
from tests.adapters.draft_publish_env import BASE, TODAY, Env, start


@pytest.fixture
async def env(aiohttp_server: Any) -> AsyncIterator[Env]:
    async for value in start(aiohttp_server):
        yield value


def payment(
    amount: str, *, method: str | None = "bank_transfer", ref: str | None = None
) -> Payment:
    return Payment(amount=Decimal(amount), date=date(2026, 6, 10), method=method, reference=ref)


async def issued(env: Env) -> tuple[str, Decimal]:
    invoice_id = await env.draft()
    invoice = await env.adapter.act(invoice_id, "issue")
    assert invoice.totals is not None
    return invoice_id, invoice.totals.total


async def test_payments_up_to_the_balance_read_back_paid(env: Env) -> None:
    invoice_id, total = await issued(env)
    first = (total / 3).quantize(Decimal("0.01"))
    recorded = await env.adapter.record_payment(invoice_id, payment(str(first), ref="T-1"))
    part = recorded.invoice
    assert [p.id for p in part.payments] == [recorded.payment_id]  # the provider's own id
    assert (part.status, part.payment_status, part.overdue) == ("open", "partially_paid", False)
    assert part.provider_status == {"status": "sent"}
    assert part.totals is not None and part.totals.due == total - first

    paid = (
        await env.adapter.record_payment(invoice_id, payment(str(total - first), ref="T-2"))
    ).invoice
    assert paid.provider_status == {"status": "paid"}
    assert (paid.status, paid.payment_status, paid.overdue) == ("paid", "paid", False)
    assert paid.totals is not None
    assert (paid.totals.paid, paid.totals.due) == (total, Decimal(0))
    assert [(p.amount, p.reference) for p in paid.payments] == [
        (first, "T-1"),
        (total - first, "T-2"),
    ]
    assert paid.totals_check is not None and paid.totals_check.consistent


async def test_deleting_a_payment_of_a_paid_invoice_reopens_it(env: Env) -> None:
    invoice_id, total = await issued(env)
    await env.adapter.record_payment(invoice_id, payment(str(total)))
    [recorded] = await env.adapter.list_payments(invoice_id)
    assert recorded.id is not None
    reopened = await env.adapter.delete_payment(invoice_id, recorded.id)
    assert (reopened.status, reopened.payment_status, reopened.payments) == ("open", "unpaid", [])
    assert reopened.totals is not None and reopened.totals.due == total


async def test_mark_paid_records_the_balance_as_a_payment(env: Env) -> None:
    invoice_id, total = await issued(env)
    await env.adapter.record_payment(invoice_id, payment("10.00"))
    paid = await env.adapter.act(invoice_id, "mark_paid")
    assert (paid.status, paid.payment_status) == ("paid", "paid")
    assert [(p.amount, p.method, p.date) for p in paid.payments] == [
        (Decimal("10.00"), "bank_transfer", date(2026, 6, 10)),
        (total - Decimal("10.00"), "other", TODAY),
    ]


async def test_an_overpayment_points_at_the_amount(env: Env) -> None:
    invoice_id, total = await issued(env)
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.record_payment(invoice_id, payment(str(total + 1)))
    assert [e.pointer for e in info.value.errors] == ["/amount"]
    assert f"must not exceed the balance due ({total})" in info.value.errors[0].detail


async def test_a_method_the_provider_does_not_know_points_at_the_method(env: Env) -> None:
    invoice_id, _ = await issued(env)
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.record_payment(invoice_id, payment("1.00", method="wire"))
    assert [e.pointer for e in info.value.errors] == ["/method"]
    assert "bank_transfer" in info.value.errors[0].detail


async def test_a_payment_without_a_method_is_refused_before_sending(env: Env) -> None:
    invoice_id, _ = await issued(env)
    before = len(await env.log())
    with pytest.raises(InvalidRequest) as info:
        await env.adapter.record_payment(invoice_id, payment("1.00", method=None))
    assert [(e.pointer, e.detail) for e in info.value.errors] == [
        ("/method", "is required by draft_publish")
    ]
    assert len(await env.log()) == before


async def test_payments_on_a_draft_or_a_voided_invoice_are_conflicts(env: Env) -> None:
    invoice_id = await env.draft()
    with pytest.raises(Conflict):
        await env.adapter.record_payment(invoice_id, payment("1.00"))
    await env.adapter.act(invoice_id, "issue")
    await env.adapter.record_payment(invoice_id, payment("1.00"))
    [recorded] = await env.adapter.list_payments(invoice_id)
    await env.adapter.act(invoice_id, "void")
    assert recorded.id is not None
    with pytest.raises(Conflict):
        await env.adapter.delete_payment(invoice_id, recorded.id)
    with pytest.raises(Conflict) as info:
        await env.adapter.act(invoice_id, "unpublish")
    assert "voided" in info.value.message


async def test_an_unknown_payment_is_not_found(env: Env) -> None:
    invoice_id, _ = await issued(env)
    with pytest.raises(NotFound) as info:
        await env.adapter.delete_payment(invoice_id, "no-such-payment")
    assert "no-such-payment" in info.value.message


async def test_every_page_of_payments_is_listed(env: Env) -> None:
    invoice_id, _ = await issued(env)
    for n in range(101):  # one more than the largest page
        status, _ = await env.raw(
            "POST",
            f"{BASE}/{invoice_id}/payments",
            {"amount": Decimal("0.01"), "method": "cash", "reference": f"R-{n}"},
        )
        assert status == 201
    payments = await env.adapter.list_payments(invoice_id)
    assert [p.reference for p in payments] == [f"R-{n}" for n in range(101)]
    queries = [r["query"] for r in (await env.log())[-2:]]
    assert queries == [{"page": "1", "limit": "100"}, {"page": "2", "limit": "100"}]


async def test_unpublishing_is_refused_while_payments_exist(env: Env) -> None:
    invoice_id, _ = await issued(env)
    await env.adapter.record_payment(invoice_id, payment("1.00"))
    with pytest.raises(Conflict) as info:
        await env.adapter.act(invoice_id, "unpublish")
    assert "payments" in info.value.message
    read = await env.adapter.get(invoice_id)
    assert (read.status, read.public_url is not None) == ("open", True)


async def test_a_recorded_payment_whose_read_back_fails_says_it_was_recorded(env: Env) -> None:
    invoice_id, _ = await issued(env)
    adapter = env.adapter_with(retries=RetrySettings(max_attempts=1))
    await env.faults(error_rate=1, error_status=503, methods=["GET"])
    with pytest.raises(ReadBackFailed) as info:
        await adapter.record_payment(invoice_id, payment("1.00"))
    [recorded] = env.store.documents[invoice_id].payments
    assert info.value.message.startswith(
        f"draft_publish recorded payment {recorded.id} on invoice {invoice_id}, but reading it back"
    )
    assert not info.value.retryable  # sending it again would record a second payment
