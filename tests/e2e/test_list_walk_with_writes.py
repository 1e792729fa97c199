"""A connection's list walked while invoices are made and deleted between its pages.

draft_publish lists newest first and pages by offset, so every invoice made during a walk
lands before the walk's position and pushed the rest down: with one create between pages of
7, the walk handed 9 invoices out twice. A cursor now holds the row it last passed too, and the
walk resumes after it wherever its page now holds it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from gateway.sandbox.serve import Sandbox
from tests.contract.profiles.load import profile
from tests.e2e.conftest_sandbox import call
from tests.e2e.sandbox import sandbox_in_thread

CONNECTIONS = ["draft_publish", "crm_v1", "bill_crm", "item_envelope", "order_linked"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=30) as running:
        yield running


async def _every_id(sandbox: Sandbox, path: str) -> list[str]:
    ids: list[str] = []
    url = f"{path}?limit=100"
    while True:
        page = await call(sandbox, "GET", url)
        assert page.status == 200, page.body
        ids += [row["id"] for row in page.body["data"]]
        if not page.body["has_more"]:
            return ids
        url = f"{path}?limit=100&cursor={page.body['next_cursor']}"


async def _walk(
    sandbox: Sandbox, path: str, between: Any, *, view: str = ""
) -> tuple[list[str], int]:
    """Every id a walk of pages of 7 hands out, ``between(page_number)`` awaited after each
    page but the last; and how many pages it took."""
    handed: list[str] = []
    url, pages = f"{path}?limit=7{view}", 0
    while True:
        page = await call(sandbox, "GET", url)
        assert page.status == 200, page.body
        handed += [row["id"] for row in page.body["data"]]
        pages += 1
        if not page.body["has_more"]:
            return handed, pages
        await between(pages)
        url = f"{path}?limit=7{view}&cursor={page.body['next_cursor']}"


async def _create(sandbox: Sandbox, connection: str, index: int) -> str:
    body = profile(connection).sample(index).model_dump(mode="json", exclude_none=True)
    body["issue_date"] = str(date.today())
    if body.get("due_date") is not None:
        body["due_date"] = str(date.today())
    created = await call(sandbox, "POST", f"/v1/connections/{connection}/invoices", body=body)
    assert created.status == 201, created.body
    return str(created.body["id"])


@pytest.mark.parametrize("connection", CONNECTIONS)
@pytest.mark.parametrize("view", ["", "&view=summary"])
async def test_invoices_made_during_a_walk_hand_out_nothing_twice(
    sandbox: Sandbox, connection: str, view: str
) -> None:
    path = f"/v1/connections/{connection}/invoices"
    before = await _every_id(sandbox, path)

    async def make(page: int) -> None:
        await _create(sandbox, connection, page % 4)

    handed, pages = await _walk(sandbox, path, make, view=view)
    assert pages >= 4
    twice = sorted({one for one in handed if handed.count(one) > 1})
    assert twice == []
    assert [one for one in before if one not in handed] == []
