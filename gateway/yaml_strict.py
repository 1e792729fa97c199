"""YAML as the gateway reads its own files (the configuration, a migration's map): the safe
loader, and a key given twice in one mapping refused, saying where (YAML would keep the last one
silently: a second ``server:`` would drop the first's settings, a second tax the first's rate).

A document whose aliases (``*name``) make it far larger than it is written is refused too: nine
lists of nine, each made of the one before, are 28 nodes written that stand for 490 million
values, and the checks that walk what was read (the schema, the variables) would run for ever.
Its size, each alias counted as what it stands for, is counted on the composed nodes, each node
once. So is an alias inside the value it names (``a: &a [*a]``), which never ends."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import yaml


def load_yaml(text: str) -> Any:
    """``text`` as YAML; ``yaml.YAMLError`` (with its mark) for invalid YAML or a repeated key,
    and for values nested more deeply than the reader's recursion goes."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader: no Python objects
    except RecursionError:
        raise yaml.YAMLError(_TOO_DEEP) from None


def compose_yaml(text: str) -> yaml.Node | None:
    """``text``'s YAML nodes (with their lines), as ``load_yaml`` reads them."""
    try:
        return yaml.compose(text, Loader=_Loader)
    except RecursionError:
        raise yaml.YAMLError(_TOO_DEEP) from None


_TOO_DEEP = "values nested more deeply than can be read (a few hundred levels)"


# A document may stand for this many values, or ten times the nodes it writes, whichever is more.
MIN_EXPANDED_LIMIT = 100_000
EXPANSION_FACTOR = 10


# What a person writes as a number: YAML 1.1's other forms are refused (``construct_yaml_int``).
_DECIMAL_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_DECIMAL_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


# The keys of the operator's files whose value is a secret: a problem with it (its YAML
# form here, its schema in ``settings_file``) says what is expected, never what was given.
SECRET_KEYS = frozenset({"token", "cursor_secret", "key_sha256", "password"})


def may_hold_secret(key: str) -> bool:
    """A secret's key, or a ``*_env`` one, where the secret itself may be pasted in place of
    its variable's name."""
    return key in SECRET_KEYS or key.endswith("_env")


_HIDDEN = "this value (not shown: it may be a secret)"


class OwnProblem(yaml.constructor.ConstructorError):
    """A problem this reader words itself: it names keys and tags, and a value only where its
    key is no secret's (``_shown``), so it is shown as it is (the YAML reader's own messages
    quote what they met, a secret among it)."""


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML would keep the
    last one silently: a second ``server:`` would drop the first's settings), and a document
    its aliases blow up."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._secret_values: set[int] = set()  # the ids of nodes under ``may_hold_secret`` keys

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A value, or a located error where an explicit tag asks for what the text is not
        (``!!float sk_live_…``, ``!!bool x``, ``!!timestamp 2020-99-99``): YAML's own
        constructors raise Python's errors there, which ended check-config and serve in a
        traceback quoting the value, a token written under such a tag among them."""
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except _UNREADABLE:
            tag = node.tag.removeprefix("tag:yaml.org,2002:")
            raise _mistagged(f"a value tagged {tag!r} that cannot be read as one", node) from None

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """An integer written in decimal, or a located error: where it is longer than Python
        reads one (4,300 digits: ``sys.set_int_max_str_digits``), instead of a traceback; and
        where YAML 1.1 reads it in another base (``010`` as 8, ``0x10`` as 16, ``1:30`` as 90)
        or with ``_`` (``1_0`` as 10), which a person writing a currency id or a template id
        does not mean, and which would be used without a word."""
        written = str(node.value)
        try:
            value = int(super().construct_yaml_int(node))
        except ValueError:
            digits = sum(c.isdigit() for c in written)
            problem = (
                "a number too long to read (over 4,300 digits)"
                if digits > 4300
                else "a value tagged as a whole number (!!int) that is not one"
            )
            raise OwnProblem(None, None, problem, node.start_mark) from None
        if not _DECIMAL_INT.fullmatch(written):
            reading = "in another base" if self._hides(node) else f"as {value}"
            said = f"{self._shown(node)} is not a decimal number: YAML would read it {reading}"
            quoted = "it" if self._hides(node) else f'it ("{written}")'
            raise OwnProblem(
                None,
                None,
                f"{said} (a leading 0 is octal, 0x hexadecimal, a colon base 60); write the "
                f"number in decimal, or quote {quoted} if it is text",
                node.start_mark,
            )
        return value

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        """A decimal number, or a located error where YAML 1.1 reads it in base 60
        (``1:30.5``) or with ``_``, or it is no number at all (``.nan``, ``.inf``)."""
        written = str(node.value)
        value = float(super().construct_yaml_float(node))
        if not _DECIMAL_FLOAT.fullmatch(written):
            reading = "" if self._hides(node) else f" (YAML would read it as {value})"
            problem = (
                f"{self._shown(node)} is not a decimal number{reading}; write it in decimal, or "
                "quote it if it is text"
            )
        elif math.isinf(value):
            problem = f"{self._shown(node)} is too large a number to read"
        else:
            return value
        raise OwnProblem(None, None, problem, node.start_mark)

    def _hides(self, node: yaml.Node) -> bool:
        return id(node) in self._secret_values

    def _shown(self, node: yaml.ScalarNode) -> str:
        """The value as a problem quotes it: as written, or not at all under a secret's key."""
        return _HIDDEN if self._hides(node) else str(node.value)

    def construct_document(self, node: yaml.Node) -> Any:
        try:
            return self._document(node)
        except yaml.YAMLError:
            raise
        except _UNREADABLE:
            # A mapping's or a list's values are made after it (``construct_object`` has
            # returned): a tag asking for what a value is not, found then, is said here.
            raise _mistagged("a value tagged as what it cannot be read as", node) from None

    def _document(self, node: yaml.Node) -> Any:
        try:
            written, read = _sizes(node)
        except _HoldsItself as exc:
            raise OwnProblem(
                None,
                None,
                "an alias (*name) refers to the value that holds it: it never ends",
                exc.node.start_mark,
            ) from None
        limit = max(MIN_EXPANDED_LIMIT, EXPANSION_FACTOR * written)
        if read > limit:
            raise OwnProblem(
                None,
                None,
                f"its aliases (*name) make {written:,} values written stand for {read:,}, "
                f"more than the {limit:,} taken: write the values out instead",
                node.start_mark,
            )
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):  # ``!!map 5``, ``!!set 5``
            raise OwnProblem(
                None,
                None,
                "a value tagged as a mapping that is not one (the value is not shown)",
                node.start_mark,
            )
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node.value, str) and may_hold_secret(key_node.value):
                # Its number-form problem is said without the value (a key pasted there), and
                # so is any value within it (a list or a mapping written there).
                self._secret_values.update(id(each) for each in _within(value_node))
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # ``<<: *defaults``: what it brings, the mapping's own keys override
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                continue  # a list as a key: YAML's own loader refuses it, saying where
            if key in seen:
                raise OwnProblem(
                    None,
                    None,
                    f"{key!r} is given twice in one mapping (first on line {seen[key] + 1}): "
                    "keep one",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _mistagged(what: str, node: yaml.Node) -> OwnProblem:
    return OwnProblem(
        None,
        None,
        f"{what} (the value is not shown); remove the tag, or quote the value if it is text",
        node.start_mark,
    )


# What YAML's own constructors raise where an explicit tag asks for what the text is not.
_UNREADABLE = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)


def _within(node: yaml.Node) -> Iterator[yaml.Node]:
    """``node`` and every node it holds (an alias's once)."""
    seen: set[int] = set()
    waiting = [node]
    while waiting:
        each = waiting.pop()
        if id(each) in seen:
            continue
        seen.add(id(each))
        yield each
        if isinstance(each, yaml.SequenceNode):
            waiting.extend(each.value)
        elif isinstance(each, yaml.MappingNode):
            waiting.extend(part for pair in each.value for part in pair)


class _HoldsItself(Exception):
    def __init__(self, node: yaml.Node) -> None:
        super().__init__()
        self.node = node


def _sizes(root: yaml.Node) -> tuple[int, int]:
    """The nodes ``root`` writes (each once, however many aliases name it) and the values it
    stands for (each alias as what it names), without expanding anything: each node's size is
    computed once, after its children's. ``_HoldsItself`` for a node inside itself."""
    size: dict[int, int] = {}
    open_nodes: set[int] = set()  # met, its children not all sized yet: its own ancestors
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            size[id(node)] = 1 + sum(size[id(child)] for child in _children(node))
            open_nodes.discard(id(node))
            continue
        if id(node) in size:
            continue
        if id(node) in open_nodes:
            raise _HoldsItself(node)
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)
    return len(size), size[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)
# ``1e3`` and ``1.5e3`` are numbers in YAML 1.2 and JSON, text in YAML 1.1 (which wants
# ``1.5e+3``): the schema then said "'1e3' is not of type 'number'".
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)
