"""Judge each SLO over a run's recorded samples: pass, fail, or no-data (never a pass).

Pure: the caller passes the timeline and a ``Context`` to read from (an in-memory store rebuilt
from the journal, or a Prometheus backend's prefetched samples), so the same run re-evaluates to
the same verdict. The result carries its evidence — the window, how many samples and which
series — because a failed launch gate is only useful if it says what it looked at.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chaos.slo.objective import (
    Comparison,
    Context,
    Gauge,
    GaugeAggregation,
    Measurement,
    Objective,
    OnAir,
    Recovery,
    Selector,
    Slo,
    Threshold,
)
from chaos.slo.window import Anchor, Interval, Timeline, WindowSpec, resolve, sliding_windows


class Status(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    NO_DATA = "no-data"
    INCONCLUSIVE = "inconclusive"
    """A differential SLO whose interval straddles its bound: the run cannot tell."""


@dataclass(frozen=True, slots=True)
class Evidence:
    window: Interval
    """The interval judged: the anchored interval, or the worst sliding window inside it."""
    samples: int
    series: tuple[str, ...]
    windows: int = 1
    """How many windows were measured (sliding windows, recovery checks)."""


@dataclass(frozen=True, slots=True)
class SloResult:
    name: str
    status: Status
    value: float | None
    threshold: Threshold
    evidence: Evidence
    detail: str
    differential: dict[str, Any] | None = None
    """A differential SLO's cohorts: both values, the difference and its interval
    (``chaos.slo.differential.DiffResult.to_record``)."""

    @property
    def passed(self) -> bool:
        return self.status is Status.PASS

    @property
    def shown(self) -> str:
        """The value as a person reads it. "no data" only where there was nothing to judge: a
        fail without a value (a recovery that never came, a host nobody heard) says why."""
        if self.value is not None:
            return f"{self.value:g}"
        return self.detail if self.status is Status.FAIL and self.detail else "no data"

    def to_record(self) -> dict[str, Any]:
        """Fields for ``journal.write("slo", **result.to_record())``."""
        return {
            "name": self.name,
            "status": self.status.value,
            "value": self.value,
            "comparison": self.threshold.comparison.value,
            "threshold": self.threshold.value,
            "window": [self.evidence.window.start, self.evidence.window.end],
            "samples": self.evidence.samples,
            "series": list(self.evidence.series),
            "windows": self.evidence.windows,
            "detail": self.detail,
            **({"differential": self.differential} if self.differential is not None else {}),
        }


def _judge(
    name: str, threshold: Threshold, m: Measurement, window: Interval, windows: int, what: str
) -> SloResult:
    evidence = Evidence(window, m.samples, m.series, windows)
    if m.value is None:
        detail = f"no data {what}" + "".join(f"; {note}" for note in m.unmatched)
        return SloResult(name, Status.NO_DATA, None, threshold, evidence, detail)
    status = Status.PASS if threshold.holds(m.value) else Status.FAIL
    detail = f"{m.value:g} {what} (must be {threshold.describe()})"
    return SloResult(name, status, m.value, threshold, evidence, detail)


def _evaluate_objective(slo: Objective, timeline: Timeline, ctx: Context) -> SloResult:
    spec = slo.window
    interval = resolve(spec, timeline)
    if spec.sliding is None:
        m = slo.indicator.measure(ctx, interval)
        return _judge(slo.name, slo.threshold, m, interval, 1, spec.describe())
    measured = [
        (w, slo.indicator.measure(ctx, w))
        for w in sliding_windows(interval, spec.sliding, spec.step)
    ]
    with_data = [(w, m) for w, m in measured if m.value is not None]
    if not with_data:
        nothing = Measurement(None, unmatched=measured[0][1].unmatched if measured else ())
        return _judge(slo.name, slo.threshold, nothing, interval, len(measured), spec.describe())
    worst_window, worst = max(with_data, key=lambda wm: slo.threshold.badness(wm[1].value or 0))
    what = f"in the worst window ({spec.describe()}: {len(with_data)} of {len(measured)} had data)"
    return _judge(slo.name, slo.threshold, worst, worst_window, len(measured), what)


@dataclass(frozen=True, slots=True)
class _Check:
    at: float
    measured: tuple[Measurement, ...]
    holds: bool

    @property
    def has_data(self) -> bool:
        return any(m.value is not None for m in self.measured)


def _check(slo: Recovery, ctx: Context, fault_end: float, at: float) -> _Check:
    window = Interval(max(fault_end, at - slo.measure), at)
    measured = tuple(c.indicator.measure(ctx, window) for c in slo.conditions)
    holds = all(
        m.value is not None and c.threshold.holds(m.value)
        for c, m in zip(slo.conditions, measured, strict=True)
    )
    return _Check(at, measured, holds)


def _evaluate_recovery(slo: Recovery, timeline: Timeline, ctx: Context) -> SloResult:
    """Checks every ``step`` from the fault's end; recovered at the first check from which
    every condition holds at every check for ``hold`` seconds."""
    after = resolve(WindowSpec(Anchor.AFTER, slo.after), timeline)
    fault_end = after.start
    checks = []
    at = fault_end
    while at <= after.end + 1e-9:
        checks.append(_check(slo, ctx, fault_end, at))
        at += slo.step
    limit = Threshold(Comparison.BELOW, slo.within)
    samples = max((sum(m.samples for m in c.measured) for c in checks), default=0)
    series = tuple(sorted({s for c in checks for m in c.measured for s in m.series}))
    conditions = " and ".join(f"{c.label} {c.threshold.describe()}" for c in slo.conditions)

    def result(status: Status, took: float | None, window: Interval, detail: str) -> SloResult:
        evidence = Evidence(window, samples, series, len(checks))
        return SloResult(slo.name, status, took, limit, evidence, detail)

    if not any(c.has_data for c in checks):
        missed = dict.fromkeys(note for c in checks for m in c.measured for note in m.unmatched)
        detail = f"no data after {slo.after} to judge recovery" + "".join(f"; {n}" for n in missed)
        return result(Status.NO_DATA, None, after, detail)
    for i, first in enumerate(checks):
        if checks[-1].at < first.at + slo.hold - 1e-9:
            break  # too little data left to see it hold for the whole hold period
        span = [c for c in checks[i:] if c.at <= first.at + slo.hold + 1e-9]
        if all(c.holds for c in span):
            took = first.at - fault_end
            detail = (
                f"{conditions} held again {took:g}s after {slo.after} ended "
                f"(for {slo.hold:g}s; must recover {limit.describe()}s)"
            )
            status = Status.PASS if limit.holds(took) else Status.FAIL
            return result(status, took, Interval(first.at, first.at + slo.hold), detail)
    detail = (
        f"{conditions} never held for {slo.hold:g}s in the {after.duration:g}s of data "
        f"after {slo.after} ended"
    )
    return result(Status.FAIL, None, after, detail)


def t0_of(timeline: Timeline) -> float:
    """The run's T0, the scheduled start: where its method begins."""
    return resolve(WindowSpec(Anchor.DURING, "method"), timeline).start


def _evaluate_on_air(slo: OnAir, timeline: Timeline, ctx: Context) -> SloResult:
    t0 = t0_of(timeline)
    window = Interval(t0, max(t0, timeline.run.end))
    earliest = Gauge(Selector.of(slo.metric), GaugeAggregation.MIN).measure(ctx, window)
    evidence = Evidence(window, earliest.samples, earliest.series)
    limit = f"must be on air within {slo.within:g}s of T0"
    if earliest.value is not None:
        status = Status.PASS if slo.threshold.holds(earliest.value) else Status.FAIL
        detail = f"listeners heard the host {earliest.value:g}s after T0 ({limit})"
        return SloResult(slo.name, status, earliest.value, slo.threshold, evidence, detail)
    if window.duration > slo.within:
        detail = f"no listener heard the host in the {window.duration:g}s after T0 ({limit})"
        return SloResult(slo.name, Status.FAIL, None, slo.threshold, evidence, detail)
    detail = f"the run ended {window.duration:g}s after T0, before anyone heard the host ({limit})"
    return SloResult(slo.name, Status.NO_DATA, None, slo.threshold, evidence, detail)


def evaluate(slo: Slo, timeline: Timeline, ctx: Context) -> SloResult:
    if isinstance(slo, Recovery):
        return _evaluate_recovery(slo, timeline, ctx)
    if isinstance(slo, OnAir):
        return _evaluate_on_air(slo, timeline, ctx)
    return _evaluate_objective(slo, timeline, ctx)


def evaluate_all(slos: Iterable[Slo], timeline: Timeline, ctx: Context) -> list[SloResult]:
    return [evaluate(slo, timeline, ctx) for slo in slos]


def verdict(results: Iterable[SloResult]) -> bool:
    """A run passes only when every SLO passes; a no-data result fails it."""
    return all(r.passed for r in results)
