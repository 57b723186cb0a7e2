"""Write a run's reports to disk: the I/O edge around the pure HTML and Markdown renderers.

``gameday report --out`` and the runner both come through here, so a report written at the end
of a run and one regenerated later from the same journal are the same files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from chaos.errors import InvalidInput
from chaos.report.html import render_html
from chaos.report.journal import Journal
from chaos.report.markdown import render_markdown

FORMATS: dict[str, tuple[str, Callable[[Journal, Journal | None], str]]] = {
    "html": ("report.html", render_html),
    "md": ("summary.md", render_markdown),
}
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def parse_formats(text: str) -> list[str]:
    """``html,md`` → ``["html", "md"]``, refusing unknown names before anything is written."""
    wanted = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [name for name in wanted if name not in FORMATS]
    if unknown or not wanted:
        raise InvalidInput(
            f"unknown report format(s): {', '.join(unknown) or '(none given)'}",
            where="--format",
            fix=f"use a comma-separated list of {', '.join(FORMATS)}, e.g. --format html,md",
        )
    return list(dict.fromkeys(wanted))


def requested_formats(text: str | None, out: Path | None) -> list[str]:
    """The formats ``--format`` asks for (all by default); asking without ``--out`` is an error,
    since nothing would be written and the user would not notice."""
    if text is not None and out is None:
        raise InvalidInput(
            "--format chooses the files written with --out, and no --out was given",
            where="--format",
            fix="add --out DIR to write report files, or drop --format",
        )
    return parse_formats(text) if text is not None else list(FORMATS)


def write_reports(
    journal: Journal, out_dir: Path, formats: Iterable[str], against: Journal | None = None
) -> list[Path]:
    """Render each format into ``out_dir`` (created if needed); the paths written, in order.

    Each file is written next to its final name and renamed into place, so a reader (a CI
    artifact upload, a browser refresh) never sees half a report.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(
            f"cannot create the report directory: {exc.strerror}",
            where=str(out_dir),
            fix="pass --out a directory you can write to",
        ) from None
    written = []
    for name in formats:
        filename, render = FORMATS[name]
        path = out_dir / filename
        partial = path.with_name(f".{filename}.partial")
        partial.write_text(render(journal, against), encoding="utf-8")
        partial.replace(path)
        written.append(path)
    return written


def append_step_summary(journal: Journal, env: Mapping[str, str] | None = None) -> Path | None:
    """Append the Markdown summary to GitHub Actions' step summary, when running under it."""
    target = (os.environ if env is None else env).get(STEP_SUMMARY_ENV)
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as out:
        out.write(render_markdown(journal) + "\n")
    return path
