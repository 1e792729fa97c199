"""Two migration runs at once into one target, of one invoice and its copy: the target holds
the invoice once. Each run looks for the invoice's family at the target before its create and
again once its crosswalk row says ``pending``; of two runs at once, the later to write its row
always sees the other's, so no two both send a create."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from gateway.sandbox.serve import Sandbox
from tests.e2e import migrating as m
from tests.e2e.sandbox import sandbox_in_thread
from tests.e2e.test_migrate_back import made, migrate
from tests.e2e.test_migrate_runs import args_for
from tests.stores import POSTGRES, postgres_url


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=4) as running:
        yield running


async def family_at_bill_crm(sandbox: Sandbox, *sources: str) -> list[str]:
    """The bill_crm invoices whose tag names one of ``sources`` ("connection:id")."""
    tags = {f"migrated-from:{source}" for source in sources}
    return [
        str(invoice["id"])
        for invoice in await m.listing(sandbox, "bill_crm")
        if tags & set(invoice["tags"])
    ]


async def test_two_runs_at_once_into_one_target_copy_one_invoice_once(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """crm_v1 → item_envelope first; then crm_v1 → bill_crm and item_envelope → bill_crm at
    once, each past its look for the invoice's family before the other wrote its row (both
    held at that write by a lock on the crosswalk): both sent a create, and bill_crm held the
    invoice twice. Now at most one copies it; run again, each says why, and bill_crm holds it
    exactly once."""
    url = postgres_url()
    config = m.config_for(tmp_path, sandbox, url)
    [original] = await made(sandbox, "crm_v1", 1)
    side = migrate(config, tmp_path, "crm_v1", "item_envelope", [original], "side")
    assert side.code == 0, side.stderr
    [at_item] = [e["target_id"] for e in side.report]
    schema = url.partition("schema=")[2]
    first = args_for(tmp_path, "crm_v1", "bill_crm", [original], "first")
    second = args_for(tmp_path, "item_envelope", "bill_crm", [at_item], "second")
    db = await asyncpg.connect(POSTGRES)
    try:
        held = db.transaction()
        await held.start()
        await db.execute(f'LOCK TABLE "{schema}".crosswalk IN EXCLUSIVE MODE')
        runs = [
            m.start(config, "run", *first, report=tmp_path / "first.jsonl"),
            m.start(config, "run", *second, report=tmp_path / "second.jsonl"),
        ]

        async def both_waiting() -> bool:
            waiting = await db.fetchval(
                "SELECT count(*) FROM pg_locks WHERE relation = $1::regclass AND NOT granted",
                f'"{schema}".crosswalk',
            )
            return bool(waiting >= 2)

        await m.wait_until(both_waiting, "both runs at the crosswalk's write")
        await held.rollback()
    finally:
        await db.close()
    ran = [run.wait(60) for run in runs]

    outcomes = [r.report[0]["outcome"] for r in ran]
    assert "failed" not in outcomes, [r.stderr for r in ran]
    at_once = await family_at_bill_crm(sandbox, f"crm_v1:{original}", f"item_envelope:{at_item}")
    assert len(at_once) == outcomes.count("copied") <= 1, outcomes
    again = [
        migrate(config, tmp_path, "crm_v1", "bill_crm", [original], "first"),
        migrate(config, tmp_path, "item_envelope", "bill_crm", [at_item], "second"),
    ]
    assert (
        len(await family_at_bill_crm(sandbox, f"crm_v1:{original}", f"item_envelope:{at_item}"))
        == 1
    )
    assert sorted(r.report[0]["outcome"] for r in again) in (
        ["already_copied", "skipped"],
        ["copied", "skipped"],
    ), [r.stderr for r in again]
