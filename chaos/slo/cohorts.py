"""Judge an experiment's differential SLOs over the cohorts' per-listener samples.

The swarm records every listener attempt of the control and experiment cohorts
(``chaos.workload.cohorts.ATTEMPT_FIELDS``); a differential SLO takes the attempts that began in
its window, computes its quantile (over attempts that reached first audio) or its ratio (over
per-listener sums) for each cohort, and ``chaos.slo.differential.compare`` gives the
difference, its bootstrap interval and the verdict. The result is an ordinary ``SloResult``
(value: the difference; threshold: the bound) carrying the cohorts' figures, so verdicts,
JUnit and reports treat it like any SLO, with ``inconclusive`` as its own status.

Pure: samples, windows and a seed in, results out.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaos.experiment.experiment import Experiment
from chaos.experiment.slos import QuantileSLO, RatioSLO
from chaos.experiment.timeline import Timeline
from chaos.slo.adapt import base_units
from chaos.slo.differential import (
    Bound,
    DiffResult,
    DiffStatus,
    Direction,
    QuantileStat,
    RatioStat,
    Statistic,
    compare,
)
from chaos.slo.evaluate import Evidence, SloResult, Status
from chaos.slo.objective import Comparison, Threshold
from chaos.slo.window import Interval
from chaos.workload.cohorts import (
    ATTEMPT_FIELDS,
    SAMPLED_COUNTERS,
    SAMPLED_QUANTILES,
    Attempt,
    Cohort,
)

_FIELD = {name: i for i, name in enumerate(ATTEMPT_FIELDS)}
_STATUS = {
    DiffStatus.PASS: Status.PASS,
    DiffStatus.FAIL: Status.FAIL,
    DiffStatus.INCONCLUSIVE: Status.INCONCLUSIVE,
    DiffStatus.NO_DATA: Status.NO_DATA,
}

Differential = QuantileSLO | RatioSLO


def differential_slos(experiment: Experiment) -> list[Differential]:
    return [s for s in experiment.slos if isinstance(s, QuantileSLO | RatioSLO) and s.differential]


@dataclass(frozen=True, slots=True)
class CohortSamples:
    """Each cohort's attempts; ``swarm`` keys keep listeners of different swarms apart."""

    attempts: Mapping[Cohort, Sequence[tuple[int, Attempt]]]
    """Per cohort: (swarm number, attempt) pairs."""

    def of(self, cohort: Cohort) -> Sequence[tuple[int, Attempt]]:
        return self.attempts.get(cohort, ())


def bound_of(slo: Differential) -> Bound:
    if isinstance(slo, QuantileSLO):
        assert slo.worse_by_at_most is not None
        return Bound(Direction.AT_MOST, slo.worse_by_at_most.seconds)
    if slo.above_control_minus is not None:
        return Bound(Direction.AT_LEAST, -base_units(slo.above_control_minus))
    assert slo.below_control_plus is not None
    return Bound(Direction.AT_MOST, base_units(slo.below_control_plus))


def _in(window: tuple[float, float], attempt: Attempt) -> bool:
    started = attempt[_FIELD["started"]]
    return window[0] <= started < window[1]


def _quantile_samples(
    attempts: Sequence[tuple[int, Attempt]], window: tuple[float, float], field: str
) -> list[float]:
    at = _FIELD[field]
    return [float(a[at]) for _, a in attempts if _in(window, a) and a[at] >= 0]


def _ratio_samples(
    attempts: Sequence[tuple[int, Attempt]],
    window: tuple[float, float],
    numerator: str,
    denominator: str,
) -> list[tuple[float, float]]:
    """Per-listener (numerator, denominator) sums over the attempts in the window."""
    top, bottom = _FIELD[numerator], _FIELD[denominator]
    sums: dict[tuple[int, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for swarm, a in attempts:
        if _in(window, a):
            row = sums[(swarm, int(a[_FIELD["listener"]]))]
            row[0] += float(a[top])
            row[1] += float(a[bottom])
    return [(n, d) for n, d in sums.values()]


def judge(
    slo: Differential,
    samples: CohortSamples,
    window: tuple[float, float],
    *,
    seed: int,
    t0: float = 0.0,
) -> SloResult:
    """One differential SLO over the attempts that began in ``window`` (seconds from T0);
    ``t0`` (wall clock) places the evidence's window."""
    statistic: Statistic
    data: dict[Cohort, list[float] | list[tuple[float, float]]] = {}
    if isinstance(slo, QuantileSLO):
        statistic = QuantileStat(slo.quantile)
        field = SAMPLED_QUANTILES[slo.metric]
        for cohort in (Cohort.CONTROL, Cohort.EXPERIMENT):
            data[cohort] = _quantile_samples(samples.of(cohort), window, field)
        series: tuple[str, ...] = (slo.metric,)
        unit = "s"
    else:
        statistic = RatioStat()
        num, den = SAMPLED_COUNTERS[slo.numerator], SAMPLED_COUNTERS[slo.denominator]
        for cohort in (Cohort.CONTROL, Cohort.EXPERIMENT):
            data[cohort] = _ratio_samples(samples.of(cohort), window, num, den)
        series = (slo.numerator, slo.denominator)
        unit = ""
    bound = bound_of(slo)
    result = compare(
        statistic,
        data[Cohort.CONTROL],
        data[Cohort.EXPERIMENT],
        bound,
        seed=_slo_seed(seed, slo.name),
    )
    comparison = Comparison.BELOW if bound.direction is Direction.AT_MOST else Comparison.ABOVE
    evidence = Evidence(Interval(t0 + window[0], t0 + window[1]), sum(result.listeners), series, 1)
    return SloResult(
        slo.name,
        _STATUS[result.status],
        result.difference,
        Threshold(comparison, bound.limit),
        evidence,
        describe(result, unit),
        result.to_record(),
    )


def _slo_seed(seed: int, name: str) -> int:
    """Each SLO's bootstrap draws from its own seeded stream (adding an SLO changes no other)."""
    mixed = seed * 1_000_003 + sum(ord(c) * 31**i for i, c in enumerate(name))
    return int(mixed % 2**63)


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:+.0f} ms" if abs(value) < 10 else f"{value:+.2f} s"
    return f"{value * 100:+.2f} pp"


def _level(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms" if abs(value) < 10 else f"{value:.2f} s"
    return f"{value:.2%}"


def describe(result: DiffResult, unit: str) -> str:
    """`experiment 812 ms vs control 498 ms: +314 ms (95% interval +270 ms to +352 ms; must be
    <= +500 ms): pass`."""
    if result.difference is None or result.low is None or result.high is None:
        c, e = result.listeners
        return f"no data: {c} control and {e} experiment samples in the window"
    assert result.control is not None and result.experiment is not None
    bound = result.bound
    sign = "<=" if bound.direction is Direction.AT_MOST else ">="
    limit = 0.0 if math.isclose(bound.limit, 0.0) else bound.limit
    return (
        f"experiment {_level(result.experiment, unit)} vs control {_level(result.control, unit)}"
        f": {_fmt(result.difference, unit)} ({result.confidence:.0%} interval "
        f"{_fmt(result.low, unit)} to {_fmt(result.high, unit)}; must be {sign} "
        f"{_fmt(limit, unit)}): {result.status.value}"
    )


def evaluate_differential(
    experiment: Experiment, samples: CohortSamples, *, seed: int, t0: float = 0.0
) -> list[SloResult]:
    """Every differential SLO of the experiment, in file order."""
    timeline = Timeline.of(experiment)
    out = []
    for slo in differential_slos(experiment):
        span = timeline.window(slo.binding)
        out.append(judge(slo, samples, (span.start, span.end), seed=seed, t0=t0))
    return out
