"""Located validation issues: `FILE:LINE:COL: faults[1].lateny: unknown field; did you mean ...`.

A person fixing an experiment file needs the place (file, line, column, field path), what was
expected, and the nearest valid name for a typo. Pydantic knows the field path; the YAML tree
knows the place; this module joins them and words the message. All issues of a file are
collected and raised together in one `ExperimentError`, so one run of `gameday validate` shows
everything that needs fixing.
"""

from __future__ import annotations

import re
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError

from chaos.errors import InvalidInput
from chaos.experiment.tagged import is_tag, nearest

if TYPE_CHECKING:
    from chaos.experiment.yamldoc import YamlDocument

Loc = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Position:
    """1-based line and column, as editors count."""

    line: int
    column: int


@dataclass(frozen=True)
class Issue:
    """One problem in one file, with its place and the field path inside the document."""

    file: Path
    position: Position | None
    path: str
    message: str

    def __str__(self) -> str:
        where = str(self.file)
        if self.position is not None:
            where += f":{self.position.line}:{self.position.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass(frozen=True)
class Problem:
    """A semantic problem found after parsing, at a document path (located by the loader)."""

    loc: Loc
    message: str
    at_key: bool = False


def located(problems: Sequence[Problem], document: YamlDocument) -> list[Issue]:
    return [
        Issue(
            document.source,
            document.locate(p.loc, at_key=p.at_key),
            format_path(p.loc),
            p.message,
        )
        for p in problems
    ]


class ExperimentError(InvalidInput):
    """Every issue found in an experiment (and its stack spec); nothing was started."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        if not issues:
            raise ValueError("an ExperimentError needs at least one issue")
        self.issues = tuple(sorted(issues, key=_reading_order))
        super().__init__(
            "\n".join(str(issue) for issue in self.issues),
            fix="correct the places above; `gameday validate FILE` re-checks without running",
        )


def _reading_order(issue: Issue) -> tuple[str, Position]:
    return str(issue.file), issue.position or Position(0, 0)


def format_path(loc: Sequence[str | int]) -> str:
    """`("faults", 1, "<latency>", "jitter")` → `faults[1].jitter` (union tags are dropped)."""
    text = ""
    for segment in loc:
        if is_tag(segment):
            continue
        if isinstance(segment, int):
            text += f"[{segment}]"
        elif segment == "[key]":
            text += " (key)"
        else:
            text += f".{segment}" if text else str(segment)
    return text


def issues_from_validation(
    error: ValidationError, document: YamlDocument, root: type[BaseModel]
) -> list[Issue]:
    """Pydantic's errors as located issues, with did-you-mean suggestions for unknown names."""
    found: list[tuple[Loc, bool, str]] = []
    suggested: set[Loc] = set()
    for detail in error.errors(include_url=False):
        loc: Loc = tuple(detail["loc"])
        kind = detail["type"]
        ctx = detail.get("ctx") or {}
        at_key = False
        if kind == "field_error":
            loc += (str(ctx["field"]),)
            message = str(ctx["message"])
        elif kind == "extra_forbidden":
            at_key = True
            allowed = allowed_fields(root, loc[:-1])
            guess = nearest(str(loc[-1]), allowed)
            if guess is not None:
                suggested.add((*loc[:-1], guess))
                message = f"unknown field; did you mean '{guess}'?"
            elif allowed:
                message = f"unknown field; expected one of {', '.join(allowed)}"
            else:
                message = "unknown field"
        elif kind == "missing":
            message = "required field is missing"
        elif kind == "literal_error":
            expected = re.findall(r"'([^']*)'", str(ctx.get("expected", ""))) or [
                str(ctx.get("expected"))
            ]
            guess = nearest(str(detail["input"]), expected)
            message = f"expected one of {', '.join(expected)}; got {_show(detail['input'])}"
            message += f"; did you mean '{guess}'?" if guess else ""
        elif kind in ("value_error", "assertion_error"):
            message = str(ctx.get("error", detail["msg"]))
        else:
            message = detail["msg"]
            if not isinstance(detail["input"], dict | list):
                message += f"; got {_show(detail['input'])}"
        found.append((loc, at_key, message))

    issues: list[Issue] = []
    for loc, at_key, message in found:
        plain = tuple(s for s in loc if not is_tag(s))
        if message == "required field is missing" and plain in _plain_all(suggested):
            continue  # the misspelt key already reported names this field
        issue = Issue(
            document.source, document.locate(loc, at_key=at_key), format_path(loc), message
        )
        if issue not in issues:
            issues.append(issue)
    return issues


def _plain_all(locs: set[Loc]) -> set[Loc]:
    return {tuple(s for s in loc if not is_tag(s)) for loc in locs}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def allowed_fields(root: Any, loc: Sequence[str | int]) -> list[str]:
    """The field names (as written in YAML) of the model found at `loc` below `root`."""
    node: Any = root
    for segment in loc:
        node = _step(node, segment)
        if node is None:
            return []
    node = _model_of(node)
    if node is None:
        return []
    return [info.alias or name for name, info in node.model_fields.items()]


def _unwrap(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        inner, more = _unwrap(base)
        return inner, (*metadata, *more)
    return annotation, ()


def _members(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(m for m in get_args(annotation) if m is not type(None))
    return ()


def _model_of(annotation: Any) -> type[BaseModel] | None:
    base, _ = _unwrap(annotation)
    members = _members(base)
    if len(members) == 1:
        return _model_of(members[0])
    if isinstance(base, type) and issubclass(base, BaseModel):
        return base
    return None


def _step(annotation: Any, segment: str | int) -> Any:
    base, _ = _unwrap(annotation)
    members = _members(base)
    if members:
        if is_tag(segment):
            for member in members:
                if any(isinstance(m, Tag) and m.tag == segment for m in _unwrap(member)[1]):
                    return member
            return None
        return _step(members[0], segment) if len(members) == 1 else None
    origin = get_origin(base)
    if origin is list and isinstance(segment, int):
        return get_args(base)[0]
    if origin is dict and isinstance(segment, str):
        return get_args(base)[1]
    if isinstance(base, type) and issubclass(base, BaseModel) and isinstance(segment, str):
        for name, info in base.model_fields.items():
            if segment in (name, info.alias):
                return info.annotation
    return None
