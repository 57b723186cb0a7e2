"""Everything a report shows, derived from one journal; the HTML and Markdown renderers share it.

Building it is pure (the journal is already read), and tolerant: a journal the writer produced
always renders, whatever its fields hold, because a report is most needed after a run that went
wrong. Values the report cannot interpret are shown as written rather than dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chaos.report.journal import RESERVED_KEYS, Journal
from chaos.report.summary import RunSummary, summarize

_HEADER_SKIP = RESERVED_KEYS | {"schema", "title", "seed"}
_META_FIRST = ("stack", "scale", "experiment", "gameday", "python", "host", "pid")


@dataclass(frozen=True, slots=True)
class SloRow:
    name: str
    status: str
    value: str
    threshold: str
    window: str
    evidence: str
    detail: str


@dataclass(frozen=True, slots=True)
class FaultRow:
    name: str
    start: float
    end: float | None
    params: str


@dataclass(frozen=True, slots=True)
class Report:
    summary: RunSummary
    meta: list[tuple[str, str]]
    slos: list[SloRow]
    faults: list[FaultRow]

    @property
    def title(self) -> str:
        return self.summary.title or "untitled run"

    @property
    def verdict(self) -> str:
        return self.summary.verdict or "none"

    @property
    def started(self) -> str:
        return _utc(self.summary.started_wall)

    @property
    def warnings(self) -> list[str]:
        notes = []
        if self.summary.torn_tail:
            notes.append("The last line was torn (the writer was killed mid-event) and dropped.")
        if not self.summary.closed:
            notes.append("The journal was not closed: the run was killed or is still going.")
        if self.summary.verdict is None:
            notes.append("No verdict was recorded: the run did not reach evaluation.")
        return notes


def _utc(wall: float) -> str:
    try:
        return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return str(wall)


def number(value: Any) -> str:
    """A measured value as people read it: four significant digits, or as written."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else str(value)
    return f"{value:.4g}"


def _window(value: Any, origin: float) -> str:
    """A result's window (wall clock) as seconds into the run, the axis of every plot."""
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        start, end = (float(v) - origin for v in value)
        return f"{start:.1f}s – {end:.1f}s"
    return "—" if value is None else str(value)


def _evidence(record: Mapping[str, Any]) -> str:
    samples = record.get("samples")
    series = record.get("series")
    windows = record.get("windows")
    parts = []
    if isinstance(samples, int | float) and not isinstance(samples, bool):
        parts.append(f"{samples:g} samples")
    if isinstance(series, list):
        shown = ", ".join(map(str, series[:3]))
        more = f" (+{len(series) - 3} more)" if len(series) > 3 else ""
        parts.append(f"{len(series)} series: {shown}{more}" if series else "no series")
    if isinstance(windows, int) and not isinstance(windows, bool) and windows > 1:
        parts.append(f"{windows} windows")
    return "; ".join(parts) or "—"


def slo_row(record: Mapping[str, Any], origin: float) -> SloRow:
    comparison = record.get("comparison")
    threshold = number(record.get("threshold"))
    if isinstance(comparison, str):
        threshold = f"{comparison} {threshold}"
    return SloRow(
        name=str(record.get("name")),
        status=str(record.get("status")),
        value=number(record.get("value")),
        threshold=threshold,
        window=_window(record.get("window"), origin),
        evidence=_evidence(record),
        detail=str(record.get("detail") or ""),
    )


def _meta(header: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [("seed", str(header.get("seed")))]
    keys = [k for k in _META_FIRST if k in header]
    keys += sorted(k for k in header if k not in _HEADER_SKIP and k not in _META_FIRST)
    rows += [(key, _flat(header[key])) for key in keys]
    return rows


def _flat(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_flat(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(_flat, value))
    return str(value)


def build_report(journal: Journal) -> Report:
    summary = summarize(journal)
    origin = float(journal.header.get("wall", 0.0))
    faults = [
        FaultRow(f.name, f.start, f.end, ", ".join(f"{k}={_flat(v)}" for k, v in f.params.items()))
        for f in summary.faults
    ]
    return Report(
        summary=summary,
        meta=_meta(journal.header),
        slos=[slo_row(record, origin) for record in summary.slos],
        faults=faults,
    )
