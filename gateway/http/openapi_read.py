"""What answers hold, as the OpenAPI document declares it: the models' serialization schemas.

A request's amounts are held to the canonical grammar and bounds (at most 15 integer digits,
4 places for an amount, 6 for a quantity…), and its schema says so. An answer shows what the
provider reported, of any size and precision (spec: "a provider's figure never makes a read or
a list page fail"), so declaring the request's schema for it would make a client that checks
answers against the document refuse the very pages the gateway is bound to answer. Each model
whose two schemas differ gets its answer schema as a component of its own, ``<Name>Read``; the
others are shared.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

READ = "Read"


def read_name(name: str) -> str:
    return name + READ


def read_schemas(
    models: list[type[BaseModel]], written: dict[str, Any], ref: str
) -> tuple[dict[str, Any], set[str]]:
    """The components that answers need beyond ``written`` (the request schemas, by name), and
    the names of the models that have one: a ``<Name>Read`` for every model whose serialization
    schema differs from its validation one, or refers to one that does."""
    modes = [(model, "serialization") for model in models]
    _, generated = models_json_schema(modes, ref_template="{model}")  # type: ignore[arg-type]
    read: dict[str, Any] = generated["$defs"]
    own = {name for name, schema in read.items() if _differs(schema, written.get(name), ref)}
    while True:  # a schema that refers to one with a read form takes its read form too
        more = {name for name, schema in read.items() if name not in own and _refers(schema, own)}
        if not more:
            break
        own |= more
    # Titled by their own names: a read form titled as its write form ("Invoice") made code
    # generators that name models by title (openapi-python-client) drop one of the two.
    components = {
        read_name(name): {**_with_refs(read[name], own, ref), "title": read_name(name)}
        for name in own
    }
    return components, own


def _differs(schema: dict[str, Any], written: dict[str, Any] | None, ref: str) -> bool:
    if written is None:
        return True
    plain = _with_refs(schema, set(), ref)
    # readOnly is what the document marks on the request schemas afterwards: not a difference.
    return bool(_without_read_only(plain) != _without_read_only(written))


def _refers(schema: Any, names: set[str]) -> bool:
    if isinstance(schema, dict):
        if schema.get("$ref") in names:
            return True
        return any(_refers(value, names) for value in schema.values())
    if isinstance(schema, list):
        return any(_refers(value, names) for value in schema)
    return False


def _with_refs(schema: Any, own: set[str], ref: str) -> Any:
    """``schema`` with each ``$ref`` (a bare model name here) made a full reference: to the
    model's read form where it has one."""
    if isinstance(schema, dict):
        out = {key: _with_refs(value, own, ref) for key, value in schema.items()}
        target = schema.get("$ref")
        if isinstance(target, str):
            out["$ref"] = ref + (read_name(target) if target in own else target)
        return out
    if isinstance(schema, list):
        return [_with_refs(value, own, ref) for value in schema]
    return schema


def _without_read_only(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_read_only(v) for k, v in schema.items() if k != "readOnly"}
    if isinstance(schema, list):
        return [_without_read_only(v) for v in schema]
    return schema
