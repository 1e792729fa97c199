"""The merge across connections (gateway/fanout.py) over in-memory providers that sort by issue
date, as tests/unit/test_listing.py walks one: random listings walked to the end, the page budget
of a scarce filter, and cursors that are signed but hold what no walk could have made. The same
route over real emulators: tests/e2e/test_fanout.py."""

from __future__ import annotations

import asyncio
import functools
import json
import random
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from adapters.base import (
    Adapter,
    Capabilities,
    ListedPage,
    ListedRow,
    ListQuery,
    Page,
    PageNumbers,
    SummaryPage,
)
from gateway.canonical.model import Invoice
from gateway.config import Connection
from gateway.fanout import NotMergeable, list_across
from gateway.listing import Cursors, InvalidCursor, Position
from tests.unit.test_representable import caps

CAPS = caps(
    set(),
    operations=frozenset({"list"}),
    filters=frozenset({"customer_id"}),
    max_page_size=10,
    sorts=frozenset({"issue_date"}),
)
UNSORTED = replace(CAPS, sorts=frozenset())
CURSORS = Cursors(b"secret")
START = date(2026, 1, 1)


class Sorted(Adapter):
    """A provider that lists by issue date (ties by id), in numbered pages; it filters by
    customer only, and counts its calls."""

    provider = "sorted"

    def __init__(self, name: str, days: list[int], caps: Capabilities = CAPS) -> None:
        self.invoices = [
            Invoice.model_validate(
                {
                    "id": f"{name}-{i}",
                    "connection": name,
                    "currency": "USD",
                    "status": "paid" if i % 4 == 0 else "open",
                    "customer": {"id": str(i % 2)},
                    "number": f"INV-{i:04d}",
                    "issue_date": (START + timedelta(days=day)).isoformat(),
                }
            )
            for i, day in enumerate(days)
        ]
        self.caps = caps
        self.calls = 0
        self.in_flight = self.most_at_once = 0
        self.connection = Connection.model_validate(
            {"name": name, "provider": "crm_v1", "base_url": "http://x", "auth": {"token": "t"}}
        )

    @property
    def capabilities(self) -> Capabilities:
        return self.caps

    def ordered(self, query: ListQuery, page_size: int) -> list[Invoice]:
        assert page_size <= self.caps.max_page_size
        by, descending = query.sort_order() or ("issue_date", False)
        assert by == "issue_date"
        return sorted(self.invoices, key=lambda i: (i.issue_date, i.id), reverse=descending)

    async def list_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
        assert query.status is None, "status is not a provider filter here"
        self.calls += 1
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        await asyncio.sleep(0)  # another read may start meanwhile
        self.in_flight -= 1
        rows = [
            i
            for i in self.ordered(query, page_size)
            if query.customer_id in (None, i.customer and i.customer.id)
        ]
        pages = PageNumbers(1)
        number = pages.number(page)
        chunk = rows[(number - 1) * page_size : number * page_size]
        following = pages.next_token(number, count=len(chunk), page_size=page_size, total=len(rows))
        return Page(chunk, following, total=len(rows))


async def walk(
    adapters: list[Sorted], limit: int, query: ListQuery
) -> tuple[list[Invoice], list[int]]:
    found: list[Invoice] = []
    sizes: list[int] = []
    cursor: str | None = None
    everything = sum(len(adapter.invoices) for adapter in adapters)
    while True:
        # A walk that stops advancing fails here instead of running for ever.
        assert len(sizes) <= everything + 1, "the walk does not end"
        listing = await list_across(adapters, query, limit, cursor, CURSORS)
        assert len(listing.invoices) <= limit
        found += listing.invoices
        sizes.append(len(listing.invoices))
        if not listing.has_more:
            assert listing.next_cursor is None
            return found, sizes
        cursor = listing.next_cursor


def expected(adapters: list[Sorted], query: ListQuery) -> list[str | None]:
    """Issue date in the sort's direction, then connection name, then the provider's order
    (an unsorted provider's, read whole: by id, an order that nothing written shifts)."""
    descending = query.sort == "-issue_date"
    rows = []
    for adapter in adapters:
        mine = list(adapter.invoices)
        if isinstance(adapter, Unsorted):
            mine.sort(key=lambda i: i.id or "")
        else:
            mine.sort(key=lambda i: (i.issue_date, i.id), reverse=descending)
        for index, invoice in enumerate(mine):
            if query.status in (None, invoice.status) and query.customer_id in (
                None,
                invoice.customer and invoice.customer.id,
            ):
                assert invoice.issue_date is not None
                day = invoice.issue_date.toordinal()
                rows.append(
                    ((-day if descending else day), adapter.connection.name, index, invoice)
                )
    rows.sort(key=lambda row: row[:3])
    return [row[3].id for row in rows]


@pytest.mark.parametrize("unsorted", [False, True], ids=["sorted", "with-unsorted"])
@pytest.mark.parametrize("seed", range(12))
async def test_random_listings_walk_to_their_merge_once_each(seed: int, unsorted: bool) -> None:
    """Unsorted: some connections have no issue-date sort (read whole), one at least."""
    rng = random.Random(seed)
    kinds: list[type[Sorted]] = [Sorted, Unsorted, Listed] if unsorted else [Sorted]
    adapters = [
        rng.choice(kinds)(f"c{n}", [rng.randint(0, 40) for _ in range(rng.randint(0, 37))])
        for n in rng.sample(range(9), rng.randint(1, 6))
    ]
    if unsorted:
        adapters.append(Unsorted("u", [rng.randint(0, 40) for _ in range(rng.randint(1, 37))]))
    query = ListQuery(
        sort=rng.choice(["issue_date", "-issue_date"]),
        status=rng.choice([None, "open"]),
        customer_id=rng.choice([None, "1"]),
    )
    limit = rng.choice([1, 2, 5, 7, 10, 25])
    found, sizes = await walk(adapters, limit, query)
    assert [i.id for i in found] == expected(adapters, query)
    assert all(size == limit for size in sizes[:-1])  # nothing filtered out of reach


async def test_each_connection_reads_one_page_of_the_limit_per_call() -> None:
    adapters = [Sorted(name, list(range(0, 60, 3))) for name in ("a", "b", "c")]
    listing = await list_across(adapters, ListQuery(sort="issue_date"), 6, None, CURSORS)
    assert [i.id for i in listing.invoices] == ["a-0", "b-0", "c-0", "a-1", "b-1", "c-1"]
    assert [adapter.calls for adapter in adapters] == [1, 1, 1]


async def test_a_connection_that_gives_more_than_its_page_is_read_on() -> None:
    early, late = Sorted("early", list(range(25))), Sorted("late", [5, 100, 100, 100])
    query = ListQuery(sort="issue_date")
    first = await list_across([late, early], query, 8, None, CURSORS)
    # Day 5 on both: the connection named first goes first.
    assert [i.id for i in first.invoices] == [
        *(f"early-{n}" for n in range(6)),
        "late-0",
        "early-6",
    ]
    assert (early.calls, late.calls) == (1, 1)
    second = await list_across([late, early], query, 8, first.next_cursor, CURSORS)
    assert [i.id for i in second.invoices] == [f"early-{n}" for n in range(7, 15)]
    # Its first page read again from where it stood (early-7), then its next page.
    assert (early.calls, late.calls) == (3, 2)


async def test_a_scarce_filter_answers_within_its_page_budget(monkeypatch: Any) -> None:
    monkeypatch.setattr("gateway.fanout.MAX_PAGES_PER_CALL", 2)
    caps = replace(CAPS, filters=frozenset())  # the customer filter is applied here
    sparse = Sorted("sparse", list(range(60)), caps)
    sparse.invoices = [
        i.model_copy(update={"customer": i.customer if i.id == "sparse-55" else None})
        for i in sparse.invoices
    ]
    dense = Sorted("dense", [70, 71])
    query = ListQuery(sort="issue_date", customer_id="1")
    found, sizes = await walk([sparse, dense], 5, query)
    assert [i.id for i in found] == ["sparse-55", "dense-1"]
    # Pages of 10 (the provider's most, as a filter applies here), two a call: dense-1 waits
    # until the sparse connection has been read past every invoice that might come before it.
    assert sizes == [0, 0, 2]


class Unsorted(Sorted):
    """A provider with no sort: it lists in its own order (as created, not by date), in pages
    that say the total."""

    provider = "unsorted"

    def __init__(self, name: str, days: list[int], caps: Capabilities = UNSORTED) -> None:
        super().__init__(name, days, caps)

    def ordered(self, query: ListQuery, page_size: int) -> list[Invoice]:
        assert page_size == self.caps.max_page_size, "a whole listing is read in the fewest pages"
        assert query.sort is None, "the provider has no sort to ask for"
        return list(self.invoices)

    def later_pages(self, first: SummaryPage, page_size: int) -> list[str] | None:
        return PageNumbers(1).after_first(first.next_page, first.total, page_size)


class Listed(Unsorted):
    """An unsorted provider whose rows are translated only when asked (``listed_page``), where
    nothing narrows them after translation (no status asked); it counts the translations."""

    provider = "listed"

    def __init__(self, name: str, days: list[int], caps: Capabilities = UNSORTED) -> None:
        super().__init__(name, days, caps)
        self.translated = 0

    async def listed_page(
        self, query: ListQuery, page: str | None, page_size: int
    ) -> ListedPage | None:
        if query.status is not None:
            return None
        listed = await self.list_page(query, page, page_size)
        return ListedPage(
            [
                ListedRow(i.issue_date, functools.partial(self.translate, i), i.id or "")
                for i in listed.invoices
            ],
            listed.next_page,
            listed.total,
        )

    def translate(self, invoice: Invoice) -> Invoice:
        self.translated += 1
        return invoice


async def test_an_unsorted_connection_is_read_whole_on_each_call() -> None:
    unsorted = Unsorted("plain", [9, 3, 7, 3, 1, 30, 2, 8, 5, 4, 6, 1])  # pages of 10: two
    first = await list_across(
        [Sorted("a", [2]), unsorted], ListQuery(sort="issue_date"), 4, None, CURSORS
    )
    # Day 1 twice (by id: plain-11, then plain-4), then a-0 before plain-6.
    assert [i.id for i in first.invoices] == ["plain-11", "plain-4", "a-0", "plain-6"]
    assert unsorted.calls == 2
    second = await list_across(
        [Sorted("a", [2]), unsorted], ListQuery(sort="issue_date"), 4, first.next_cursor, CURSORS
    )
    assert [i.id for i in second.invoices] == ["plain-1", "plain-3", "plain-9", "plain-8"]
    assert unsorted.calls == 4


@pytest.mark.parametrize("kind", [Unsorted, Listed])
async def test_invoices_made_or_deleted_during_a_walk_of_a_whole_listing_move_no_other(
    kind: type[Unsorted],
) -> None:
    """Between calls, an invoice already handed out is deleted, then two are made, one on a day
    already walked past and one later: nothing handed out comes again, nothing not yet handed
    out is skipped, and the later new one comes too."""
    plain = kind("plain", [1, 1, 2, 2, 3, 3, 4, 4])
    query = ListQuery(sort="issue_date")
    page = await list_across([plain], query, 3, None, CURSORS)
    handed = [i.id for i in page.invoices]
    template = plain.invoices[0]
    # One handed out is deleted: a count of those handed out would now skip one.
    plain.invoices.remove(next(i for i in plain.invoices if i.id == handed[0]))
    page = await list_across([plain], query, 2, page.next_cursor, CURSORS)
    handed += [i.id for i in page.invoices]
    # One is made on a day walked past (the count would hand one out again), one later.
    plain.invoices.insert(0, template.model_copy(update={"id": "new-early"}))
    late = START + timedelta(days=10)
    plain.invoices.insert(0, template.model_copy(update={"id": "new-late", "issue_date": late}))
    page = await list_across([plain], query, 50, page.next_cursor, CURSORS)
    handed += [i.id for i in page.invoices]
    assert len(handed) == len(set(handed)), handed
    assert set(handed) == {f"plain-{n}" for n in range(8)} | {"new-late"}
    assert handed[-1] == "new-late"


@pytest.mark.parametrize("kind", [Unsorted, Listed])
@pytest.mark.parametrize("sort", ["issue_date", "-issue_date"])
async def test_an_invoice_made_on_a_whole_listing_handed_out_to_its_end_comes_in(
    kind: type[Unsorted], sort: str
) -> None:
    """A page that ended just after a whole listing's last invoice, while another connection
    read on: its walk was taken for ended, its position dropped, and an invoice made then that
    sorts after that position never came, whatever page boundary, only where it fell."""
    query = ListQuery(sort=sort)
    ascending = sort == "issue_date"
    plain = kind("plain", [1, 2] if ascending else [8, 9])
    other = Sorted("zother", [5, 6, 7] if ascending else [3, 4, 5])
    first = await list_across([plain, other], query, 2, None, CURSORS)
    handed = ["plain-0", "plain-1"] if ascending else ["plain-1", "plain-0"]
    assert [i.id for i in first.invoices] == handed
    assert first.has_more
    day = 3 if ascending else 7  # after plain's last, before zother's first
    made = plain.invoices[0].model_copy(
        update={"id": "plain-new", "issue_date": START + timedelta(days=day)}
    )
    plain.invoices.append(made)
    rest = await list_across([plain, other], query, 10, first.next_cursor, CURSORS)
    others = ["zother-0", "zother-1", "zother-2"]
    assert [i.id for i in rest.invoices] == ["plain-new", *(others if ascending else others[::-1])]
    assert not rest.has_more and rest.next_cursor is None
    # With nothing written, the walk ends as before: a kept position is no page to come.
    again = await list_across([plain, other], query, 2, None, CURSORS)
    seen = [i.id for i in again.invoices]
    while again.has_more:
        again = await list_across([plain, other], query, 2, again.next_cursor, CURSORS)
        seen += [i.id for i in again.invoices]
    assert sorted(seen) == sorted(i.id for i in [*plain.invoices, *other.invoices])


@pytest.mark.parametrize("days", [[1, 2], [1, 2, 3]], ids=["last_page_full", "last_page_short"])
async def test_an_invoice_made_on_a_sorted_walk_handed_out_to_its_end_comes_in(
    days: list[int],
) -> None:
    """Oldest first, a sorted walk whose provider's last page was handed out while another
    connection read on was taken for ended, and an invoice made then with a later date never
    came (docs/facade.md: the safest walk, as those come at its end). It resumes after the
    last row of that page: the new one is on it, or (a full page) on the page after it."""
    query = ListQuery(sort="issue_date")
    early = Sorted("early", days)
    other = Sorted("zother", [5, 6, 7])
    handed: list[str] = []
    page = await list_across([early, other], query, 2, None, CURSORS)
    handed += [i.id for i in page.invoices]
    while not all(i.id in handed for i in early.invoices):
        page = await list_across([early, other], query, 2, page.next_cursor, CURSORS)
        handed += [i.id for i in page.invoices]
    assert page.has_more  # zother reads on
    made = early.invoices[0].model_copy(
        update={"id": "early-new", "issue_date": START + timedelta(days=6)}
    )
    early.invoices.append(made)
    while page.has_more:
        page = await list_across([early, other], query, 2, page.next_cursor, CURSORS)
        handed += [i.id for i in page.invoices]
    assert sorted(handed) == sorted(i.id for i in [*early.invoices, *other.invoices])
    assert len(handed) == len(set(handed)), handed
    assert handed.index("early-new") == handed.index("zother-1") - 1  # day 6: early first


async def test_newest_first_a_sorted_walk_handed_out_to_its_end_ends() -> None:
    """Newest first, an invoice made since sorts first and shifts the provider's rows by one:
    a walk resumed after its last row would hand that row out again. It ends as it did."""
    query = ListQuery(sort="-issue_date")
    late, other = Sorted("late", [8, 9]), Sorted("zother", [3, 4, 5])
    page = await list_across([late, other], query, 2, None, CURSORS)
    assert [i.id for i in page.invoices] == ["late-1", "late-0"]
    late.invoices.append(late.invoices[0].model_copy(update={"id": "late-new"}))
    rest = await list_across([late, other], query, 10, page.next_cursor, CURSORS)
    assert [i.id for i in rest.invoices] == ["zother-2", "zother-1", "zother-0"]
    assert late.calls == 1  # not read again


async def test_a_row_listed_on_two_pages_as_the_listing_shifts_is_handed_out_once() -> None:
    """An invoice made at the front of the provider's list while its pages are read (by
    offset, at once): the row at the page boundary comes on both pages, and once in the
    merge."""

    class Shifting(Unsorted):
        async def list_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
            listed = await super().list_page(query, page, page_size)
            if page is None and self.invoices[0].id != "new":
                made = START + timedelta(days=50)
                new = self.invoices[0].model_copy(update={"id": "new", "issue_date": made})
                self.invoices.insert(0, new)
            return listed

    shifting = Shifting("plain", list(range(15)))  # pages of 10: two
    listing = await list_across([shifting], ListQuery(sort="issue_date"), 50, None, CURSORS)
    ids = [i.id for i in listing.invoices]
    assert len(ids) == len(set(ids)), ids
    # The pages disagreed (totals 15 and 16), so the listing was read again, whole: the one
    # made meanwhile comes in, as it sorts after the walk's start (docs/facade.md, Cursor).
    assert set(ids) == {f"plain-{n}" for n in range(15)} | {"new"}
    assert shifting.calls == 4


async def test_a_row_moved_up_a_page_by_a_delete_while_the_pages_are_read_is_not_missed() -> None:
    """An invoice deleted from the provider's first page after it was read moves the first row
    of the next page onto it: that row was in neither, and a walk of the whole listing ended
    without it, saying nothing. The pages then disagree (totals 15 and 14), and the listing is
    read again."""

    class Shrinking(Unsorted):
        deleted = False

        async def list_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
            listed = await super().list_page(query, page, page_size)
            if page is None and not self.deleted:
                self.deleted = True
                del self.invoices[0]
            return listed

    shrinking = Shrinking("plain", list(range(15)))  # pages of 10: two
    listing = await list_across([shrinking], ListQuery(sort="issue_date"), 50, None, CURSORS)
    assert [i.id for i in listing.invoices] == [f"plain-{n}" for n in range(1, 15)]
    assert shrinking.calls == 4


async def test_a_listing_that_keeps_changing_is_read_three_times_at_most() -> None:
    class Churning(Unsorted):
        async def list_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
            listed = await super().list_page(query, page, page_size)
            if page is None:  # one made at the back after each first page: never agreeing
                self.invoices += Unsorted("plain", [0] * (len(self.invoices) + 1)).invoices[-1:]
            return listed

    churning = Churning("plain", list(range(15)))
    listing = await list_across([churning], ListQuery(sort="issue_date"), 50, None, CURSORS)
    assert churning.calls == 6  # three reads of two pages, then the rows as the last read them
    ids = [i.id for i in listing.invoices]
    assert len(ids) == len(set(ids)) == 18


async def test_a_listed_whole_listing_translates_only_what_it_hands_out() -> None:
    listed = Listed("plain", [9, 3, 7, 3, 1, 30, 2, 8, 5, 4, 6, 1])
    query = ListQuery(sort="issue_date")
    first = await list_across([Sorted("a", [2]), listed], query, 4, None, CURSORS)
    assert [i.id for i in first.invoices] == ["plain-11", "plain-4", "a-0", "plain-6"]
    assert listed.translated == 3
    second = await list_across([Sorted("a", [2]), listed], query, 4, first.next_cursor, CURSORS)
    assert [i.id for i in second.invoices] == ["plain-1", "plain-3", "plain-9", "plain-8"]
    assert listed.translated == 7
    # A filter applied here (status: not this provider's) needs every row's invoice, so the rows
    # come from list_page, which translates as it lists: listed_page is not used.
    await list_across([listed], replace(query, status="open"), 4, None, CURSORS)
    assert listed.translated == 7


async def test_the_pages_an_unsorted_listing_tells_are_read_at_once() -> None:
    unsorted = Unsorted("plain", [40 - n for n in range(35)])  # pages of 10: four
    listing = await list_across([unsorted], ListQuery(sort="issue_date"), 50, None, CURSORS)
    assert [i.id for i in listing.invoices] == [f"plain-{n}" for n in reversed(range(35))]
    assert unsorted.calls == 4
    assert unsorted.most_at_once == 3  # the first page alone, then the three it told of


async def test_an_unsorted_listing_that_grows_while_it_is_read_is_read_to_its_end() -> None:
    class Growing(Unsorted):
        async def list_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
            listed = await super().list_page(query, page, page_size)
            if page is None and len(self.invoices) == 20:  # ten more, once the first page
                self.invoices += Unsorted("plain", [0] * 30).invoices[20:]  # has told 20
            return listed

    growing = Growing("plain", list(range(20, 0, -1)))
    listing = await list_across([growing], ListQuery(sort="issue_date"), 50, None, CURSORS)
    assert len(listing.invoices) == 30 and not listing.has_more
    assert [i.id for i in listing.invoices[:10]] == [f"plain-{n}" for n in range(20, 30)]
    # Page 2 as told, then page 3, which page 2 pointed to; their totals (20, then 30)
    # disagree, so the listing is read again: its three pages, told by the first, at once.
    assert growing.calls == 6


async def test_an_unsorted_listing_larger_than_one_call_reads_is_not_merged(
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr("gateway.fanout.MAX_PAGES_PER_CALL", 2)
    unsorted = Unsorted("plain", list(range(21)))  # three pages of 10
    with pytest.raises(NotMergeable, match="plain") as raised:
        await list_across(
            [Sorted("a", [1]), unsorted], ListQuery(sort="issue_date"), 5, None, CURSORS
        )
    assert raised.value.connection == "plain"
    assert "more than 20 invoices" in raised.value.reason
    assert "narrow it with a filter unsorted applies (customer_id)" in raised.value.reason
    assert unsorted.calls == 1  # the first page's total says so


async def test_an_unsorted_listing_without_a_total_is_refused_at_its_page_budget(
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr("gateway.fanout.MAX_PAGES_PER_CALL", 2)

    class Untold(Unsorted):
        async def list_page(self, query: ListQuery, page: str | None, page_size: int) -> Page:
            listed = await super().list_page(query, page, page_size)
            return Page(listed.invoices, listed.next_page)

    untold = Untold("plain", list(range(25)))
    with pytest.raises(NotMergeable, match="plain"):
        await list_across([untold], ListQuery(sort="issue_date"), 5, None, CURSORS)
    assert untold.calls == 2
    fits = Untold("small", list(range(20)))
    listing = await list_across([fits], ListQuery(sort="issue_date"), 30, None, CURSORS)
    assert len(listing.invoices) == 20


def forged(adapters: list[Sorted], query: ListQuery, state: Any) -> str:
    """A cursor signed with the gateway's key for these connections, holding ``state``."""
    from gateway.listing import scope_of

    names = sorted(adapter.connection.name for adapter in adapters)
    scope = scope_of(json.dumps(["across", *names]), query)
    return CURSORS.make(scope, Position(page=json.dumps(state), offset=0, size=1))


@pytest.mark.parametrize(
    "state",
    [
        [[None, 0, 5]],  # one position for two connections
        [[None, 0, 5], [None, 0, 11]],  # a page larger than the provider's
        [[None, 6, 5], None],  # an offset past its page (5: after its last row)
        [[None, 0, 0], None],
        [["2", "0", 5], None],
        [[2, 0, 5], None],
        [[None, True, 5], None],
        [[None, 0], None],
        {"a": 1},
        "nonsense",
    ],
)
async def test_a_signed_cursor_holding_no_walk_position_is_refused(state: Any) -> None:
    adapters = [Sorted("a", [1, 2]), Sorted("b", [3])]
    query = ListQuery(sort="issue_date")
    with pytest.raises(InvalidCursor):
        await list_across(adapters, query, 5, forged(adapters, query, state), CURSORS)
    assert [adapter.calls for adapter in adapters] == [0, 0]


@pytest.mark.parametrize("page", ["x", "-1", "201", "1.5", "٣", ""])
async def test_a_signed_cursor_holding_no_whole_listing_count_is_refused(page: str) -> None:
    adapters: list[Sorted] = [Sorted("a", [1, 2]), Unsorted("b", [3, 1])]
    query = ListQuery(sort="issue_date")
    with pytest.raises(InvalidCursor):
        await list_across(
            adapters, query, 5, forged(adapters, query, [None, [page, 0, 1]]), CURSORS
        )
    assert [adapter.calls for adapter in adapters] == [0, 0]


async def test_a_well_formed_cursor_goes_on_from_each_position() -> None:
    adapters = [Sorted("a", [1, 2, 3]), Sorted("b", [1, 2, 3])]
    query = ListQuery(sort="issue_date")
    cursor = forged(adapters, query, [["1", 2, 5], None])
    listing = await list_across(adapters, query, 5, cursor, CURSORS)
    assert [i.id for i in listing.invoices] == ["a-2"]
    assert not listing.has_more
