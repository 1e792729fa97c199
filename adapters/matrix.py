"""The capability matrix, rendered from the mappings: ``python -m adapters.matrix``.

``docs/capabilities.md`` is this module's output; a test keeps the two the same.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from adapters.base import ACTIONS, FILTERS, OPERATIONS, PAYMENT_OPERATIONS
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
    out += _table(
        "Payments", PAYMENT_OPERATIONS, mappings, lambda m, x: x in m.capabilities.payments
    )
    out += _table(
        "Other capabilities",
        ("notes", "create_from_order", "versioned (ETag / If-Match)", "compound taxes"),
        mappings,
        lambda m, x: {
            "notes": m.capabilities.notes,
            "create_from_order": m.capabilities.create_from_order,
            "versioned (ETag / If-Match)": m.capabilities.versioned,
            "compound taxes": m.capabilities.compound_taxes,
        }[x],
    )
    out += _values(
        "Limits and policies",
        {
            "tax modes": lambda m: ", ".join(sorted(m.capabilities.tax_modes)),
            "taxes per line (at most)": lambda m: str(m.capabilities.max_line_taxes),
            "page size (at most)": lambda m: str(m.capabilities.max_page_size),
            "rounding": lambda m: f"{m.rounding.mode}, {m.rounding.tax_scope}",
        },
        mappings,
    )
    out += _table(
        "List filters applied by the provider (the gateway applies the others itself)",
        FILTERS,
        mappings,
        lambda m, x: x in m.capabilities.filters,
    )
    out += _table(
        "Writable canonical fields",
        tuple(LABELS),
        mappings,
        lambda m, x: x in m.capabilities.fields,
    )
    for mapping in mappings:
        out += _provider_section(mapping)
    return "\n".join(out).rstrip() + "\n"


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
            lines.append(
                f"| `{spec.name}` | {spec.type} | {YES if spec.required else NO} | "
                f"{YES if spec.per_line else NO} | {spec.description} |"
            )
        lines.append("")
    return lines


if __name__ == "__main__":
    sys.stdout.write(render())
