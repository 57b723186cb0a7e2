"""Prometheus text exposition (format 0.0.4) → samples. Sans-IO: text in, samples out.

Our own parser rather than prometheus_client's: a scrape of a large stack is tens of
thousands of lines every second on a machine the stack itself is loading, and this parser is
several times faster (``benchmarks/metrics.py``). It is checked sample-for-sample against
prometheus_client's parser by a property test. Metadata lines (``# HELP``, ``# TYPE``) are
skipped: PromQL does not need them. Exposed timestamps are ignored, as Prometheus ignores them
for staleness-tracked targets (every sample gets the scrape's start time); OpenMetrics-style
exemplars after the value are ignored too.
"""

from __future__ import annotations

import math
import re

from chaos.metrics.series import SeriesKey

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_HEAD = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?')
"""A sample line's name and labels: up to the ``}`` that closes them, quotes respected."""
_LABEL = re.compile(
    r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"[ \t]*(,?)[ \t]*'
)
_UNESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
_SPECIAL = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf, "Inf": math.inf}


class ExpositionError(ValueError):
    """The body is not valid Prometheus text exposition."""


def _unescape(value: str) -> str:
    return _UNESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), value)


def _labels(line: str, pos: int, number: int) -> tuple[tuple[tuple[str, str], ...], int]:
    """Labels from ``pos`` (just after ``{``) to the closing ``}``; returns the position after."""
    found: dict[str, str] = {}
    while True:
        while pos < len(line) and line[pos] in " \t":
            pos += 1
        if pos < len(line) and line[pos] == "}":
            return tuple(sorted(found.items())), pos + 1
        match = _LABEL.match(line, pos)
        if match is None:
            raise ExpositionError(f"line {number}: malformed labels: {line!r}")
        name, value, comma = match.groups()
        if name in found:
            raise ExpositionError(f"line {number}: label {name!r} given twice: {line!r}")
        found[name] = _unescape(value) if "\\" in value else value
        pos = match.end()
        if not comma and not line.startswith("}", pos):
            raise ExpositionError(f"line {number}: expected ',' or '}}' in {line!r}")


def _value(text: str, line: str, number: int) -> float:
    special = _SPECIAL.get(text)
    if special is not None:
        return special
    try:
        if "_" in text:
            raise ValueError(text)  # Python's float() accepts 1_000; the format does not
        return float(text)
    except ValueError:
        raise ExpositionError(f"line {number}: {text!r} is not a sample value: {line!r}") from None


def _key(head: str, number: int) -> SeriesKey:
    name = _NAME.match(head)
    assert name is not None  # _HEAD matched, so a name starts the head
    if name.end() == len(head):
        return SeriesKey(head)
    labels, end = _labels(head, name.end() + 1, number)
    if end != len(head):
        raise ExpositionError(f"line {number}: malformed labels: {head!r}")
    return SeriesKey(name.group(), labels)


class ExpositionParser:
    """Parses successive scrapes of one target.

    A target exposes the same series scrape after scrape, so the text before each value (name
    and labels) is remembered from the previous scrape and only new series pay for label
    parsing. Only the last scrape's heads are kept, so churning labels cannot grow memory.
    """

    def __init__(self) -> None:
        self._known: dict[str, SeriesKey] = {}

    def parse(self, text: str) -> list[tuple[SeriesKey, float]]:
        samples: list[tuple[SeriesKey, float]] = []
        known, seen = self._known, {}
        for number, raw in enumerate(text.split("\n"), 1):
            line = raw.strip()
            if not line or line[0] == "#":
                continue
            head_match = _HEAD.match(line)
            if head_match is None:
                raise ExpositionError(f"line {number}: no metric name: {line!r}")
            head = head_match.group()
            key = known.get(head) or _key(head, number)
            seen[head] = key
            rest = line[head_match.end() :]
            if not rest or rest[0] not in " \t":
                raise ExpositionError(f"line {number}: expected a value after {head!r}")
            fields = rest.split()
            if fields[0].startswith("#"):
                raise ExpositionError(f"line {number}: no sample value: {line!r}")
            if len(fields) > 1 and not fields[1].startswith("#"):
                if not fields[1].lstrip("-").isdigit():
                    raise ExpositionError(f"line {number}: bad timestamp {fields[1]!r}: {line!r}")
                if len(fields) > 2 and not fields[2].startswith("#"):
                    raise ExpositionError(f"line {number}: unexpected {fields[2]!r}: {line!r}")
            samples.append((key, _value(fields[0], line, number)))
        self._known = seen
        return samples


def parse_exposition(text: str) -> list[tuple[SeriesKey, float]]:
    """Parse one exposition on its own (no memory of earlier scrapes)."""
    return ExpositionParser().parse(text)
