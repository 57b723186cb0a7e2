"""Cross-checks of cohorts and differential SLOs (what the schema alone cannot know).

A differential SLO judges the experiment cohort against the control cohort, so the experiment
needs cohorts; it bootstraps over listeners, so it reads a listener metric the swarm samples
per listener (``chaos.workload.cohorts``); and it judges one window, not sliding ones.
"""

from __future__ import annotations

from chaos.experiment.errors import Problem
from chaos.experiment.experiment import Experiment
from chaos.experiment.slos import QuantileSLO, RatioSLO
from chaos.workload.cohorts import SAMPLED_COUNTERS, SAMPLED_QUANTILES


def cohort_problems(experiment: Experiment) -> list[Problem]:
    found = []
    if experiment.cohorts is not None and not experiment.workload.listeners:
        found.append(
            Problem(
                ("cohorts",),
                "cohorts split the listeners, and this workload has none; "
                "add `workload: {listeners: [...]}` or drop `cohorts`",
                at_key=True,
            )
        )
    for index, slo in enumerate(experiment.slos):
        if not isinstance(slo, QuantileSLO | RatioSLO) or not slo.differential:
            continue
        bound = (
            "worse_by_at_most"
            if isinstance(slo, QuantileSLO)
            else "above_control_minus"
            if slo.above_control_minus is not None
            else "below_control_plus"
        )
        if experiment.cohorts is None:
            found.append(
                Problem(
                    ("slos", index, bound),
                    "a differential SLO judges the experiment cohort against the control "
                    "cohort; add `cohorts: {control: 50%}` at the top level",
                )
            )
        if slo.window is not None:
            found.append(
                Problem(
                    ("slos", index, "window"),
                    "a differential SLO judges its whole window (a bootstrap over its "
                    "listeners); drop `window`",
                )
            )
        if isinstance(slo, QuantileSLO) and slo.metric not in SAMPLED_QUANTILES:
            found.append(
                Problem(
                    ("slos", index, _quantile_key(slo)),
                    f"a differential quantile is taken over listeners; {slo.metric!r} is not "
                    f"sampled per listener (use {', '.join(SAMPLED_QUANTILES)})",
                )
            )
        if isinstance(slo, RatioSLO):
            unknown = [m for m in (slo.numerator, slo.denominator) if m not in SAMPLED_COUNTERS]
            if unknown:
                found.append(
                    Problem(
                        ("slos", index, "ratio"),
                        f"a differential ratio sums counters over listeners; "
                        f"{', '.join(unknown)} not sampled per listener (use two of "
                        f"{', '.join(SAMPLED_COUNTERS)})",
                    )
                )
    return found


def _quantile_key(slo: QuantileSLO) -> str:
    return next(q for q in ("p50", "p75", "p90", "p95", "p99", "p999") if getattr(slo, q))
