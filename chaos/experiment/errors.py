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


MAX_SHOWN = 50
"""Issues a message shows; the rest are counted (a generated file may hold thousands)."""


class ExperimentError(InvalidInput):
    """Every issue found in an experiment (and its stack spec); nothing was started."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        if not issues:
            raise ValueError("an ExperimentError needs at least one issue")
        self.issues = tuple(sorted(issues, key=_reading_order))
        shown = [str(issue) for issue in self.issues[:MAX_SHOWN]]
        if len(self.issues) > MAX_SHOWN:
            shown.append(f"... and {len(self.issues) - MAX_SHOWN} more issues")
        super().__init__(
            "\n".join(shown),
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


@dataclass(frozen=True)
class _Reported:
    """One pydantic error, worded: where it points, and what it says."""

    loc: Loc
    message: str
    at_key: bool = False
    missing: bool = False
    suggests: Loc | None = None
    """For an unknown field: the path of the field it probably meant."""


def _word(detail: Any, root: type[BaseModel]) -> _Reported:
    loc: Loc = tuple(detail["loc"])
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    if kind == "field_error":
        return _Reported((*loc, str(ctx["field"])), str(ctx["message"]))
    if kind == "extra_forbidden":
        allowed = allowed_fields(root, loc[:-1])
        guess = nearest(str(loc[-1]), allowed)
        if guess is not None:
            message = f"unknown field; did you mean '{guess}'?"
            return _Reported(loc, message, at_key=True, suggests=(*loc[:-1], guess))
        choices = f"; expected one of {', '.join(allowed)}" if allowed else ""
        return _Reported(loc, "unknown field" + choices, at_key=True)
    if kind == "missing":
        return _Reported(loc, "required field is missing", missing=True)
    if kind == "literal_error":
        expected_text = str(ctx.get("expected", ""))
        expected = re.findall(r"'([^']*)'", expected_text) or [expected_text]
        guess = nearest(str(detail["input"]), expected)
        message = f"expected one of {', '.join(expected)}; got {_show(detail['input'])}"
        return _Reported(loc, message + (f"; did you mean '{guess}'?" if guess else ""))
    if kind in ("value_error", "assertion_error"):
        return _Reported(loc, str(ctx.get("error", detail["msg"])))
    message = detail["msg"]
    if not isinstance(detail["input"], dict | list):
        message += f"; got {_show(detail['input'])}"
    return _Reported(loc, message)


def issues_from_validation(
    error: ValidationError, document: YamlDocument, root: type[BaseModel]
) -> list[Issue]:
    """Pydantic's errors as located issues, with did-you-mean suggestions for unknown names."""
    reported = [_word(detail, root) for detail in error.errors(include_url=False)]
    meant = {_untagged(r.suggests) for r in reported if r.suggests is not None}
    issues: list[Issue] = []
    for report in reported:
        if report.missing and _untagged(report.loc) in meant:
            continue  # the misspelt key already reported names this field
        issue = Issue(
            document.source,
            document.locate(report.loc, at_key=report.at_key),
            format_path(report.loc),
            report.message,
        )
        if issue not in issues:
            issues.append(issue)
    return issues


def _untagged(loc: Loc) -> Loc:
    return tuple(s for s in loc if not is_tag(s))


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
