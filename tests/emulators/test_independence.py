"""The emulators are written as a third party would write them: they import nothing of ours."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import emulators

EMULATORS_DIR = Path(emulators.__file__).parent
FORBIDDEN = frozenset({"gateway", "adapters"})


def forbidden_imports(source: str, module_path: Path) -> list[str]:
    """``file:line imported-name`` for every import of ``gateway`` or ``adapters``.

    Relative imports are resolved against the module's package, so ``from ..gateway import x``
    written inside ``emulators/`` is caught as well as ``import gateway.x``.
    """
    package = module_path.relative_to(EMULATORS_DIR.parent).with_suffix("").parts[:-1]
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename=str(module_path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = imported_modules(node, package)
        else:
            continue
        found += [
            f"{module_path.name}:{node.lineno} {name}"
            for name in names
            if name.split(".")[0] in FORBIDDEN
        ]
    return found


def imported_modules(node: ast.ImportFrom, package: tuple[str, ...]) -> list[str]:
    if node.level == 0:
        return [node.module or ""]
    base = list(package[: max(len(package) - (node.level - 1), 0)])
    if node.module:
        return [".".join([*base, node.module])]
    # `from .. import gateway` names the module in the alias.
    return [".".join([*base, alias.name]) for alias in node.names]


def emulator_modules() -> list[Path]:
    return sorted(EMULATORS_DIR.rglob("*.py"))


def test_there_are_emulator_modules_to_check() -> None:
    names = {path.name for path in emulator_modules()}
    assert {"__init__.py", "common.py", "control.py", "registry.py"} <= names


@pytest.mark.parametrize("path", emulator_modules(), ids=lambda p: p.name)
def test_emulator_module_imports_nothing_from_gateway_or_adapters(path: Path) -> None:
    assert forbidden_imports(path.read_text(encoding="utf-8"), path) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import gateway", ["control.py:1 gateway"]),
        ("import os, adapters.base as b", ["control.py:1 adapters.base"]),
        ("from gateway.canonical import money", ["control.py:1 gateway.canonical"]),
        ("from ..gateway import cli", ["control.py:1 gateway"]),
        ("from .. import adapters", ["control.py:1 adapters"]),
        ("def f():\n    from adapters import registry", ["control.py:2 adapters"]),
        ("from . import common\nfrom .common import read_json\nimport json", []),
        ("import gateways_of_our_own", []),
    ],
)
def test_the_check_catches_absolute_and_relative_imports(source: str, expected: list[str]) -> None:
    assert forbidden_imports(source, EMULATORS_DIR / "control.py") == expected
