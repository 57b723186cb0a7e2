"""Each SLO's own series over the run: what its plot draws against its threshold and window.

An SLO is judged once, on its whole window; a reader also wants to see how its indicator
moved. The plot evaluates the SLO's own indicator (quantile, ratio, aggregate: the evaluator's
code) over a trailing window at every grid point, so the line and the verdict mean the same
thing, and says when that line crosses the threshold inside the window while the SLO passed on
the window as a whole (a peak the verdict averages away). Recovery SLOs add their allowance
(from the fault's end to ``recovers_within`` later) and the moment the SLO held again to the
plot of each SLO they recover. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chaos.errors import InvalidInput
from chaos.experiment.experiment import Experiment
from chaos.experiment.timeline import Timeline as ExperimentTimeline
from chaos.report.timeseries import Grid
from chaos.slo.adapt import objectives_from_experiment, timeline_at
from chaos.slo.objective import (
    Context,
    Counter,
    Gauge,
    Indicator,
    Objective,
    PromQL,
    Quantile,
    Ratio,
    Recovery,
    Threshold,
)
from chaos.slo.window import Anchor, Interval, Timeline, WindowSpec, resolve
from chaos.workload.metrics import PART_OF


@dataclass(frozen=True, slots=True)
class RecoveryMark:
    slo: str
    """The recovery SLO."""
    fault_end: float
    deadline: float
    """Seconds from T0 by which it had to hold again."""
    recovered: float | None
    """Seconds from T0 at which it held again (None: it did not)."""


@dataclass(frozen=True, slots=True)
class SloSeries:
    name: str
    what: str
    """The indicator in words: ``p95 of gameday_listener_time_to_first_audio_seconds``."""
    times: tuple[float, ...]
    values: tuple[float, ...]
    """In base units; NaN where the trailing window had no data."""
    trailing: float
    threshold: Threshold
    window: tuple[float, float] | None
    """The SLO's window, seconds from T0."""
    window_label: str
    status: str | None
    value: float | None
    crossed_at: float | None
    """The first time (from T0) the line is on the wrong side inside the window."""
    recoveries: tuple[RecoveryMark, ...] = ()
    metrics: frozenset[str] = frozenset()
    kind: str = ""
    """``indicator_kind`` of its indicator: which report panels show the same quantity."""

    @property
    def peak_hidden(self) -> bool:
        """The line crossed the threshold in the window while the SLO passed on it."""
        return self.status == "pass" and self.crossed_at is not None


def describe_indicator(indicator: Indicator) -> str:
    match indicator:
        case Quantile():
            return f"p{indicator.q * 100:g} of {indicator.histogram.promql()}"
        case Ratio():
            return f"{indicator.numerator.promql()} / {indicator.denominator.promql()}"
        case Gauge():
            return f"{indicator.aggregation.value} of {indicator.gauge.promql()}"
        case Counter():
            return f"{indicator.function.value} of {indicator.counter.promql()}"
        case PromQL():
            return indicator.expr


def indicator_kind(indicator: Indicator) -> str:
    """``quantile``, ``ratio``, ``max``/``min``/``mean`` or ``increase``/``rate``, ``promql``."""
    match indicator:
        case Quantile():
            return "quantile"
        case Ratio():
            return "ratio"
        case Gauge():
            return indicator.aggregation.value
        case Counter():
            return indicator.function.value
        case PromQL():
            return "promql"


def is_share(indicator: Indicator) -> bool:
    """A ratio of a counter to the counter of the events it is a part of (joins that reached
    audio to join attempts): a share, never above 1."""
    return (
        isinstance(indicator, Ratio)
        and PART_OF.get(indicator.numerator.name) == indicator.denominator.name
    )


def _line(indicator: Indicator, grid: Grid, trailing: float, ctx: Context) -> tuple[float, ...]:
    """The indicator over the trailing window at every grid point. A share is capped at 1:
    over a trailing window its numerator also counts events whose part of the denominator
    fell before the window (a join that reached audio in it, attempted before it), which
    would draw a join success above 100 % that no listener ever had."""
    cap = 1.0 if is_share(indicator) else math.inf
    out = []
    for t in grid.times:
        value = indicator.measure(ctx, Interval(t - trailing, t)).value
        out.append(math.nan if value is None else min(value, cap))
    return tuple(out)


def _record(records: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    return next((r for r in records if r.get("name") == name), {})


def _recoveries(
    recoveries: Sequence[Recovery],
    records: Sequence[Mapping[str, Any]],
    timeline: Timeline,
    t0: float,
) -> dict[str, list[RecoveryMark]]:
    """Recovery marks by the SLO they recover."""
    out: dict[str, list[RecoveryMark]] = {}
    for slo in recoveries:
        try:
            after = resolve(WindowSpec(Anchor.AFTER, slo.after), timeline)
        except InvalidInput:
            continue
        took = _record(records, slo.name).get("value")
        end = after.start - t0
        recovered = end + float(took) if isinstance(took, int | float) else None
        mark = RecoveryMark(slo.name, end, end + slo.within, recovered)
        for condition in slo.conditions:
            out.setdefault(condition.label, []).append(mark)
    return out


def slo_series(
    experiment: Experiment,
    records: Sequence[Mapping[str, Any]],
    grid: Grid,
    ctx: Context,
) -> list[SloSeries]:
    """Every measured SLO's series (raw PromQL needs Prometheus and is left out), in file order;
    ``records`` are the journal's ``slo`` results, ``grid`` the report's (origin T0)."""
    t0 = grid.origin
    timeline = timeline_at(ExperimentTimeline.of(experiment), t0)
    slos = objectives_from_experiment(experiment)
    marks = _recoveries([s for s in slos if isinstance(s, Recovery)], records, timeline, t0)
    out = []
    for slo in slos:
        if not isinstance(slo, Objective) or isinstance(slo.indicator, PromQL):
            continue
        trailing = slo.window.sliding or grid.window
        values = _line(slo.indicator, grid, trailing, ctx)
        times = grid.relative()
        try:
            interval = resolve(slo.window, timeline)
            window: tuple[float, float] | None = (interval.start - t0, interval.end - t0)
        except InvalidInput:
            window = None
        crossed = None
        if window is not None:
            crossed = next(
                (
                    t
                    for t, v in zip(times, values, strict=True)
                    if window[0] + trailing - 1e-9 <= t <= window[1] + 1e-9
                    and not math.isnan(v)
                    and not slo.threshold.holds(v)
                ),
                None,
            )
        record = _record(records, slo.name)
        judged = record.get("value")
        status = record.get("status")
        out.append(
            SloSeries(
                name=slo.name,
                what=describe_indicator(slo.indicator),
                times=times,
                values=values,
                trailing=trailing,
                threshold=slo.threshold,
                window=window,
                window_label=slo.window.describe(),
                status=status if isinstance(status, str) else None,
                value=float(judged) if isinstance(judged, int | float) else None,
                crossed_at=crossed,
                recoveries=tuple(marks.get(slo.name, ())),
                metrics=frozenset(slo.indicator.metric_names()),
                kind=indicator_kind(slo.indicator),
            )
        )
    return out
