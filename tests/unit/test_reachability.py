"""Each provider doc's "Reachability" count agrees with its mapping's ``reachability``.

docs/providers/<provider>.md counts the provider doc's items point by point in two tables (what
/v1 reaches, and what it deliberately does not, with the reason); mappings/<provider>.yaml
states the count and the not-reachable entries, which the capability matrix shows. Neither can
change without the other.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from adapters.mapping import MappingError, load_mapping, parse_mapping
from adapters.matrix import render
from adapters.registry import ADAPTERS

DOCS = Path(__file__).parents[2] / "docs" / "providers"
TOTAL = re.compile(r"\*\*(\d+) of (\d+) documented items are reachable\.\*\*")


def _cells(row: str) -> list[str]:
    """A markdown table row's cells; ``\\|`` inside a cell is a literal bar."""
    cells = re.split(r"(?<!\\)\|", row.strip().strip("|"))
    return [" ".join(cell.replace("\\|", "|").split()) for cell in cells]


def _tables(text: str) -> list[list[list[str]]]:
    """Each table of ``text``: its body rows (header and rule left out), as cells."""
    tables: list[list[list[str]]] = []
    rows: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            rows.append(line)
            continue
        if rows:
            tables.append([_cells(row) for row in rows[2:]])
            rows = []
    return tables


def _section(provider: str) -> str:
    text = (DOCS / f"{provider}.md").read_text(encoding="utf-8")
    _, found, section = text.partition("\n## Reachability\n")
    assert found, f"docs/providers/{provider}.md has no Reachability section"
    assert "\n## " not in section, "Reachability is the doc's last section"
    return section


@pytest.mark.parametrize("provider", sorted(ADAPTERS))
def test_the_docs_count_is_the_mappings(provider: str) -> None:
    reachability = load_mapping(provider).reachability
    assert reachability is not None, f"mappings/{provider}.yaml states no reachability"
    section = _section(provider)
    totals = TOTAL.findall(section)
    assert len(totals) == 1, "one line '**N of M documented items are reachable.**'"
    reachable, documented = (int(n) for n in totals[0])
    tables = _tables(section)
    counted = sum(int(row[1]) for row in tables[0])
    assert counted == reachable, f"the reachable table counts {counted}, the total says {reachable}"
    entries = reachability.not_reachable
    left_out = tables[1] if len(tables) > 1 else []
    assert [(row[0], int(row[1]), row[2]) for row in left_out] == [
        (" ".join(e.item.split()), e.count, " ".join(e.reason.split())) for e in entries
    ], "the doc's not-reachable table is the mapping's list, item, count and reason"
    assert documented == reachability.documented
    assert reachable == reachability.reachable
    assert reachable + sum(e.count for e in entries) == documented


@pytest.mark.parametrize("provider", sorted(ADAPTERS))
def test_every_entry_not_reachable_says_why(provider: str) -> None:
    reachability = load_mapping(provider).reachability
    assert reachability is not None
    for entry in reachability.not_reachable:
        assert entry.item.strip() and len(entry.reason.split()) >= 8, entry


def test_an_entry_without_a_reason_is_refused() -> None:
    text = (Path(__file__).parents[2] / "mappings" / "crm_v1.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    data["reachability"]["not_reachable"] = [{"item": "`sortBy=inv_status`"}]
    with pytest.raises(
        MappingError, match=r"reachability\.not_reachable\[0\]: 'reason' is a required"
    ):
        parse_mapping(data, "mappings/crm_v1.yaml")


def test_the_matrix_shows_the_counts_and_the_reasons() -> None:
    matrix = render()
    for provider in sorted(ADAPTERS):
        reachability = load_mapping(provider).reachability
        assert reachability is not None
        for entry in reachability.not_reachable:
            assert f"- `{provider}`: {entry.item}" in matrix
    assert "| reachable of documented | 56 of 60 |" in matrix
