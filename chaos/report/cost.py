"""What each fault cost: every SLO measured in the fault's window against a reference.

The question after a game day is "did the edge latency hurt, and by how much?". For each fault
and each measured SLO this answers it the way the SLO itself measures: the SLO's indicator
(its quantile, ratio or aggregate, sliding if the SLO slides) over the fault's window, over
the baseline, the change between them, and how long after the fault ended the SLO held again
(continuously for ``HOLD`` seconds, as a recovery SLO counts it).

A launch has no listeners before T0, so many indicators have no data in the baseline; the
reference is then the fault-free stretch just before the fault (after T0, after any earlier
fault), and the table names the window it used. Pure: the samples come through a ``Context``
(the journal's, or Prometheus's), the windows from the journal's own fault spans.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from chaos.slo.adapt import DEFAULT_RECOVERY_HOLD, DEFAULT_RECOVERY_MEASURE
from chaos.slo.evaluate import SloResult, Status, evaluate
from chaos.slo.objective import (
    Condition,
    Context,
    Counter,
    Gauge,
    Indicator,
    Objective,
    PromQL,
    Quantile,
    Ratio,
    Recovery,
    Selector,
    Slo,
)
from chaos.slo.window import Anchor, Interval, Timeline, WindowSpec

HOLD = DEFAULT_RECOVERY_HOLD
"""Seconds an SLO must hold again, without a break, to count as recovered."""

MIN_REFERENCE = 2.0
"""A fault-free stretch shorter than this (two scrapes) is no reference."""

_FAULT = "fault"
_BASELINE = "baseline"
_BEFORE = "before"


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """A fault as the run made it: seconds from T0 (``end`` None: it never ended)."""

    name: str
    start: float
    end: float | None


@dataclass(frozen=True, slots=True)
class SloCost:
    slo: str
    during: float | None
    """The SLO's indicator over the fault's window."""
    reference: float | None
    reference_window: tuple[float, float] | None
    """Seconds from T0 of the window ``reference`` was measured in."""
    reference_is_baseline: bool
    holds_during: bool | None
    """Whether the SLO's threshold held over the fault's window (None: no data)."""
    worse: bool | None
    """Whether the fault moved the value to the wrong side (None: nothing to compare)."""
    recovered_after: float | None
    """Seconds after the fault's end until the SLO held for ``HOLD`` s again; None: it did not
    within the run (or there was no data, see ``recovery_status``)."""
    recovery_status: Status
    control: float | None = None
    """The control cohort's value over the same window, where the run had one."""

    @property
    def change(self) -> float | None:
        if self.during is None or self.reference is None:
            return None
        return self.during - self.reference

    @property
    def ratio(self) -> float | None:
        """``during / reference`` when both are positive (``×7.2``)."""
        if self.during is None or self.reference is None or self.reference <= 0:
            return None
        return self.during / self.reference


@dataclass(frozen=True, slots=True)
class FaultCost:
    fault: FaultWindow
    slos: tuple[SloCost, ...]


def _selecting(selector: Selector, cohort: str) -> Selector:
    return selector.with_label("cohort", cohort)


def of_cohort(indicator: Indicator, cohort: str) -> Indicator:
    """The indicator over one cohort's series only (``{cohort="control"}``)."""
    if isinstance(indicator, Quantile):
        return replace(indicator, histogram=_selecting(indicator.histogram, cohort))
    if isinstance(indicator, Ratio):
        return replace(
            indicator,
            numerator=_selecting(indicator.numerator, cohort),
            denominator=_selecting(indicator.denominator, cohort),
        )
    if isinstance(indicator, Counter):
        return replace(indicator, counter=_selecting(indicator.counter, cohort))
    if isinstance(indicator, Gauge):
        return replace(indicator, gauge=_selecting(indicator.gauge, cohort))
    return indicator


def _reference_window(
    fault: FaultWindow, faults: Sequence[FaultWindow], baseline: float, run_end: float
) -> tuple[float, float] | None:
    """The fault-free stretch right before ``fault``: from the latest of T0 and every earlier
    fault's end, up to its start; None when another fault is still on at its start."""
    start = 0.0 if fault.start >= MIN_REFERENCE else -baseline
    for other in faults:
        if other is fault:
            continue
        other_end = run_end if other.end is None else other.end
        if other.start <= fault.start < other_end:
            return None
        if other_end <= fault.start:
            start = max(start, other_end)
    if fault.start - start < MIN_REFERENCE:
        return None
    return start, fault.start


def _measure(
    slo: Objective, anchor: Anchor, name: str | None, timeline: Timeline, ctx: Context
) -> SloResult:
    spec = WindowSpec(anchor, name, sliding=slo.window.sliding, step=slo.window.step)
    return evaluate(Objective(slo.name, slo.indicator, slo.threshold, spec), timeline, ctx)


def _worse(slo: Objective, during: float | None, reference: float | None) -> bool | None:
    if during is None or reference is None:
        return None
    bad_now, bad_before = slo.threshold.badness(during), slo.threshold.badness(reference)
    if math.isclose(bad_now, bad_before, rel_tol=1e-9, abs_tol=1e-12):
        return False
    return bad_now > bad_before


def slo_cost(
    slo: Objective,
    fault: FaultWindow,
    faults: Sequence[FaultWindow],
    *,
    t0: float,
    baseline: float,
    run_end: float,
    ctx: Context,
    cohorts: bool = False,
) -> SloCost:
    """One SLO's cost of one fault; times are seconds from T0, ``t0`` its wall-clock time.
    With ``cohorts``, ``control`` is the control cohort's value over the fault's window (the
    listener metrics' ``cohort="control"`` series; None for metrics without cohorts)."""
    end = run_end if fault.end is None else fault.end
    named = {
        _FAULT: Interval(t0 + fault.start, t0 + max(end, fault.start)),
        _BASELINE: Interval(t0 - baseline, t0),
    }
    before = _reference_window(fault, faults, baseline, run_end)
    if before is not None:
        named[_BEFORE] = Interval(t0 + before[0], t0 + before[1])
    timeline = Timeline(Interval(t0 - baseline, t0 + max(run_end, end)), named)
    during = _measure(slo, Anchor.DURING, _FAULT, timeline, ctx)
    control = None
    if cohorts:
        of_control = replace(slo, indicator=of_cohort(slo.indicator, "control"))
        control = _measure(of_control, Anchor.DURING, _FAULT, timeline, ctx).value
    reference = _measure(slo, Anchor.BASELINE, None, timeline, ctx)
    window: tuple[float, float] | None = (-baseline, 0.0)
    is_baseline = True
    if reference.value is None:
        is_baseline = False
        window = before
        if before is not None:
            reference = _measure(slo, Anchor.DURING, _BEFORE, timeline, ctx)
    recovery = Recovery(
        slo.name,
        (Condition(slo.name, slo.indicator, slo.threshold),),
        after=_FAULT,
        within=math.inf,
        hold=HOLD,
        measure=slo.window.sliding or DEFAULT_RECOVERY_MEASURE,
    )
    recovered = evaluate(recovery, timeline, ctx) if fault.end is not None else None
    return SloCost(
        slo=slo.name,
        during=during.value,
        reference=reference.value,
        reference_window=window if reference.value is not None else None,
        reference_is_baseline=is_baseline,
        holds_during=None if during.value is None else slo.threshold.holds(during.value),
        worse=_worse(slo, during.value, reference.value),
        recovered_after=recovered.value if recovered is not None else None,
        recovery_status=recovered.status if recovered is not None else Status.NO_DATA,
        control=control,
    )


def fault_costs(
    slos: Sequence[Slo],
    faults: Sequence[FaultWindow],
    *,
    t0: float,
    baseline: float,
    run_end: float,
    ctx: Context,
    cohorts: bool = False,
) -> list[FaultCost]:
    """Each fault's cost on every measured SLO (raw PromQL needs Prometheus and is left out;
    a recovery SLO's own number is its recovery, which each row already shows)."""
    measured = [s for s in slos if isinstance(s, Objective) and not isinstance(s.indicator, PromQL)]
    return [
        FaultCost(
            fault,
            tuple(
                slo_cost(
                    slo,
                    fault,
                    faults,
                    t0=t0,
                    baseline=baseline,
                    run_end=run_end,
                    ctx=ctx,
                    cohorts=cohorts,
                )
                for slo in measured
            ),
        )
        for fault in faults
    ]
