"""YAML documents that remember where every value was written.

Files are read as YAML 1.2, so `off`, `no` and `1:500` stay strings. The plain data (dicts,
lists, scalars) goes to pydantic; the places (``yamlspots``) stay here to turn an error path
such as ``("faults", 1, "lateny")`` back into ``FILE:LINE:COL``.

Two readers agree on what a file means (tests/test_yaml_readers.py holds them to it): the fast
one (``yamlfast``, libyaml in C, about 0.4 µs a byte) reads every file first; what it refuses
(a syntax error, a tag, a duplicate key) goes to the exact one (``yamlexact``, ruamel.yaml,
about 13 µs a byte), which decides and words the error, for files up to ``EXACT_BYTES``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.error import MarkedYAMLError

from chaos.experiment import yamlexact, yamlspots
from chaos.experiment.errors import Issue, Position
from chaos.experiment.yamlfast import Refused, read_fast

Loc = Sequence[str | int]


class YamlSyntaxError(Exception):
    """The text is not YAML (or not one document); carries the located issue."""

    def __init__(self, issue: Issue) -> None:
        self.issue = issue
        super().__init__(str(issue))


@dataclass(frozen=True)
class YamlDocument:
    """One parsed file: the plain data for validation and the places for locating errors."""

    source: Path
    data: Any
    root: tuple[int, int, yamlspots.Spots]

    def locate(self, loc: Loc, *, at_key: bool = False) -> Position:
        """Where the value at `loc` was written; its key when `at_key` (an unknown field)."""
        return yamlspots.locate(self.root, loc, at_key=at_key)


def _hint(problem: str) -> str:
    """What the author most likely meant, for the YAML mistakes experiments invite."""
    if "flow mapping" in problem and "got '{'" in problem:
        return (
            "; a label selector inside a {...} mapping must be quoted, e.g. "
            """{max: 'icecast_source_up{mount="/live"}', above: 0}"""
        )
    return ""


EXACT_BYTES = 1_000_000
"""The largest file the exact reader is asked about (13 s of CPU at most); a larger file the
fast reader refuses gets the fast reader's word and place for it."""


def parse_yaml(text: str, source: Path) -> YamlDocument:
    """Parse one YAML 1.2 document; a syntax error raises `YamlSyntaxError` with its place."""
    try:
        data, root = read_fast(text)
    except Exception as refused:  # hostile text raises assorted errors: all are bad input
        if len(text) <= EXACT_BYTES:
            data, root = _read_exactly(text, source)
        elif isinstance(refused, Refused):
            raise _syntax(source, refused.line, refused.column, refused.problem) from None
        else:
            raise _syntax(source, 0, 0, f"{type(refused).__name__}: {refused}") from None
    return YamlDocument(source, data, root)


def _read_exactly(text: str, source: Path) -> tuple[Any, tuple[int, int, yamlspots.Spots]]:
    try:
        return yamlexact.read_exact(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p) or str(exc)
        raise _syntax(
            source, mark.line if mark else 0, mark.column if mark else 0, problem
        ) from None
    except Exception as exc:  # ruamel raises assorted errors on hostile text; all are bad input
        raise _syntax(source, 0, 0, f"{type(exc).__name__}: {exc}") from None


def _syntax(source: Path, line: int, column: int, problem: str) -> YamlSyntaxError:
    where = Position(line + 1, column + 1)
    return YamlSyntaxError(Issue(source, where, "", f"not valid YAML: {problem}{_hint(problem)}"))


MAX_BYTES = 10 * 2**20
"""The largest file read (10 MiB, about 140,000 faults): reading costs about 0.3 µs of CPU a
byte and the models and checks about as much again, so a validation at this limit takes
seconds (benchmarks/validate_cost.py); a larger schedule is a search's output or several
experiments, not one file a person reads."""


def read_text(path: Path) -> str:
    """A file's text; an unreadable file is reported like a syntax error, a file over
    ``MAX_BYTES`` is refused before it is read."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise YamlSyntaxError(
                Issue(
                    path,
                    Position(1, 1),
                    "",
                    f"{size:,} bytes: gameday reads experiment and stack files of at most "
                    f"{MAX_BYTES:,} bytes (about 140,000 faults); split the schedule into "
                    "several experiments, or let `gameday search` find the faults that matter",
                )
            )
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raw = path.read_bytes()
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlSyntaxError(
            Issue(
                path,
                Position(line, column),
                "",
                f"not UTF-8: byte 0x{raw[exc.start]:02x}; save the file as UTF-8 "
                "(e.g. iconv -f latin1 -t utf-8)",
            )
        ) from None
    except OSError as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise YamlSyntaxError(Issue(path, None, "", f"cannot read the file: {reason}")) from None


def read_yaml(path: Path) -> YamlDocument:
    """Read and parse a file."""
    return parse_yaml(read_text(path), path)


def read_round_trip(path: Path) -> Any:
    """A file as ruamel.yaml's round-trip tree, comments kept, to be edited and written back
    (``gameday search`` writes its candidates so)."""
    return yamlexact.round_trip(read_text(path))
