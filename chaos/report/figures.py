"""The report's figures as data: what the page's own script draws, hover and zoom included.

Pure. Every time figure shares one axis, seconds from T0, with the UTC wall clock under it;
faults are shaded in their own colour on every one of them, phases are named above, T0 is
marked. The SLOs' figures come first, each with its threshold line and its window shaded
(values in the unit the SLO was written in), then what the listeners heard, each with the
threshold of every SLO on the same quantity. The page embeds this as JSON and draws it in SVG
(``static/report.js``), so the report stays one file that works offline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos.report.clock import since_t0
from chaos.report.model import Report
from chaos.report.slo_series import SloSeries, slo_series
from chaos.report.timeseries import Charts, Distribution, Panel
from chaos.slo.display import ValueFormat
from chaos.slo.objective import Context

FAULT_COLOURS = ("#e4572e", "#7b2cbf", "#f3a712", "#29bf12", "#0077b6", "#ff5d8f", "#6c757d")
_SECONDS = ValueFormat("s", 1.0)
_PERCENT = ValueFormat("%", 0.01)
_PANEL_UNITS = {"seconds": _SECONDS, "ratio": _PERCENT}


def fault_colour(index: int) -> str:
    return FAULT_COLOURS[index % len(FAULT_COLOURS)]


def _num(value: float, digits: int = 6) -> float | None:
    """A value for the page's JSON: NaN and infinities become null, precision is trimmed."""
    if not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    title: str
    kind: str = "time"
    """``time`` (lines over T0 time), ``timeline`` (faults over phases) or ``bars``."""
    group: str = "listeners"
    unit: str = ""
    lines: list[dict[str, Any]] = field(default_factory=list)
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    shades: list[dict[str, Any]] = field(default_factory=list)
    markers: list[dict[str, Any]] = field(default_factory=list)
    bars: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    no_data: str | None = None
    faults: tuple[int, ...] = ()
    """Indexes of the fault windows drawn on it."""

    @property
    def has_data(self) -> bool:
        return self.no_data is None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "kind": self.kind,
            "group": self.group,
            "unit": self.unit,
            "lines": self.lines,
            "thresholds": self.thresholds,
            "shades": self.shades,
            "markers": self.markers,
            "bars": self.bars,
            "noData": self.no_data,
            "faults": list(self.faults),
        }


def _line(
    label: str, times: Sequence[float], values: Sequence[float], factor: float
) -> dict[str, Any]:
    return {
        "label": label,
        "x": [_num(t, 7) for t in times],
        "y": [_num(v / factor) for v in values],
    }


def _threshold(series: SloSeries, fmt: ValueFormat) -> dict[str, Any]:
    comparison = series.threshold.comparison.value
    return {
        "y": _num(series.threshold.value / fmt.factor),
        "label": f"{series.name}: {fmt.threshold_text(comparison, series.threshold.value)}",
        "slo": series.name,
        "status": series.status or "none",
    }


def _window_shade(series: SloSeries) -> list[dict[str, Any]]:
    shades = []
    if series.window is not None:
        start, end = series.window
        shades.append(
            {
                "start": start,
                "end": end,
                "label": f"{series.name} judged {series.window_label}",
                "kind": "slo-window",
                "slo": series.name,
            }
        )
    for mark in series.recoveries:
        shades.append(
            {
                "start": mark.fault_end,
                "end": mark.deadline,
                "label": f"{mark.slo}: must hold again by {since_t0(mark.deadline)}",
                "kind": "recovery",
                "slo": mark.slo,
            }
        )
    return shades


def _recovered_markers(series: SloSeries) -> list[dict[str, Any]]:
    return [
        {"x": mark.recovered, "label": f"{series.name} held again ({mark.slo})"}
        for mark in series.recoveries
        if mark.recovered is not None
    ]


def slo_note(series: SloSeries, fmt: ValueFormat) -> str:
    judged = f"judged {series.window_label}: {fmt(series.value)} ({series.status or 'no result'})"
    trailing = f"The line is the SLO's own {series.what} over the trailing {series.trailing:g}s"
    if series.peak_hidden and series.crossed_at is not None:
        return (
            f"{trailing}. It crossed the threshold at {since_t0(series.crossed_at)} inside the "
            f"SLO's window, while the SLO passed on the window as a whole ({judged})."
        )
    return f"{trailing}; the SLO was {judged}."


def slo_figures(
    series: Sequence[SloSeries], formats: Mapping[str, ValueFormat], faults: tuple[int, ...]
) -> list[Figure]:
    out = []
    for s in series:
        fmt = formats.get(s.name, ValueFormat())
        has_data = any(not math.isnan(v) for v in s.values)
        out.append(
            Figure(
                key=f"slo-{s.name}",
                title=f"SLO {s.name}: {s.what}",
                group="slo",
                unit=fmt.unit,
                lines=[_line(s.what, s.times, s.values, fmt.factor)],
                thresholds=[_threshold(s, fmt)],
                shades=_window_shade(s),
                markers=_recovered_markers(s),
                note=slo_note(s, fmt),
                no_data=None if has_data else f"No data: {s.what} had no samples in the run.",
                faults=faults,
            )
        )
    return out


def _about(panel: Panel, series: SloSeries) -> bool:
    names = {name for kind, name in panel.about if kind == series.kind}
    return bool(series.metrics) and series.metrics <= names


def panel_figure(
    panel: Panel,
    series: Sequence[SloSeries],
    formats: Mapping[str, ValueFormat],
    faults: tuple[int, ...],
) -> Figure:
    fmt = _PANEL_UNITS.get(panel.unit, ValueFormat(panel.unit))
    if not panel.has_data:
        return Figure(
            panel.key,
            panel.title,
            group=panel.group,
            unit=fmt.unit,
            no_data=f"No data: {panel.no_data}.",
        )
    related = [s for s in series if _about(panel, s)]
    thresholds = [_threshold(s, fmt) for s in related]
    shades = [shade for s in related for shade in _window_shade(s)]
    note = "Shaded: fault windows."
    if related:
        note += " Dashed: the threshold of " + ", ".join(s.name for s in related) + "."
    return Figure(
        key=panel.key,
        title=panel.title,
        group=panel.group,
        unit=fmt.unit,
        lines=[_line(line.label, line.times, line.values, fmt.factor) for line in panel.lines],
        thresholds=thresholds,
        shades=shades,
        note=note,
        faults=faults,
    )


def bar_position(bounds: Sequence[float], value: float) -> float:
    """Where ``value`` falls on the bucket bars (bar i spans i ± 0.5), interpolated linearly
    inside its bucket as ``histogram_quantile`` does."""
    lower = 0.0
    for i, upper in enumerate(bounds):
        if value <= upper:
            if math.isinf(upper) or upper <= lower:
                return float(i)
            return i - 0.5 + (value - lower) / (upper - lower)
        lower = upper
    return len(bounds) - 1.0


def _bound(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else f"≤{bound:g} s"


def distribution_figure(distribution: Distribution | None) -> Figure:
    title = "Time to first audio for the launch"
    if distribution is None or distribution.total <= 0:
        return Figure(
            "ttfa-distribution",
            title,
            kind="bars",
            no_data="No data: no join reached first audio during the launch "
            "(gameday_listener_time_to_first_audio_seconds did not grow).",
        )
    quantiles = ", ".join(
        f"p{q * 100:g} {'—' if v is None else f'{v:.3g} s'}"
        for q, v in distribution.quantiles.items()
    )
    markers = [
        {"x": bar_position(distribution.bounds, v), "label": f"p{q * 100:g} {v:.3g} s"}
        for q, v in distribution.quantiles.items()
        if v is not None and math.isfinite(v)
    ]
    return Figure(
        "ttfa-distribution",
        title,
        kind="bars",
        unit="joins",
        bars=[
            {"label": _bound(b), "value": c}
            for b, c in zip(distribution.bounds, distribution.counts, strict=True)
        ],
        markers=markers,
        note=f"{distribution.total:g} joins, {distribution.window_label}: {quantiles}",
    )


def timeline_figure(report: Report) -> Figure:
    faults = tuple(f.index for f in report.faults)
    if not report.faults and not report.summary.phases:
        return Figure(
            "timeline",
            "Fault timeline",
            kind="timeline",
            group="timeline",
            no_data="No data: the run recorded no phases and no faults.",
        )
    note = f"{len(report.faults)} fault(s) over {len(report.summary.phases)} phase(s)"
    if report.exits:
        note += f"; {len(report.exits)} stack component exit(s), marked"
    markers = [
        {"x": row.at, "label": f"{row.replica} {row.how}", "kind": "component-exit"}
        for row in report.exits
    ]
    return Figure(
        "timeline",
        "Fault timeline",
        kind="timeline",
        group="timeline",
        note=note,
        faults=faults,
        markers=markers,
    )


@dataclass(frozen=True, slots=True)
class Page:
    """All a report page draws, as its JSON."""

    figures: list[Figure]
    data: dict[str, Any]


def page(report: Report, charts: Charts) -> Page:
    summary = report.summary
    faults = tuple(f.index for f in report.faults)
    series = (
        slo_series(report.experiment, summary.slos, charts.grid, Context(charts.store.range))
        if report.experiment is not None and summary.clock.known
        else []
    )
    figures = [timeline_figure(report)]
    figures += slo_figures(series, report.formats, faults)
    listeners = [p for p in charts.panels if p.group != "servers"]
    servers = [p for p in charts.panels if p.group == "servers"]
    figures += [panel_figure(p, series, report.formats, faults) for p in listeners]
    figures.append(distribution_figure(charts.distribution))
    figures += [panel_figure(p, series, report.formats, faults) for p in servers]
    end = max(charts.end, charts.start + 1e-3)
    data = {
        "t0": summary.clock.t0_wall,
        "t0Known": summary.clock.known,
        "range": [_num(charts.start, 7), _num(end, 7)],
        "phases": [
            {"name": p.name, "start": p.start, "end": end if p.end is None else p.end}
            for p in summary.phases
        ],
        "faults": [
            {
                "index": f.index,
                "name": f.name,
                "start": f.start,
                "end": end if f.end is None else max(f.end, f.start),
                "ended": f.end is not None,
                "colour": fault_colour(f.index),
                "what": f.effect,
            }
            for f in report.faults
        ],
        "figures": [f.to_json() for f in figures],
    }
    return Page(figures, data)
