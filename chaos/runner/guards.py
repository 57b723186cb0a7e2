"""Abort guards: safety stops evaluated continuously while faults are on.

A guard watches one series (the mean of a metric, or a ratio of two counters' increases) over
the last ``WINDOW`` seconds, and trips once its limit has been crossed at every check for its
``for`` duration: one bad second is noise, ten in a row is an outage the run must not prolong.
Pure: ``GuardWatch.check(now, ctx)`` reads samples through the evaluator's ``Context`` and
returns the guards that tripped, so the same code runs live and in tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chaos.experiment.slos import Guard
from chaos.metrics.selectors import parse_ratio
from chaos.slo.adapt import base_units
from chaos.slo.objective import (
    Comparison,
    Context,
    Gauge,
    GaugeAggregation,
    Indicator,
    Ratio,
    Selector,
    Threshold,
)
from chaos.slo.window import Interval

WINDOW = 5.0
"""Seconds of samples each check looks at (a few scrapes, so one late scrape is no trip)."""


def indicator(guard: Guard) -> Indicator:
    if guard.ratio is not None:
        numerator, denominator = parse_ratio(guard.ratio)
        return Ratio(
            Selector(numerator.name, numerator.matchers),
            Selector(denominator.name, denominator.matchers),
        )
    assert guard.metric is not None  # the model has exactly one of metric and ratio
    return Gauge(Selector.parse(guard.metric), GaugeAggregation.MEAN)


def bad_side(guard: Guard) -> Threshold:
    """The guard's limit as a threshold that holds while the guard is *crossed*."""
    side, value = guard.limit
    return Threshold(Comparison.ABOVE if side == "above" else Comparison.BELOW, base_units(value))


@dataclass(frozen=True, slots=True)
class Trip:
    guard: str
    value: float
    since: float
    at: float
    limit: str

    def describe(self) -> str:
        return (
            f"guard {self.guard!r} tripped: {self.value:g} {self.limit} "
            f"for {self.at - self.since:.1f}s"
        )


@dataclass(frozen=True, slots=True)
class GuardStatus:
    label: str
    value: float | None
    """The last value measured (None: no data yet)."""
    crossed_for: float | None
    """Seconds the limit has been crossed at every check (None: it is not crossed)."""
    trips_after: float
    """The guard's ``for``: crossed this long, it trips."""
    crossed: Threshold
    """Holds while the guard is crossed."""
    limit: str
    """As the file wrote it: ``below 50%``."""

    @property
    def margin(self) -> float | None:
        """How far the value is from crossing, in base units (positive: not crossed)."""
        if self.value is None:
            return None
        gap = self.value - self.crossed.value
        return -gap if self.crossed.comparison is Comparison.ABOVE else gap


@dataclass
class _State:
    guard: Guard
    indicator: Indicator
    crossed: Threshold
    since: float | None = None
    value: float | None = None


@dataclass
class GuardWatch:
    guards: Sequence[Guard]
    window: float = WINDOW
    _states: list[_State] = field(init=False)

    def __post_init__(self) -> None:
        self._states = [_State(g, indicator(g), bad_side(g)) for g in self.guards]

    def check(self, now: float, ctx: Context) -> list[Trip]:
        """Measure every guard at ``now``; the guards crossed for at least their ``for``."""
        trips = []
        for state in self._states:
            measured = state.indicator.measure(ctx, Interval(now - self.window, now)).value
            state.value = measured
            if measured is None or not state.crossed.holds(measured):
                state.since = None
                continue
            if state.since is None:
                state.since = now
            if now - state.since >= state.guard.for_.seconds:
                limit = f"{state.crossed.describe()}"
                trips.append(Trip(state.guard.label, measured, state.since, now, limit))
        return trips

    def status(self, now: float) -> list[GuardStatus]:
        """Where each guard stands at ``now``, for the live view."""
        return [
            GuardStatus(
                s.guard.label,
                s.value,
                None if s.since is None else now - s.since,
                s.guard.for_.seconds,
                s.crossed,
                f"{s.guard.limit[0]} {s.guard.limit[1]}",
            )
            for s in self._states
        ]
