"""The docs stand alone: no README, docs/ page or seed note cites a file outside the repository
(DESIGN.md lives outside it) or a path that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "seeds").glob("**/*.md")),
]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_no_page_cites_design_md_or_a_path_outside_the_repository() -> None:
    for page in PAGES:
        text = page.read_text()
        assert "DESIGN.md" not in text, page
        assert not re.search(r"(?<![\w.])/work/|\.\./shared", text), page


def test_every_relative_link_resolves_inside_the_repository() -> None:
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (page.parent / target).resolve()
            assert resolved.is_relative_to(ROOT) and resolved.exists(), (page, target)


def test_the_architecture_page_names_the_nine_steps() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    text = text.split("## The steps of `gameday run`")[1].split("\n## ")[0]
    steps = re.findall(r"^(\d)\. \*\*", text, re.M)
    assert steps == [str(n) for n in range(1, 10)]
