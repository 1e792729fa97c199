"""YAML as the gateway reads its own files (the configuration, a migration's map): the safe
loader, and a key given twice in one mapping refused, saying where (YAML would keep the last one
silently: a second ``server:`` would drop the first's settings, a second tax the first's rate).

A document whose aliases (``*name``) make it far larger than it is written is refused too: nine
lists of nine, each made of the one before, are 90 values written and 387 million read, and the
checks that walk what was read (the schema, the variables) would run for ever. Its size, each
alias counted as what it stands for, is counted on the composed nodes, each node once."""

from __future__ import annotations

from typing import Any

import yaml


def load_yaml(text: str) -> Any:
    """``text`` as YAML; ``yaml.YAMLError`` (with its mark) for invalid YAML or a repeated key."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader: no Python objects


# A document may stand for this many values, or ten times the nodes it writes, whichever is more.
MIN_EXPANDED_LIMIT = 100_000
EXPANSION_FACTOR = 10


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML would keep the
    last one silently: a second ``server:`` would drop the first's settings), and a document
    its aliases blow up."""

    def construct_document(self, node: yaml.Node) -> Any:
        written, read = _sizes(node)
        if read > max(MIN_EXPANDED_LIMIT, EXPANSION_FACTOR * written):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"its aliases (*name) make {written:,} values written stand for {read:,}, "
                f"more than the {max(MIN_EXPANDED_LIMIT, EXPANSION_FACTOR * written):,} taken: "
                "write the values out instead",
                node.start_mark,
            )
        return super().construct_document(node)

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


def _sizes(root: yaml.Node) -> tuple[int, int]:
    """The nodes ``root`` writes (each once, however many aliases name it) and the values it
    stands for (each alias as what it names), without expanding anything: each node's size is
    computed once, after its children's. A node inside itself (a recursive alias, refused
    where the document is read) counts once there."""
    size: dict[int, int] = {}
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            size[id(node)] = 1 + sum(size.get(id(child), 1) for child in _children(node))
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in seen)
    return len(seen), size[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
