"""Objectives: what is measured (an indicator), what it must stay on the right side of
(a threshold), and over which window.

These are the evaluator's own small types, independent of how an experiment file spells an SLO;
``chaos.slo.adapt`` translates the experiment's models into them. Every indicator can say which
metric names it reads (for validation before a run), measure itself over a window from raw
samples, and write itself as PromQL (for rules export and for parity with Prometheus).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from chaos.errors import InvalidInput
from chaos.metrics.selectors import (
    Matcher,
    MatcherSpec,
    as_matchers,
    parse_selector,
    render,
    unmatched_note,
)
from chaos.metrics.series import Series
from chaos.slo import promql
from chaos.slo.window import Interval, WindowSpec

RangeReader = Callable[[str, MatcherSpec, float, float], list[Series]]
"""Raw samples of one metric in ``[start, end]``, e.g. ``SeriesStore.range``."""

PromQLReader = Callable[[str, float], float | None]
"""An instant PromQL query's single value at a time, or None when it returns nothing."""


def promql_duration(seconds: float) -> str:
    """A PromQL range literal; milliseconds keep windows exact where whole seconds would not."""
    millis = round(seconds * 1000)
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if millis % size == 0 and millis:
            return f"{millis // size}{unit}"
    return f"{millis}ms"


@dataclass(frozen=True, slots=True)
class Selector:
    """A metric and its label matchers, read the same by the embedded evaluator and by PromQL."""

    name: str
    matchers: tuple[Matcher, ...] = ()

    @classmethod
    def of(cls, name: str, matchers: Mapping[str, str] | None = None) -> Selector:
        return cls(name, as_matchers(matchers))

    @classmethod
    def parse(cls, text: str) -> Selector:
        """``name{label op "value", ...}`` (validated text; see ``chaos.metrics.selectors``)."""
        parsed = parse_selector(text)
        return cls(parsed.name, parsed.matchers)

    def with_label(self, label: str, value: str) -> Selector:
        """Only the series whose ``label`` is ``value`` (replacing matchers on that label)."""
        kept = tuple(m for m in self.matchers if m.label != label)
        return Selector(self.name, (*kept, Matcher(label, "=", value)))

    def promql(self, suffix: str = "") -> str:
        return render(self.name + suffix, self.matchers)


@dataclass(frozen=True, slots=True)
class Measurement:
    value: float | None
    samples: int = 0
    series: tuple[str, ...] = ()
    unmatched: tuple[str, ...] = ()
    """Without a value: the selectors that matched none of their metric's series, and what
    those series' labels are (``unmatched_note``)."""


@dataclass(frozen=True, slots=True)
class Context:
    """Where measurements come from: raw samples, and (with a Prometheus backend) PromQL."""

    read: RangeReader
    query: PromQLReader | None = None


def _read(ctx: Context, selector: Selector, window: Interval, suffix: str = "") -> list[Series]:
    return ctx.read(selector.name + suffix, selector.matchers, window.start, window.end)


class _Reading:
    """What an indicator reads: its selectors, each with the suffix of the series it reads
    (``_bucket`` for a histogram)."""

    __slots__ = ()

    def reads(self) -> tuple[tuple[Selector, str], ...]:
        raise NotImplementedError

    def metric_names(self) -> set[str]:
        return {selector.name + suffix for selector, suffix in self.reads()}

    def _evidence(
        self, ctx: Context, window: Interval, found: list[Series], value: float | None
    ) -> Measurement:
        """A NaN result (e.g. a gauge that only reported NaN) is no data, as an empty one is;
        no data says which selectors matched none of their metric's series."""
        if value is not None and math.isnan(value):
            value = None
        missed = unmatched(self, ctx, window) if value is None else ()
        return Measurement(value, sum(map(len, found)), tuple(str(s.key) for s in found), missed)


def unmatched(indicator: _Reading, ctx: Context, window: Interval) -> tuple[str, ...]:
    """A note for each of ``indicator``'s selectors whose labels match none of the series its
    metric has in ``window`` (a metric with no series at all is no data, not a mismatch)."""
    notes = []
    for selector, suffix in indicator.reads():
        if not selector.matchers or _read(ctx, selector, window, suffix):
            continue
        seen = ctx.read(selector.name + suffix, (), window.start, window.end)
        if seen:
            labels = [s.key.labels for s in seen]
            notes.append(unmatched_note(selector.promql(suffix), selector.matchers, labels))
    return tuple(notes)


@dataclass(frozen=True, slots=True)
class Quantile(_Reading):
    """``histogram_quantile(q, sum by (le) (rate(<histogram>_bucket[w])))``."""

    histogram: Selector
    q: float

    def reads(self) -> tuple[tuple[Selector, str], ...]:
        return ((self.histogram, "_bucket"),)

    def promql(self, window: str) -> str:
        buckets = self.histogram.promql("_bucket")
        return f"histogram_quantile({self.q:g}, sum by (le) (rate({buckets}[{window}])))"

    def measure(self, ctx: Context, window: Interval) -> Measurement:
        found = _read(ctx, self.histogram, window, "_bucket")
        value = promql.histogram_quantile(self.q, found, window.start, window.end)
        return self._evidence(ctx, window, found, value)


@dataclass(frozen=True, slots=True)
class Ratio(_Reading):
    """``sum(increase(numerator[w])) / sum(increase(denominator[w]))`` — e.g. joins ok / joins.

    A window in which the denominator did not grow has no ratio: PromQL answers NaN or +Inf,
    and we answer no-data, which never passes.
    """

    numerator: Selector
    denominator: Selector

    def reads(self) -> tuple[tuple[Selector, str], ...]:
        return ((self.numerator, ""), (self.denominator, ""))

    def promql(self, window: str) -> str:
        return (
            f"sum(increase({self.numerator.promql()}[{window}]))"
            f" / sum(increase({self.denominator.promql()}[{window}]))"
        )

    def measure(self, ctx: Context, window: Interval) -> Measurement:
        top = _read(ctx, self.numerator, window)
        bottom = _read(ctx, self.denominator, window)
        num = promql.sum_present(promql.increase(s, window.start, window.end) for s in top)
        den = promql.sum_present(promql.increase(s, window.start, window.end) for s in bottom)
        value = None if num is None or not den else num / den
        return self._evidence(ctx, window, top + bottom, value)


class CounterFunction(enum.Enum):
    INCREASE = "increase"
    RATE = "rate"


@dataclass(frozen=True, slots=True)
class Counter(_Reading):
    """``sum(increase(c[w]))`` or ``sum(rate(c[w]))`` — e.g. "howl_seconds equals 0"."""

    counter: Selector
    function: CounterFunction = CounterFunction.INCREASE

    def reads(self) -> tuple[tuple[Selector, str], ...]:
        return ((self.counter, ""),)

    def promql(self, window: str) -> str:
        return f"sum({self.function.value}({self.counter.promql()}[{window}]))"

    def measure(self, ctx: Context, window: Interval) -> Measurement:
        found = _read(ctx, self.counter, window)
        is_rate = self.function is CounterFunction.RATE
        value = promql.sum_present(
            promql.extrapolated_delta(s, window.start, window.end, is_counter=True, is_rate=is_rate)
            for s in found
        )
        return self._evidence(ctx, window, found, value)


class GaugeAggregation(enum.Enum):
    MAX = "max"
    MIN = "min"
    MEAN = "mean"


_GAUGE_PROMQL = {
    GaugeAggregation.MAX: ("max", "max_over_time"),
    GaugeAggregation.MIN: ("min", "min_over_time"),
    GaugeAggregation.MEAN: ("avg", "avg_over_time"),
}


@dataclass(frozen=True, slots=True)
class Gauge(_Reading):
    """``max(max_over_time(g[w]))`` and friends; the mean is the mean of per-series means."""

    gauge: Selector
    aggregation: GaugeAggregation

    def reads(self) -> tuple[tuple[Selector, str], ...]:
        return ((self.gauge, ""),)

    def promql(self, window: str) -> str:
        outer, inner = _GAUGE_PROMQL[self.aggregation]
        return f"{outer}({inner}({self.gauge.promql()}[{window}]))"

    def measure(self, ctx: Context, window: Interval) -> Measurement:
        found = _read(ctx, self.gauge, window)
        per_series = [promql.over_time(s, self.aggregation.value) for s in found]
        if not per_series:
            return self._evidence(ctx, window, found, None)
        if self.aggregation is GaugeAggregation.MAX:
            value = max(per_series)
        elif self.aggregation is GaugeAggregation.MIN:
            value = min(per_series)
        else:
            value = math.fsum(per_series) / len(per_series)
        return self._evidence(ctx, window, found, value)


@dataclass(frozen=True, slots=True)
class PromQL(_Reading):
    """A raw PromQL expression (Prometheus backend only); ``$window`` becomes the window's
    range, e.g. ``sum(rate(x_total[$window]))``. It must return a single value."""

    expr: str

    def reads(self) -> tuple[tuple[Selector, str], ...]:
        return ()

    def promql(self, window: str) -> str:
        return self.expr.replace("$window", window)

    def measure(self, ctx: Context, window: Interval) -> Measurement:
        if ctx.query is None:
            raise InvalidInput(
                f"the objective {self.expr!r} is raw PromQL, which needs a Prometheus backend",
                fix="set PROMETHEUS_URL, or pass --prometheus local",
            )
        expr = self.promql(promql_duration(window.duration))
        return Measurement(ctx.query(expr, window.end), 0, (expr,))


Indicator = Quantile | Ratio | Counter | Gauge | PromQL


class Comparison(enum.Enum):
    BELOW = "below"
    ABOVE = "above"
    EQUALS = "equals"


@dataclass(frozen=True, slots=True)
class Threshold:
    comparison: Comparison
    value: float

    def holds(self, measured: float) -> bool:
        if self.comparison is Comparison.BELOW:
            return measured < self.value
        if self.comparison is Comparison.ABOVE:
            return measured > self.value
        return math.isclose(measured, self.value, rel_tol=1e-9, abs_tol=1e-12)

    def badness(self, measured: float) -> float:
        """Orders measurements from best to worst, to pick the worst sliding window."""
        if self.comparison is Comparison.BELOW:
            return measured
        if self.comparison is Comparison.ABOVE:
            return -measured
        return abs(measured - self.value)

    def violation_promql(self) -> str:
        """The PromQL comparison that is true while the objective does NOT hold."""
        op = {Comparison.BELOW: ">=", Comparison.ABOVE: "<=", Comparison.EQUALS: "!="}
        return f"{op[self.comparison]} {self.value:g}"

    def describe(self) -> str:
        side = "equal to" if self.comparison is Comparison.EQUALS else self.comparison.value
        return f"{side} {self.value:g}"


@dataclass(frozen=True, slots=True)
class Objective:
    """The indicator must satisfy the threshold over the window (the worst window if sliding)."""

    name: str
    indicator: Indicator
    threshold: Threshold
    window: WindowSpec = field(default_factory=WindowSpec)


@dataclass(frozen=True, slots=True)
class Condition:
    """One indicator on the right side of its threshold; ``label`` names it in results."""

    label: str
    indicator: Indicator
    threshold: Threshold


@dataclass(frozen=True, slots=True)
class Recovery:
    """After ``after`` ends, every condition must hold again, continuously for ``hold``
    seconds, within ``within`` seconds. Each check measures the last ``measure`` seconds, but
    never before the fault ended, so the fault's own samples do not delay the recovery."""

    name: str
    conditions: tuple[Condition, ...]
    after: str
    within: float
    hold: float = 10.0
    measure: float = 10.0
    step: float = 1.0

    def __post_init__(self) -> None:
        if not self.conditions:
            raise ValueError(f"recovery {self.name!r} has no condition to recover")


ON_AIR_DELAY = "gameday_on_air_delay_seconds"
"""The harness's gauge of the run's on-air delay: from T0 until the first ear heard the host."""


@dataclass(frozen=True, slots=True)
class OnAir:
    """The host is heard on air within ``within`` seconds of T0, the scheduled start: the
    run's on-air delay (host joined, mixed, packaged, served, decoded by an ear) is at most
    that. The earliest delay the gauge reported counts (a later report of an ear that heard
    earlier lowers it). Nobody heard by the end of a run that went on past the limit is a
    fail, not a lack of data: the delay is then at least the run's time after T0."""

    name: str
    within: float
    metric: str = ON_AIR_DELAY

    @property
    def threshold(self) -> Threshold:
        return Threshold(Comparison.BELOW, self.within)


Slo = Objective | Recovery | OnAir


def metric_names(slo: Slo) -> set[str]:
    """Every metric an SLO reads (raw PromQL reads what it likes and is not checked)."""
    if isinstance(slo, OnAir):
        return {slo.metric}
    return set().union(*(indicator.metric_names() for indicator in indicators(slo)))


def indicators(slo: Slo) -> list[Indicator]:
    """The indicators an SLO measures (an on-air SLO reads the harness's own gauge)."""
    if isinstance(slo, Recovery):
        return [c.indicator for c in slo.conditions]
    if isinstance(slo, OnAir):
        return []
    return [slo.indicator]
