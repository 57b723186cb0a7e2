"""A recorded incident's series, from a CSV or a Prometheus range-query JSON, as one shape.

Pure: text in, ``Recording`` out, or ``InvalidInput`` naming the line or series and the fix.
A post-mortem starts from whatever was kept: a spreadsheet export (CSV with a header:
``time,listeners[,error_rate][,link_utilisation]``; time in seconds, epoch seconds or ISO 8601)
or the JSON of ``/api/v1/query_range`` (series told apart by ``__name__`` or a ``role`` label).
Times become seconds from the first sample; shares are fractions (``0.05`` or ``5%``).
"""

from __future__ import annotations

import csv
import enum
import itertools
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from chaos.errors import InvalidInput


class Role(enum.Enum):
    LISTENERS = "listeners"
    ERROR_RATE = "error_rate"
    LINK_UTILISATION = "link_utilisation"


_ALIASES = {
    Role.LISTENERS: ("listener", "audience", "concurrent", "viewers"),
    Role.ERROR_RATE: ("error", "fail"),
    Role.LINK_UTILISATION: ("util", "saturation", "link"),
}

Points = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Recording:
    """Each role's samples as (seconds from the first sample, value), sorted by time."""

    series: dict[Role, Points]

    @property
    def listeners(self) -> Points:
        return self.series[Role.LISTENERS]

    @property
    def step(self) -> float:
        """The listener series' sampling step (the median gap; 0 for a single sample)."""
        times = [t for t, _ in self.listeners]
        gaps = sorted(b - a for a, b in itertools.pairwise(times))
        return gaps[len(gaps) // 2] if gaps else 0.0


def role_of(name: str) -> Role | None:
    """The role a column or metric name plays, by the words people use for it."""
    lowered = name.lower()
    for role, words in _ALIASES.items():
        if any(word in lowered for word in words):
            return role
    return None


def _time(cell: str, where: str) -> float:
    try:
        return float(cell)
    except ValueError:
        pass  # not epoch seconds: an ISO 8601 time, below
    try:
        return datetime.fromisoformat(cell.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidInput(
            f"time {cell!r} is neither seconds nor ISO 8601",
            where=where,
            fix="write times as seconds (30, 1700000000) or like 2024-05-01T20:00:00Z",
        ) from None


def _value(cell: str, role: Role, where: str) -> float:
    text = cell.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise InvalidInput(
            f"{role.value} {cell!r} is not a number", where=where, fix="e.g. 12000, 0.05 or 5%"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise InvalidInput(f"{role.value} must be finite and >= 0, got {cell!r}", where=where)
    if role is not Role.LISTENERS and value > 1:
        raise InvalidInput(
            f"{role.value} is a share, got {cell!r}", where=where, fix="write 0.05 or 5%"
        )
    return value


def _relative(series: dict[Role, list[tuple[float, float]]], where: str) -> Recording:
    if not series.get(Role.LISTENERS):
        raise InvalidInput(
            "no listener series found",
            where=where,
            fix="name a column or metric after listeners (e.g. `listeners`, `concurrent`)",
        )
    start = min(t for points in series.values() for t, _ in points)
    return Recording(
        {
            role: tuple(sorted((t - start, v) for t, v in points))
            for role, points in series.items()
            if points
        }
    )


def parse_csv(text: str, where: str) -> Recording:
    """A CSV with a header row naming a time column and at least a listener column."""
    rows = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
    if not rows:
        raise InvalidInput("the CSV is empty", where=where, fix="export time,listeners rows")
    header = [c.strip() for c in rows[0]]
    roles = [role_of(name) for name in header[1:]]
    if Role.LISTENERS not in roles:
        raise InvalidInput(
            f"the header {','.join(header)!r} names no listener column",
            where=f"{where}:1",
            fix="start the file with a header like `time,listeners,error_rate,link_utilisation`",
        )
    series: dict[Role, list[tuple[float, float]]] = defaultdict(list)
    for lineno, row in enumerate(rows[1:], start=2):
        here = f"{where}:{lineno}"
        if len(row) != len(header):
            raise InvalidInput(
                f"expected {len(header)} columns as in the header, found {len(row)}", where=here
            )
        t = _time(row[0].strip(), here)
        for role, cell in zip(roles, row[1:], strict=True):
            if role is not None and cell.strip():
                series[role].append((t, _value(cell, role, here)))
    return _relative(series, where)


def parse_prometheus(text: str, where: str) -> Recording:
    """A ``query_range`` response (matrix). Listener series are summed per timestamp (the
    listeners of every edge are the audience); shares take the worst series (the link that
    saturated, the instance that failed most)."""
    try:
        doc = json.loads(text)
        result = doc["data"]["result"]
        if doc.get("status", "success") != "success" or doc["data"]["resultType"] != "matrix":
            raise ValueError("not a successful matrix result")
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"not a Prometheus range-query response ({exc})",
            where=where,
            fix="save the JSON of /api/v1/query_range (resultType matrix)",
        ) from None
    merged: dict[Role, dict[float, float]] = defaultdict(dict)
    for index, item in enumerate(result):
        metric = item.get("metric", {})
        label = metric.get("role") or metric.get("__name__", "")
        role = role_of(label) or (Role.LISTENERS if len(result) == 1 else None)
        if role is None:
            raise InvalidInput(
                f"series {index} ({metric}) plays no known role",
                where=where,
                fix="name it after listeners, errors or link utilisation, or add a `role` label "
                '(e.g. `label_replace(..., "role", "listeners", "", "")`)',
            )
        for pair in item.get("values", []):
            here = f"{where}: series {index} at {pair[0]}"
            t, value = float(pair[0]), _value(str(pair[1]), role, here)
            before = merged[role].get(t)
            combine = sum if role is Role.LISTENERS else max
            merged[role][t] = value if before is None else combine((before, value))
    return _relative({role: list(points.items()) for role, points in merged.items()}, where)


def parse_recording(text: str, where: str) -> Recording:
    """JSON if it looks like JSON, else CSV."""
    return (
        parse_prometheus(text, where) if text.lstrip().startswith("{") else parse_csv(text, where)
    )
