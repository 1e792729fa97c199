"""``--map FILE``: source ids → target ids for customers, items and taxes, and target defaults.

A YAML file checked against ``map_schema.json``; every problem names its line and path
(``map.yaml: line 4: customers.10: 12.5 is not of type 'string', 'integer'``), all at once.
``"*"`` stands for any customer or item not listed. A tax is listed by its source id, or by its
rate (``"7.5%"``) for taxes that have no id; taxes not listed are matched by rate through the
target connection's tax table (``connections[].taxes``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from gateway.canonical.errors import dotted_path
from gateway.json_schema import SchemaValidator
from gateway.text_file import UnreadableText, read_text
from gateway.yaml_strict import compose_yaml, load_yaml

ANY = "*"


class MapError(ValueError):
    """The map file cannot be used; ``problems`` says where and why, one line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


@dataclass(frozen=True)
class ReferenceMap:
    customers: dict[str, str] = field(default_factory=dict)
    items: dict[str, str] = field(default_factory=dict)
    taxes: dict[str, str] = field(default_factory=dict)
    # each ``taxes`` key as the map writes it ("20.00%"), where that is not how it is looked up
    tax_keys_written: dict[str, str] = field(default_factory=dict)
    provider_fields: dict[str, Any] = field(default_factory=dict)
    line_provider_fields: dict[str, Any] = field(default_factory=dict)
    payment_methods: dict[str, str] = field(default_factory=dict)
    due_days: int | None = None  # a due date for invoices without one: issue date + this

    def payment_method(self, method: str | None) -> str | None:
        if method is None:
            return None
        return self.payment_methods.get(method, self.payment_methods.get(ANY, method))

    def customer(self, source_id: str) -> str | None:
        return _look_up(self.customers, source_id)

    def item(self, source_id: str) -> str | None:
        return _look_up(self.items, source_id)

    def tax(self, source_id: str | None, rate: Decimal) -> tuple[str, str] | None:
        """The map's entry for a source tax, (its key as the map writes it, the target tax):
        by the tax's id, else by its rate (``"7.5%"``, however the map wrote it)."""
        for key in (source_id, rate_key(rate)):
            if key is not None and key in self.taxes:
                return self.tax_keys_written.get(key, key), self.taxes[key]
        return None


def rate_key(rate: Decimal) -> str:
    """A rate as a map's ``taxes`` key: ``"7.5%"`` for 7.50."""
    return f"{rate.normalize():f}%"


def _look_up(table: dict[str, str], source_id: str) -> str | None:
    return table.get(source_id, table.get(ANY))


# A map of a hundred thousand customers and items; more is no map a person wrote.
MAX_MAP_BYTES = 16 * 1024 * 1024


def load_map(path: Path) -> tuple[ReferenceMap, str]:
    """The map in the file, and its text (whose digest a run keeps)."""
    source = str(path)
    try:
        text = read_text(path, max_bytes=MAX_MAP_BYTES)
    except UnreadableText as exc:
        raise MapError(source, [exc.reason]) from None
    return parse_map(text, source), text


def parse_map(text: str, source: str) -> ReferenceMap:
    try:
        node = compose_yaml(text)
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        why = getattr(exc, "problem", exc)
        raise MapError(source, [f"{where}not valid YAML ({why})"]) from None
    data = {} if data is None else data
    validator = SchemaValidator(_schema())
    problems = [
        f"line {_error_line(node, error)}: "
        f"{dotted_path(error.absolute_path) or '(top level)'}: {error.message}"
        for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    ]
    if not problems:
        taxes, written, problems = _taxes(node, _ids(data.get("taxes")))
    if problems:
        raise MapError(source, problems)
    return ReferenceMap(
        customers=_ids(data.get("customers")),
        items=_ids(data.get("items")),
        taxes=taxes,
        tax_keys_written={
            key: as_written for key, as_written in written.items() if key != as_written
        },
        provider_fields=dict(data.get("provider_fields") or {}),
        line_provider_fields=dict(data.get("line_provider_fields") or {}),
        payment_methods=_ids(data.get("payment_methods")),
        due_days=data.get("due_days"),
    )


def _taxes(
    node: yaml.Node | None, table: dict[str, str]
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """``taxes`` with each rate key written as ``tax`` looks it up (``"7.50%"`` is ``"7.5%"``),
    each key as written by that key, and the problems: ``"*"`` (no default: one tax for every
    other would change what is charged) and a ``%`` key that is no rate."""
    taxes: dict[str, str] = {}
    written: dict[str, str] = {}  # each key as the map writes it, by the key it is looked up by
    problems: list[str] = []
    for key, target in table.items():
        where = f"line {_line_of(node, ['taxes', key])}: taxes.{key}"
        as_written = key
        if key == ANY:
            problems.append(
                f'{where}: "*" is not taken for taxes: map each source tax by its id or its rate '
                '("7.5%"); taxes not listed are matched by rate through the target\'s tax table'
            )
            continue
        if key.endswith("%"):
            rate = _rate(key[:-1])
            if rate is None:
                problems.append(f'{where}: is not a rate written like "7.5%"')
                continue
            key = rate_key(rate)
        if key in written:  # "7.50%" after "7.5%": two targets for one tax, the last one winning
            first = written[key]
            problems.append(
                f"{where}: is the same tax as taxes.{first} (line "
                f"{_line_of(node, ['taxes', first])}): map each tax once"
            )
            continue
        written[key] = as_written
        taxes[key] = target
    return taxes, written, problems


def _rate(text: str) -> Decimal | None:
    try:
        rate = Decimal(text.strip())
    except ArithmeticError:
        return None
    return rate if rate.is_finite() and 0 <= rate <= 100 else None


def _ids(table: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (table or {}).items()}


def _error_line(node: yaml.Node | None, error: jsonschema.ValidationError) -> int:
    """The line of what ``error`` is about: for a key that is not allowed, the line of that key
    (the mapping it is in may start many lines above it)."""
    path = list(error.absolute_path)
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return _line_of(node, path)
    allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
    unexpected = [str(key) for key in error.instance if key not in allowed]
    mapping = node
    for part in path:
        mapping = _child(mapping, part)
    if unexpected and isinstance(mapping, yaml.MappingNode):
        keys = [key for key, _ in mapping.value if str(key.value) == unexpected[0]]
        if keys:
            return int(keys[0].start_mark.line) + 1
    return _line_of(node, path)


def _child(node: yaml.Node | None, part: Any) -> yaml.Node | None:
    """The value at ``part`` (a key, or an index) of a composed mapping or sequence."""
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if str(k.value) == str(part)), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        return node.value[part] if part < len(node.value) else None
    return None


def _line_of(node: yaml.Node | None, path: list[Any]) -> int:
    """The 1-based line of the value at ``path`` in the composed YAML (its nearest parent's)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in path:
        node = _child(node, part)
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


@cache
def _schema() -> dict[str, Any]:
    text = resources.files("gateway.migration").joinpath("map_schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
