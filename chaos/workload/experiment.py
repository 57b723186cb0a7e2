"""Thin adapters from the experiment file's workload (``chaos.experiment.workload``) to the
workload core: the YAML models say what users write, the core types say what the swarm runs,
and only this module knows both.
"""

from __future__ import annotations

from pathlib import Path

from chaos.experiment import workload as spec
from chaos.workload.arrivals import (
    Churn,
    Curve,
    Paced,
    Phase,
    Ramp,
    Schedule,
    Sessions,
    Storm,
    build_schedule,
    load_curve,
)
from chaos.workload.reconnect import ReconnectPolicy, RetryKind


def phase(model: spec.Phase, base_dir: Path) -> Phase:
    """One listener phase; a curve's CSV is read relative to the experiment file."""
    if isinstance(model, spec.Storm):
        return Storm(model.count, at=model.at.seconds, spread=model.spread.seconds)
    if isinstance(model, spec.Ramp):
        return Ramp(model.count, start=model.from_.seconds, end=model.to.seconds)
    if isinstance(model, spec.Paced):
        return Paced(
            model.count,
            max_in_flight=model.max_in_flight,
            at=model.at.seconds,
            rate=float(model.rate.per_second),
        )
    curve = load_curve(base_dir / model.csv)
    ratio = float(1 / model.scale.people_per_probe) if model.scale is not None else 1.0
    offset = model.at.seconds
    return Curve(tuple((offset + t, n * ratio) for t, n in curve.points))


def reconnect(model: spec.Reconnect) -> ReconnectPolicy:
    if isinstance(model, spec.Immediate):
        return ReconnectPolicy(RetryKind.IMMEDIATE, max_attempts=model.max_attempts)
    if isinstance(model, spec.FixedDelay):
        return ReconnectPolicy(
            RetryKind.FIXED, delay=model.delay.seconds, max_attempts=model.max_attempts
        )
    return ReconnectPolicy(
        RetryKind.BACKOFF,
        delay=model.initial.seconds,
        cap=model.max.seconds,
        multiplier=model.multiplier,
        jitter=model.jitter.fraction,
        max_attempts=model.max_attempts,
    )


def schedule(model: spec.Workload, seed: int, until: float, base_dir: Path) -> Schedule:
    """The seeded schedule of the workload's listeners for a run that ends at ``until``."""
    sessions = Sessions(model.session.seconds) if model.session is not None else None
    churn = (
        Churn(model.churn.share.fraction, model.churn.every.seconds)
        if model.churn is not None
        else None
    )
    return build_schedule(
        [phase(p, base_dir) for p in model.listeners], seed, sessions, churn, until=until
    )
