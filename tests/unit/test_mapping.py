from __future__ import annotations

import copy
from typing import Any

import pytest

from adapters.base import InvalidRequest
from adapters.mapping import MappingError, load_mapping, parse_mapping

MINIMAL: dict[str, Any] = {
    "provider": "example",
    "rounding": {"mode": "half_up", "tax_scope": "per_line"},
    "status": {
        "field": "inv_status",
        "read": {
            0: {"status": "open"},
            "1": {"status": "paid"},
            3: {"status": "open", "overdue": True},
        },
        "write": {"open": 0, "paid": 1},
    },
    "discount_types": {
        "line": {"read": {"1": "amount", "2": "percent"}, "write": {"amount": 1, "percent": 2}}
    },
    "fields": {
        "line_container": "items",
        "invoice": {
            "inv_number": "number",
            "customer_id": "customer.id",
            "deal_id": "provider_fields.deal_id",
            "kpis": "remote_data",
        },
        "line": {"price": "lines[].unit_price", "item_name": "lines[].name"},
    },
    "capabilities": {
        "operations": ["list", "get"],
        "actions": [],
        "payments": [],
        "notes": False,
        "create_from_order": False,
        "filters": ["status"],
        "fields": ["number"],
        "tax_modes": ["exclusive"],
        "max_line_taxes": 1,
        "compound_taxes": False,
        "max_page_size": 100,
        "versioned": False,
    },
    "provider_fields": {"deal_id": {"type": "integer", "description": "A deal"}},
    "error_fields": {"items.*.tax_id": "/lines/*/taxes/0"},
    "dedupe": {"marker": None, "lookup": [], "max_pages": 2},
    "listing": {"sorts": {"issue_date": "transaction_date"}, "search": None, "filters": {}},
}


def test_status_tables_read_both_numbers_and_text() -> None:
    mapping = parse_mapping(MINIMAL, "mappings/example.yaml")
    assert mapping.read_status(0).status == "open"
    assert mapping.read_status("1").status == "paid"
    assert mapping.read_status(3).overdue is True
    unknown = mapping.read_status(42)
    assert (unknown.status, unknown.overdue) == ("unknown", False)
    assert mapping.write_status("paid") == 1
    assert mapping.line_discount_read == {"1": "amount", "2": "percent"}


@pytest.mark.parametrize(
    ("key", "pointer"),
    [
        ("inv_number", "/number"),
        ("customer_id", "/customer/id"),
        ("items.2.price", "/lines/2/unit_price"),
        ("items[0].item_name", "/lines/0/name"),
        ("items.1.tax_id", "/lines/1/taxes/0"),
        ("items.4.mystery", "/lines/4"),
        ("kpis", None),
        ("nothing_like_it", None),
    ],
)
def test_provider_error_keys_become_canonical_pointers(key: str, pointer: str | None) -> None:
    assert parse_mapping(MINIMAL, "x").pointer_for(key) == pointer


def test_schema_errors_name_the_file_and_the_path() -> None:
    broken = copy.deepcopy(MINIMAL)
    broken["capabilities"]["actions"] = ["teleport"]
    broken["status"]["read"]["9"] = {"status": "lost"}
    del broken["rounding"]["tax_scope"]
    with pytest.raises(MappingError) as info:
        parse_mapping(broken, "mappings/example.yaml")
    lines = str(info.value).splitlines()
    assert lines == [
        "mappings/example.yaml: capabilities.actions[0]: 'teleport' is not one of "
        "['issue', 'send', 'mark_sent', 'unpublish', 'void', 'reactivate', 'mark_paid', "
        "'mark_partially_paid', 'mark_overdue', 'mark_unpaid', 'duplicate', 'credit_note']",
        "mappings/example.yaml: rounding: 'tax_scope' is a required property",
        "mappings/example.yaml: status.read.9.status: 'lost' is not one of ['draft', 'open', 'paid', 'void']",
    ]


def test_a_provider_fields_format_is_for_strings_only() -> None:
    """``format: uuid`` on an integer field would have been matched against an integer (a
    TypeError at the first create): the schema refuses it."""
    fields = {"template_id": {"type": "integer", "format": "uuid", "description": "x"}}
    with pytest.raises(MappingError, match=r"provider_fields\.template_id\.type: 'string' was"):
        parse_mapping({**MINIMAL, "provider_fields": fields}, "mappings/x.yaml")
    taken = {"template_id": {"type": "string", "format": "uuid", "description": "x"}}
    parsed = parse_mapping({**MINIMAL, "provider_fields": taken}, "mappings/x.yaml")
    assert parsed.provider_fields["template_id"].problem("abc", "x") == "must be a uuid for x"


def test_unknown_top_level_key_is_refused() -> None:
    with pytest.raises(
        MappingError, match=r"mappings/x.yaml: \(top level\): Additional properties"
    ):
        parse_mapping({**MINIMAL, "surprise": 1}, "mappings/x.yaml")


def test_a_missing_mapping_file_says_which() -> None:
    with pytest.raises(
        MappingError, match=r"mappings/nowhere\.yaml: no mapping file for provider 'nowhere'"
    ):
        load_mapping("nowhere")


def test_dedupe_is_read_and_checked_against_what_the_provider_carries() -> None:
    marked = {**MINIMAL, "dedupe": {"marker": "number", "lookup": [], "max_pages": 3}}
    with pytest.raises(MappingError, match=r"mappings/example\.yaml: dedupe\.marker: "):
        parse_mapping(marked, "mappings/example.yaml")
    notes = {**MINIMAL, "dedupe": {"marker": "notes", "lookup": [], "max_pages": 3}}
    with pytest.raises(
        MappingError, match=r"dedupe\.marker: notes is not a field this provider carries"
    ):
        parse_mapping(notes, "mappings/example.yaml")
    searching = {**MINIMAL, "dedupe": {"marker": None, "lookup": ["customer_id"]}}
    with pytest.raises(
        MappingError, match=r"dedupe\.lookup: customer_id is not one of capabilities\.filters"
    ):
        parse_mapping(searching, "mappings/example.yaml")
    custom = {
        **MINIMAL,
        "dedupe": {"marker": "provider_fields.deal_id", "lookup": [], "max_pages": 4},
    }
    plan = parse_mapping(custom, "mappings/example.yaml").dedupe
    assert (plan.marker, plan.lookup, plan.max_pages) == ("provider_fields.deal_id", frozenset(), 4)


def test_sorts_search_and_provider_filters_are_read_and_checked() -> None:
    mapping = parse_mapping(MINIMAL, "mappings/example.yaml")
    assert mapping.capabilities.sorts == {"issue_date"}
    assert (mapping.capabilities.search, mapping.capabilities.provider_filters) == (None, set())
    assert mapping.sort_param("issue_date") == "transaction_date"
    with pytest.raises(InvalidRequest, match="example cannot sort by total"):
        mapping.sort_param("total")
    odd = {**MINIMAL, "listing": {"sorts": {"colour": "c"}, "search": "", "filters": {"x": "x"}}}
    with pytest.raises(MappingError) as raised:
        parse_mapping(odd, "mappings/example.yaml")
    for where in ("listing.search", "listing.sorts", "listing.filters"):
        assert f"mappings/example.yaml: {where}" in str(raised.value)
