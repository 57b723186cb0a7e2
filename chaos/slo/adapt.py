"""Translate an experiment's SLO models and timeline into the evaluator's own types.

The evaluator stays independent of how an experiment file spells things; this is the one place
that knows both. Thresholds become Prometheus base units (seconds, fractions, bytes, per
second; bit rates stay in bits per second), and the experiment's T0-relative timeline becomes
wall-clock intervals, the clock samples are stamped with.
"""

from __future__ import annotations

from collections.abc import Sequence

from chaos.errors import InvalidInput
from chaos.experiment.experiment import Experiment
from chaos.experiment.slos import SLO, GaugeSLO, OnAirSLO, QuantileSLO, RatioSLO, RecoverySLO
from chaos.experiment.timeline import Timeline as ExperimentTimeline
from chaos.experiment.timeline import UnknownWindow
from chaos.experiment.units import BitRate, ByteRate, Duration, EventRate, Quantity, Size
from chaos.experiment.units import Ratio as Percentage
from chaos.slo.objective import (
    Comparison,
    Condition,
    Counter,
    Gauge,
    GaugeAggregation,
    Indicator,
    Objective,
    OnAir,
    Quantile,
    Ratio,
    Recovery,
    Selector,
    Slo,
    Threshold,
)
from chaos.slo.window import Anchor, Interval, Timeline, WindowSpec

DEFAULT_RECOVERY_MEASURE = 10.0
"""Seconds each recovery check looks back when the recovered SLO has no sliding window."""

DEFAULT_RECOVERY_HOLD = 10.0
"""Seconds an SLO must hold continuously to count as recovered."""

_Measured = QuantileSLO | RatioSLO | GaugeSLO


def base_units(value: Quantity) -> float:
    if isinstance(value, Duration):
        return value.seconds
    if isinstance(value, Percentage):
        return value.fraction
    if isinstance(value, BitRate):
        return float(value.bits_per_second)
    if isinstance(value, ByteRate):
        return float(value.bytes_per_second)
    if isinstance(value, Size):
        return float(value.bytes)
    if isinstance(value, EventRate):
        return float(value.per_second)
    return float(value)


def _indicator(slo: _Measured) -> Indicator:
    if isinstance(slo, QuantileSLO):
        return Quantile(Selector.parse(slo.metric), slo.quantile)
    if isinstance(slo, RatioSLO):
        return Ratio(Selector.parse(slo.numerator), Selector.parse(slo.denominator))
    if slo.aggregate == "increase":
        return Counter(Selector.parse(slo.metric))
    return Gauge(Selector.parse(slo.metric), GaugeAggregation(slo.aggregate))


def _threshold(slo: _Measured) -> Threshold:
    side, value = slo.comparison
    return Threshold(Comparison(side), base_units(value))


def _window(slo: _Measured) -> WindowSpec:
    relation, name = slo.binding
    sliding = slo.window.seconds if slo.window is not None else None
    if relation == "during" and name == "run":
        return WindowSpec(Anchor.RUN, sliding=sliding)
    if relation == "during" and name == "baseline":
        return WindowSpec(Anchor.BASELINE, sliding=sliding)
    return WindowSpec(Anchor(relation), name, sliding=sliding)


def _recovery(slo: RecoverySLO, measured: Sequence[_Measured]) -> Recovery:
    wanted = set(slo.of) if slo.of is not None else {m.name for m in measured}
    recovered = [m for m in measured if m.name in wanted]
    if not recovered:
        raise InvalidInput(
            f"recovery SLO {slo.name!r} has no other SLO to recover",
            where=f"slos: {slo.name}",
            fix="add the SLOs that must hold again, or name them in `of`",
        )
    windows = [m.window.seconds for m in recovered if m.window is not None]
    return Recovery(
        slo.name,
        tuple(Condition(m.name, _indicator(m), _threshold(m)) for m in recovered),
        after=slo.after,
        within=slo.recovers_within.seconds,
        hold=DEFAULT_RECOVERY_HOLD,
        measure=max(windows, default=DEFAULT_RECOVERY_MEASURE),
    )


def _objective(slo: SLO, measured: Sequence[_Measured]) -> Slo:
    if isinstance(slo, RecoverySLO):
        return _recovery(slo, measured)
    if isinstance(slo, OnAirSLO):
        return OnAir(slo.name, slo.on_air_within.seconds)
    return Objective(slo.name, _indicator(slo), _threshold(slo), _window(slo))


def objectives_from_experiment(experiment: Experiment) -> list[Slo]:
    """The experiment's SLOs, in file order; a recovery SLO recovers the SLOs in its ``of``
    (all the others by default, but not the on-air delay, which is over once the host is
    heard), each measured as that SLO measures itself."""
    measured = [
        s
        for s in experiment.slos
        if isinstance(s, _Measured) and not getattr(s, "differential", False)
    ]
    return [
        _objective(s, measured) for s in experiment.slos if not getattr(s, "differential", False)
    ]


def timeline_at(timeline: ExperimentTimeline, t0: float) -> Timeline:
    """The run's windows in wall-clock time, given the wall-clock time of T0."""
    named = {}
    for name in timeline.names:
        try:
            span = timeline.span(name)
        except UnknownWindow:
            continue  # ambiguous names are refused when the experiment is validated
        named[name] = Interval(t0 + span.start, t0 + span.end)
    return Timeline(named["run"], named)
