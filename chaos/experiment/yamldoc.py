"""YAML documents that remember where every value was written.

Files are read with ruamel.yaml's round-trip loader as YAML 1.2, so `off`, `no` and `1:500`
stay strings, and every mapping and sequence keeps the line and column of its children. The
plain data (dicts, lists, scalars) goes to pydantic; the tree stays here to turn an error path
such as ``("faults", 1, "lateny")`` back into ``FILE:LINE:COL``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from chaos.experiment.errors import Issue, Position
from chaos.experiment.tagged import is_tag

Loc = Sequence[str | int]


class YamlSyntaxError(Exception):
    """The text is not YAML (or not one document); carries the located issue."""

    def __init__(self, issue: Issue) -> None:
        self.issue = issue
        super().__init__(str(issue))


@dataclass(frozen=True)
class YamlDocument:
    """One parsed file: the plain data for validation and the tree for locating errors."""

    source: Path
    tree: Any
    data: Any

    def locate(self, loc: Loc, *, at_key: bool = False) -> Position:
        """Where the value at `loc` was written; its key when `at_key` (an unknown field).

        Path segments that are union tags are skipped; a path leading to a missing value is
        located at the nearest enclosing node that exists.
        """
        node = self.tree
        here = _start(node)
        segments = [s for s in loc if not is_tag(s)]
        for index, segment in enumerate(segments):
            following = segments[index + 1] if index + 1 < len(segments) else None
            owner = _owner(node, segment) if isinstance(node, CommentedMap) else None
            if owner is not None:
                if following == "[key]" or (following is None and at_key):
                    return _position(owner.lc.key(segment))
                here = _position(owner.lc.value(segment))
                node = owner[segment]
            elif (
                isinstance(node, CommentedSeq)
                and isinstance(segment, int)
                and 0 <= segment < len(node)
            ):
                here = _position(node.lc.item(segment))
                node = node[segment]
            else:
                return here
        return here


def _owner(mapping: CommentedMap, key: Any) -> CommentedMap | None:
    """The mapping that spells out `key`: this one, or one merged into it with `<<: *anchor`."""
    if key in (mapping.lc.data or {}):
        return mapping
    for merged in getattr(mapping, "merge", None) or []:
        source = merged[1] if isinstance(merged, tuple) else merged  # ruamel 0.18: (index, map)
        found = _owner(source, key) if isinstance(source, CommentedMap) else None
        if found is not None:
            return found
    return None


def _position(pair: Any) -> Position:
    line, column = pair
    return Position(line + 1, column + 1)


def _start(node: Any) -> Position:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return Position(1, 1)
    return Position(lc.line + 1, lc.col + 1)


def _plain(node: Any, memo: dict[int, Any]) -> Any:
    """Ruamel's round-trip types as builtins; aliases stay shared, cycles stay cycles."""
    if id(node) in memo:
        return memo[id(node)]
    if isinstance(node, dict):
        plain: dict[Any, Any] = {}
        memo[id(node)] = plain
        for key, value in node.items():
            plain[_plain(key, memo)] = _plain(value, memo)
        return plain
    if isinstance(node, list):
        items: list[Any] = []
        memo[id(node)] = items
        items.extend(_plain(item, memo) for item in node)
        return items
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _hint(problem: str) -> str:
    """What the author most likely meant, for the YAML mistakes experiments invite."""
    if "flow mapping" in problem and "got '{'" in problem:
        return (
            "; a label selector inside a {...} mapping must be quoted, e.g. "
            """{max: 'icecast_source_up{mount="/live"}', above: 0}"""
        )
    return ""


def parse_yaml(text: str, source: Path) -> YamlDocument:
    """Parse one YAML 1.2 document; a syntax error raises `YamlSyntaxError` with its place."""
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)
    yaml.allow_duplicate_keys = False
    try:
        tree = _load_separated_by_tabs(yaml, text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Position(mark.line + 1, mark.column + 1) if mark else Position(1, 1)
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise YamlSyntaxError(
            Issue(source, where, "", f"not valid YAML: {problem or exc}" + _hint(problem))
        ) from None
    except Exception as exc:  # ruamel raises assorted errors on hostile text; all are bad input
        raise YamlSyntaxError(
            Issue(source, Position(1, 1), "", f"not valid YAML: {type(exc).__name__}: {exc}")
        ) from None
    return YamlDocument(source, tree, _plain(tree, {}))


TAB_RETRIES = 64
"""Tabs between tokens that ``_load_separated_by_tabs`` turns into spaces, at most."""


def _load_separated_by_tabs(yaml: YAML, text: str) -> Any:
    """YAML 1.2 allows a tab to separate tokens within a line (``seed:\t42``), which ruamel's
    scanner refuses. Where it stops at such a tab (after the line's indentation, so never one
    indenting, and never inside a quoted scalar, where the scanner does not look for tokens),
    the tab becomes a space and the text is read again."""
    for _ in range(TAB_RETRIES):
        try:
            return yaml.load(text)
        except MarkedYAMLError as exc:
            mark = exc.problem_mark
            if mark is None or "'\\t'" not in str(exc.problem) or text[mark.index] != "\t":
                raise
            start = text.rfind("\n", 0, mark.index) + 1
            if not text[start : mark.index].strip():
                raise  # a tab indenting: refused by YAML 1.2 too
            text = text[: mark.index] + " " + text[mark.index + 1 :]
    return yaml.load(text)


MAX_BYTES = 1_000_000
"""The largest file read (about 10,000 faults): reading YAML with positions costs about 12 µs
of CPU a byte on the 2-core test machine (benchmarks/validate_cost.py; linear, the checks
little beside it), so this bounds a validation at seconds where 10 MB would take two minutes;
a larger schedule is a search's output or several experiments, not one file a person reads."""


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
                    f"{MAX_BYTES:,} bytes (about 10,000 faults); split the schedule into "
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
