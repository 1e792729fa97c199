"""The capability matrix, rendered from the mappings: ``python -m adapters.matrix``.

``docs/capabilities.md`` is this module's output; a test keeps the two the same.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from adapters.base import (
    ACTIONS,
    BATCH_ACTIONS,
    DUPLICATE_INPUTS,
    FILTERS,
    OPERATIONS,
    PAYMENT_OPERATIONS,
    PROVIDER_FILTERS,
    SORTS,
    Capabilities,
)
from adapters.mapping import Mapping, load_mapping
from adapters.registry import ADAPTERS
from adapters.representable import LABELS

YES, NO = "✓", "—"


def render(providers: tuple[str, ...] = tuple(ADAPTERS)) -> str:
    mappings = [load_mapping(provider) for provider in providers]
    out = [
        "# Capability matrix",
        "",
        "Generated from `mappings/<provider>.yaml` by `python -m adapters.matrix`; do not edit by",
        "hand. What a provider cannot do is a `501 not_supported`; a field it cannot carry is a",
        "`422 unsupported_field` (or, with `Prefer: handling=lenient`, dropped with a warning).",
        "",
    ]
    out += _table("Operations", OPERATIONS, mappings, lambda m, x: x in m.capabilities.operations)
    out += _table("Actions", ACTIONS, mappings, lambda m, x: x in m.capabilities.actions)
    out += _duplicate_inputs(mappings)
    out += _table(
        "Payments", PAYMENT_OPERATIONS, mappings, lambda m, x: x in m.capabilities.payments
    )
    out += _collection(mappings)
    out += _table(
        "Other capabilities",
        (
            "notes",
            "notes: files added to an existing note",
            "notes: read back",
            "create_from_order",
            "credit notes (read as document_type credit_note)",
            "credit notes created (from an invoice: the credit_note action)",
            "versioned (ETag / If-Match)",
            "compound taxes",
            "line taxes set by the provider from each item (a preview cannot see them)",
            "issue twice taken by the provider (the gateway answers 409 itself)",
        ),
        mappings,
        lambda m, x: {
            "notes": m.capabilities.notes,
            "notes: files added to an existing note": m.capabilities.note_attach,
            "notes: read back": m.capabilities.note_read,
            "create_from_order": m.capabilities.create_from_order,
            "credit notes (read as document_type credit_note)": m.capabilities.credit_notes,
            "credit notes created (from an invoice: the credit_note action)": (
                "credit_note" in m.capabilities.actions
            ),
            "versioned (ETag / If-Match)": m.capabilities.versioned,
            "compound taxes": m.capabilities.compound_taxes,
            "line taxes set by the provider from each item (a preview cannot see them)": (
                m.capabilities.taxes_by_item
            ),
            "issue twice taken by the provider (the gateway answers 409 itself)": (
                m.capabilities.reissue_accepted
            ),
        }[x],
    )
    out += _values(
        "Limits and policies",
        {
            "tax modes": lambda m: ", ".join(sorted(m.capabilities.tax_modes)),
            "taxes per line (at most)": lambda m: str(m.capabilities.max_line_taxes),
            "page size (at most)": lambda m: str(m.capabilities.max_page_size),
            "files on a new note (at most; more is a 422)": lambda m: (
                str(m.capabilities.note_files) if m.capabilities.notes else NO
            ),
            "rounding": lambda m: f"{m.rounding.mode}, {m.rounding.tax_scope}",
            "an update cannot empty (the provider keeps its value)": lambda m: (
                ", ".join(f"`{name}`" for name in sorted(m.capabilities.update_keeps)) or NO
            ),
        },
        mappings,
    )
    out += _table(
        "List filters applied by the provider (the gateway applies the others itself)",
        FILTERS,
        mappings,
        lambda m, x: x in m.capabilities.filters,
    )
    out += _listing(mappings)
    out += _table(
        "Writable canonical fields",
        tuple(LABELS),
        mappings,
        lambda m, x: x in m.capabilities.fields,
    )
    out += _reachability(mappings)
    for mapping in mappings:
        out += _provider_section(mapping)
    return "\n".join(out).rstrip() + "\n"


def _collection(mappings: list[Mapping]) -> list[str]:
    """Next number, CSV export, batches and the trash (``views/collection.py``)."""

    def batch(action: str) -> Callable[[Capabilities], bool]:
        return lambda c: action in c.batch_actions

    def trash(operation: str) -> Callable[[Capabilities], bool]:
        return lambda c: operation in c.trash

    rows: dict[str, Callable[[Capabilities], bool]] = {
        "next number (`GET …/invoices/next-number`)": lambda c: c.next_number,
        "CSV export, streamed (`GET …/invoices/export.csv`)": lambda c: c.export_csv,
        **{f"batch: {a} (`POST …/invoices/batch`)": batch(a) for a in BATCH_ACTIONS},
        "trash: list (`GET …/trash/invoices`)": trash("list"),
        "trash: restore (`POST …/invoices/{id}/restore`)": trash("restore"),
        "trash: purge (`DELETE …/trash/invoices/{id}`)": trash("purge"),
    }
    lines = _table(
        "Numbering, export, batches and the trash",
        tuple(rows),
        mappings,
        lambda m, x: bool(rows[x](m.capabilities)),
    )
    note = (
        "Where the provider keeps no trash, `DELETE …/invoices/{id}` is final; where it does, "
        "the invoice is in the trash until restored or purged."
    )
    return [*lines[:-1], "", note, ""]


def _listing(mappings: list[Mapping]) -> list[str]:
    """Sorts, search and provider-only filters: the provider's own, sent as the cells say."""

    def param(table: Callable[[Mapping], dict[str, str]], name: str) -> Callable[[Mapping], str]:
        return lambda m: f"`{table(m)[name]}`" if name in table(m) else NO

    out = _values(
        "List sorts (`sort=<name>`, `sort=-<name>` descending): the provider's sort value sent; "
        "a 400 where it has none",
        {name: param(lambda m: m.sort_params, name) for name in SORTS},
        mappings,
    )
    out += _values(
        "Provider-only list filters: the provider's parameter; a 400 elsewhere",
        {name: param(lambda m: m.filter_params, name) for name in PROVIDER_FILTERS},
        mappings,
    )
    return out + _values(
        "The provider's own search (`search`): what it looks in; a 400 where it has none",
        {"search": lambda m: m.capabilities.search or NO},
        mappings,
    )


def _reachability(mappings: list[Mapping]) -> list[str]:
    """The provider docs' items counted point by point, and those /v1 deliberately leaves out."""

    def count(m: Mapping) -> str:
        r = m.reachability
        return f"{r.reachable} of {r.documented}" if r else "not counted"

    out = _values(
        "Documented items reachable through /v1 (counted in docs/providers/<provider>.md)",
        {"reachable of documented": count},
        mappings,
    )
    out += ["Deliberately not reachable, with the reason:", ""]
    for m in mappings:
        entries = m.reachability.not_reachable if m.reachability else ()
        if not entries:
            out.append(f"- `{m.provider}`: none.")
        for entry in entries:
            times = f" ({entry.count} items)" if entry.count > 1 else ""
            out.append(f"- `{m.provider}`: {entry.item}{times}. {entry.reason}")
    return [*out, ""]


def _duplicate_inputs(mappings: list[Mapping]) -> list[str]:
    """What ``POST …/duplicate`` takes in its body, per provider (the rest is a 422)."""
    rows = list(DUPLICATE_INPUTS) + sorted(
        {name for m in mappings for name in m.capabilities.duplicate_inputs} - set(DUPLICATE_INPUTS)
    )
    lines = _table(
        "Duplicate inputs (the body of POST …/duplicate)",
        tuple(rows),
        mappings,
        lambda m, x: x in m.capabilities.duplicate_inputs,
    )
    note = (
        "A provider with `duplicate` and none of these copies the invoice as it is; a body "
        "naming an input it lacks is a `422 unsupported_field`."
    )
    return [*lines[:-1], "", note, ""]


def _table(
    title: str,
    rows: tuple[str, ...],
    mappings: list[Mapping],
    has: Callable[[Mapping, str], bool],
) -> list[str]:
    header = "| | " + " | ".join(f"`{m.provider}`" for m in mappings) + " |"
    lines = [f"## {title}", "", header, "|---" * (len(mappings) + 1) + "|"]
    for row in rows:
        cells = [YES if has(m, row) else NO for m in mappings]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _values(
    title: str, rows: dict[str, Callable[[Mapping], str]], mappings: list[Mapping]
) -> list[str]:
    header = "| | " + " | ".join(f"`{m.provider}`" for m in mappings) + " |"
    lines = [f"## {title}", "", header, "|---" * (len(mappings) + 1) + "|"]
    for name, value in rows.items():
        lines.append(f"| {name} | " + " | ".join(value(m) for m in mappings) + " |")
    return [*lines, ""]


def _provider_section(mapping: Mapping) -> list[str]:
    lines = [f"## `{mapping.provider}`: where each documented field lives", ""]
    lines += ["| provider field | canonical |", "|---|---|"]
    lines += [f"| `{name}` | `{dest}` |" for name, dest in mapping.invoice_fields.items()]
    container = mapping.line_container or "lines"
    lines += [
        f"| `{container}[].{name}` | `{dest}` |" for name, dest in mapping.line_fields.items()
    ]
    lines.append("")
    if mapping.provider_fields:
        lines += ["Provider fields a caller may set (`provider_fields`):", ""]
        lines += ["| name | type | required | per line | meaning |", "|---|---|---|---|---|"]
        for spec in mapping.provider_fields.values():
            kind = f"{spec.type} ({spec.format})" if spec.format else spec.type
            lines.append(
                f"| `{spec.name}` | {kind} | {YES if spec.required else NO} | "
                f"{YES if spec.per_line else NO} | {spec.description} |"
            )
        lines.append("")
    return lines


if __name__ == "__main__":
    sys.stdout.write(render())
