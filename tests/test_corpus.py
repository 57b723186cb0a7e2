"""`validate`, `run --dry-run` and `run` agree: one set of checks up to what needs the stack.

Over the game-day library, the seeds and the bad-input corpus (tests/corpus/bad_experiments,
one change to a good experiment per file), each file is validated, dry-run and run up to the
point where the stack would start (a fault proxy that does not answer: a valid file reaches it
and stops with exit 3, nothing started). The three must refuse the same files with the same
located issues, and every refusal is exit 2 with no traceback.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from chaos.errors import GamedayError
from chaos.experiment.validate import validate_files
from chaos.experiment.yamldoc import MAX_BYTES
from chaos.runner.cli import run_command
from chaos.runner.run import RunOptions

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "bad_experiments"
GOOD = sorted((ROOT / "experiments").glob("*.yaml")) + sorted((ROOT / "seeds").glob("*/*.yaml"))
BAD = sorted(CORPUS.glob("*.yaml"))
UNREACHABLE = "http://127.0.0.1:9"
LOCATED = re.compile(r"^\S+?:\d+:\d+: ", re.MULTILINE)


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=4096, highlight=False), buffer


def _validate(path: Path) -> tuple[int, set[str]]:
    console, buffer = _console()
    code = validate_files([path], console, console)
    lines = {line for line in buffer.getvalue().splitlines() if LOCATED.match(line)}
    return code, lines


def _run(path: Path, tmp_path: Path, *, dry_run: bool) -> tuple[int, set[str]]:
    console, _ = _console()
    # the run stops at a fault proxy that does not answer; the dry run asks none
    options = RunOptions(toxiproxy=None if dry_run else UNREACHABLE, out=tmp_path / "run")
    try:
        code = run_command(path, options, dry_run=dry_run, console=console)
    except GamedayError as exc:
        text = exc.render()
        return int(exc.exit_code), {line for line in text.splitlines() if LOCATED.match(line)}
    return code, set()


@pytest.mark.parametrize("path", BAD, ids=[p.name for p in BAD])
def test_validate_dry_run_and_run_refuse_a_bad_file_alike(path: Path, tmp_path: Path) -> None:
    validated = _validate(path)
    dry = _run(path, tmp_path, dry_run=True)
    assert validated == dry, (validated, dry)
    if validated[0] == 2:
        assert _run(path, tmp_path, dry_run=False) == dry
        assert not (tmp_path / "run").exists()  # nothing was started, not even a journal


@pytest.mark.parametrize("path", GOOD, ids=[str(p.relative_to(ROOT)) for p in GOOD])
def test_the_library_and_the_seeds_pass_all_three(path: Path, tmp_path: Path) -> None:
    assert _validate(path) == (0, set())
    assert _run(path, tmp_path, dry_run=True) == (0, set())


def test_most_of_the_corpus_is_refused_with_a_place() -> None:
    refused = [p for p in BAD if _validate(p)[0] == 2]
    located = [p for p in refused if _validate(p)[1]]
    assert len(refused) >= len(BAD) - 8, sorted(set(BAD) - set(refused))
    assert len(located) >= len(refused) - 12


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    row = "  - {{name: f{0}, at: {1}s, for: 1s, link: listener->edge, latency: 10ms}}\n"
    path = tmp_path / "150000-faults.yaml"
    path.write_text(
        "title: t\nstack: soundstage\nfaults:\n"
        + "".join(row.format(i, i % 50) for i in range(150_000))
    )
    code, lines = _validate(path)
    assert code == 2 and len(lines) == 1, lines
    assert (
        f"bytes: gameday reads experiment and stack files of at most {MAX_BYTES:,}" in lines.pop()
    )
    assert _run(path, tmp_path, dry_run=True)[0] == 2


def test_a_file_that_is_not_utf8_is_located_at_its_byte(tmp_path: Path) -> None:
    code, lines = _validate(CORPUS / "200-not-utf8.yaml")
    assert code == 2 and any(":1:11: not UTF-8: byte 0xe9" in line for line in lines), lines


def test_validate_checks_every_file_it_is_given(tmp_path: Path) -> None:
    console, buffer = _console()
    files = [CORPUS / "059-curve-not-utf8.yaml", GOOD[0], CORPUS / "001-yaml-tab-indent.yaml"]
    assert validate_files(files, console, console) == 2
    text = buffer.getvalue()
    assert "not UTF-8" in text and f"ok {GOOD[0]}" in text and "001-yaml-tab-indent" in text
    assert "2 of 3 files invalid" in text
