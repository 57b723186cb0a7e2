"""Draw the report's panels as SVG, every time plot with the fault windows shaded and labelled.

As in Jepsen's performance graphs, each fault gets its own colour and the same colour on every
plot, so a reader can see what was broken when a line moved. Each shaded window is an SVG group
with id ``fault-window-N`` (N = the fault's index in the run), which lets a test (or a curious
reader) confirm that the windows were really drawn. Rendering uses matplotlib's object API on
the Agg canvas (no pyplot, no display, no global figure state) with a fixed SVG hash salt and
no date, so the same journal always gives byte-identical plots.
"""

from __future__ import annotations

import base64
import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from chaos.report.model import FaultRow, Report
from chaos.report.timeseries import Charts, Distribution, Panel

FAULT_COLOURS = ("#e4572e", "#7b2cbf", "#f3a712", "#29bf12", "#0077b6", "#ff5d8f", "#6c757d")
_STYLE: dict[Any, Any] = {  # matplotlib types keys as a Literal of every rc name
    "svg.hashsalt": "gameday",
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_WIDTH, _HEIGHT = 9.0, 2.8


@dataclass(frozen=True, slots=True)
class FaultWindow:
    index: int
    name: str
    start: float
    end: float
    ended: bool


@dataclass(frozen=True, slots=True)
class Plot:
    key: str
    title: str
    image: str | None
    """An ``data:image/svg+xml;base64,...`` URI, or None when there was nothing to draw."""
    note: str
    """Shown instead of the image when there is no data; a caption otherwise."""
    faults: tuple[FaultWindow, ...] = ()
    """The fault windows drawn on this plot."""


def fault_windows(faults: Sequence[FaultRow], end: float) -> tuple[FaultWindow, ...]:
    """Each fault's span on the run axis; one that never ended is drawn up to the run's end."""
    windows = []
    for i, fault in enumerate(faults):
        stop = fault.end if fault.end is not None else max(end, fault.start)
        if math.isfinite(fault.start) and math.isfinite(stop):
            windows.append(FaultWindow(i, fault.name, fault.start, stop, fault.end is not None))
    return tuple(windows)


def _label(window: FaultWindow) -> str:
    return window.name if window.ended else f"{window.name} (never ended)"


def _colour(window: FaultWindow) -> str:
    return FAULT_COLOURS[window.index % len(FAULT_COLOURS)]


def _svg(figure: Figure) -> str:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    with matplotlib.rc_context(_STYLE), warnings.catch_warnings():
        # A fault or phase named in a script DejaVu lacks still draws (as boxes); say nothing.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(height: float = _HEIGHT) -> Figure:
    with matplotlib.rc_context(_STYLE):
        return Figure(figsize=(_WIDTH, height), layout="constrained")


def _shade(axes: matplotlib.axes.Axes, windows: Sequence[FaultWindow]) -> None:
    """Shade and name every fault window; names stagger so overlapping faults stay legible."""
    top = blended_transform_factory(axes.transData, axes.transAxes)
    for row, window in enumerate(windows):
        colour = to_rgb(_colour(window))
        axes.axvspan(
            window.start,
            window.end,
            facecolor=(*colour, 0.16),
            linewidth=0,
            gid=f"fault-window-{window.index}",
        )
        if not window.ended:  # hatched on top: a pattern fill would take the shade's opacity
            axes.axvspan(
                window.start,
                window.end,
                facecolor="none",
                hatch="//",
                hatchcolor=(*colour, 0.3),
                linewidth=0,
            )
        axes.text(
            window.start,
            0.98 - 0.11 * (row % 3),
            _label(window),
            transform=top,
            va="top",
            ha="left",
            fontsize=7.5,
            color=_colour(window),
            fontweight="bold",
            clip_on=True,
            bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1},
        )


def time_plot(panel: Panel, windows: Sequence[FaultWindow], end: float) -> Plot:
    if not panel.has_data:
        return Plot(panel.key, panel.title, None, f"No data: {panel.no_data}.")
    figure = _figure()
    with matplotlib.rc_context(_STYLE):
        axes = figure.add_subplot()
        for line in panel.lines:
            axes.plot(line.times, line.values, label=line.label, linewidth=1.3)
        _shade(axes, windows)
        axes.set_xlim(0, max(end, 1e-3))
        # Headroom above the highest value keeps the fault labels off the lines.
        top = max((v for ln in panel.lines for v in ln.values if math.isfinite(v)), default=0.0)
        axes.set_ylim(0, top * 1.3 if top > 0 else 1.0)
        axes.set_xlabel("seconds since the run started")
        axes.set_ylabel(panel.unit)
        axes.grid(alpha=0.3)
        figure.legend(loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    shaded = ", ".join(_label(w) for w in windows)
    caption = f"Shaded: fault windows ({shaded})." if windows else "No fault was injected."
    return Plot(panel.key, panel.title, _svg(figure), caption, tuple(windows))


def timeline_plot(report: Report, windows: Sequence[FaultWindow], end: float) -> Plot:
    """Gantt-like: one row per fault, over the run's phases as alternating bands."""
    title = "Fault timeline"
    if not windows and not report.summary.phases:
        return Plot("timeline", title, None, "No data: the run recorded no phases and no faults.")
    names = list(dict.fromkeys(_label(w) for w in windows))
    figure = _figure(max(1.6, 0.9 + 0.35 * len(names)))
    with matplotlib.rc_context(_STYLE):
        axes = figure.add_subplot()
        top = blended_transform_factory(axes.transData, axes.transAxes)
        for i, phase in enumerate(report.summary.phases):
            stop = phase.end if phase.end is not None else end
            axes.axvspan(phase.start, stop, color="#adb5bd", alpha=0.08 + 0.1 * (i % 2), lw=0)
            axes.text(phase.start, 1.01, phase.name, transform=top, fontsize=7.5, va="bottom")
        for window in windows:
            axes.barh(
                names.index(_label(window)),
                window.end - window.start,
                left=window.start,
                height=0.6,
                color=_colour(window),
                alpha=0.8 if window.ended else 0.45,
                hatch=None if window.ended else "//",
                gid=f"fault-window-{window.index}",
            )
        axes.set_yticks(range(len(names)), names)
        axes.set_ylim(-0.7, max(len(names), 1) - 0.3)
        axes.invert_yaxis()
        axes.set_xlim(0, max(end, 1e-3))
        axes.set_xlabel("seconds since the run started")
        axes.grid(axis="x", alpha=0.3)
    note = f"{len(windows)} fault window(s) over {len(report.summary.phases)} phase(s)"
    return Plot("timeline", title, _svg(figure), note, tuple(windows))


def _bound(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else f"≤{bound:g}s"


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


def distribution_plot(distribution: Distribution | None) -> Plot:
    title = "Time to first audio for the launch"
    if distribution is None or distribution.total <= 0:
        return Plot(
            "ttfa-distribution",
            title,
            None,
            "No data: no join reached first audio during the launch "
            "(gameday_listener_time_to_first_audio_seconds did not grow).",
        )
    quantiles = ", ".join(
        f"p{q * 100:g} {'—' if v is None else f'{v:.3g}s'}"
        for q, v in distribution.quantiles.items()
    )
    figure = _figure()
    with matplotlib.rc_context(_STYLE):
        axes = figure.add_subplot()
        positions = range(len(distribution.counts))
        axes.bar(positions, distribution.counts, color="#0077b6", alpha=0.85)
        axes.set_xticks(positions, [_bound(b) for b in distribution.bounds], rotation=45)
        styles = (":", "--", "-")
        for (q, value), style in zip(distribution.quantiles.items(), styles, strict=False):
            if value is not None and math.isfinite(value):
                x = bar_position(distribution.bounds, value)
                axes.axvline(x, color="#b3261e", linestyle=style, linewidth=1.2)
                axes.text(x, 0.97, f" p{q * 100:g}", transform=axes.get_xaxis_transform(),
                          va="top", fontsize=7.5, color="#b3261e")  # fmt: skip
        axes.set_xlabel("time to first audio (histogram bucket)")
        axes.set_ylabel("joins")
        axes.grid(axis="y", alpha=0.3)
    note = f"{distribution.total:g} joins, {distribution.window_label}: {quantiles}"
    return Plot("ttfa-distribution", title, _svg(figure), note)


def render_plots(report: Report, charts: Charts) -> list[Plot]:
    windows = fault_windows(report.faults, charts.end)
    plots = [timeline_plot(report, windows, charts.end)]
    plots += [time_plot(panel, windows, charts.end) for panel in charts.panels]
    plots.append(distribution_plot(charts.distribution))
    return plots
