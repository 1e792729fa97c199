"""YAML as the gateway reads its own files (the configuration, a migration's map): the safe
loader, and a key given twice in one mapping refused, saying where (YAML would keep the last one
silently: a second ``server:`` would drop the first's settings, a second tax the first's rate)."""

from __future__ import annotations

from typing import Any

import yaml


def load_yaml(text: str) -> Any:
    """``text`` as YAML; ``yaml.YAMLError`` (with its mark) for invalid YAML or a repeated key."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader: no Python objects


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML would keep the
    last one silently: a second ``server:`` would drop the first's settings)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # ``<<: *defaults``: what it brings, the mapping's own keys override
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                continue  # a list as a key: YAML's own loader refuses it, saying where
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"{key!r} is given twice in one mapping (first on line {seen[key] + 1}): "
                    "keep one",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)
