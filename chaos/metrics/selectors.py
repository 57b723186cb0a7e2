"""PromQL series selectors: ``icecast_source_up{mount="/live", job!~"test.*"}``.

SLOs, guards and ratios read series by selector, and two evaluators must agree on what one
selects: the embedded one over a direct scrape, and Prometheus itself. So this module parses
the selector syntax as PromQL does (the four matchers ``=``, ``!=``, ``=~``, ``!~``; values
quoted with ``"``, ``'`` or backticks, Go escapes in the first two), matches label sets as
Prometheus does (a label a series lacks has the value ``""``; a regex matches the whole value,
RE2 syntax), and writes a selector back as PromQL that Prometheus reads the same way.

Pure: a ``SelectorError`` carries the offset of the offending character, so the experiment
loader can point at it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

MatchOp = Literal["=", "!=", "=~", "!~"]
OPS: tuple[MatchOp, ...] = ("=~", "!~", "!=", "=")
"""Longest first, so ``=~`` is not read as ``=`` followed by ``~``."""

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

_RE2_LACKS = re.compile(r"\(\?[=!]|\(\?<[=!]|\(\?P=|\(\?>|\\[1-9]|[*+?}][+]")
"""Python regex constructs RE2 (Prometheus' engine) refuses: look-arounds, backreferences,
atomic groups, possessive quantifiers. Accepting them would select series Prometheus cannot."""

_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
}  # fmt: skip


class SelectorError(ValueError):
    """Text that is no selector; ``offset`` is where in it the problem is (0-based)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def regex_problem(pattern: str) -> str | None:
    """Why Prometheus would refuse ``pattern`` as a label regex, or None."""
    found = _RE2_LACKS.search(pattern)
    if found is not None:
        return (
            f"{found.group(0)!r} is Python-only regex syntax; Prometheus' regexes (RE2) have no "
            "look-arounds, backreferences, atomic groups or possessive quantifiers"
        )
    try:
        _compiled(pattern)
    except re.error as exc:
        return f"not a regular expression: {exc}"
    return None


def quote(value: str) -> str:
    """A PromQL double-quoted string literal of ``value`` (also the exposition format's)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


@dataclass(frozen=True, order=True, slots=True)
class Matcher:
    """One label matcher: ``label op "value"``."""

    label: str
    op: MatchOp
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        own = labels.get(self.label, "")
        if self.op == "=":
            return own == self.value
        if self.op == "!=":
            return own != self.value
        found = _compiled(self.value).fullmatch(own) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.label}{self.op}{quote(self.value)}"


Labels = Sequence[tuple[str, str]]
"""A series' label pairs, as ``SeriesKey.labels`` holds them."""

MatcherSpec = Mapping[str, str] | Sequence[Matcher] | None
"""What reads series accept: equality matchers as a mapping, or any matchers."""


def as_matchers(spec: MatcherSpec) -> tuple[Matcher, ...]:
    if spec is None:
        return ()
    if isinstance(spec, Mapping):
        return tuple(Matcher(label, "=", value) for label, value in sorted(spec.items()))
    return tuple(spec)


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


@dataclass(frozen=True, slots=True)
class ParsedSelector:
    name: str
    matchers: tuple[Matcher, ...] = ()

    def __str__(self) -> str:
        return render(self.name, self.matchers)


def render(name: str, matchers: Sequence[Matcher]) -> str:
    """``name{a="b",c=~"d"}``, or the bare name without matchers."""
    inner = ",".join(map(str, matchers))
    return f"{name}{{{inner}}}" if inner else name


SHOWN_VALUES = 8
"""Label values a note on an unmatched selector lists, at most (then a count)."""


def unmatched_note(selected: str, matchers: Sequence[Matcher], seen: Sequence[Labels]) -> str:
    """Why ``selected`` has no data although its metric has ``seen`` series: the values each
    matched label has there, e.g. ``icecast_source_up{mount="/nope"} matched none of the 2
    series of icecast_source_up (mount: "/backup", "/live")``."""
    name = selected.partition("{")[0]
    parts = []
    for label in sorted({m.label for m in matchers}):
        values = sorted({dict(labels).get(label, "") for labels in seen})
        shown = ", ".join(quote(v) for v in values[:SHOWN_VALUES])
        more = f" and {len(values) - SHOWN_VALUES} more" if len(values) > SHOWN_VALUES else ""
        parts.append(f"{label}: {shown}{more}")
    count = f"the {len(seen)} series" if len(seen) > 1 else "the one series"
    return f"{selected} matched none of {count} of {name} ({'; '.join(parts)})"


class _Reader:
    """A cursor over the text; every refusal says what was expected where."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def error(self, message: str, offset: int | None = None) -> SelectorError:
        return SelectorError(message, self.at if offset is None else offset)

    def blank(self) -> None:
        while self.at < len(self.text) and self.text[self.at].isspace():
            self.at += 1

    def peek(self, token: str) -> bool:
        return self.text.startswith(token, self.at)

    def done(self) -> bool:
        return self.at >= len(self.text)

    def word(self, pattern: re.Pattern[str], what: str, example: str) -> str:
        found = pattern.match(self.text, self.at)
        if found is None:
            got = self.text[self.at : self.at + 1] or "the end"
            raise self.error(f"expected {what} (e.g. {example}), got {got!r}")
        self.at = found.end()
        return found.group(0)

    def string(self) -> str:
        if self.done() or self.text[self.at] not in "\"'`":
            got = self.text[self.at : self.at + 1] or "the end"
            raise self.error(
                f'a label value is quoted, e.g. mount="/live"; got {got!r}'
                + (" (quote the value)" if got not in ("the end", ",", "}") else "")
            )
        opening = self.text[self.at]
        start = self.at
        self.at += 1
        if opening == "`":
            end = self.text.find("`", self.at)
            if end < 0:
                raise self.error("unterminated `...` value: close it with a backtick", start)
            value, self.at = self.text[self.at : end], end + 1
            return value
        out: list[str] = []
        while True:
            if self.done() or self.text[self.at] == "\n":
                raise self.error(
                    f"unterminated {opening}...{opening} value: close the quote", start
                )
            char = self.text[self.at]
            if char == opening:
                self.at += 1
                return "".join(out)
            if char == "\\":
                out.append(self._escape(opening))
                continue
            out.append(char)
            self.at += 1

    def _escape(self, opening: str) -> str:
        start = self.at
        code = self.text[self.at + 1 : self.at + 2]
        if code in _ESCAPES:
            self.at += 2
            return _ESCAPES[code]
        if code == opening:
            self.at += 2
            return opening
        digits = {"x": 2, "u": 4, "U": 8}.get(code)
        if digits is not None:
            hex_text = self.text[self.at + 2 : self.at + 2 + digits]
            if len(hex_text) == digits and all(c in "0123456789abcdefABCDEF" for c in hex_text):
                point = int(hex_text, 16)
                if point <= 0x10FFFF and not 0xD800 <= point <= 0xDFFF:
                    self.at += 2 + digits
                    return chr(point)
        octal = self.text[self.at + 1 : self.at + 4]
        if len(octal) == 3 and all(c in "01234567" for c in octal) and int(octal, 8) < 256:
            self.at += 4
            return chr(int(octal, 8))
        raise self.error(
            f"unknown escape \\{code} in a quoted value: write \\\\ for a backslash, or quote "
            "the value with backticks (`/live\\.mp3`), where a backslash is itself",
            start,
        )


def _matcher(reader: _Reader) -> Matcher:
    label = reader.word(LABEL_NAME, "a label name", 'mount="/live"')
    reader.blank()
    op = next((o for o in OPS if reader.peek(o)), None)
    if op is None:
        got = reader.text[reader.at : reader.at + 2] or "the end"
        raise reader.error(f"expected one of =, !=, =~, !~ after {label!r}, got {got!r}")
    reader.at += len(op)
    reader.blank()
    value_at = reader.at
    value = reader.string()
    if op in ("=~", "!~"):
        problem = regex_problem(value)
        if problem is not None:
            raise reader.error(f"{label}{op}: {problem}", value_at)
    return Matcher(label, op, value)


def _selector(reader: _Reader) -> ParsedSelector:
    reader.blank()
    if reader.peek("{"):
        raise reader.error('a selector starts with its metric name, e.g. up{job="api"}')
    name = reader.word(METRIC_NAME, "a metric name", "icecast_source_up")
    reader.blank()
    matchers: list[Matcher] = []
    if reader.peek("{"):
        reader.at += 1
        reader.blank()
        while not reader.peek("}"):
            if reader.done():
                raise reader.error("unclosed '{': end the label matchers with '}'")
            matchers.append(_matcher(reader))
            reader.blank()
            if reader.done():
                continue
            if reader.peek(","):
                reader.at += 1
                reader.blank()
            elif not reader.peek("}"):
                got = reader.text[reader.at]
                raise reader.error(f"expected ',' or '}}' after a matcher, got {got!r}")
        reader.at += 1
        reader.blank()
    return ParsedSelector(name, tuple(matchers))


def _finish(reader: _Reader, what: str) -> None:
    if not reader.done():
        got = reader.text[reader.at]
        hint = " (a range like [5m] or a function is raw PromQL, not a selector)"
        read = reader.text[: reader.at].strip()
        message = f"unexpected {got!r} after the {what} {read!r}"
        raise reader.error(message + (hint if got in "[(" else ""))


def parse_selector(text: str) -> ParsedSelector:
    """``name`` or ``name{label op "value", ...}``; raises ``SelectorError``."""
    reader = _Reader(text)
    parsed = _selector(reader)
    _finish(reader, "selector")
    return parsed


def parse_ratio(text: str) -> tuple[ParsedSelector, ParsedSelector]:
    """``numerator/denominator``, two selectors (a ``/`` inside a quoted value is no divider)."""
    reader = _Reader(text)
    numerator = _selector(reader)
    if not reader.peek("/"):
        got = reader.text[reader.at : reader.at + 1] or "the end"
        raise reader.error(
            f"a ratio is numerator/denominator (e.g. joins_ok/joins); expected '/', got {got!r}"
        )
    reader.at += 1
    denominator = _selector(reader)
    _finish(reader, "ratio")
    return numerator, denominator
