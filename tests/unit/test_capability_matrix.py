from pathlib import Path

from adapters.matrix import render

DOC = Path(__file__).parents[2] / "docs" / "capabilities.md"


def test_the_capability_matrix_is_current() -> None:
    assert DOC.read_text() == render(), "run: python -m adapters.matrix > docs/capabilities.md"
