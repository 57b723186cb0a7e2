"""Rules from DESIGN.md that hold for the whole tree."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_modules(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(), filename=str(source))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_chaos_never_imports_soundstage() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "chaos").rglob("*.py"))
        if any(m == "soundstage" or m.startswith("soundstage.") for m in _imported_modules(path))
    ]
    assert offenders == [], f"chaos must talk to stacks only over the network: {offenders}"


def test_top_level_layout_matches_design() -> None:
    for folder in (
        "chaos",
        "soundstage",
        "experiments",
        "seeds",
        "dashboards",
        "benchmarks",
        "tests",
    ):
        assert (ROOT / folder).is_dir(), folder
