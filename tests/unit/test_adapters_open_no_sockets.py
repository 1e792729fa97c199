"""Adapters talk through the upstream client they are given; none opens a connection itself."""

import ast
from pathlib import Path

import pytest

ADAPTERS = Path(__file__).parents[2] / "adapters"
OPENERS = {
    "ClientSession",
    "TCPConnector",
    "open_connection",
    "create_connection",
    "socket",
    "urlopen",
}
PROVIDER_MODULES = sorted(p for p in ADAPTERS.glob("*/*.py"))


def names_used(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            found |= {alias.name.split(".")[-1] for alias in node.names}
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module.split(".")[0])
    return found


def test_there_are_provider_modules_to_check() -> None:
    assert {p.parent.name for p in PROVIDER_MODULES} == {
        "crm_v1",
        "draft_publish",
        "bill_crm",
        "item_envelope",
        "order_linked",
    }


@pytest.mark.parametrize("module", PROVIDER_MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_adapter_module_opens_no_connection(module: Path) -> None:
    assert names_used(ast.parse(module.read_text())) & OPENERS == set()


def test_the_check_sees_a_session_being_opened() -> None:
    sample = "import aiohttp\nasync def f():\n    async with aiohttp.ClientSession() as s: pass\n"
    assert "ClientSession" in names_used(ast.parse(sample))
